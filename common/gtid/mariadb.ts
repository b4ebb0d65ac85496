/**
 * MariaDB GTID positions (`domain-server-seq`, comma-separated): the values of
 * gtid_binlog_pos, gtid_slave_pos and gtid_current_pos, one GTID per
 * replication domain. Pure and deterministic, like mysql.ts.
 *
 * Semantics are MariaDB's own (proven by test/differential against a real
 * MariaDB 10.11): a position reaches another when, for every domain of the
 * other, it has that domain at an equal or higher sequence number — the test
 * MASTER_GTID_WAIT makes. The server id is carried and compared by `equals`,
 * but, as in MariaDB, does not order transactions.
 *
 * Text accepted is what `SET GLOBAL gtid_slave_pos` accepts: members separated
 * by ',', whitespace and an optional '+' before each number, domain and server
 * id up to 2^32 − 1, sequence up to 2^64 − 1, at most one GTID per domain.
 */
import { GtidError, GtidParseError } from './errors.js';
import type { GtidSet } from './types.js';

const UINT32_MAX = 0xffffffffn;
const UINT64_MAX = 0xffffffffffffffffn;

export interface MariadbGtid {
  readonly domain: number;
  readonly server: number;
  readonly seq: bigint;
}

export class MariadbGtidSet implements GtidSet {
  readonly flavor = 'mariadb' as const;

  /** domain → GTID, one per domain. */
  private constructor(private readonly domains: ReadonlyMap<number, MariadbGtid>) {}

  static readonly EMPTY = new MariadbGtidSet(new Map());

  static parse(text: string): MariadbGtidSet {
    const domains = new Map<number, MariadbGtid>();
    if (text === '') return MariadbGtidSet.EMPTY;
    let i = 0;
    const fail = (reason: string, at = i): never => {
      throw new GtidParseError(text, at, reason, 'mariadb');
    };
    const number = (max: bigint, what: string): bigint => {
      while (i < text.length && isSpace(text.charCodeAt(i))) i++;
      if (text[i] === '+') i++;
      const begin = i;
      while (i < text.length && isDigit(text.charCodeAt(i))) i++;
      if (i === begin) fail(`Expected ${what}`);
      const value = BigInt(text.slice(begin, i));
      if (value > max) fail(`${what} out of range (at most ${max})`, begin);
      return value;
    };
    for (;;) {
      const at = i;
      const domain = Number(number(UINT32_MAX, 'domain id'));
      if (text[i] !== '-') fail('Expected "-"');
      i++;
      const server = Number(number(UINT32_MAX, 'server id'));
      if (text[i] !== '-') fail('Expected "-"');
      i++;
      const seq = number(UINT64_MAX, 'sequence number');
      const seen = domains.get(domain);
      if (seen !== undefined) {
        fail(`GTID ${domain}-${server}-${seq} and ${formatOne(seen)} conflict (duplicate domain id ${domain})`, at);
      }
      domains.set(domain, { domain, server, seq });
      if (i === text.length) break;
      if (text[i] !== ',') fail('Expected ","');
      i++;
    }
    return new MariadbGtidSet(domains);
  }

  static of(gtids: readonly MariadbGtid[]): MariadbGtidSet {
    return MariadbGtidSet.parse(gtids.map(formatOne).join(','));
  }

  /** Narrows a GtidSet of this flavor; mixing flavors is an error, never a silent wrong answer. */
  static from(set: GtidSet): MariadbGtidSet {
    if (set instanceof MariadbGtidSet) return set;
    throw new GtidError(`cannot combine a mariadb GTID set with a ${set.flavor} one`);
  }

  isEmpty(): boolean {
    return this.domains.size === 0;
  }

  /** The GTIDs of the position, ordered by domain. */
  gtids(): MariadbGtid[] {
    return [...this.domains.values()].sort((a, b) => a.domain - b.domain);
  }

  /**
   * Every domain of this position is reached by `other` (MariaDB's
   * MASTER_GTID_WAIT test). A domain `other` lacks stands at sequence 0, so
   * `0-1-0` is reached by any position, as MariaDB decides it.
   */
  isSubsetOf(set: GtidSet): boolean {
    const other = MariadbGtidSet.from(set);
    for (const [domain, mine] of this.domains) {
      if (mine.seq > seqOf(other, domain)) return false;
    }
    return true;
  }

  equals(set: GtidSet): boolean {
    const other = MariadbGtidSet.from(set);
    if (this.domains.size !== other.domains.size) return false;
    for (const [domain, mine] of this.domains) {
      const theirs = other.domains.get(domain);
      if (theirs === undefined || theirs.seq !== mine.seq || theirs.server !== mine.server) return false;
    }
    return true;
  }

  /** Per domain, the further of the two positions. */
  union(set: GtidSet): MariadbGtidSet {
    const other = MariadbGtidSet.from(set);
    const out = new Map(this.domains);
    for (const [domain, theirs] of other.domains) {
      const mine = out.get(domain);
      if (mine === undefined || theirs.seq > mine.seq) out.set(domain, theirs);
    }
    return new MariadbGtidSet(out);
  }

  /** Per domain present in both, the nearer of the two positions. */
  intersect(set: GtidSet): MariadbGtidSet {
    const other = MariadbGtidSet.from(set);
    const out = new Map<number, MariadbGtid>();
    for (const [domain, mine] of this.domains) {
      const theirs = other.domains.get(domain);
      if (theirs !== undefined) out.set(domain, theirs.seq < mine.seq ? theirs : mine);
    }
    return new MariadbGtidSet(out);
  }

  /** The domains where this position is beyond `other` (or `other` lacks the domain), at this position. */
  subtract(set: GtidSet): MariadbGtidSet {
    const other = MariadbGtidSet.from(set);
    const out = new Map<number, MariadbGtid>();
    for (const [domain, mine] of this.domains) {
      if (mine.seq > seqOf(other, domain)) out.set(domain, mine);
    }
    return new MariadbGtidSet(out);
  }

  /** MariaDB's own text: ordered by domain, joined by ','. */
  toString(): string {
    return this.gtids().map(formatOne).join(',');
  }

  /** @internal sequence number reached in `domain` (0 when absent). */
  seqIn(domain: number): bigint {
    return this.domains.get(domain)?.seq ?? 0n;
  }

  toCompactString(): string {
    return this.toString();
  }
}

/**
 * `gtid_binlog_state`: the last GTID each server id logged in each domain
 * (`0-1-100,0-2-7`: several per domain, unlike a position). Sorted by domain,
 * then server id. Text as MariaDB prints it; a malformed member throws.
 */
export function parseMariadbBinlogState(text: string): MariadbGtid[] {
  const out = new Map<string, MariadbGtid>();
  for (const member of text
    .split(',')
    .map((m) => m.trim())
    .filter(Boolean)) {
    const [g] = MariadbGtidSet.parse(member).gtids();
    const key = `${g!.domain}-${g!.server}`;
    const seen = out.get(key);
    if (seen === undefined || g!.seq > seen.seq) out.set(key, g!);
  }
  return [...out.values()].sort((a, b) => a.domain - b.domain || a.server - b.server);
}

function seqOf(set: MariadbGtidSet, domain: number): bigint {
  return set.seqIn(domain);
}
function formatOne(g: MariadbGtid): string {
  return `${g.domain}-${g.server}-${g.seq}`;
}
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}
function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
