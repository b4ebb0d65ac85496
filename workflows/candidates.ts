/**
 * A switch that chooses its own target: the request gives an
 * ordered list of `candidates`, or asks to `discover` them (the replicas of
 * the old instance's source and of the old instance, or of `replicasOf`).
 * Before any change, every candidate is read and judged by the rules a named
 * `newInstance` must pass, and the best that passes them all is chosen:
 *
 *   1. reachable, with the credentials given;
 *   2. not the old instance, able to serve DM (flavor, GTIDs on, binlog
 *      ROW/FULL, log_replica_updates) and, for a VIP switch, a host the VIP
 *      provider can move the VIP to;
 *   3. the same topology: it shares transactions with DM's position;
 *   4. the runbook's GTID rules: gtid-P ⊆ gtid-S, and gtid-S ⊆ gtid-E now,
 *      or later while it replicates (the switch then waits for it, bounded
 *      by options.catchUpTimeoutSeconds, as for a named instance);
 *   5. no errant transactions and no tagged GTIDs (which DM drops);
 *
 * then, among those that pass: one DM already reads (a switch to it was half
 * done) first; then those that hold gtid-S now before those that must catch
 * up; then the least lag (transactions it lacks of what the topology is known
 * to have: DM's position, the old instance, every candidate's source and
 * every candidate that passed); then the operator's order. Lags within
 * LAG_TOLERANCE of the least count as equal, so that readings taken
 * milliseconds apart on a busy primary do not override the operator's order.
 *
 * The chosen instance then goes through the switch as if it had been named:
 * preflight reads it again and every later check applies. Deterministic: the
 * reading is done by activities, the judging here is pure (rankCandidates).
 */
import { IN_WORDS } from '../common/mysql/dialect.js';
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import { MysqlGtidSet, parseGtidSet, type Flavor, type GtidSet } from '../common/gtid/index.js';
import { decideGtids } from '../common/switch/decide.js';
import { ReasonKind } from '../common/switch/readiness.js';
import { binlogSettingNotes, rowEventSizeNote } from '../common/switch/binlog-settings.js';
import { applying, channelsOf } from '../common/switch/replication.js';
import { describeErrant, describeTaggedGtids } from '../common/switch/errant.js';
import type { TaskScope } from '../common/switch/filters.js';
import { finishedLoad } from './paused-tasks.js';
import { SwitchErrorType } from '../common/switch/errors.js';
import type { InstanceFacts, SourceState, SourceTask } from '../common/switch/types.js';
import { MAX_CANDIDATES, type Discover, type InstanceRef, type WithTarget } from '../common/switch/input.js';
import type { CandidateReport } from '../common/switch/status.js';
import { dm, mysql, vip } from './activities.js';
import type { Gates } from './approvals.js';
import { describe } from './compensation.js';
import { drainMarks, refuseDrainedTarget } from './host-marks.js';
import { errantTarget, executedState } from './gtid-check.js';
import { findSplitBrain } from './split-brain.js';
import { notGtidMode, refuse, servingProblems } from './preflight.js';
import { errantInTopology, filterRefusals, serverFilters } from './topology-checks.js';
import type { Tracker } from './tracker.js';

type Reachable = Extract<InstanceFacts, { reachable: true }>;
const SPLIT = 'not chosen: the qualifying candidates hold diverging histories (split brain)';

/** Lags (in transactions) this close to the least one count as equal: the operator's order decides between them. */
export const LAG_TOLERANCE = 50n;

export interface CandidateReading {
  ref: InstanceRef;
  /** `candidates[2]`, `replica of 10.0.0.1:3306`. */
  origin: string;
  facts: InstanceFacts;
  /** VIP switch: whether the provider can move the VIP there. */
  vip?: { ok: boolean; checked: boolean; reason: string };
  /** Why its host may not be a target: it is under drain (workflows/host-marks.ts). */
  drained?: string | null;
}

export interface RankInput {
  flavor: Flavor;
  tasks: SourceTask[];
  /** With relay on: relayBinlogGtid (the relay resumes from it). */
  relayGtid: string | null;
  old: { ref: InstanceRef; facts: InstanceFacts } | null;
  /** host:port DM reads now, when that is known (the VIP's holder, the source's address). */
  current: string | null;
  candidates: CandidateReading[];
  /** The schemas the source's tasks replicate, for judging filters (absent: every schema counts). */
  scopes?: TaskScope[];
}

