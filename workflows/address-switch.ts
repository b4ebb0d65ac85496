/**
 * Procedure B of the runbook, as a durable workflow: DM reads the source at
 * the instance's own address; re-point the source to the new instance.
 *
 *   preflight → save the task and source configs → GTID check → stop every
 *   task (checkpoints kept) and relay → re-take gtid-S from the checkpoints
 *   and re-check (wait for a lagging new instance, bounded) → operate-source
 *   stop → operate-source create with the new address → start-relay if it
 *   was on → start-task each task from its saved config → verify.
 *
 * Shares its phases, verification and compensation with the VIP switch.
 * Every effect is an idempotent activity, and preflight reads the real state,
 * so a switch done partly by hand (tasks stopped, old source removed, new
 * source created) is adopted and finished. Passwords never enter history:
 * DM masks them in the saved configs, and the worker puts them back from
 * credential references.
 */
import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { SavedConfigs, SavedTaskConfig, SourceState, SourceTask } from '../activities/dm.js';
import { SwitchErrorType } from '../common/switch/errors.js';
import { validateAddressSwitchInput, type AddressSwitchInput, type AddressSwitchParsed, type AddressSwitchRequest, type InstanceRef } from '../common/switch/input.js';
import type { Gate, SwitchStatus } from '../common/switch/status.js';
import { dm, longDm, mysql, undoDm } from './activities.js';
import type { Gates } from './approvals.js';
import { withTarget } from './candidates.js';
import { guarded, type Undo } from './compensation.js';
import { runSwitch } from './lifecycle.js';
import { endDryRun, freezeLimit, gtidCheck, preflight, recheckAfterGate, recheckFrozen, refuse, sameGtids, sameHost, startFreeze, type ErrantPolicy, type PreflightResult } from './phases.js';
import type { Tracker } from './tracker.js';
import { settingsRecheck } from './settings-recheck.js';
import { NO_SHARDS, shardPreflight, type ShardTasks } from './shards.js';
import { checkRolledBack, verify } from './verify.js';
import { finishedLoad, keepOperatorPaused, leaveFinished } from './paused-tasks.js';

const DMCTL = 'dmctl --master-addr=<dm-master>';

export async function addressSwitch(request: AddressSwitchRequest): Promise<SwitchStatus> {
  return runSwitch('address-switch', request, validateAddressSwitchInput, steps);
}

