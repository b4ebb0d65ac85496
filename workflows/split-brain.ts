/**
 * Split brain among the candidates a switch could choose (workflows/candidates.ts): two that qualify, whose
 * histories diverge.
 */
import { MysqlGtidSet, parseMariadbBinlogState, type Flavor } from '../common/gtid/index.js';
import type { InstanceFacts } from '../common/switch/types.js';
import { executedState } from './gtid-check.js';

type Reachable = Extract<InstanceFacts, { reachable: true }>;

/**
 * Two qualifying candidates whose histories diverge: each holds transactions
 * the other lacks, and at least one side's extra transactions were written
 * by that candidate itself (its own server_uuid / server_id: it took writes
 * as a primary) or are in a server's stream the other has nothing of (a
 * second primary's writes). Differences only in other servers' streams that
 * both know are lag (a replica behind in one stream, parallel appliers'
 * gaps), not divergence. Returns the refusal naming both sets, or null.
 */
export function findSplitBrain(
  flavor: Flavor,
  qualifying: Array<{ address: string; facts: Reachable }>,
): string | null {
  for (let i = 0; i < qualifying.length; i++) {
    for (let k = i + 1; k < qualifying.length; k++) {
      const a = qualifying[i]!;
      const b = qualifying[k]!;
      const d = flavor === 'mysql' ? mysqlDivergence(a.facts, b.facts) : mariadbDivergence(a.facts, b.facts);
      if (d) {
        return (
          `split brain among the candidates: ${a.address} holds ${d.aOnly} that ${b.address} lacks, ` +
          `and ${b.address} holds ${d.bOnly} that ${a.address} lacks, ` +
          'and will never receive them (writes of its own, or of a primary the other does not follow): ' +
          "neither history contains the other, so DM would lose one side's transactions. " +
          "Decide which server is the primary, make the other's transactions whole on it (or discard them), " +
          're-point the other as its replica, then switch again'
        );
      }
    }
  }
  return null;
}

function mysqlDivergence(a: Reachable, b: Reachable): { aOnly: string; bOnly: string } | null {
  const A = MysqlGtidSet.parse(a.gtidExecuted);
  const B = MysqlGtidSet.parse(b.gtidExecuted);
  const aOnly = A.subtract(B);
  const bOnly = B.subtract(A);
  if (aOnly.isEmpty() || bOnly.isEmpty()) return null;
  const diverges = (only: MysqlGtidSet, own: string, other: MysqlGtidSet) =>
    only.uuids().some((u) => u === own.toLowerCase() || other.ofUuid(u).isEmpty());
  if (!diverges(aOnly, a.serverUuid, B) && !diverges(bOnly, b.serverUuid, A)) return null;
  return { aOnly: aOnly.toCompactString(), bOnly: bOnly.toCompactString() };
}

function mariadbDivergence(a: Reachable, b: Reachable): { aOnly: string; bOnly: string } | null {
  const A = parseMariadbBinlogState(executedState(a));
  const B = parseMariadbBinlogState(executedState(b));
  const fmt = (g: { domain: number; server: number; seq: number | bigint }) => `${g.domain}-${g.server}-${g.seq}`;
  const missing = (xs: typeof A, ys: typeof A) =>
    xs.filter((g) => !ys.some((e) => e.domain === g.domain && e.server === g.server && e.seq >= g.seq));
  const aOnly = missing(A, B);
  const bOnly = missing(B, A);
  if (aOnly.length === 0 || bOnly.length === 0) return null;
  const diverges = (only: typeof A, own: number, other: typeof A) =>
    only.some((g) => g.server === own || !other.some((e) => e.domain === g.domain && e.server === g.server));
  if (!diverges(aOnly, a.serverId, B) && !diverges(bOnly, b.serverId, A)) return null;
  return { aOnly: aOnly.map(fmt).join(','), bOnly: bOnly.map(fmt).join(',') };
}