export interface Ranking {
  /** Best first; the chosen one (if any) is the first. */
  reports: CandidateReport[];
  chosen: CandidateReading | null;
  /** Two qualifying candidates whose histories diverge (each holds transactions the other lacks): none chosen. */
  splitBrain?: string;
}

const addressOf = (r: InstanceRef) => `${r.host}:${r.port}`;

/** Judges every candidate and ranks them (pure: the readings are taken before). */
export function rankCandidates(r: RankInput): Ranking {
  const { flavor } = r;
  const gtidS = r.tasks.reduce<GtidSet>(
    (u, x) => (x.syncerBinlogGtid ? u.union(parseGtidSet(flavor, x.syncerBinlogGtid)) : u),
    parseGtidSet(flavor, ''),
  );
  const old = r.old?.facts.reachable ? r.old.facts : null;
  type Judged = {
    c: CandidateReading;
    index: number;
    reasons: string[];
    /** The kind of each reason (common/switch/readiness.ts), in the same order. */
    kinds: string[];
    notes: string[];
    catchUp: boolean;
    adopt: boolean;
  };
  const judged: Judged[] = r.candidates.map((c, index) => {
    const reasons: string[] = [];
    const kinds: string[] = [];
    const add = (kind: ReasonKind, ...texts: string[]) => {
      for (const x of texts) {
        reasons.push(x);
        kinds.push(kind);
      }
    };
    const notes: string[] = [];
    let catchUp = false;
    const f = c.facts;
    const address = addressOf(c.ref);
    const none = { c, index, notes, catchUp, adopt: false };
    if (!f.reachable) return { ...none, reasons: [`not reachable: ${f.error}`], kinds: [ReasonKind.unreachable] };
    if (r.old && (address === addressOf(r.old.ref) || (old && old.serverUuid === f.serverUuid))) {
      const kinds = [ReasonKind.oldInstance];
      return { ...none, reasons: ['it is the old instance, the one DM is to leave'], kinds };
    }
    add(ReasonKind.cannotServe, ...servingProblems(f, flavor).map((p) => `cannot serve DM: ${p}`));
    const sizes = old ? rowEventSizeNote(old, f) : null;
    if (sizes) notes.push(sizes);
    notes.push(...binlogSettingNotes(f));
    if (c.vip && !c.vip.ok) add(ReasonKind.vipProvider, c.vip.reason);
    if (c.drained) add(ReasonKind.drained, c.drained);
    if (f.flavor !== flavor) return { c, index, reasons, kinds, notes, catchUp, adopt: false };
    // the same topology: DM's position and this instance's history meet
    if (!gtidS.isEmpty() && gtidS.intersect(parseGtidSet(flavor, f.gtidExecuted)).isEmpty()) {
      add(ReasonKind.otherTopology, 'another topology: it has none of the transactions DM has replicated (gtid-S)');
    }
    const replicating = applying(channelsOf(f));
    const rule = (d: ReturnType<typeof decideGtids>, what: string) => {
      if (d.verdict === 'refuse') add(gtidRuleKind(d), `${what}: ${d.reason}`);
      if (d.verdict === 'wait') {
        catchUp = true;
        notes.push(`${what}: ${d.reason}`);
      }
    };
    for (const task of r.tasks.filter((x) => finishedLoad([x]).length === 0))
      rule(
        decideGtids({
          flavor,
          gtidS: task.syncerBinlogGtid,
          gtidP: f.gtidPurged,
          gtidE: f.gtidExecuted,
          newInstanceReplicating: replicating,
        }),
        `task ${task.name}`,
      );
    const tagged = describeTaggedGtids(flavor, [{ label: `gtid-E of ${address}`, gtids: f.gtidExecuted }]);
    if (tagged) add(ReasonKind.taggedGtids, tagged);
    const base = [
      { label: "DM's position (gtid-S)", gtids: gtidS.toString(), dmPosition: true },
      ...(r.relayGtid ? [{ label: "DM's relay position", gtids: r.relayGtid, dmPosition: true }] : []),
      ...(old ? [{ label: `the old instance ${old.address}`, gtids: executedState(old) }] : []),
    ];
    const target = { ...errantTarget(f, old), label: `the candidate ${address}` };
    const { found } = errantInTopology(flavor, target, f, base);
    if (found.errant !== '')
      add(
        ReasonKind.errantGtids,
        `${describeErrant(found, `it`)} (name it as newInstance with ` +
          `options.acceptErrantTransactions to accept them at a gate)`,
      );
    for (const n of found.notes) notes.push(n);
    const filtered = filterRefusals(f, r.scopes ?? [], 'the candidate');
    add(ReasonKind.blindSpot, ...filtered.map((p) => `DM would silently miss changes behind a filter: ${p}`));
    return { c, index, reasons, kinds, notes, catchUp, adopt: r.current !== null && r.current === address };
  });

  // lag: what each lacks of everything the topology is known to have (MySQL; MariaDB numbers per domain, no count)
  const lags = new Map<Judged, bigint>();
  if (flavor === 'mysql') {
    let known = MysqlGtidSet.from(gtidS);
    const add = (text: string) => (known = known.union(MysqlGtidSet.parse(text)));
    if (r.relayGtid) add(r.relayGtid);
    if (old) add(old.gtidExecuted);
    for (const j of judged) {
      const f = j.c.facts;
      if (!f.reachable) continue;
      for (const s of f.sources ?? []) if (s.reachable) add(s.gtids);
      if (j.reasons.length === 0) add(f.gtidExecuted);
    }
    for (const j of judged)
      if (j.c.facts.reachable) lags.set(j, known.subtract(MysqlGtidSet.parse(j.c.facts.gtidExecuted)).count());
  }

  const passing = judged.filter((j) => j.reasons.length === 0);
  const least = passing.reduce<bigint | null>(
    (m, j) => (lags.has(j) && (m === null || lags.get(j)! < m) ? lags.get(j)! : m),
    null,
  );
  const lagKey = (j: Judged) => {
    const lag = lags.get(j);
    if (lag === undefined || least === null) return 0n;
    return lag - least <= LAG_TOLERANCE ? 0n : lag;
  };
  const order = (a: Judged, b: Judged) => {
    const pass = Number(a.reasons.length > 0) - Number(b.reasons.length > 0);
    if (pass) return pass;
    const adopt = Number(b.adopt) - Number(a.adopt);
    if (adopt) return adopt;
    const wait = Number(a.catchUp) - Number(b.catchUp);
    if (wait) return wait;
    const la = lagKey(a);
    const lb = lagKey(b);
    if (la !== lb) return la < lb ? -1 : 1;
    return a.index - b.index;
  };
  const ranked = [...judged].sort(order);
  const qualifying = passing.map((j) => ({ address: addressOf(j.c.ref), facts: j.c.facts as Reachable }));
  const splitBrain = findSplitBrain(flavor, qualifying);
  const chosen = !splitBrain && ranked[0] && ranked[0].reasons.length === 0 ? ranked[0] : null;
  const reports = ranked.map((j): CandidateReport => {
    const lag = lags.get(j);
    const why = j.reasons.length
      ? j.reasons
      : [
          ...(j.adopt ? ['DM already reads it: a switch to it was done, or half done'] : []),
          ...j.notes,
          ...(j === chosen ? [] : chosen ? [`ranked after ${addressOf(chosen.c.ref)}${whyAfter(chosen, j)}`] : [SPLIT]),
        ];
    return {
      address: addressOf(j.c.ref),
      origin: j.c.origin,
      chosen: j === chosen,
      qualifies: j.reasons.length === 0,
      ...(lag === undefined ? {} : { lag: lag.toString() }),
      reasons: why,
      ...(j.reasons.length ? { kinds: j.kinds } : {}),
    };
  });
  return { reports, chosen: chosen?.c ?? null, ...(splitBrain ? { splitBrain } : {}) };

  function whyAfter(best: Judged, j: Judged): string {
    if (best.adopt) return ', which DM already reads';
    if (j.catchUp && !best.catchUp) return ', which holds gtid-S now while this one must catch up';
    const lb = lagKey(best);
    const lj = lagKey(j);
    if (lj !== lb) return `: it lags ${lags.get(j)} transaction(s), ${lags.get(best)} for the chosen one`;
    return ": as good, but later in the operator's order";
  }
}

