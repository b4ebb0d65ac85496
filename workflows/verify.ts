/**
 * Verification both switch workflows share, after the tasks run again: every
 * task Running in Sync without errors and never behind the frozen position,
 * replication moving forward from the new instance, and DM's binlog dump
 * connection (and relay, if on) on the new instance.
 */
import { normalizeAddress, ownsConnection, replicaHostOf } from '../common/switch/addresses.js';
import { parseGtidSet } from '../common/gtid/index.js';
import { failure, SwitchErrorType } from '../common/switch/errors.js';
import type { BinlogDumpClient, Endpoint, Flavor, RelayState, SourceTask } from '../common/switch/types.js';
import type { InstanceRef } from '../common/switch/input.js';
import { IN_WORDS } from '../common/mysql/dialect.js';
import { dm, longDm, longMysql, mysql, net, vip } from './activities.js';

import { requestCheckpointFlush } from './cutover.js';
import { acceptedLockWait, verifyShardTasks, type ShardTasks } from './shards.js';
import type { RollbackCheck, Tracker } from './tracker.js';

export interface VerifyTarget {
  dmCluster: string;
  sourceId: string;
  newInstance: InstanceRef;
  options: { verifyTimeoutSeconds: number };
  /**
   * The source's shard-merge tasks: every subtask of them is verified, and an accepted DDL lock may hold the source
   * back.
   */
  shards?: ShardTasks;
  /** The source's flavor (from preflight), for the GTID sets DM reports. */
  flavor?: Flavor;
  /**
   * The tasks as the resume saw them once every one was Running in Sync without errors (dmResumeTasksSyncing):
   * judged as they are, not waited for again.
   */
  running?: SourceTask[];
  /** The tasks' longest checkpoint-flush-interval, as preflight read it: how long DM may take to show progress. */
  flushSeconds?: number;
}

/**
 * Verification, with every wait inside one activity of the system it waits
 * on, so the history grows with the steps, not the seconds:
 * every task Running in Sync without errors (DM) and not behind the frozen
 * gtid-S; the new instance's gtid_executed as of then (MySQL); every task's
 * position coming to include it, and relay on a new sub-directory caught up
 * (DM, one wait); a binlog dump connection of the source's dm-worker on the
 * new instance and none left on the old one (MySQL, one wait); the
 * shard-merge subtasks (DM). Each wait has verifyTimeoutSeconds.
 */
