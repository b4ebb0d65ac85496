/**
 * Phases both switch workflows share: preflight and the GTID check. Each
 * records what it saw and decided in the tracker and refuses (before any
 * change) with a typed, non-retryable failure that says why.
 */
import type { ApplicationFailure } from '@temporalio/workflow';
import { ApplicationFailure as Failure } from '@temporalio/workflow';
import type { SourceState, SourceTask } from '../activities/dm.js';
import type { InstanceFacts } from '../activities/mysql.js';
import { parseGtidSet } from '../common/gtid/index.js';
import { decideGtids, relayPositionNote, type GtidDecision } from '../common/switch/decide.js';
import { binlogSettingNotes, rowEventSizeProblem, unreadableBinlogSettings } from '../common/switch/binlog-settings.js';
import { applying, channelsOf, replicating } from '../common/switch/replication.js';
import { describeErrant, describeTaggedGtids, type ErrantTarget } from '../common/switch/errant.js';
import { filterProblems, type TaskScope } from '../common/switch/filters.js';
import { describeChain, errantInTopology, serverFilters, writablePrimaryElsewhere } from './topology-checks.js';
import { recheckSettings, type SettingsRecheck } from './settings-recheck.js';
import { finishedLoad } from './paused-tasks.js';
import { SwitchErrorType } from '../common/switch/errors.js';
import type { InstanceRef } from '../common/switch/input.js';
import { GATES, type SwitchStatus } from '../common/switch/status.js';
import { dm, longMysql, mysql, net } from './activities.js';
import { normalizeAddress } from '../common/switch/addresses.js';
import { failure } from './compensation.js';
import type { GateLimit, Gates } from './approvals.js';
import type { Tracker } from './tracker.js';

/** Why a source without GTIDs is refused, and what to do. */
export function notGtidMode(sourceId: string): string {
  return `source ${sourceId} does not run in GTID mode (enable-gtid is false in its source config): the runbook cannot switch it safely; redeploy the source with enable-gtid: true first`;
}

export interface PreflightResult<S extends SourceState | null = SourceState> {
  source: S;
  newFacts: Extract<InstanceFacts, { reachable: true }>;
  oldFacts: Extract<InstanceFacts, { reachable: true }> | null;
  /** The tasks' schemas, when preflight read them (it does only where it found a filter). */
  scopes?: TaskScope[] | null;
}