/** The kind of a refusal of the runbook's GTID rule (common/switch/decide.ts), from the decision's rule. */
function gtidRuleKind(d: ReturnType<typeof decideGtids>): ReasonKind {
  if (d.verdict !== 'refuse') return ReasonKind.gtidRefused;
  if (d.rule === 'purged') return ReasonKind.gtidPurged;
  if (d.rule === 'missing') return ReasonKind.gtidMissing;
  return ReasonKind.gtidUnreadable;
}

/** One line per candidate, for the decisions and what an approver reads. */
export function describeRanking(reports: CandidateReport[]): string[] {
  return reports.map(
    (c) =>
      `${c.chosen ? 'chosen' : c.qualifies ? 'qualifies' : 'passed over'}: ` +
      (`${c.address} (${c.origin}${c.lag !== undefined ? `, lag ${c.lag}` : ''})` +
        `${c.reasons.length ? ` — ${c.reasons.join('; ')}` : ''}`),
  );
}

type Targetable = {
  dmCluster: string;
  sourceId: string;
  newInstance?: InstanceRef;
  candidates?: InstanceRef[];
  discover?: Discover;
  oldInstance?: InstanceRef;
};

/**
 * The request with its target: `newInstance` as given, or the best candidate
 * (recorded in status.candidates and added to what every gate's approver
 * reads). Refuses, with every candidate's reason and nothing changed, when
 * none qualifies.
 */