export async function verify(
  t: Tracker,
  input: VerifyTarget,
  frozen: SourceTask[],
  oldRelayDir: string | null,
  relayOn: boolean,
  oldInstance: InstanceRef | null = null,
): Promise<void> {
  const { dmCluster, sourceId, newInstance, options } = input;
  const timeoutSeconds = options.verifyTimeoutSeconds;
  const names = frozen.map((x) => x.name);
  const flavor = input.flavor ?? 'mysql';
  let relay: RelayState | null = null;
  if (names.length) {
    const running =
      input.running ??
      (await longDm(timeoutSeconds).dmAwaitSyncing({ dmCluster, sourceId, tasks: names, timeoutSeconds }));
    if (!input.running) t.tasks(running);
    for (const task of frozen) {
      const now = running.find((x) => x.name === task.name);
      const before = parseGtidSet(flavor, task.syncerBinlogGtid);
      const after = parseGtidSet(flavor, now?.syncerBinlogGtid ?? '');
      t.gtid(`gtid-S task ${task.name} (after resume)`, now?.syncerBinlogGtid ?? '');
      if (!before.isSubsetOf(after))
        throw failure(
          `task ${task.name}'s syncerBinlogGtid went backwards after resume: lacks ` +
            `${before.subtract(after).toCompactString()}`,
          SwitchErrorType.VerificationFailed,
        );
    }
    t.decide('go', `tasks ${names.join(', ')} Running in Sync without errors, positions not behind the frozen gtid-S`);

    // replication moves forward from the new instance (and relay, when on, moved to it): one DM wait
    const target = await mysql.mysqlInspect(newInstance);
    if (!target.reachable)
      throw failure(
        `the new instance ${target.address} became unreachable while verifying: ${target.error}`,
        SwitchErrorType.VerificationFailed,
      );
    t.gtid(`gtid-E new instance (at resume)`, target.gtidExecuted);
    // DM flushes the position it shows once per interval; a task with a validator can be asked to flush at this one
    const flushAt = { dmCluster, sourceId, tasks: names, gtidSet: target.gtidExecuted };
    await requestCheckpointFlush(t, { ...flushAt, flushSeconds: input.flushSeconds });
    const locks = input.shards?.acceptedLocks ?? [];
    const r = await longDm(timeoutSeconds).dmAwaitPositions({
      dmCluster,
      sourceId,
      tasks: names,
      want: target.gtidExecuted,
      timeoutSeconds,
      held: locks.map((l) => ({ task: l.task, sourceSynced: l.synced.includes(sourceId) })),
      ...(relayOn ? { relaySwitchedFrom: oldRelayDir } : {}),
    });
    if (r.behind.length) {
      throw failure(
        `replication did not move forward from the new instance within ${timeoutSeconds} ` +
          `s: ${r.behind.map((b) => `task ${b.task} still lacks ${b.lacks}`).join('; ')}`,
        SwitchErrorType.VerificationFailed,
      );
    }
    if (relayOn && !r.relayOk)
      throw failure(
        `relay did not switch to a new sub-directory and catch up within ` +
          `${timeoutSeconds} s (now ${JSON.stringify(r.relay)})`,
        SwitchErrorType.VerificationFailed,
      );
    for (const task of r.held)
      t.decide('info', `${acceptedLockWait(task, input.shards!)}: counted as healthy (options.acceptShardDdlLock)`);
    for (const task of frozen)
      t.gtid(
        `gtid-S task ${task.name} (caught up with the new instance)`,
        r.tasks.find((x) => x.name === task.name)?.syncerBinlogGtid ?? '',
      );
    t.decide(
      'go',
      `replication moves forward from the new instance (server_uuid ` +
        `${target.serverUuid}): every task has replicated its gtid_executed as of resume`,
    );
    relay = r.relay;
  } else if (relayOn) {
    const r = await longDm(timeoutSeconds).dmAwaitRelaySwitched({ dmCluster, sourceId, oldRelayDir, timeoutSeconds });
    if (!r.ok)
      throw failure(
        `relay did not switch to a new sub-directory and catch up within ` +
          `${timeoutSeconds} s (now ${JSON.stringify(r.relay)})`,
        SwitchErrorType.VerificationFailed,
      );
    relay = r.relay;
  } else {
    t.decide('info', 'no task and no relay reads the source, so no binlog dump connection is expected');
    return;
  }

  // what DM reads, on both ends: one MySQL wait (it resolves the worker's hosts itself)
  const worker = await dm.dmSourceWorker({ dmCluster, sourceId });
  if (!worker)
    throw failure(
      `no dm-worker is bound to source ${sourceId}, so nothing reads the new instance`,
      SwitchErrorType.VerificationFailed,
    );
  const dumps = await longMysql(timeoutSeconds).mysqlAwaitDumpClients({
    reads: newInstance,
    notReads: oldInstance,
    owners: [],
    ownerHosts: worker.hosts,
    worker: worker.name,
    timeoutSeconds,
  });
  const where =
    `dm-worker ${worker.name} ` +
    `(${dumps.owners.join(', ') || worker.hosts.join(', ')}; registered as replica ` +
    `${replicaHostOf(worker.name)})`;
  // where DM must read, a dump from the worker's address is its own (its registration under the worker's name
  // was seen missing after a VIP moved by hand); where it must be gone, the name tells co-located workers apart
  const mine = (c: BinlogDumpClient) => ownsConnection(dumps.owners, c, worker.name);
  const ours = (dumps.onReads ?? []).filter((c) => ownsConnection(dumps.owners, c));
  const stay = (dumps.onNotReads ?? []).filter(mine);
  if (!dumps.ok) {
    const serves = dumps.onReads?.map((c) => `${c.user}@${c.host}`).join(', ') || 'none';
    const onNew = dumps.onReads === null ? 'it does not answer' : `it serves ${serves}`;
    const problems = [
      ...(ours.length === 0
        ? [
            `no binlog dump connection from ${where} on the new instance ` +
              `${newInstance.host}:${newInstance.port} (${onNew})`,
          ]
        : []),
      ...(stay.length > 0
        ? [
            `${where} still reads the old instance ${oldInstance!.host}:${oldInstance!.port} ` +
              `(${stay.map((c) => `${c.user}@${c.host}`).join(', ')})`,
          ]
        : []),
    ];
    throw failure(
      `DM does not read only the new instance after ${timeoutSeconds} s: ${problems.join('; ')}`,
      SwitchErrorType.VerificationFailed,
    );
  }
  t.decide(
    'go',
    `DM reads the new instance: it serves ${ours.length} binlog dump connection(s) ` +
      `from ${where} (${ours.map((c) => `${c.user}@${c.host}`).join(', ')})` +
      (oldInstance
        ? dumps.onNotReads === null
          ? `; the old instance ${oldInstance.host}:${oldInstance.port} does not answer`
          : `; none from that worker is left on the old instance ${oldInstance.host}:${oldInstance.port}`
        : '') +
      (relayOn ? `; relay switched to sub-directory ${relay?.relaySubDir} and caught up` : ''),
  );
  if (input.shards) await verifyShardTasks(t, { dmCluster, sourceId, timeoutSeconds }, input.shards);
}