async function steps(t: Tracker, gates: Gates, parsed: AddressSwitchParsed, undo: Undo[]): Promise<SwitchStatus> {
  // candidates or discover: the best target is chosen first, before any change (workflows/candidates.ts)
  const input: AddressSwitchInput = await withTarget(t, gates, parsed, {});
  const { dmCluster, sourceId, newInstance, oldInstance, options } = input;
  const sourceCredentials = input.sourceCredentials ?? newInstance.credentials;
  const newEndpoint = { host: newInstance.host, port: newInstance.port, credentials: sourceCredentials };

  // --- preflight: read the real state; nothing changes here ---------------
  const pf = await preflight(t, { dmCluster, sourceId, newInstance, oldInstance }, { sourceMayBeMissing: true });
  const source = pf.source;
  const flavor = source?.flavor ?? pf.newFacts.flavor;
  const alreadySwapped = source !== null && source.from.host === newInstance.host && source.from.port === newInstance.port;
  const oldEndpoint = source && !alreadySwapped ? { host: source.from.host, port: source.from.port, credentials: sourceCredentials } : null;
  if (alreadySwapped) t.decide('info', `source ${sourceId} already reads the new instance ${newInstance.host}:${newInstance.port}: a switch was half done; carrying on from there`);
  // the switch re-points what DM reads: the source must read the old instance named in the input
  if (t.safety && oldInstance && source && !alreadySwapped) await readsOldInstance(t, source, oldInstance, pf.oldFacts);

  // --- save what is needed to go back, and check every credential, before any change
  t.phase('saving');
  const inDm = source?.tasks.map((x) => x.name) ?? [];
  const given = Object.keys(input.taskConfigs ?? {});
  for (const name of given.filter((n) => inDm.includes(n))) t.decide('warn', `task ${name} is still known to DM: its configuration from DM is used, not the one given in taskConfigs`);
  const saved: SavedConfigs = await dm.dmSaveConfigs({ dmCluster, sourceId, tasks: inDm, given: Object.fromEntries(Object.entries(input.taskConfigs ?? {}).filter(([n]) => !inDm.includes(n))) });
  const lost = inDm.filter((n) => !saved.tasks.some((x) => x.name === n));
  if (lost.length) refuse(t, SwitchErrorType.PreflightFailed, `DM lists task(s) ${lost.join(', ')} on source ${sourceId} but has no configuration for them (config task): nothing was changed; check the tasks with \`${DMCTL} query-status\``);
  t.status.savedConfigs = { source: saved.source, tasks: Object.fromEntries(saved.tasks.map((x) => [x.name, x.yaml])) };
  const taskNames = saved.tasks.map((x) => x.name);
  // what is started again after the switch (or its undo): every task but those an operator had paused
  const runNames = leaveFinished(t, sourceId, source?.tasks ?? [], keepOperatorPaused(t, sourceId, source?.tasks ?? [], taskNames, 'address'), 'address');
  const finished = finishedLoad(source?.tasks ?? []);
  const runTasks = saved.tasks.filter((x) => runNames.includes(x.name));
  if (taskNames.length === 0) {
    t.decide('warn', `no task to restart: source ${sourceId} has none in DM and none was given in taskConfigs; if tasks were stopped by hand, give their configurations in taskConfigs or they will not be started again`);
  } else {
    t.decide('info', `saved the configuration of task(s) ${taskNames.join(', ')}${saved.source ? ' and of the source' : ''} (DM masks their passwords; the worker supplies them from credential references)`);
  }
  await checkLogins(t, input, saved.tasks, sourceCredentials);
  const shards = t.shards ? await shardPreflight(t, { dmCluster, sourceId, tasks: inDm, accept: options.acceptShardDdlLock }) : NO_SHARDS;
  // what DM exports must be what DM accepts again: checked while the old source still runs
  if (t.shards && saved.tasks.length && source) {
    const checkedTasks = await dm.dmCheckTasks({ dmCluster, tasks: saved.tasks, credentials: input.taskCredentials });
    const unchecked = Object.entries(checkedTasks).filter(([, r]) => r.startsWith('not checked'));
    if (unchecked.length) t.decide('warn', `check-task could not check ${unchecked.map(([n, r]) => `task ${n} (${r})`).join(', ')}: start-task checks them on the new source`);
    const passed = Object.entries(checkedTasks).filter(([, r]) => !r.startsWith('not checked'));
    if (passed.length) t.decide('go', `DM accepts the saved configuration of ${passed.map(([n, r]) => `task ${n} (check-task ${r})`).join(', ')}, normalised as start-task will get it`);
  } else if (t.shards && saved.tasks.length) {
    t.decide('info', `the saved task configurations are not checked before the switch (check-task needs source ${sourceId}, which DM does not know now): start-task checks them`);
  }

  // gtid-S of each task: from query-status while it runs, from its checkpoint in the downstream once stopped
  const current = async (when: string): Promise<SourceTask[]> => {
    const state = source ? await dm.dmFindSource({ dmCluster, sourceId }) : null;
    return Promise.all(
      saved.tasks.filter((x) => !finished.includes(x.name)).map(async (task) => {
        const running = state?.tasks.find((x) => x.name === task.name);
        if (running) return running;
        const cp = await mysql.mysqlReadCheckpoint({ downstream: { ...task.target, credentials: input.taskCredentials }, metaSchema: task.metaSchema, task: task.name, sourceId });
        // a configuration given by hand must send the task where DM has been sending it: its checkpoint is there
        if (cp === null && given.includes(task.name) && when === 'before stop') {
          refuse(
            t,
            SwitchErrorType.InvalidInput,
            `taskConfigs.${task.name} sends the task to target-database ${task.target.host}:${task.target.port}, which holds no checkpoint of ` +
              `task ${task.name} for source ${sourceId} (${task.metaSchema}.${task.name}_syncer_checkpoint): that is not the downstream DM ` +
              'replicated this task into, so nothing was changed. Give the configuration the task had, with its own target-database',
          );
        }
        t.decide('info', `task ${task.name} is not running: gtid-S (${when}) from its checkpoint in ${task.metaSchema} on the downstream`);
        return { name: task.name, stage: 'Stopped', unit: '', syncerBinlogGtid: cp?.binlogGtid ?? '', masterBinlogGtid: '', errors: [] };
      }),
    );
  };

  t.phase('gtid-check');
  const policy: ErrantPolicy = { accept: options.acceptErrantTransactions, approved: null };
  const first = gtidCheck(t, { flavor, tasks: source && inDm.length === saved.tasks.length ? source.tasks : await current('before stop'), facts: pf.newFacts, old: pf.oldFacts, when: 'before stop' }, policy);
  if (first.verdict === 'refuse') refuse(t, SwitchErrorType.GtidRefused, `switch refused, nothing was changed: ${(t.safety ? first.refusals : first.reasons.filter((r) => !r.includes('⊆ gtid-E: the new instance holds'))).join('; ')}`);

  const relayOn = source?.relay != null;
  // relay on: a source (re-)created with relay off, its tasks started, then relay, so DM starts relay from their checkpoints
  const relayAfterTasks = relayOn && t.safety;
  const holding = t.shards ? otherShards(shards, sourceId) : [];
  t.status.plan = [
    ...(holding.length ? [`pause-task ${holding.map((h) => `-s ${h.source} ${h.task}`).join(', ')}: the shard-merge task's other sources wait while this source is stopped (resumed once it runs again)`] : []),
    `stop-task -s ${sourceId} ${inDm.join(', ') || '(no running task)'} (checkpoints kept)` + (relayOn ? (t.safety ? '; pause-relay (to read its position frozen), then stop-relay' : '; stop-relay') : ''),
    're-take gtid-S from the checkpoints and re-check gtid-P ⊆ gtid-S ⊆ gtid-E' + (first.verdict === 'wait' ? `, waiting up to ${options.catchUpTimeoutSeconds} s for the new instance to catch up` : ''),
    alreadySwapped
      ? `leave source ${sourceId} as it is (already reads ${newInstance.host}:${newInstance.port})`
      : `${source ? `operate-source stop ${sourceId} (reading ${source.from.host}:${source.from.port}), then ` : ''}operate-source create ${sourceId} reading ${newInstance.host}:${newInstance.port} with enable-gtid: true`,
    relayAfterTasks
      ? `start-task -s ${sourceId} ${runNames.join(', ') || '(no tasks)'} from the saved configurations, then start-relay -s ${sourceId} (DM starts relay from the oldest checkpoint of the tasks)`
      : (relayOn ? `start-relay -s ${sourceId}, then ` : '') + `start-task -s ${sourceId} ${runNames.join(', ') || '(no tasks)'} from the saved configurations`,
    'verify: every task Running in Sync without errors, positions not behind the frozen gtid-S, DM reading from the new instance' + (relayOn ? ', relay on a new sub-directory and caught up' : ''),
  ];
  // what each approval gate waits before, as the approver reads it
  gates.describe({
    'before-freeze': `stop the tasks of source ${sourceId} (${inDm.join(', ') || 'none running'}) to re-point it to ${newInstance.host}:${newInstance.port}`,
    'before-switch': alreadySwapped ? `source ${sourceId} already reads the new instance; next: start the tasks` : `re-point source ${sourceId} from ${source ? `${source.from.host}:${source.from.port}` : '(removed)'} to ${newInstance.host}:${newInstance.port}`,
    'before-resume': `${relayOn ? 'start relay and ' : ''}start task(s) ${runNames.join(', ') || '(none)'} on source ${sourceId}, now reading ${newInstance.host}:${newInstance.port}`,
  });
  if (first.errant) gates.require('before-freeze', `APPROVE ONLY IF THESE BELONG DOWNSTREAM: ${first.errantText}`);
  if (options.dryRun) return endDryRun(t, gates, first.verdict);
  await gates.pass('before-freeze');
  if (first.errant) policy.approved = first.errant;

  const startOld = (): Undo => ({
    name: `start-task -s ${sourceId} ${runNames.join(', ')} (on the old instance)${relayAfterTasks ? `, then start-relay -s ${sourceId}` : ''}`,
    byHand: `${DMCTL} start-task -s ${sourceId} <task file>   # for ${runNames.join(', ')}: the saved configuration in the status (savedConfigs), with the downstream password filled in${relayAfterTasks ? `; then ${DMCTL} start-relay -s ${sourceId}` : ''}`,
    run: async () => {
      // start-task only on the source as it was: reading the old instance again (honest switches check it)
      if (t.honest && source && !alreadySwapped) await expectSourceReads(dmCluster, sourceId, source.from);
      await (t.honest ? undoDm : dm).dmStartTasks({ dmCluster, sourceId, tasks: runTasks, credentials: input.taskCredentials });
      if (relayAfterTasks && t.polls) await undoDm.dmAwaitSyncing({ dmCluster, sourceId, tasks: runNames, timeoutSeconds: 120 });
      if (relayAfterTasks) await (t.honest ? undoDm : dm).dmStartRelay({ dmCluster, sourceId });
      // start-relay re-creates the relay sub-directory under running tasks: a task DM then shows Running may read nothing
      if (relayAfterTasks && t.polls && runNames.length && patched('dm-switch-undo-reopens-stalled-tasks')) {
        const caught = await undoDm.dmAwaitTasksCaughtUp({ dmCluster, sourceId, tasks: runNames, timeoutSeconds: 150 });
        for (const x of caught.reopened) {
          t.decide('warn', `task ${x.task} showed Running after start-relay but read nothing (it lacked ${x.lacked} of what the old instance had): paused and resumed it, so that DM reads its relay log again from the checkpoint`);
        }
      }
    },
  });
  // compensation checks that it left what preflight found: the source config, every task and relay running, DM reading it
  if (source) {
    t.rollbackCheck = (o) =>
      checkRolledBack({
        dmCluster,
        sourceId,
        tasks: source.tasks.filter((x) => x.stage === 'Running').map((x) => x.name),
        relay: relayOn,
        reads: alreadySwapped ? newInstance : (pf.oldFacts && oldInstance ? oldInstance : null),
        notReads: alreadySwapped ? null : newInstance,
        from: source.from,
        timeoutSeconds: o?.once ? 0 : options.verifyTimeoutSeconds,
        inActivities: t.polls,
      });
  }
  // --- stop every task (checkpoints kept) and relay -------------------------
  t.phase('stopping');
  // a shard-merge task's other sources are paused while this one's subtask is stopped: a stopped subtask is out of
  // DM's shard DDL coordination, and a DDL another shard ran meanwhile would reach downstream without this source
  const held = t.shards ? otherShards(shards, sourceId) : [];
  if (held.length) {
    undo.push({
      name: `resume the other sources of the shard-merge task(s): ${held.map((h) => `${h.task}@${h.source}`).join(', ')}`,
      byHand: held.map((h) => `${DMCTL} resume-task -s ${h.source} ${h.task}`).join('; '),
      run: () => resumeOthers(dmCluster, held, t.honest),
    });
    for (const h of held) await longDm(120).dmPauseTasks({ dmCluster, sourceId: h.source, tasks: [h.task], timeoutSeconds: 120 });
    t.step(`pause-task ${held.map((h) => `-s ${h.source} ${h.task}`).join(', ')} (the other shards, while this source is stopped)`, 'done');
  }
  const freeze = t.safety ? startFreeze(options.maxFreezeSeconds) : null;
  if (inDm.length) {
    await guarded(t, undo, startOld(), () => longDm(120).dmStopTasks({ dmCluster, sourceId, tasks: inDm, timeoutSeconds: 120 }), () => startOld());
    t.step(`stop-task -s ${sourceId} ${inDm.join(', ')}`, 'done', 'checkpoints kept');
  }
  let relayGtid: string | null = null;
  if (relayOn) {
    const startRelayUndo: Undo | null = !relayAfterTasks || !inDm.length ? { name: `start-relay -s ${sourceId}`, byHand: `${DMCTL} start-relay -s ${sourceId}`, run: () => (t.honest ? undoDm : dm).dmStartRelay({ dmCluster, sourceId }) } : null;
    const stopped = await guarded(t, undo, startRelayUndo, () => dm.dmStopRelay({ dmCluster, sourceId }), () => startRelayUndo);
    if (t.safety) relayGtid = stopped.frozen?.relayBinlogGtid || source?.relay?.relayBinlogGtid || null;
    t.step(`stop-relay -s ${sourceId}`, 'done', relayGtid ? `paused first, frozen at relayBinlogGtid ${relayGtid}` : undefined);
  }

  // --- frozen: gtid-S from the checkpoints; re-check, wait for a lagging instance
  t.phase('recheck');
  const [frozenTasks, facts] = await Promise.all([current('frozen'), mysql.mysqlInspect(newInstance, t.safety ? { withSources: true } : undefined)]);
  const readings = { flavor, old: pf.oldFacts, relayGtid };
  // filters and binary log settings changed since preflight are judged on the same frozen reads
  const settings = settingsRecheck({ dmCluster, sourceId }, taskNames, pf, saved.tasks);
  await recheckFrozen(t, { ...readings, tasks: frozenTasks, facts, when: 'frozen' }, newInstance, options.catchUpTimeoutSeconds, policy, freeze, settings);
  // after a gate inside the freeze: nothing may have moved while a person decided
  const stillStopped = async (gate: Gate) => {
    if (!t.safety || !gates.has(gate)) return;
    const now = await current(`after gate ${gate}`);
    await recheckAfterGate(t, gate, readings, newInstance, frozenTasks, now, (f, x) => {
      if (x && x.stage !== 'Stopped') return `task ${f.name} runs again (${x.stage})`;
      return sameGtids(flavor, x?.syncerBinlogGtid ?? '', f.syncerBinlogGtid) ? null : `task ${f.name}'s checkpoint moved from ${f.syncerBinlogGtid} to ${x?.syncerBinlogGtid ?? '(none)'}`;
    }, policy, settings);
  };
  await gates.pass('before-switch', freezeLimit(freeze, 'before-switch'));
  await stillStopped('before-switch');

  // --- swap the source config -------------------------------------------------
  t.phase('swapping-source');
  if (!alreadySwapped) {
    const restoreOld = (): Undo => ({
      name: `operate-source create ${sourceId} reading ${source!.from.host}:${source!.from.port} again`,
      byHand: `${DMCTL} operate-source create <file>   # the saved source config in the status (savedConfigs.source), with from.password filled in`,
      run: () =>
        t.honest
          ? restoreSource(t, { dmCluster, sourceId, flavor, baseConfig: saved.source, from: oldEndpoint!, ...(relayAfterTasks ? { enableRelay: false } : {}) })
          : dm.dmCreateSource({ dmCluster, sourceId, flavor, baseConfig: saved.source, from: oldEndpoint!, ...(relayAfterTasks ? { enableRelay: false } : {}) }),
    });
    const noOldSource: Undo = {
      name: `keep source ${sourceId} on the new instance (there was no old source to restore)`,
      byHand: `decide where source ${sourceId} should read from: it now reads ${newInstance.host}:${newInstance.port}; DM had no source config for the old instance when this switch started`,
      run: async () => {
        // honest: only a source that was created is an operator's decision; none there is the state before the switch
        if (t.honest && !(await undoDm.dmFindSource({ dmCluster, sourceId }))) return;
        throw new Error('no old source config to restore');
      },
    };
    if (source) {
      await guarded(t, undo, restoreOld(), () => dm.dmStopSource({ dmCluster, sourceId }), () => restoreOld());
      t.step(`operate-source stop ${sourceId}`, 'done', `was reading ${source.from.host}:${source.from.port}`);
    }
    const stopNew: Undo = {
      name: `operate-source stop ${sourceId} (the new one)`,
      byHand: `${DMCTL} operate-source stop ${sourceId}`,
      run: () => stopNewSource(t, { dmCluster, sourceId, from: newEndpoint }),
    };
    const created = await guarded(t, undo, source ? stopNew : noOldSource, () => dm.dmCreateSource({ dmCluster, sourceId, flavor, baseConfig: saved.source, from: newEndpoint, ...(relayAfterTasks ? { enableRelay: false } : {}) }), () =>
      source ? { name: `operate-source stop ${sourceId} (the new one)`, byHand: `${DMCTL} operate-source stop ${sourceId}`, run: () => dm.dmStopSource({ dmCluster, sourceId }) } : noOldSource,
    );
    t.step(`operate-source create ${sourceId} reading ${newInstance.host}:${newInstance.port}`, created === 'created' ? 'done' : 'skipped', created === 'created' ? 'enable-gtid: true' : 'already there');
  }
  await gates.pass('before-resume', freezeLimit(freeze, 'before-resume'));
  await stillStopped('before-resume');

  // --- start relay and the tasks, and verify -------------------------------
  t.phase('starting');
  // relay was on: the new source must read the new instance through relay too
  // (a source created from a config without enable-relay would leave it off)
  const relayBack = relayOn && (t.polls || patched('dm-switch-address-relay'));
  const startRelay = async () => {
    const stopRelayUndo: Undo = { name: `stop-relay -s ${sourceId} (before going back)`, byHand: `${DMCTL} stop-relay -s ${sourceId}`, run: () => (t.honest ? undoDm : dm).dmStopRelay({ dmCluster, sourceId }) };
    const relay = await guarded(t, undo, stopRelayUndo, () => dm.dmStartRelay({ dmCluster, sourceId }), () => stopRelayUndo);
    t.step(`start-relay -s ${sourceId}`, 'done', relay ? `relay ${relay.stage} on sub-directory ${relay.relaySubDir}` : 'relay status not yet reported');
  };
  // before the safety rules, relay was started first, from the new instance's current position
  if (relayBack && !relayAfterTasks) await startRelay();
  if (runNames.length) {
    undo.push({ name: `stop-task -s ${sourceId} ${runNames.join(', ')} (before going back)`, byHand: `${DMCTL} stop-task -s ${sourceId} <task>`, run: () => (t.honest ? undoDm : longDm(120)).dmStopTasks({ dmCluster, sourceId, tasks: runNames, timeoutSeconds: 120 }) });
    t.tasks(await dm.dmStartTasks({ dmCluster, sourceId, tasks: runTasks, credentials: input.taskCredentials }));
    t.step(`start-task -s ${sourceId} ${runNames.join(', ')}`, 'done', 'from the saved configurations; each resumes from its checkpoint');
  }
  // DM starts relay from the oldest checkpoint of the source's tasks, which the GTID rules checked. Starting relay
  // restarts every subtask of the source; a subtask still starting then may come back Running but never read again
  // (seen once after a rollback: Running, no error, its position still the checkpoint's). So relay waits for them.
  if (relayBack && relayAfterTasks && t.polls && runNames.length) await longDm(120).dmAwaitSyncing({ dmCluster, sourceId, tasks: runNames, timeoutSeconds: 120 });
  if (relayBack && relayAfterTasks) await startRelay();
  if (held.length) {
    await resumeOthers(dmCluster, held);
    t.step(`resume-task ${held.map((h) => `-s ${h.source} ${h.task}`).join(', ')} (the other shards)`, 'done', 'this source takes part in their shard DDL coordination again');
  }
  t.phase('verifying');
  // a half-done switch may already have relay on the new instance: then any sub-directory of it will do
  await verify(t, { ...input, shards, flavor }, frozenTasks.filter((x) => runNames.includes(x.name)), alreadySwapped ? null : (source?.relay?.relaySubDir ?? null), relayBack, pf.oldFacts && oldInstance ? oldInstance : null);
  t.decide('go', `switched: DM reads source ${sourceId} from ${newInstance.host}:${newInstance.port}`);
  t.finish('switched');
  return t.status;
}

