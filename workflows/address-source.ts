/**
 * The address switch's operations on DM's source: the checks that it reads
 * the old instance and that every credential logs in, and the undos that
 * read the real state (re-create the old source only once no task runs on
 * whatever source exists; stop the new source only if it reads the new
 * instance).
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { SwitchErrorType } from '../common/switch/errors.js';
import type { Endpoint, Flavor, SavedTaskConfig, SourceEndpoint, SourceState } from '../common/switch/types.js';
import type { AddressSwitchInput, InstanceRef } from '../common/switch/input.js';
import { dm, mysql, undoDm } from './activities.js';
import { refuse, sameHost, type PreflightResult } from './preflight.js';
import type { ShardTasks } from './shards.js';
import type { Tracker } from './tracker.js';

/** Every credential the switch will use logs in, so a wrong reference fails before any change. */
export async function checkLogins(
  t: Tracker,
  input: AddressSwitchInput,
  tasks: SavedTaskConfig[],
  sourceCredentials: string,
): Promise<void> {
  const targets = new Map<string, Endpoint>();
  for (const task of tasks) targets.set(`${task.target.host}:${task.target.port}`, task.target);
  const checks = [
    {
      what: `source user (reference "${sourceCredentials}") on the new instance`,
      ref: { host: input.newInstance.host, port: input.newInstance.port, credentials: sourceCredentials },
    },
    ...[...targets.values()].map((x) => ({
      what: `downstream ${x.host}:${x.port} (reference "${input.taskCredentials}")`,
      ref: { ...x, credentials: input.taskCredentials },
    })),
  ];
  const results = await Promise.all(checks.map((c) => mysql.mysqlCheckLogin(c.ref)));
  const bad = checks.map((c, i) => ({ ...c, r: results[i]! })).filter((x) => !x.r.ok);
  if (bad.length) {
    // a credential mistake is the operator's input error, not a failed precondition
    const each = bad.map((b) => `${b.what}: ${b.r.ok ? '' : b.r.error}`);
    const why = `cannot log in, nothing was changed: ${each.join('; ')}`;
    // a server that refused the user says already to fix the reference or its grants
    const denied = bad.some((b) => !b.r.ok && b.r.denied);
    refuse(
      t,
      SwitchErrorType.InvalidInput,
      denied ? why : `${why}; fix the credential reference in the worker's configuration`,
    );
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
export async function readsOldInstance(
  t: Tracker,
  source: SourceState,
  oldInstance: InstanceRef,
  oldFacts: PreflightResult<SourceState | null>['oldFacts'],
): Promise<void> {
  const from = `${source.from.host}:${source.from.port}`;
  if (source.from.port === oldInstance.port && (await sameHost(source.from.host, oldInstance.host))) {
    t.decide('go', `source ${source.sourceId} reads ${from}, the old instance given`);
    return;
  }
  if (oldFacts) {
    const there = await mysql.mysqlInspect({
      host: source.from.host,
      port: source.from.port,
      credentials: oldInstance.credentials,
    });
    if (there.reachable && there.serverUuid === oldFacts.serverUuid) {
      t.decide(
        'go',
        `source ${source.sourceId} reads ${from}, where the old instance ` +
          `${oldInstance.host}:${oldInstance.port} answers (server_uuid ` +
          `${oldFacts.serverUuid}; a VIP or a proxy in front of it)`,
      );
      return;
    }
  }
  refuse(
    t,
    SwitchErrorType.PreflightFailed,
    `source ${source.sourceId} reads ${from}, not the old instance ` +
      `${oldInstance.host}:${oldInstance.port} given in the input (nor an address ` +
      `where that server answers): nothing was changed. Give as oldInstance the ` +
      `instance DM reads (dmctl config source ${source.sourceId}), or leave it out`,
  );
}

/** The subtasks of the source's shard-merge tasks on the other sources. */
export function otherShards(shards: ShardTasks, sourceId: string): Array<{ task: string; source: string }> {
  return Object.entries(shards.tasks).flatMap(([task, m]) =>
    m.sources.filter((x) => x !== sourceId).map((source) => ({ task, source })),
  );
}

export async function resumeOthers(
  dmCluster: string,
  held: Array<{ task: string; source: string }>,
  undoing = false,
): Promise<void> {
  for (const h of held)
    await (undoing ? undoDm : dm).dmResumeTasks({ dmCluster, sourceId: h.source, tasks: [h.task], timeoutSeconds: 60 });
}

/** The source config reads `from` now, or a non-retryable failure saying what it reads (compensation stops there). */
export async function expectSourceReads(dmCluster: string, sourceId: string, from: Endpoint): Promise<void> {
  const now = await undoDm.dmFindSource({ dmCluster, sourceId });
  if (now && now.from.host === from.host && now.from.port === from.port) return;
  throw ApplicationFailure.create({
    message:
      `source ${sourceId} ${now ? `reads ${now.from.host}:${now.from.port}` : 'does not exist'}, ` +
      `not the old instance ${from.host}:${from.port}: its tasks are not started on it`,
    type: SwitchErrorType.CompensationFailed,
    nonRetryable: true,
  });
}

/**
 * The undo of creating the new source, from the real state: if the source
 * reads the new instance, every task on it is stopped (confirmed) and then
 * the source; a source reading anything else is left to the next undo.
 */
export async function stopNewSource(
  t: Tracker,
  req: { dmCluster: string; sourceId: string; from: Endpoint },
): Promise<void> {
  const { dmCluster, sourceId } = req;
  const now = await undoDm.dmFindSource({ dmCluster, sourceId });
  if (!now || now.from.host !== req.from.host || now.from.port !== req.from.port) {
    t.decide(
      'info',
      `source ${sourceId} ${now ? `reads ${now.from.host}:${now.from.port}` : 'does not exist'}: no new source to stop`,
    );
    return;
  }
  if (now.tasks.length)
    await undoDm.dmStopTasks({ dmCluster, sourceId, tasks: now.tasks.map((x) => x.name), timeoutSeconds: 120 });
  await undoDm.dmStopSource({ dmCluster, sourceId });
}

/**
 * The undo of replacing the source, from the real state: if the source reads
 * the old instance, nothing; otherwise every task is stopped on whatever
 * source exists (confirmed: DM lists none), that source is removed, and the
 * old one created from the saved config. A task that will not stop ends
 * compensation here (never a source swapped under a running task).
 */
export async function restoreSource(
  t: Tracker,
  req: {
    dmCluster: string;
    sourceId: string;
    flavor: Flavor;
    baseConfig: string | null;
    from: SourceEndpoint;
    enableRelay?: boolean;
  },
): Promise<void> {
  const { dmCluster, sourceId } = req;
  const now = await undoDm.dmFindSource({ dmCluster, sourceId });
  if (now && now.from.host === req.from.host && now.from.port === req.from.port) {
    t.decide(
      'info',
      `source ${sourceId} already reads the old instance ${req.from.host}:${req.from.port}: nothing to restore`,
    );
    return;
  }
  if (now) {
    if (now.tasks.length)
      await undoDm.dmStopTasks({ dmCluster, sourceId, tasks: now.tasks.map((x) => x.name), timeoutSeconds: 120 });
    const after = await undoDm.dmFindSource({ dmCluster, sourceId });
    if (after && after.tasks.length) {
      throw ApplicationFailure.create({
        message:
          `task(s) ${after.tasks.map((x) => `${x.name} ${x.stage}`).join(', ')} still run ` +
          `on source ${sourceId} (reading ${after.from.host}:${after.from.port}): the old ` +
          `source is not re-created under them`,
        type: SwitchErrorType.CompensationFailed,
        nonRetryable: true,
      });
    }
    if (after) await undoDm.dmStopSource({ dmCluster, sourceId });
  }
  await undoDm.dmCreateSource(req);
}