/** The source's dm-worker and the addresses MySQL sees its connections come from; null when no worker is bound. */
export async function sourceWorker(
  dmCluster: string,
  sourceId: string,
): Promise<{
  name: string;
  addresses: string[];
  describe: string;
  owns: (c: BinlogDumpClient) => boolean;
  reads: (c: BinlogDumpClient) => boolean;
} | null> {
  const worker = await dm.dmSourceWorker({ dmCluster, sourceId });
  if (!worker) return null;
  const resolved = await net.netResolveHosts({ hosts: worker.hosts });
  const addresses = [...new Set(Object.values(resolved).flat().map(normalizeAddress))];
  const mine = new Set(addresses);
  return {
    name: worker.name,
    addresses,
    describe:
      `dm-worker ${worker.name} (${addresses.join(', ') || worker.hosts.join(', ')}; ` +
      `registered as replica ${replicaHostOf(worker.name)})`,
    // a connection is the worker's when MySQL saw it come from one of the worker's addresses, and (several
    // dm-workers may share a machine) the instance lists a replica registered under the worker's name
    owns: (c) => ownsConnection([...mine], c, worker.name),
    reads: (c) => ownsConnection([...mine], c),
  };
}

/** The state before the switch, as compensation must leave it (Tracker's rollbackCheck). */
export interface RollbackExpectation {
  dmCluster: string;
  sourceId: string;
  /** Tasks that must run again: Running without errors. */
  tasks: string[];
  /** Relay must run again. */
  relay: boolean;
  /**
   * The instance DM must read again (a binlog dump connection from its worker); null when it cannot be checked (it was
   * down).
   */
  reads: InstanceRef | null;
  /** The instance DM must no longer read. */
  notReads: InstanceRef | null;
  /** The address switch: the source config must read this again. */
  from?: Endpoint | null;
  /** The VIP switch: the VIP must be back on `holder`. */
  vip?: { provider: string; address: string; holder: string | null; candidates: Array<Endpoint> };
  timeoutSeconds: number;
  /**
   * The tasks' longest checkpoint-flush-interval, as preflight read it from their configuration: how long DM may
   * take to show a task's progress (unset: the worker's checkpointFlushSeconds, else DM's default).
   */
  flushSeconds?: number;
}

const DMCTL = 'dmctl --master-addr=<dm-master>';

/**
 * Reads the real state after compensation, as verification does after a
 * switch, and says what differs from the state before it: the VIP's holder,
 * the source config, every task Running without errors, the relay, a binlog
 * dump connection from the source's dm-worker on the instance DM read before
 * and none on the other. Polled for `timeoutSeconds` (a resumed task takes a
 * moment to reconnect).
 */
export async function checkRolledBack(e: RollbackExpectation): Promise<RollbackCheck> {
  const restored = await checkRestored(e);
  const held = e.reads ? await oldHoldsDownstream(e, e.reads) : null;
  if (!held) return restored;
  return {
    observed: `${restored.observed}; ${held.observed}`,
    problems: [...restored.problems, ...held.problems],
    fix: [...new Set([...restored.fix, ...held.fix])],
  };
}