/** Every credential the switch will use logs in, so a wrong reference fails before any change. */
async function checkLogins(t: Tracker, input: AddressSwitchInput, tasks: SavedTaskConfig[], sourceCredentials: string): Promise<void> {
  const targets = new Map<string, { host: string; port: number }>();
  for (const task of tasks) targets.set(`${task.target.host}:${task.target.port}`, task.target);
  const checks = [
    { what: `source user (reference "${sourceCredentials}") on the new instance`, ref: { host: input.newInstance.host, port: input.newInstance.port, credentials: sourceCredentials } },
    ...[...targets.values()].map((x) => ({ what: `downstream ${x.host}:${x.port} (reference "${input.taskCredentials}")`, ref: { ...x, credentials: input.taskCredentials } })),
  ];
  const results = await Promise.all(checks.map((c) => mysql.mysqlCheckLogin(c.ref)));
  const bad = checks.map((c, i) => ({ ...c, r: results[i]! })).filter((x) => !x.r.ok);
  if (bad.length) {
    // a credential mistake is the operator's input error, not a failed precondition
    const why = `cannot log in, nothing was changed: ${bad.map((b) => `${b.what}: ${b.r.ok ? '' : b.r.error}`).join('; ')}`;
    refuse(t, t.safety ? SwitchErrorType.InvalidInput : SwitchErrorType.PreflightFailed, /fix the reference on the worker/.test(why) ? why : `${why}; fix the credential reference in the worker's configuration`);
  }
  t.decide('go', `credentials log in: ${checks.map((c) => c.what).join('; ')}`);
}

