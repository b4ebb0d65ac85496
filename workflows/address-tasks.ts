/**
 * The address switch's tasks. DM forgets a source's tasks with the source,
 * so before any change their configurations are saved (and checked by DM's
 * check-task, normalised as start-task will get them) to start them again on
 * the new source, or on the old one when the switch is undone. Their
 * positions (gtid-S) come from query-status while they run and from their
 * checkpoints in the downstream once stopped. Also the state the switch
 * carries from preflight to its last step (AddressState).
 */
import { SwitchErrorType } from '../common/switch/errors.js';
import type { AddressSwitchInput } from '../common/switch/input.js';
import { DMCTL } from '../common/switch/runbook.js';
import type {
  Flavor,
  SavedConfigs,
  SavedTaskConfig,
  SourceEndpoint,
  SourceState,
  SourceTask,
} from '../common/switch/types.js';
import { dm, mysql } from './activities.js';
import { checkLogins, otherShards } from './address-source.js';
import type { Freeze } from './freeze.js';
import type { ErrantPolicy } from './gtid-check.js';
import { finishedLoad, keepOperatorPaused, leaveFinished } from './paused-tasks.js';
import { refuse, type PreflightResult } from './preflight.js';
import { flushPreflight, type FlushWait } from './flush-interval.js';
import { shardPreflight, type ShardTasks } from './shards.js';
import type { Tracker } from './tracker.js';

/** What preflight read and saved, and what the switch decided from it before any change. */
export interface AddressState {
  /** DM already reads the new instance, nothing half done: what it reads, in words (else null). */
  alreadyDone: string | null;
  input: AddressSwitchInput;
  pf: PreflightResult<SourceState | null>;
  /** The source as DM has it (null: removed, perhaps by an earlier switch half done). */
  source: SourceState | null;
  flavor: Flavor;
  /** The source already reads the new instance. */
  alreadySwapped: boolean;
  sourceCredentials: string;
  newEndpoint: SourceEndpoint;
  /** The tasks DM lists on the source now. */
  inDm: string[];
  /** Task names given in taskConfigs that DM does not know. */
  given: string[];
  saved: SavedConfigs;
  /** The tasks started again after the switch (or its undo): all but those an operator had paused. */
  runNames: string[];
  runTasks: SavedTaskConfig[];
  /** Tasks that finished a full load: stopped with the others, never started again. */
  finished: string[];
  relayOn: boolean;
  shards: ShardTasks;
  /** The shard-merge tasks' subtasks on other sources, paused while this source is stopped. */
  held: Array<{ task: string; source: string }>;
  policy: ErrantPolicy;
  freeze: Freeze | null;
  /** The tasks' longest checkpoint-flush-interval, read at preflight (null: no task read). */
  flush: FlushWait | null;
}