/**
 * DM reads the old instance again: what its tasks already applied downstream
 * (their gtid-S, which may now hold transactions read from the new instance)
 * must be on it, or DM's position asks it for transactions it never had: it
 * sends nothing for them and reports no error, and downstream keeps rows the
 * old instance lacks. Waited for while the old instance still replicates
 * (bounded by the check's timeout); what is still missing is a problem.
 */
async function oldHoldsDownstream(e: RollbackExpectation, old: InstanceRef): Promise<RollbackCheck | null> {
  const source = await dm.dmFindSource({ dmCluster: e.dmCluster, sourceId: e.sourceId });
  if (!source) return null;
  const flavor = source.flavor;
  const none = parseGtidSet(flavor, '');
  const applied = source.tasks.reduce((u, x) => u.union(parseGtidSet(flavor, x.syncerBinlogGtid)), none);
  if (applied.isEmpty()) return null;
  const want = applied.toCompactString();
  const wait = { instance: old, flavor, gtidSet: want, timeoutSeconds: e.timeoutSeconds };
  const r = await longMysql(e.timeoutSeconds).mysqlWaitForGtids(wait);
  const where = `${old.host}:${old.port}`;
  if (r.caughtUp) {
    return {
      observed: `the old instance ${where} holds what the tasks applied downstream (gtid-S ${want})`,
      problems: [],
      fix: [],
    };
  }
  return {
    observed: `the old instance ${where} lacks ${r.missing}`,
    problems: [
      `DM reads the old instance ${where} again, but downstream already has transactions it lacks: ${r.missing} ` +
        `(the tasks' gtid-S is ${want}; waited ${r.waitedSeconds} s). DM asks it for them and it sends nothing, ` +
        'without an error',
    ],
    fix: [
      `let ${where} replicate what it lacks (${r.missing}) from the primary (${IN_WORDS.startReplica} on it, ` +
        'if stopped), ' +
        `then check with \`${DMCTL} query-status -s ${e.sourceId}\` that every task moves; or switch the source ` +
        'to the new instance again, which has them',
    ],
  };
}