/**
 * The switch re-points what DM reads: the source's `from` is the old instance
 * given, by address (or a name resolving to it), or, through a VIP or a
 * proxy, the same server (the same server_uuid answers there). Otherwise the
 * checks that compare with the old instance would compare with the wrong
 * server: refused, naming both.
 */
async function readsOldInstance(t: Tracker, source: SourceState, oldInstance: InstanceRef, oldFacts: PreflightResult<SourceState | null>['oldFacts']): Promise<void> {
  const from = `${source.from.host}:${source.from.port}`;
  if (source.from.port === oldInstance.port && (await sameHost(source.from.host, oldInstance.host))) {
    t.decide('go', `source ${source.sourceId} reads ${from}, the old instance given`);
    return;
  }
  if (oldFacts) {
    const there = await mysql.mysqlInspect({ host: source.from.host, port: source.from.port, credentials: oldInstance.credentials });
    if (there.reachable && there.serverUuid === oldFacts.serverUuid) {
      t.decide('go', `source ${source.sourceId} reads ${from}, where the old instance ${oldInstance.host}:${oldInstance.port} answers (server_uuid ${oldFacts.serverUuid}; a VIP or a proxy in front of it)`);
      return;
    }
  }
  refuse(
    t,
    SwitchErrorType.PreflightFailed,
    `source ${source.sourceId} reads ${from}, not the old instance ${oldInstance.host}:${oldInstance.port} given in the input (nor an address where that server answers): nothing was changed. Give as oldInstance the instance DM reads (dmctl config source ${source.sourceId}), or leave it out`,
  );
}