export async function withTarget<T extends Targetable>(
  t: Tracker,
  gates: Gates,
  input: T,
  how: { vip?: { provider: string; address: string } },
): Promise<WithTarget<T>> {
  if (input.newInstance) {
    t.status.target = addressOf(input.newInstance);
    await refuseDrainedTarget(t, input.newInstance);
    return input as WithTarget<T>;
  }
  t.phase('choosing-target');
  const { dmCluster, sourceId } = input;
  const [source, oldFacts, listed] = await Promise.all([
    dm.dmFindSource({ dmCluster, sourceId }),
    input.oldInstance ? mysql.mysqlInspect(input.oldInstance, { withSources: true }) : Promise.resolve(null),
    candidateList(t, input),
  ]);
  if (!source) {
    refuse(
      t,
      SwitchErrorType.PreflightFailed,
      `DM does not know source ${sourceId}, so there is no position (gtid-S) to judge ` +
        `candidates by; nothing was changed. To finish a half-done switch, name the target as newInstance`,
    );
  }
  if (!source.enableGtid) refuse(t, SwitchErrorType.PreflightFailed, notGtidMode(sourceId));
  const refs = listed.map((l) => l.ref);
  const [facts, vips, current, drained] = await Promise.all([
    Promise.all(refs.map((ref) => inspect(ref))),
    how.vip
      ? Promise.all(
          refs.map((to) =>
            to.port === source.from.port ? canHold(how.vip!, to) : Promise.resolve(portNotRead(source, to)),
          ),
        )
      : Promise.resolve(null),
    how.vip
      ? vip
          .vipLocate({
            provider: how.vip.provider,
            address: how.vip.address,
            candidates: [...refs, ...(input.oldInstance ? [input.oldInstance] : [])],
          })
          .then((h) => (h === null ? null : (refs.find((x) => x.host === h) ?? null)))
      : Promise.resolve(refs.find((x) => x.host === source.from.host && x.port === source.from.port) ?? null),
    drainMarks(refs),
  ]);
  const { reports, chosen, splitBrain } = rankCandidates({
    flavor: source.flavor,
    tasks: source.tasks,
    relayGtid: source.relay?.relayBinlogGtid || null,
    old: input.oldInstance && oldFacts ? { ref: input.oldInstance, facts: oldFacts } : null,
    current: current ? addressOf(current) : null,
    candidates: listed.map((l, i) => ({
      ...l,
      facts: facts[i]!,
      ...(vips ? { vip: vips[i]! } : {}),
      drained: drained[i] ?? null,
    })),
    scopes: await scopesIfFiltered(dmCluster, sourceId, source.tasks, facts),
  });
  t.status.candidates = reports;
  describeRanking(reports).forEach((line, i) =>
    t.decide(reports[i]!.chosen || reports[i]!.qualifies ? 'info' : 'warn', `candidate ${line}`),
  );
  if (splitBrain) refuse(t, SwitchErrorType.GtidRefused, `switch refused, nothing was changed: ${splitBrain}`);
  if (!chosen) {
    refuse(
      t,
      SwitchErrorType.NoCandidate,
      `no candidate qualifies, nothing was changed: ` +
        `${reports.map((c) => `${c.address}: ${c.reasons.join('; ')}`).join(' | ')}`,
    );
  }
  const passed = reports.filter((c) => !c.chosen).map((c) => `${c.address} (${c.reasons.join('; ')})`);
  const note =
    `Target ${addressOf(chosen.ref)} chosen among ${reports.length} ` +
    `candidate(s)${passed.length ? `; not chosen: ${passed.join(', ')}` : ''}`;
  gates.note(note);
  t.status.target = addressOf(chosen.ref);
  t.decide('go', `${note}`);
  return { ...input, newInstance: chosen.ref } as WithTarget<T>;
}