export function refuse(t: Tracker, type: SwitchErrorType, reason: string): never {
  t.decide('refuse', reason);
  t.finish('refused');
  throw Failure.create({ message: reason, type, nonRetryable: true });
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
    mysql.mysqlInspect(req.newInstance, t.safety ? { withSources: true } : undefined),
    // the old instance's chain says whether a writable primary answers elsewhere
    req.oldInstance ? mysql.mysqlInspect(req.oldInstance, t.safety ? { withSources: true } : undefined) : Promise.resolve(null),
  ]);
  if (source) {
    t.tasks(source.tasks);
    if (!source.enableGtid) {
      refuse(t, SwitchErrorType.PreflightFailed, notGtidMode(req.sourceId));
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
  const problems = servingProblems(newFacts, source?.flavor ?? null, t.safety);
  if (problems.length) refuse(t, SwitchErrorType.PreflightFailed, `the new instance ${newFacts.address} cannot serve DM: ${problems.join('; ')}`);
  t.decide('go', `new instance ${newFacts.address} (${newFacts.version}, server_uuid ${newFacts.serverUuid}): GTIDs on, binlog ROW/FULL`);
  const scopes = t.safety ? await filterCheck(t, req, source, newFacts) : null;
  for (const n of binlogSettingNotes(newFacts)) t.decide('info', n);
  if (t.safety && newFacts.flavor === 'mariadb' && newFacts.gtidStrictMode === false) {
    t.decide('warn', `gtid_strict_mode is OFF on the new instance ${newFacts.address}: MariaDB does not enforce one order of sequence numbers per domain, so transactions logged out of order could escape the errant-transaction check (per domain and server id); turn it on (SET GLOBAL gtid_strict_mode = ON, and in the server's configuration)`);
  }

  let old: PreflightResult['oldFacts'] = null;
  if (oldFacts === null) {
    t.decide('warn', 'old instance not given: skipping the server_uuid and binlog_row_event_max_size comparison');
  } else if (!oldFacts.reachable) {
    t.decide('warn', `old instance ${oldFacts.address} is unreachable (${oldFacts.error}): skipping the checks that need it; the switch relies on DM's own position (gtid-S)`);
  } else {
    old = oldFacts;
    if (oldFacts.serverUuid === newFacts.serverUuid) refuse(t, SwitchErrorType.PreflightFailed, `old and new instance are the same server (server_uuid ${newFacts.serverUuid})`);
    const sizes = rowEventSizeProblem(oldFacts, newFacts);
    if (sizes) refuse(t, SwitchErrorType.PreflightFailed, sizes);
    t.decide('go', `old instance ${oldFacts.address} (server_uuid ${oldFacts.serverUuid}) differs from the new one; binlog_row_event_max_size equal`);
  }
  return { source, newFacts, oldFacts: old, scopes };
}

/**
 * Replication and binary log filters (and replica_skip_errors) on the new
 * instance and on every server up to the primary: refused when one could
 * hide changes of a schema the source's tasks replicate (common/switch/filters.ts).
 */
async function filterCheck(
  t: Tracker,
  req: PreflightRequest,
  source: SourceState | null,
  facts: PreflightResult['newFacts'],
): Promise<TaskScope[] | null> {
  const chain = describeChain(facts);
  if (chain) t.decide('info', chain);
  const servers = serverFilters(facts);
  const clean = (s: (typeof servers)[number]) =>
    s.applier.length === 0 && !s.binlogDoDb && !s.binlogIgnoreDb && /^(OFF)?$/i.test(s.skipErrors.trim());
  if (servers.every(clean)) {
    const where = servers.map((s) => s.address).join(', ') || facts.address;
    t.decide('go', `no replication or binary log filter and no skipped errors on ${where}`);
    return null;
  }
  const names = source?.tasks.map((x) => x.name) ?? [];
  const { dmCluster, sourceId } = req;
  const scopes = names.length ? await dm.dmTaskScopes({ dmCluster, sourceId, tasks: names }) : [];
  const problems = filterProblems(servers, scopes);
  if (problems.length) {
    const why = 'with GTIDs on, a filtered transaction is committed empty and keeps its GTID, so every GTID rule holds';
    const text = `switch refused, nothing was changed: DM would silently miss changes behind a filter (${why})`;
    refuse(t, SwitchErrorType.PreflightFailed, `${text}: ${problems.join('; ')}`);
  }
  const scope = scopes.map((x) => `${x.task}: ${x.do?.join(', ') ?? 'every schema'}`).join('; ');
  t.decide('go', `the filters found cannot touch what the tasks replicate (${scope})`);
  return scopes;
}

/** Why an instance cannot serve a DM source of `flavor` (null: not known), in words; empty when it can. */
export function servingProblems(facts: PreflightResult['newFacts'], flavor: 'mysql' | 'mariadb' | null, safety: boolean): string[] {
  const problems: string[] = [];
  if (flavor && facts.flavor !== flavor) problems.push(`it is ${facts.flavor} but the source's flavor is ${flavor}`);
  if (facts.flavor === 'mysql' && facts.gtidMode !== 'ON') problems.push(`gtid_mode is ${facts.gtidMode}, not ON`);
  if (!facts.logBin) problems.push('binary logging is off (log_bin=0)');
  problems.push(...unreadableBinlogSettings(facts));
  if (safety && facts.replica !== null && facts.logReplicaUpdates === false) {
    problems.push(`it is a replica with ${facts.flavor === 'mysql' ? 'log_replica_updates' : 'log_slave_updates'} OFF: what it replicates is not in its own binary log, so DM could not read it from there`);
  }
  return problems;
}

export interface GtidCheckResult {
  verdict: GtidDecision['verdict'];
  /** Union of every task's gtid-S: what the new instance must hold. */
  gtidS: string;
  /** What the new instance must have executed before DM reads it: every task's gtid-S. */
  waitFor: string;
  reasons: string[];
  /** The reasons that refuse (a subset of `reasons`). */
  refusals: string[];
  /** The errant GTIDs found ('' when none), and the sentence describing them. */
  errant: string;
  errantText: string;
}

/** What one GTID check reads: DM's positions, the new instance and the rest of the topology. */
export interface GtidReadings {
  flavor: 'mysql' | 'mariadb';
  tasks: SourceTask[];
  facts: PreflightResult['newFacts'];
  /** The old instance, when it answered. */
  old: PreflightResult['oldFacts'];
  /** With relay on and frozen: the relay's position (relayBinlogGtid). */
  relayGtid?: string | null;
  /** `before pause`, `frozen`, … : labels the readings. */
  when: string;
}

/** How errant transactions are treated: refused, unless accepted through the before-freeze gate. */
export interface ErrantPolicy {
  accept: boolean;
  /** What the approver accepted at the gate; a later check may find no more than this. */
  approved: string | null;
}

const NO_ERRANT: ErrantPolicy = { accept: false, approved: null };

/**
 * Checks gtid-P ⊆ gtid-S ⊆ gtid-E for every task of the source and records
 * every set and decision. With the safety rules on (t.safety), also: the
 * relay's position R reported (not required: see relayPositionNote), tagged
 * GTIDs (which DM drops) refused, and errant transactions on the new
 * instance (common/switch/errant.ts) refused unless accepted.
 */
export function gtidCheck(t: Tracker, r: GtidReadings, policy: ErrantPolicy = NO_ERRANT): GtidCheckResult {
  const { flavor, tasks, facts, when } = r;
  t.gtid(`gtid-P new instance (${when})`, facts.gtidPurged ?? '(MariaDB keeps no gtid_purged)');
  t.gtid(`gtid-E new instance (${when})`, facts.gtidExecuted);
  const replicating = applying(channelsOf(facts));
  let verdict: GtidDecision['verdict'] = 'go';
  let union = parseGtidSet(flavor, '');
  const reasons: string[] = [];
  const refusals: string[] = [];
  const refusing = (why: string) => {
    verdict = 'refuse';
    t.decide('refuse', why);
    reasons.push(why);
    refusals.push(why);
  };
  const note = (d: GtidDecision, what: string) => {
    t.decide(d.verdict, `${what}: ${d.reason}`);
    reasons.push(`${what}: ${d.reason}`);
    if (d.verdict === 'refuse') refusals.push(`${what}: ${d.reason}`);
    if (d.verdict === 'refuse') verdict = 'refuse';
    else if (d.verdict === 'wait' && verdict === 'go') verdict = 'wait';
  };
  for (const task of tasks) {
    // a task that finished its full load reads nothing more from the upstream (workflows/paused-tasks.ts)
    if (finishedLoad([task]).length) continue;
    t.gtid(`gtid-S task ${task.name} (${when})`, task.syncerBinlogGtid);
    note(decideGtids({ flavor, gtidS: task.syncerBinlogGtid, gtidP: facts.gtidPurged, gtidE: facts.gtidExecuted, newInstanceReplicating: replicating }), `task ${task.name}`);
    if (task.syncerBinlogGtid) union = union.union(parseGtidSet(flavor, task.syncerBinlogGtid));
  }
  const waitFor = union;
  const result = (errant = '', errantText = ''): GtidCheckResult => ({ verdict, gtidS: union.toString(), waitFor: waitFor.toString(), reasons, refusals, errant, errantText });
  if (!t.safety) return result();

  // start-relay after the move restarts the relay from the oldest task checkpoint: R is read, not required
  if (r.relayGtid) {
    t.gtid(`relay R (relayBinlogGtid) (${when})`, r.relayGtid);
    t.decide('info', relayPositionNote(flavor, r.relayGtid, facts.gtidExecuted));
  }

  // DM drops tagged-GTID transactions without an error
  const readings = [
    { label: `gtid-E of the new instance ${facts.address}`, gtids: facts.gtidExecuted },
    ...tasks.map((x) => ({ label: `gtid-S of task ${x.name}`, gtids: x.syncerBinlogGtid })),
    ...(r.old ? [{ label: `gtid-E of the old instance ${r.old.address}`, gtids: r.old.gtidExecuted }] : []),
    ...(r.relayGtid ? [{ label: 'the relay position', gtids: r.relayGtid }] : []),
  ];
  const tagged = describeTaggedGtids(flavor, readings);
  if (tagged) refusing(tagged);

  // errant transactions: what the new instance has that the rest of the topology (up to the primary) has not
  const base = [
    { label: "DM's position (gtid-S)", gtids: union.toString(), dmPosition: true },
    ...(r.relayGtid ? [{ label: "DM's relay position", gtids: r.relayGtid, dmPosition: true }] : []),
    ...(r.old ? [{ label: `the old instance ${r.old.address}`, gtids: executedState(r.old) }] : []),
  ];
  const { found, compared } = errantInTopology(flavor, errantTarget(facts, r.old), facts, base);
  for (const n of found.notes) t.decide('info', n);
  if (found.errant === '') {
    t.decide('go', `no errant transactions: every transaction ${facts.address} has executed is in ${compared.slice(0, -1).join(', ')}${compared.length > 1 ? ' or ' : ''}${compared.at(-1)}${found.notes.length ? ', besides those noted above' : ''}`);
    return result();
  }
  const text = describeErrant(found, `the new instance ${facts.address}`);
  t.gtid(`errant transactions on the new instance (${when})`, found.errant);
  if (policy.approved !== null) {
    const beyond = errantBeyond(flavor, found.errant, policy.approved);
    if (beyond === '') {
      t.decide('warn', `${text}; accepted at the before-freeze gate`);
      return result(found.errant, text);
    }
    refusing(`errant transactions appeared that the approver did not accept (${beyond}): ${text}`);
    return result(found.errant, text);
  }
  if (policy.accept) {
    t.decide('warn', `${text}; options.acceptErrantTransactions is set, so a person must accept them at the before-freeze gate`);
    return result(found.errant, text);
  }
  refusing(
    `${text}. Make the topology whole first: commit an empty transaction with each of these GTIDs on the primary (SET GTID_NEXT = '<gtid>'; BEGIN; COMMIT;) so every server has them, and undo their changes by hand if they must not reach downstream; or accept them with options.acceptErrantTransactions, which makes the switch wait for a person at the before-freeze gate`,
  );
  return result(found.errant, text);
}

/** The new instance as the errant check sees it (`old`: the old instance, when it answered). */
export function errantTarget(facts: PreflightResult['newFacts'], old: PreflightResult['oldFacts'] = null): ErrantTarget {
  const channels = facts.channels ?? (facts.replica ? [facts.replica] : []);
  const read = new Map((facts.sources ?? []).map((x) => [x.address, x]));
  return {
    label: `the new instance ${facts.address}`,
    serverUuid: facts.serverUuid,
    serverId: facts.serverId,
    gtids: executedState(facts),
    readOnly: facts.readOnly ?? true,
    replicating: replicating(channels),
    strictMode: facts.gtidStrictMode === true,
    sources: channels.map((c) => {
      const address = `${c.sourceHost}:${c.sourcePort}`;
      const s = read.get(address);
      return {
        label: address,
        serverUuid: s?.reachable ? s.serverUuid : c.sourceUuid,
        serverId: s?.reachable ? s.serverId : c.sourceServerId,
        read: s?.reachable === true,
        ...(s?.reachable && s.readOnly !== undefined ? { readOnly: s.readOnly } : {}),
        ...(s && !s.reachable ? { error: s.error } : s ? {} : { error: 'not read' }),
      };
    }),
    writablePrimaryElsewhere: writablePrimaryElsewhere(old, facts),
  };
}

/** MySQL gtid_executed; MariaDB gtid_binlog_state (per domain and server id), falling back to the position. */
export function executedState(facts: PreflightResult['newFacts']): string {
  return facts.flavor === 'mysql' ? facts.gtidExecuted : (facts.gtidBinlogState ?? facts.gtidExecuted);
}

/** The errant GTIDs not among those accepted ('' when all were). */
function errantBeyond(flavor: 'mysql' | 'mariadb', errant: string, approved: string): string {
  if (flavor === 'mysql') return parseGtidSet('mysql', errant).subtract(parseGtidSet('mysql', approved)).toCompactString();
  const ok = new Set(approved.split(','));
  return errant.split(',').filter((g) => g && !ok.has(g)).join(',');
}

/** How long DM may still stay frozen, and what a switch that passes it fails with. */
export interface Freeze {
  /** Workflow time (ms) when DM was frozen. */
  since: number;
  /** Workflow time (ms) by which the tasks must run again. */
  until: number;
  maxSeconds: number;
}

export function startFreeze(maxSeconds: number): Freeze {
  const since = Date.now();
  return { since, until: since + maxSeconds * 1000, maxSeconds };
}

export function freezeTimeout(f: Freeze, where: string): ApplicationFailure {
  return failure(
    `DM has been frozen ${Math.round((Date.now() - f.since) / 1000)} s, ${where}: options.maxFreezeSeconds (${f.maxSeconds} s) is over, so the switch is undone and replication resumes on the old instance; start it again when the cause is fixed`,
    SwitchErrorType.FreezeTimeout,
  );
}

/** The freeze as a gate's limit: a gate inside it waits no longer than the freeze may last. */
export function freezeLimit(f: Freeze | null, gate: string): GateLimit | undefined {
  if (!f) return undefined;
  return { until: f.until, why: `options.maxFreezeSeconds (${f.maxSeconds} s) ran out while DM was frozen`, failure: () => freezeTimeout(f, `waiting at gate ${gate}`) };
}

/**
 * With DM frozen (tasks paused or stopped), gtid-S no longer moves: check it
 * again and, if the new instance only lags, wait for it (bounded by the
 * catch-up timeout and by what is left of the freeze) and check once more.
 * Throws (after a change, so the caller compensates) unless the verdict is go.
 */
export async function recheckFrozen(
  t: Tracker,
  readings: Omit<GtidReadings, 'facts'> & { facts: InstanceFacts },
  newInstance: InstanceRef,
  catchUpTimeoutSeconds: number,
  policy: ErrantPolicy = NO_ERRANT,
  freeze: Freeze | null = null,
  settings?: SettingsRecheck,
): Promise<GtidCheckResult> {
  const facts = readings.facts;
  if (!facts.reachable) throw failure(`the new instance ${facts.address} became unreachable: ${facts.error}`, SwitchErrorType.PreflightFailed);
  // a filter or binary log setting changed since preflight: read with the GTID sets, judged before any wait
  await recheckSettings(t, settings, facts, 'with DM frozen');
  let check = gtidCheck(t, { ...readings, facts }, policy);
  if (check.verdict === 'wait') {
    t.phase('catching-up');
    const left = freeze ? Math.floor((freeze.until - Date.now()) / 1000) : Infinity;
    const timeout = Math.max(0, Math.min(catchUpTimeoutSeconds, left));
    const r = await longMysql(timeout).mysqlWaitForGtids({ instance: newInstance, flavor: readings.flavor, gtidSet: t.safety ? check.waitFor : check.gtidS, timeoutSeconds: timeout });
    if (!r.caughtUp) {
      if (r.stopped) throw failure(`the new instance stopped catching up after ${r.waitedSeconds} s (${r.stopped}); still missing ${r.missing}. Fix its replication, then start the switch again`, SwitchErrorType.CatchUpTimeout);
      if (freeze && timeout < catchUpTimeoutSeconds) throw freezeTimeout(freeze, `waiting for the new instance to catch up (still missing ${r.missing})`);
      throw failure(`the new instance did not catch up within ${catchUpTimeoutSeconds} s; still missing ${r.missing}`, SwitchErrorType.CatchUpTimeout);
    }
    t.decide('go', `the new instance caught up after ${r.waitedSeconds} s`);
    const again = await mysql.mysqlInspect(newInstance, t.safety ? { withSources: true } : undefined);
    if (!again.reachable) throw failure(`the new instance ${again.address} became unreachable: ${again.error}`, SwitchErrorType.PreflightFailed);
    await recheckSettings(t, settings, again, 'with DM frozen, after the new instance caught up');
    check = gtidCheck(t, { ...readings, facts: again, when: 'after catch-up' }, policy);
  }
  if (check.verdict !== 'go') throw failure(`GTID re-check with DM frozen failed: ${(check.refusals.length ? check.refusals : check.reasons).join('; ')}`, SwitchErrorType.GtidRefused);
  return check;
}

/**
 * After a gate that follows the freeze, immediately before the next change:
 * nothing may have moved while a person decided. Every task is still frozen
 * with the gtid-S it had (`still` checks that, per workflow), and the new
 * instance still passes every rule (binlog expiry may have purged what DM
 * needs; errant transactions may have appeared).
 */
export async function recheckAfterGate(
  t: Tracker,
  gate: string,
  readings: Omit<GtidReadings, 'facts' | 'when' | 'tasks'>,
  newInstance: InstanceRef,
  frozen: SourceTask[],
  now: SourceTask[],
  still: (frozen: SourceTask, now: SourceTask | undefined) => string | null,
  policy: ErrantPolicy,
  settings?: SettingsRecheck,
): Promise<void> {
  const moved = frozen.map((f) => still(f, now.find((x) => x.name === f.name))).filter((x): x is string => x !== null);
  if (moved.length) throw failure(`while DM was frozen (at gate ${gate}), ${moved.join('; ')}: someone else changed DM, so the switch is undone`, SwitchErrorType.FreezeBroken);
  const facts = await mysql.mysqlInspect(newInstance, { withSources: true });
  if (!facts.reachable) throw failure(`the new instance ${facts.address} became unreachable at gate ${gate}: ${facts.error}`, SwitchErrorType.PreflightFailed);
  await recheckSettings(t, settings, facts, `after gate ${gate}`);
  const check = gtidCheck(t, { ...readings, tasks: frozen, facts, when: `after gate ${gate}` }, policy);
  if (check.verdict !== 'go') throw failure(`GTID re-check after gate ${gate} failed: ${(check.refusals.length ? check.refusals : check.reasons).join('; ')}`, SwitchErrorType.GtidRefused);
  t.decide('go', `after gate ${gate}: every task still frozen at the same gtid-S, and the new instance still passes every GTID rule`);
}

/** Two GTID texts of one flavor name the same set. */
export function sameGtids(flavor: 'mysql' | 'mariadb', a: string, b: string): boolean {
  return parseGtidSet(flavor, a).equals(parseGtidSet(flavor, b));
}

/** The same host: the same text, or names that resolve to a common address. */
export async function sameHost(a: string, b: string): Promise<boolean> {
  if (normalizeAddress(a) === normalizeAddress(b)) return true;
  const resolved = await net.netResolveHosts({ hosts: [a, b] });
  const of = (h: string) => new Set((resolved[h] ?? []).map(normalizeAddress));
  const bs = of(b);
  return [...of(a)].some((x) => bs.has(x));
}

/** A dry run ends after every check: it says at which gates it would wait, changes nothing. */
export async function endDryRun(t: Tracker, gates: Gates, verdict: GtidCheckResult['verdict']): Promise<SwitchStatus> {
  for (const gate of GATES) await gates.pass(gate);
  t.decide('info', `dry run: every check done, nothing changed; verdict ${verdict}`);
  t.finish('dry-run');
  return t.status;
}