/** The subtasks of the source's shard-merge tasks on the other sources. */
function otherShards(shards: ShardTasks, sourceId: string): Array<{ task: string; source: string }> {
  return Object.entries(shards.tasks).flatMap(([task, m]) => m.sources.filter((x) => x !== sourceId).map((source) => ({ task, source })));
}

async function resumeOthers(dmCluster: string, held: Array<{ task: string; source: string }>, undoing = false): Promise<void> {
  for (const h of held) await (undoing ? undoDm : dm).dmResumeTasks({ dmCluster, sourceId: h.source, tasks: [h.task], timeoutSeconds: 60 });
}

/** The source config reads `from` now, or a non-retryable failure saying what it reads (compensation stops there). */
async function expectSourceReads(dmCluster: string, sourceId: string, from: { host: string; port: number }): Promise<void> {
  const now = await undoDm.dmFindSource({ dmCluster, sourceId });
  if (now && now.from.host === from.host && now.from.port === from.port) return;
  throw ApplicationFailure.create({
    message: `source ${sourceId} ${now ? `reads ${now.from.host}:${now.from.port}` : 'does not exist'}, not the old instance ${from.host}:${from.port}: its tasks are not started on it`,
    type: SwitchErrorType.CompensationFailed,
    nonRetryable: true,
  });
}

