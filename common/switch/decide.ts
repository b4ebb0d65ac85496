/**
 * The runbook's GTID rule as a pure decision, with the reason in words.
 *
 * DM resumes with GTID auto-positioning from gtid-S (what it has replicated
 * downstream). The new instance must still be able to send everything after
 * gtid-S, so it may not have purged any of it (gtid-P ⊆ gtid-S), and it must
 * already hold everything DM applied (gtid-S ⊆ gtid-E); otherwise the two
 * histories differ. When only the second fails and the new instance is
 * replicating, it may just be behind: wait for it (bounded).
 */
import { abbreviate, GtidParseError, parseGtidSet, type Flavor } from '../gtid/index.js';

export interface GtidInputs {
  flavor: Flavor;
  /** DM's syncerBinlogGtid for one task. */
  gtidS: string;
  /** The new instance's gtid_purged; null where the flavor keeps none (MariaDB). */
  gtidP: string | null;
  /** The new instance's gtid_executed (MariaDB: gtid_current_pos). */
  gtidE: string;
  /** Its replication threads are running, so missing transactions may still arrive. */
  newInstanceReplicating: boolean;
}

export type GtidDecision =
  | { verdict: 'go'; reason: string }
  | { verdict: 'wait'; reason: string; missing: string }
  | { verdict: 'refuse'; reason: string; missing?: string; rule?: 'unreadable' | 'purged' | 'missing' };

export function decideGtids(i: GtidInputs): GtidDecision {
  let S, E, P;
  try {
    S = parseGtidSet(i.flavor, i.gtidS);
    E = parseGtidSet(i.flavor, i.gtidE);
    P = i.gtidP === null ? null : parseGtidSet(i.flavor, i.gtidP);
  } catch (e) {
    if (e instanceof GtidParseError)
      return { verdict: 'refuse', rule: 'unreadable', reason: `a GTID set could not be read: ${e.message}` };
    throw e;
  }
  if (S.isEmpty()) {
    return {
      verdict: 'refuse',
      rule: 'unreadable',
      reason:
        'DM reports no replicated GTIDs (syncerBinlogGtid is empty): the source is not ' +
        'in GTID mode or has not synced yet, so no safe position exists',
    };
  }
  if (P !== null && !P.isSubsetOf(S)) {
    const lost = P.subtract(S);
    return {
      verdict: 'refuse',
      rule: 'purged',
      reason:
        `gtid-P ⊄ gtid-S: the new instance has purged binlog that DM has not replicated ` +
        `yet (${abbreviate(lost)}); it can never send those transactions, so DM would lose them`,
      missing: lost.toCompactString(),
    };
  }
  if (!S.isSubsetOf(E)) {
    const missing = S.subtract(E);
    if (i.newInstanceReplicating) {
      return {
        verdict: 'wait',
        reason:
          `gtid-S ⊄ gtid-E: the new instance lacks ${abbreviate(missing)}, which DM has ` +
          `already replicated; it is replicating, so wait for it to catch up`,
        missing: missing.toCompactString(),
      };
    }
    return {
      verdict: 'refuse',
      rule: 'missing',
      reason:
        `gtid-S ⊄ gtid-E: the new instance lacks ${abbreviate(missing)}, which DM has ` +
        `already replicated, and it is not replicating, so it cannot catch up (its ` +
        `history differs from the old instance's)`,
      missing: missing.toCompactString(),
    };
  }
  return {
    verdict: 'go',
    reason:
      P === null
        ? 'gtid-S ⊆ gtid-E: the new instance holds every transaction DM has replicated ' +
          '(MariaDB keeps no gtid_purged; the new instance refuses at connect time a ' +
          'position whose binlog it no longer has)'
        : 'gtid-P ⊆ gtid-S ⊆ gtid-E: the new instance holds every transaction DM has ' +
          'replicated and still has the binlog of everything after',
  };
}

/**
 * The relay's position R (relayBinlogGtid) held to the runbook's rule: with
 * relay on, the relay unit may reconnect to the new instance from R, which is
 * usually ahead of gtid-S (pausing a task does not stop relay), so the new
 * instance must not have purged what R lacks (gtid-P ⊆ R) and must already
 * hold R (R ⊆ gtid-E; wait for it while it replicates).
 */
export function decideRelayPosition(i: Omit<GtidInputs, 'gtidS'> & { relayGtid: string }): GtidDecision {
  const d = decideGtids({ ...i, gtidS: i.relayGtid });
  const reason = d.reason
    .replace(/gtid-S/g, 'R')
    .replace(/which DM has already replicated/g, 'which the relay log already holds')
    .replace(/DM has not replicated yet/g, 'the relay log does not hold yet')
    .replace(
      'DM reports no replicated GTIDs (syncerBinlogGtid is empty): the source is not ' +
        'in GTID mode or has not synced yet, so no safe position exists',
      'the relay reports no position (relayBinlogGtid is empty)',
    )
    .replace(
      'the new instance holds every transaction DM has replicated',
      'the new instance holds every transaction of the relay log',
    );
  return { ...d, reason } as GtidDecision;
}

/**
 * The relay's position R (relayBinlogGtid) is not required of the new
 * instance. At `start-relay` after the move, DM sees a new upstream
 * server_uuid, purges the relay directory and restarts the relay from the
 * oldest checkpoint of the source's tasks (the dm-worker logs `relay dir is
 * purged to be ready for new relay log` and `adjusted meta to start pos`), so
 * the relay asks the new instance for gtid-S, which decideGtids checks for
 * every task; gtid-P ⊆ gtid-S ⊆ R also makes gtid-P ⊆ R redundant. What R
 * holds beyond gtid-S was read by the relay but applied by no task: it is
 * read again from the new instance, or, if the new instance never gets it
 * (the primary died before sending it), never reaches downstream. R stays a
 * reference of the errant check (it only adds what the old stream had).
 */
export function relayPositionNote(flavor: Flavor, relayGtid: string, gtidE: string): string {
  let beyond = '';
  try {
    const lacks = parseGtidSet(flavor, relayGtid).subtract(parseGtidSet(flavor, gtidE));
    if (!lacks.isEmpty())
      beyond = `; the new instance lacks ${abbreviate(lacks)} of R (read by the relay, applied by no task)`;
  } catch (e) {
    if (!(e instanceof GtidParseError)) throw e;
  }
  return (
    'relay position R (relayBinlogGtid) is not required on the new instance: start-relay after the switch purges ' +
    'the relay log and restarts it from the oldest task checkpoint (gtid-S, checked above)' +
    beyond
  );
}