async function checkRestored(e: RollbackExpectation): Promise<RollbackCheck> {
  const w = e.tasks.length || e.relay ? await sourceWorker(e.dmCluster, e.sourceId) : null;
  const fromWorker = (c: BinlogDumpClient) => w !== null && w.owns(c);
  const readsFromWorker = (c: BinlogDumpClient) => w !== null && w.reads(c);
  // tasks DM shows Running that did not catch up with their upstream
  let stalled: Array<{ task: string; lacks: string }> = [];
  let upstream = '';
  let waited = 0;
  if (e.timeoutSeconds > 0) {
    // wait for DM's side, then for MySQL's, each inside one activity; then read everything once (below) to report
    const deadline = Date.now() + e.timeoutSeconds * 1000;
    const restored = await longDm(e.timeoutSeconds).dmAwaitSourceRestored({
      dmCluster: e.dmCluster,
      sourceId: e.sourceId,
      tasks: e.tasks,
      relay: e.relay,
      from: e.from ?? null,
      timeoutSeconds: e.timeoutSeconds,
      ...(e.flushSeconds ? { flushSeconds: e.flushSeconds } : {}),
    });
    stalled = restored.behind ?? [];
    upstream = restored.want ?? '';
    waited = restored.waitedSeconds;
    const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    if (restored.ok && w && (e.reads || e.notReads)) {
      await longMysql(e.timeoutSeconds).mysqlAwaitDumpClients({
        reads: e.reads,
        notReads: e.notReads,
        owners: w.addresses,
        worker: w.name,
        timeoutSeconds: left,
      });
    }
  }
  const [source, holder, onOld, onNew] = await Promise.all([
    dm.dmFindSource({ dmCluster: e.dmCluster, sourceId: e.sourceId }),
    e.vip
      ? vip.vipLocate({ provider: e.vip.provider, address: e.vip.address, candidates: e.vip.candidates })
      : Promise.resolve(undefined),
    e.reads && (e.tasks.length || e.relay) ? mysql.mysqlBinlogDumpClientsIfUp(e.reads) : Promise.resolve(null),
    e.notReads && (e.tasks.length || e.relay) ? mysql.mysqlBinlogDumpClientsIfUp(e.notReads) : Promise.resolve(null),
  ]);
  const problems: string[] = [];
  const fix: string[] = [];
  const seen: string[] = [];
  if (e.vip) {
    seen.push(`VIP ${e.vip.address} on ${holder ?? 'nobody'}`);
    if (holder !== e.vip.holder) {
      problems.push(
        `the VIP ${e.vip.address} is on ${holder ?? 'nobody'}, not on ${e.vip.holder ?? 'nobody'} as before the switch`,
      );
      fix.push(
        `pause every task of source ${e.sourceId} (${DMCTL} pause-task -s ${e.sourceId} ` +
          `<task>), then move the VIP ${e.vip.address} to ` +
          `${e.vip.holder ?? '(where it belongs)'} with provider "${e.vip.provider}", then resume them`,
      );
    }
  }
  if (!source) {
    problems.push(`DM has no source ${e.sourceId}`);
    fix.push(`${DMCTL} operate-source create <file>   # the saved source config in the status (savedConfigs.source)`);
  } else {
    seen.push(`source ${e.sourceId} reads ${source.from.host}:${source.from.port}`);
    if (e.from && (source.from.host !== e.from.host || source.from.port !== e.from.port)) {
      problems.push(
        `source ${e.sourceId} reads ${source.from.host}:${source.from.port}, not ` +
          `${e.from.host}:${e.from.port} as before the switch`,
      );
    }
    for (const { task, lacks } of stalled) {
      problems.push(
        `task ${task} shows Running but its position did not move in ${waited} s while ` +
          `it lacks ${lacks} of what its upstream has (${upstream}): DM does not read what ` +
          `the old instance writes`,
      );
      fix.push(
        `${DMCTL} pause-task -s ${e.sourceId} ${task}, then ${DMCTL} resume-task -s ` +
          `${e.sourceId} ${task} (DM opens its binlog reader again from the checkpoint); ` +
          `check that its syncerBinlogGtid moves in query-status`,
      );
    }
    for (const name of e.tasks) {
      const x = source.tasks.find((y) => y.name === name);
      const errors = x?.errors.length ? x.errors.join('; ') : null;
      const state = !x ? 'not on the source' : `${x.stage}/${x.unit}` + (errors === null ? '' : ` (${errors})`);
      seen.push(`task ${name} ${state}`);
      if (!x || x.stage !== 'Running' || x.errors.length > 0) {
        const is = !x ? 'not on the source' : x.stage + (errors === null ? '' : ` with errors: ${errors}`);
        problems.push(`task ${name} is ${is}, not Running`);
        fix.push(
          x
            ? `${DMCTL} resume-task -s ${e.sourceId} ${name}`
            : `${DMCTL} start-task -s ${e.sourceId} <task file>   # savedConfigs.tasks.${name} in the status`,
        );
      }
    }
    if (e.relay) {
      seen.push(`relay ${source.relay?.stage ?? 'off'}`);
      if (source.relay?.stage !== 'Running') {
        problems.push(`relay is ${source.relay?.stage ?? 'off'}, not Running`);
        fix.push(`${DMCTL} start-relay -s ${e.sourceId}`);
      }
    }
  }
  if (e.tasks.length || e.relay) {
    if (!w) problems.push(`no dm-worker is bound to source ${e.sourceId}`);
    else if (e.reads) {
      const ours = (onOld ?? []).filter(readsFromWorker);
      seen.push(`${ours.length} binlog dump connection(s) from ${w.describe} on ${e.reads.host}:${e.reads.port}`);
      if (onOld === null)
        problems.push(`${e.reads.host}:${e.reads.port}, which DM read before the switch, does not answer`);
      else if (ours.length === 0)
        problems.push(
          `no binlog dump connection from ${w.describe} on ${e.reads.host}:${e.reads.port}: DM does not read it`,
        );
    }
    if (w && e.notReads) {
      const left = (onNew ?? []).filter(fromWorker);
      if (left.length) {
        seen.push(`${left.length} from it on ${e.notReads.host}:${e.notReads.port}`);
        problems.push(
          `${w.describe} still reads ${e.notReads.host}:${e.notReads.port} ` +
            `(${left.map((c) => `${c.user}@${c.host}`).join(', ')})`,
        );
      }
    }
  }
  return { observed: seen.join('; '), problems, fix: [...new Set(fix)] };
}
