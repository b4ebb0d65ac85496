/**
 * The GTID rules (gtid-P ⊆ gtid-S ⊆ gtid-E, no errant or tagged GTIDs), checked
 * before the freeze, again once DM is frozen (waiting, bounded, for a lagging
 * new instance), and after every gate inside the freeze. Each check records
 * every set and decision in the tracker.
 */
import { parseGtidSet } from '../common/gtid/index.js';
import { decideGtids, relayPositionNote, type GtidDecision } from '../common/switch/decide.js';
import { describeErrant, describeTaggedGtids, type ErrantTarget } from '../common/switch/errant.js';
import { failure, SwitchErrorType } from '../common/switch/errors.js';
import type { Flavor, InstanceFacts, SourceTask } from '../common/switch/types.js';
import type { InstanceRef } from '../common/switch/input.js';
import { applying, channelsOf, replicating } from '../common/switch/replication.js';
import { longMysql, mysql } from './activities.js';

import { freezeTimeout, type Freeze } from './freeze.js';
import { finishedLoad } from './paused-tasks.js';
import type { PreflightResult } from './preflight.js';
import { recheckSettings, type SettingsRecheck } from './settings-recheck.js';
import { errantInTopology, writablePrimaryElsewhere } from './topology-checks.js';
import type { Tracker } from './tracker.js';

export interface GtidCheckResult {
  verdict: GtidDecision['verdict'];
  /** Union of every task's gtid-S: what the new instance must hold. */
  gtidS: string;
  /** What the new instance must have executed before DM reads it: every task's gtid-S. */
  waitFor: string;
  /** Every rule's finding, in the order checked; those that block make the verdict `refuse`. */
  findings: Finding[];
  /** The errant GTIDs found ('' when none), and the sentence describing them. */
  errant: string;
  errantText: string;
}