/** The candidates as given, or discovered; at most MAX_CANDIDATES. */
async function candidateList(t: Tracker, input: Targetable): Promise<Array<{ ref: InstanceRef; origin: string }>> {
  if (input.candidates) return input.candidates.map((ref, i) => ({ ref, origin: `candidates[${i}]` }));
  const d = input.discover!;
  const ask = d.replicasOf ?? input.oldInstance!;
  const credentials = d.credentials ?? ask.credentials;
  // DM's own binlog readers register as replicas: pass them over by what they are, without logging in to them
  const dmReaders = await dm.dmBinlogReaders({ dmCluster: input.dmCluster });
  const r = await mysql.mysqlDiscoverReplicas({ ask, alsoItsSource: !d.replicasOf, credentials, dmReaders });
  t.decide('info', `discovering candidates: ${r.asked.join('; ')}`);
  const found = r.found.map((f) => ({ ref: { host: f.host, port: f.port, credentials }, origin: f.via }));
  if (found.length === 0) {
    const hint = r.unanswered.length
      ? 'Give discover.replicasOf: an instance that answers and knows the replicas (the ' +
        'primary, when the old instance is down), or give the candidates as a list'
      : `Replicas are listed by ${IN_WORDS.replicaHosts} only with report_host set; set it on them, ` +
        'or give the candidates as a list';
    refuse(t, SwitchErrorType.NoCandidate, `no candidate found, nothing was changed: ${r.asked.join('; ')}. ${hint}`);
  }
  if (found.length > MAX_CANDIDATES)
    t.decide('warn', `found ${found.length} replicas; only the first ${MAX_CANDIDATES} are judged`);
  return found.slice(0, MAX_CANDIDATES);
}

/** A candidate's facts; a login it refuses (a wrong reference for this one) makes it unusable, not the switch. */
async function inspect(ref: InstanceRef): Promise<InstanceFacts> {
  try {
    return await mysql.mysqlInspect(ref, { withSources: true });
  } catch (e) {
    if (
      e instanceof ActivityFailure &&
      e.cause instanceof ApplicationFailure &&
      e.cause.type === SwitchErrorType.InvalidInput
    )
      return { reachable: false, address: addressOf(ref), error: describe(e) };
    throw e;
  }
}

/**
 * Through the VIP, DM reaches from.port of the instance holding it: a candidate on another port is not what it reads.
 */
function portNotRead(source: SourceState, to: InstanceRef): { ok: boolean; checked: boolean; reason: string } {
  const { host, port } = source.from;
  const reason =
    `DM reads ${host}:${port}, so through the VIP it would reach ${to.host}:${port}, not this server on port ` +
    `${to.port}: the checks here would judge a server DM does not read`;
  return { ok: false, checked: true, reason };
}

async function canHold(
  v: { provider: string; address: string },
  to: InstanceRef,
): Promise<{ ok: boolean; checked: boolean; reason: string }> {
  try {
    return await vip.vipCanHold({ provider: v.provider, address: v.address, to: { host: to.host, port: to.port } });
  } catch (e) {
    // an unknown provider is the request's mistake (InvalidInput): the switch ends with it
    if (
      e instanceof ActivityFailure &&
      e.cause instanceof ApplicationFailure &&
      e.cause.type === SwitchErrorType.InvalidInput
    )
      throw e;
    return { ok: false, checked: true, reason: `the VIP provider's check failed: ${describe(e)}` };
  }
}

/** The tasks' schemas, read (config task) only when a candidate or a server of its chain has a filter. */
async function scopesIfFiltered(
  dmCluster: string,
  sourceId: string,
  tasks: SourceTask[],
  facts: InstanceFacts[],
): Promise<TaskScope[] | undefined> {
  const any = (f: Reachable) =>
    serverFilters(f).some((s) => s.applier.length > 0 || s.binlogDoDb !== '' || s.binlogIgnoreDb !== '');
  const filtered = facts.some((f) => f.reachable && any(f));
  if (!filtered || tasks.length === 0) return undefined;
  return dm.dmTaskScopes({ dmCluster, sourceId, tasks: tasks.map((x) => x.name) });
}