/**
 * The undo of creating the new source, from the real state: if the source
 * reads the new instance, every task on it is stopped (confirmed) and then
 * the source; a source reading anything else is left to the next undo.
 */
async function stopNewSource(t: Tracker, req: { dmCluster: string; sourceId: string; from: { host: string; port: number } }): Promise<void> {
  const { dmCluster, sourceId } = req;
  const now = await undoDm.dmFindSource({ dmCluster, sourceId });
  if (!now || now.from.host !== req.from.host || now.from.port !== req.from.port) {
    t.decide('info', `source ${sourceId} ${now ? `reads ${now.from.host}:${now.from.port}` : 'does not exist'}: no new source to stop`);
    return;
  }
  if (now.tasks.length) await undoDm.dmStopTasks({ dmCluster, sourceId, tasks: now.tasks.map((x) => x.name), timeoutSeconds: 120 });
  await undoDm.dmStopSource({ dmCluster, sourceId });
}

/**
 * The undo of replacing the source, from the real state: if the source reads
 * the old instance, nothing; otherwise every task is stopped on whatever
 * source exists (confirmed: DM lists none), that source is removed, and the
 * old one created from the saved config. A task that will not stop ends
 * compensation here (never a source swapped under a running task).
 */
async function restoreSource(t: Tracker, req: { dmCluster: string; sourceId: string; flavor: 'mysql' | 'mariadb'; baseConfig: string | null; from: { host: string; port: number; credentials: string }; enableRelay?: boolean }): Promise<void> {
  const { dmCluster, sourceId } = req;
  const now = await undoDm.dmFindSource({ dmCluster, sourceId });
  if (now && now.from.host === req.from.host && now.from.port === req.from.port) {
    t.decide('info', `source ${sourceId} already reads the old instance ${req.from.host}:${req.from.port}: nothing to restore`);
    return;
  }
  if (now) {
    if (now.tasks.length) await undoDm.dmStopTasks({ dmCluster, sourceId, tasks: now.tasks.map((x) => x.name), timeoutSeconds: 120 });
    const after = await undoDm.dmFindSource({ dmCluster, sourceId });
    if (after && after.tasks.length) {
      throw ApplicationFailure.create({
        message: `task(s) ${after.tasks.map((x) => `${x.name} ${x.stage}`).join(', ')} still run on source ${sourceId} (reading ${after.from.host}:${after.from.port}): the old source is not re-created under them`,
        type: SwitchErrorType.CompensationFailed,
        nonRetryable: true,
      });
    }
    if (after) await undoDm.dmStopSource({ dmCluster, sourceId });
  }
  await undoDm.dmCreateSource(req);
}