/** What one GTID check reads: DM's positions, the new instance and the rest of the topology. */
export interface GtidReadings {
  flavor: Flavor;
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

/** The GTID rules a check applies: the runbook's subset rule, and the two it cannot see. */
export type GtidRule = 'gtid-p-s-e' | 'tagged-gtids' | 'errant';

/** One rule's finding: whether it blocks the switch, and what it says (to a person; never matched by wording). */
export interface Finding {
  rule: GtidRule;
  blocking: boolean;
  message: string;
}

/** The blocking findings' messages, or (a check that only waits) every finding's. */
export function refusals(check: GtidCheckResult): string[] {
  return check.findings.filter((f) => f.blocking).map((f) => f.message);
}

function explain(check: GtidCheckResult): string {
  const blocking = refusals(check);
  return (blocking.length ? blocking : check.findings.map((f) => f.message)).join('; ');
}

/**
 * Checks gtid-P ⊆ gtid-S ⊆ gtid-E for every task of the source and records
 * every set and decision. Also: the relay's position R reported (not required: see relayPositionNote), tagged
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
  const findings: Finding[] = [];
  const refusing = (rule: GtidRule, message: string) => {
    verdict = 'refuse';
    t.decide('refuse', message);
    findings.push({ rule, blocking: true, message });
  };
  const note = (d: GtidDecision, what: string) => {
    const message = `${what}: ${d.reason}`;
    t.decide(d.verdict, message);
    findings.push({ rule: 'gtid-p-s-e', blocking: d.verdict === 'refuse', message });
    if (d.verdict === 'refuse') verdict = 'refuse';
    else if (d.verdict === 'wait' && verdict === 'go') verdict = 'wait';
  };
  for (const task of tasks) {
    // a task that finished its full load reads nothing more from the upstream (workflows/paused-tasks.ts)
    if (finishedLoad([task]).length) continue;
    t.gtid(`gtid-S task ${task.name} (${when})`, task.syncerBinlogGtid);
    note(
      decideGtids({
        flavor,
        gtidS: task.syncerBinlogGtid,
        gtidP: facts.gtidPurged,
        gtidE: facts.gtidExecuted,
        newInstanceReplicating: replicating,
      }),
      `task ${task.name}`,
    );
    if (task.syncerBinlogGtid) union = union.union(parseGtidSet(flavor, task.syncerBinlogGtid));
  }
  const waitFor = union;
  const result = (errant = '', errantText = ''): GtidCheckResult => ({
    verdict,
    gtidS: union.toString(),
    waitFor: waitFor.toString(),
    findings,
    errant,
    errantText,
  });

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
  if (tagged) refusing('tagged-gtids', tagged);

  // errant transactions: what the new instance has that the rest of the topology (up to the primary) has not
  const base = [
    { label: "DM's position (gtid-S)", gtids: union.toString(), dmPosition: true },
    ...(r.relayGtid ? [{ label: "DM's relay position", gtids: r.relayGtid, dmPosition: true }] : []),
    ...(r.old ? [{ label: `the old instance ${r.old.address}`, gtids: executedState(r.old) }] : []),
  ];
  const { found, compared } = errantInTopology(flavor, errantTarget(facts, r.old), facts, base);
  for (const n of found.notes) t.decide('info', n);
  if (found.errant === '') {
    t.decide(
      'go',
      `no errant transactions: every transaction ${facts.address} has executed is in ` +
        (`${compared.slice(0, -1).join(', ')}${compared.length > 1 ? ' or ' : ''}` +
          `${compared.at(-1)}${found.notes.length ? ', besides those noted above' : ''}`),
    );
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
    refusing('errant', `errant transactions appeared that the approver did not accept (${beyond}): ${text}`);
    return result(found.errant, text);
  }
  if (policy.accept) {
    t.decide(
      'warn',
      `${text}; options.acceptErrantTransactions is set, so a person must accept them at the before-freeze gate`,
    );
    return result(found.errant, text);
  }
  refusing(
    'errant',
    `${text}. Make the topology whole first: commit an empty transaction with each ` +
      `of these GTIDs on the primary (SET GTID_NEXT = '<gtid>'; BEGIN; COMMIT;) so ` +
      `every server has them, and undo their changes by hand if they must not reach ` +
      `downstream; or accept them with options.acceptErrantTransactions, which makes ` +
      `the switch wait for a person at the before-freeze gate`,
  );
  return result(found.errant, text);
}

/** The new instance as the errant check sees it (`old`: the old instance, when it answered). */
export function errantTarget(
  facts: PreflightResult['newFacts'],
  old: PreflightResult['oldFacts'] = null,
): ErrantTarget {
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
function errantBeyond(flavor: Flavor, errant: string, approved: string): string {
  if (flavor === 'mysql')
    return parseGtidSet('mysql', errant).subtract(parseGtidSet('mysql', approved)).toCompactString();
  const ok = new Set(approved.split(','));
  return errant
    .split(',')
    .filter((g) => g && !ok.has(g))
    .join(',');
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
  if (!facts.reachable)
    throw failure(
      `the new instance ${facts.address} became unreachable: ${facts.error}`,
      SwitchErrorType.PreflightFailed,
    );
  // a filter or binary log setting changed since preflight: read with the GTID sets, judged before any wait
  await recheckSettings(t, settings, facts, 'with DM frozen');
  let check = gtidCheck(t, { ...readings, facts }, policy);
  if (check.verdict === 'wait') {
    t.phase('catching-up');
    const left = freeze ? Math.floor((freeze.until - Date.now()) / 1000) : Infinity;
    const timeout = Math.max(0, Math.min(catchUpTimeoutSeconds, left));
    const r = await longMysql(timeout).mysqlWaitForGtids({
      instance: newInstance,
      flavor: readings.flavor,
      gtidSet: check.waitFor,
      timeoutSeconds: timeout,
    });
    if (!r.caughtUp) {
      if (r.stopped)
        throw failure(
          `the new instance stopped catching up after ${r.waitedSeconds} s (${r.stopped}); ` +
            `still missing ${r.missing}. Fix its replication, then start the switch again`,
          SwitchErrorType.CatchUpTimeout,
        );
      if (freeze && timeout < catchUpTimeoutSeconds)
        throw freezeTimeout(freeze, `waiting for the new instance to catch up (still missing ${r.missing})`);
      throw failure(
        `the new instance did not catch up within ${catchUpTimeoutSeconds} s; still missing ${r.missing}`,
        SwitchErrorType.CatchUpTimeout,
      );
    }
    t.decide('go', `the new instance caught up after ${r.waitedSeconds} s`);
    const again = await mysql.mysqlInspect(newInstance, { withSources: true });
    if (!again.reachable)
      throw failure(
        `the new instance ${again.address} became unreachable: ${again.error}`,
        SwitchErrorType.PreflightFailed,
      );
    await recheckSettings(t, settings, again, 'with DM frozen, after the new instance caught up');
    check = gtidCheck(t, { ...readings, facts: again, when: 'after catch-up' }, policy);
  }
  if (check.verdict !== 'go')
    throw failure(`GTID re-check with DM frozen failed: ${explain(check)}`, SwitchErrorType.GtidRefused);
  return check;
}

/**
 * After a gate that follows the freeze, immediately before the next change:
 * nothing may have moved while a person decided. Every task is still frozen
 * with the gtid-S it had (`still` checks that, per workflow), and the new
 * instance still passes every rule (binlog expiry may have purged what DM
 * needs; errant transactions may have appeared).
 */
export async function recheckAfterGate<T extends SourceTask>(
  t: Tracker,
  gate: string,
  readings: Omit<GtidReadings, 'facts' | 'when' | 'tasks'>,
  newInstance: InstanceRef,
  frozen: T[],
  now: SourceTask[],
  still: (frozen: T, now: SourceTask | undefined) => string | null,
  policy: ErrantPolicy,
  settings?: SettingsRecheck,
): Promise<void> {
  const moved = frozen
    .map((f) =>
      still(
        f,
        now.find((x) => x.name === f.name),
      ),
    )
    .filter((x): x is string => x !== null);
  if (moved.length)
    throw failure(
      `while DM was frozen (at gate ${gate}), ${moved.join('; ')}: someone else changed DM, so the switch is undone`,
      SwitchErrorType.FreezeBroken,
    );
  const facts = await mysql.mysqlInspect(newInstance, { withSources: true });
  if (!facts.reachable)
    throw failure(
      `the new instance ${facts.address} became unreachable at gate ${gate}: ${facts.error}`,
      SwitchErrorType.PreflightFailed,
    );
  await recheckSettings(t, settings, facts, `after gate ${gate}`);
  const check = gtidCheck(t, { ...readings, tasks: frozen, facts, when: `after gate ${gate}` }, policy);
  if (check.verdict !== 'go')
    throw failure(`GTID re-check after gate ${gate} failed: ${explain(check)}`, SwitchErrorType.GtidRefused);
  t.decide(
    'go',
    `after gate ${gate}: every task still frozen at the same gtid-S, and the new instance still passes every GTID rule`,
  );
}

/** Two GTID texts of one flavor name the same set. */
export function sameGtids(flavor: Flavor, a: string, b: string): boolean {
  return parseGtidSet(flavor, a).equals(parseGtidSet(flavor, b));
}
