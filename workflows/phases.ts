/**
 * Phases both switch workflows share: preflight and the GTID check. Each
 * records what it saw and decided in the tracker and refuses (before any
 * change) with a typed, non-retryable failure that says why.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { SourceState, SourceTask } from '../activities/dm.js';
import type { InstanceFacts } from '../activities/mysql.js';
import { parseGtidSet } from '../common/gtid/index.js';
import { decideGtids, type GtidDecision } from '../common/switch/decide.js';
import { SwitchErrorType } from '../common/switch/errors.js';
import type { InstanceRef } from '../common/switch/input.js';
import { GATES, type SwitchStatus } from '../common/switch/status.js';
import { dm, longMysql, mysql } from './activities.js';
import { failure } from './compensation.js';
import type { Gates } from './approvals.js';
import type { Tracker } from './tracker.js';

export interface PreflightResult<S extends SourceState | null = SourceState> {
  source: S;
  newFacts: Extract<InstanceFacts, { reachable: true }>;
  oldFacts: Extract<InstanceFacts, { reachable: true }> | null;
}

export function refuse(t: Tracker, type: SwitchErrorType, reason: string): never {
  t.decide('refuse', reason);
  t.finish('refused');
  throw ApplicationFailure.create({ message: reason, type, nonRetryable: true });
}

/**
 * The runbook's preconditions, read from the real state: the source exists and
 * runs in GTID mode, its tasks, relay, and the new (and, if up, old) instance's
 * settings. The old instance may be down: what needs it is skipped with a warning.
 */
type PreflightRequest = { dmCluster: string; sourceId: string; newInstance: InstanceRef; oldInstance?: InstanceRef };

export async function preflight(t: Tracker, req: PreflightRequest): Promise<PreflightResult>;
/** For adopting a half-done address switch: DM may no longer know the source (removed by hand). */
export async function preflight(t: Tracker, req: PreflightRequest, opts: { sourceMayBeMissing: true }): Promise<PreflightResult<SourceState | null>>;
export async function preflight(t: Tracker, req: PreflightRequest, opts?: { sourceMayBeMissing: true }): Promise<PreflightResult<SourceState | null>> {
  t.phase('preflight');
  const where = { dmCluster: req.dmCluster, sourceId: req.sourceId };
  const [source, newFacts, oldFacts] = await Promise.all([
    opts?.sourceMayBeMissing ? dm.dmFindSource(where) : dm.dmSourceState(where),
    mysql.mysqlInspect(req.newInstance),
    req.oldInstance ? mysql.mysqlInspect(req.oldInstance) : Promise.resolve(null),
  ]);
  if (source) {
    t.tasks(source.tasks);
    if (!source.enableGtid) {
      refuse(t, SwitchErrorType.PreflightFailed, `source ${req.sourceId} does not run in GTID mode (enable-gtid is false in its source config): the runbook cannot switch it safely; redeploy the source with enable-gtid: true first`);
    }
    t.decide('go', `source ${req.sourceId} runs in GTID mode (flavor ${source.flavor}) on ${source.worker ?? 'no worker'}, reading ${source.from.host}:${source.from.port}`);
    if (source.tasks.length === 0) t.decide('info', `source ${req.sourceId} has no tasks: nothing to pause or resume`);
    else t.decide('info', `tasks of the source (query-status): ${source.tasks.map((x) => `${x.name} ${x.stage}/${x.unit}${x.errors.length ? ` with errors: ${x.errors.join('; ')}` : ''}`).join(', ')}`);
    if (source.enableRelay) {
      t.decide('info', `relay is on (${source.relay ? `${source.relay.stage}, sub-directory ${source.relay.relaySubDir}` : 'no relay status'}): it will be checked to switch to a new sub-directory and catch up`);
    }
  } else {
    t.decide('warn', `DM does not know source ${req.sourceId}: it was removed (operate-source stop), perhaps halfway through an earlier switch; it will be created reading the new instance`);
  }

  if (!newFacts.reachable) refuse(t, SwitchErrorType.PreflightFailed, `the new instance ${newFacts.address} is not reachable: ${newFacts.error}`);
  const problems: string[] = [];
  if (source && newFacts.flavor !== source.flavor) problems.push(`it is ${newFacts.flavor} but the source's flavor is ${source.flavor}`);
  if (newFacts.flavor === 'mysql' && newFacts.gtidMode !== 'ON') problems.push(`gtid_mode is ${newFacts.gtidMode}, not ON`);
  if (!newFacts.logBin) problems.push('binary logging is off (log_bin=0)');
  if (newFacts.binlogFormat !== 'ROW') problems.push(`binlog_format is ${newFacts.binlogFormat}, not ROW`);
  if (newFacts.binlogRowImage !== 'FULL') problems.push(`binlog_row_image is ${newFacts.binlogRowImage}, not FULL`);
  if (problems.length) refuse(t, SwitchErrorType.PreflightFailed, `the new instance ${newFacts.address} cannot serve DM: ${problems.join('; ')}`);
  t.decide('go', `new instance ${newFacts.address} (${newFacts.version}, server_uuid ${newFacts.serverUuid}): GTIDs on, binlog ROW/FULL`);

  let old: PreflightResult['oldFacts'] = null;
  if (oldFacts === null) {
    t.decide('warn', 'old instance not given: skipping the server_uuid and binlog_row_event_max_size comparison');
  } else if (!oldFacts.reachable) {
    t.decide('warn', `old instance ${oldFacts.address} is unreachable (${oldFacts.error}): skipping the checks that need it; the switch relies on DM's own position (gtid-S)`);
  } else {
    old = oldFacts;
    if (oldFacts.serverUuid === newFacts.serverUuid) refuse(t, SwitchErrorType.PreflightFailed, `old and new instance are the same server (server_uuid ${newFacts.serverUuid})`);
    if (oldFacts.binlogRowEventMaxSize !== newFacts.binlogRowEventMaxSize) {
      refuse(t, SwitchErrorType.PreflightFailed, `binlog_row_event_max_size differs: old ${oldFacts.binlogRowEventMaxSize}, new ${newFacts.binlogRowEventMaxSize}; DM may fail on row events the new instance splits differently — align the setting first`);
    }
    t.decide('go', `old instance ${oldFacts.address} (server_uuid ${oldFacts.serverUuid}) differs from the new one; binlog_row_event_max_size equal`);
  }
  return { source, newFacts, oldFacts: old };
}