/** Save what is needed to go back, and check every credential and task config, before any change. */
export async function saveConfigs(t: Tracker, s: AddressState): Promise<void> {
  const { input, source, inDm } = s;
  const { dmCluster, sourceId, options } = input;
  t.phase('saving');
  const given = Object.entries(input.taskConfigs ?? {});
  for (const [name] of given.filter(([n]) => inDm.includes(n))) {
    t.decide(
      'warn',
      `task ${name} is still known to DM: its configuration from DM is used, not the one given in taskConfigs`,
    );
  }
  const byHandGiven = Object.fromEntries(given.filter(([n]) => !inDm.includes(n)));
  const saved = await dm.dmSaveConfigs({ dmCluster, sourceId, tasks: inDm, given: byHandGiven });
  const lost = inDm.filter((n) => !saved.tasks.some((x) => x.name === n));
  if (lost.length) {
    refuse(
      t,
      SwitchErrorType.PreflightFailed,
      `DM lists task(s) ${lost.join(', ')} on source ${sourceId} but has no configuration for them (config task): ` +
        `nothing was changed; check the tasks with \`${DMCTL} query-status\``,
    );
  }
  t.status.savedConfigs = { source: saved.source, tasks: Object.fromEntries(saved.tasks.map((x) => [x.name, x.yaml])) };
  const taskNames = saved.tasks.map((x) => x.name);
  const tasks = source?.tasks ?? [];
  s.given = given.map(([n]) => n);
  s.saved = saved;
  s.runNames = leaveFinished(
    t,
    sourceId,
    tasks,
    keepOperatorPaused(t, sourceId, tasks, taskNames, 'address'),
    'address',
  );
  s.finished = finishedLoad(tasks);
  s.runTasks = saved.tasks.filter((x) => s.runNames.includes(x.name));
  if (taskNames.length === 0) {
    t.decide(
      'warn',
      `no task to restart: source ${sourceId} has none in DM and none was given in taskConfigs; if tasks were ` +
        'stopped by hand, give their configurations in taskConfigs or they will not be started again',
    );
  } else {
    t.decide(
      'info',
      `saved the configuration of task(s) ${taskNames.join(', ')}${saved.source ? ' and of the source' : ''} ` +
        '(DM masks their passwords; the worker supplies them from credential references)',
    );
  }
  await checkLogins(t, input, saved.tasks, s.sourceCredentials);
  s.shards = await shardPreflight(t, { dmCluster, sourceId, tasks: inDm, accept: options.acceptShardDdlLock });
  s.held = otherShards(s.shards, sourceId);
  const verifyTimeoutSeconds = options.verifyTimeoutSeconds;
  s.flush = await flushPreflight(t, { dmCluster, sourceId, tasks: inDm, verifyTimeoutSeconds });
  if (!saved.tasks.length) return;
  if (!source) {
    t.decide(
      'info',
      `the saved task configurations are not checked before the switch (check-task needs source ${sourceId}, ` +
        'which DM does not know now): start-task checks them',
    );
    return;
  }
  // what DM exports must be what DM accepts again: checked while the old source still runs
  const checked = Object.entries(
    await dm.dmCheckTasks({ dmCluster, tasks: saved.tasks, credentials: input.taskCredentials }),
  );
  const unchecked = checked.filter(([, r]) => !r.checked);
  if (unchecked.length) {
    const which = unchecked.map(([n, r]) => `task ${n} (${r.summary})`).join(', ');
    t.decide('warn', `check-task could not check ${which}: start-task checks them on the new source`);
  }
  const passed = checked.filter(([, r]) => r.checked);
  if (passed.length) {
    const which = passed.map(([n, r]) => `task ${n} (check-task ${r.summary})`).join(', ');
    t.decide('go', `DM accepts the saved configuration of ${which}, normalised as start-task will get it`);
  }
}

/**
 * gtid-S of each task: from query-status while it runs, from its checkpoint
 * in the downstream once stopped.
 */
export async function currentTasks(t: Tracker, s: AddressState, when: string): Promise<SourceTask[]> {
  const { dmCluster, sourceId, taskCredentials } = s.input;
  const state = s.source ? await dm.dmFindSource({ dmCluster, sourceId }) : null;
  const reading = s.saved.tasks.filter((x) => !s.finished.includes(x.name));
  return Promise.all(
    reading.map(async (task) => {
      const running = state?.tasks.find((x) => x.name === task.name);
      if (running) return running;
      const downstream = { ...task.target, credentials: taskCredentials };
      const cp = await mysql.mysqlReadCheckpoint({
        downstream,
        metaSchema: task.metaSchema,
        task: task.name,
        sourceId,
      });
      // a configuration given by hand must send the task where DM has been sending it: its checkpoint is there
      if (cp === null && s.given.includes(task.name) && when === 'before stop') {
        refuse(
          t,
          SwitchErrorType.InvalidInput,
          `taskConfigs.${task.name} sends the task to target-database ${task.target.host}:${task.target.port}, ` +
            `which holds no checkpoint of task ${task.name} for source ${sourceId} ` +
            `(${task.metaSchema}.${task.name}_syncer_checkpoint): that is not the downstream DM replicated this ` +
            'task into, so nothing was changed. Give the configuration the task had, with its own target-database',
        );
      }
      t.decide(
        'info',
        `task ${task.name} is not running: gtid-S (${when}) from its checkpoint in ` +
          `${task.metaSchema} on the downstream`,
      );
      return {
        name: task.name,
        stage: 'Stopped',
        unit: '',
        syncerBinlogGtid: cp?.binlogGtid ?? '',
        masterBinlogGtid: '',
        errors: [],
      };
    }),
  );
}