export interface GtidCheckResult {
  verdict: GtidDecision['verdict'];
  /** Union of every task's gtid-S: what the new instance must hold. */
  gtidS: string;
  reasons: string[];
}

/** Checks gtid-P ⊆ gtid-S ⊆ gtid-E for every task of the source and records every set and decision. */
export function gtidCheck(t: Tracker, flavor: 'mysql' | 'mariadb', tasks: SourceTask[], facts: PreflightResult['newFacts'], when: string): GtidCheckResult {
  t.gtid(`gtid-P new instance (${when})`, facts.gtidPurged ?? '(MariaDB keeps no gtid_purged)');
  t.gtid(`gtid-E new instance (${when})`, facts.gtidExecuted);
  const replicating = facts.replica !== null && facts.replica.ioRunning && facts.replica.sqlRunning;
  let verdict: GtidDecision['verdict'] = 'go';
  let union = parseGtidSet(flavor, '');
  const reasons: string[] = [];
  for (const task of tasks) {
    t.gtid(`gtid-S task ${task.name} (${when})`, task.syncerBinlogGtid);
    const d = decideGtids({ flavor, gtidS: task.syncerBinlogGtid, gtidP: facts.gtidPurged, gtidE: facts.gtidExecuted, newInstanceReplicating: replicating });
    t.decide(d.verdict, `task ${task.name}: ${d.reason}`);
    reasons.push(`task ${task.name}: ${d.reason}`);
    if (d.verdict === 'refuse') verdict = 'refuse';
    else if (d.verdict === 'wait' && verdict === 'go') verdict = 'wait';
    if (task.syncerBinlogGtid) union = union.union(parseGtidSet(flavor, task.syncerBinlogGtid));
  }
  return { verdict, gtidS: union.toString(), reasons };
}

/**
 * With DM frozen (tasks paused or stopped), gtid-S no longer moves: check it
 * again and, if the new instance only lags, wait for it (bounded) and check
 * once more. Throws (after a change, so the caller compensates) unless the
 * verdict is go.
 */
export async function recheckFrozen(
  t: Tracker,
  flavor: 'mysql' | 'mariadb',
  frozenTasks: SourceTask[],
  facts: InstanceFacts,
  newInstance: InstanceRef,
  catchUpTimeoutSeconds: number,
): Promise<GtidCheckResult> {
  if (!facts.reachable) throw failure(`the new instance ${facts.address} became unreachable: ${facts.error}`, SwitchErrorType.PreflightFailed);
  let check = gtidCheck(t, flavor, frozenTasks, facts, 'frozen');
  if (check.verdict === 'wait') {
    t.phase('catching-up');
    const r = await longMysql(catchUpTimeoutSeconds).mysqlWaitForGtids({ instance: newInstance, flavor, gtidSet: check.gtidS, timeoutSeconds: catchUpTimeoutSeconds });
    if (!r.caughtUp) {
      throw failure(`the new instance did not catch up within ${catchUpTimeoutSeconds} s; still missing ${r.missing}`, SwitchErrorType.CatchUpTimeout);
    }
    t.decide('go', `the new instance caught up after ${r.waitedSeconds} s`);
    const again = await mysql.mysqlInspect(newInstance);
    if (!again.reachable) throw failure(`the new instance ${again.address} became unreachable: ${again.error}`, SwitchErrorType.PreflightFailed);
    check = gtidCheck(t, flavor, frozenTasks, again, 'after catch-up');
  }
  if (check.verdict !== 'go') throw failure(`GTID re-check with DM frozen failed: ${check.reasons.join('; ')}`, SwitchErrorType.GtidRefused);
  return check;
}

/** A dry run ends after every check: it says at which gates it would wait, changes nothing. */
export async function endDryRun(t: Tracker, gates: Gates, verdict: GtidCheckResult['verdict']): Promise<SwitchStatus> {
  for (const gate of GATES) await gates.pass(gate);
  t.decide('info', `dry run: every check done, nothing changed; verdict ${verdict}`);
  t.finish('dry-run');
  return t.status;
}
