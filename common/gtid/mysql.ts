/**
 * MySQL GTID sets: parsing, canonical text and set algebra, exactly as MySQL
 * 9.x does them (proven against a real server by test/differential).
 *
 * Pure and deterministic: no Node APIs, no clocks, no randomness and no state
 * kept between calls, so workflow code may import it. MySQL allows sequence
 * numbers 1 … 2^63 − 2; every one is kept exactly, and count() is a bigint.
 *
 * The set's parts (keys and one interval buffer) are described in
 * mysql-intervals.ts; reading text is mysql-parse.ts, the algebra
 * mysql-algebra.ts, writing text mysql-text.ts.
 */
import { GtidError } from './errors.js';
import { difference, isSubset, normalize } from './mysql-algebra.js';
import type { Parts } from './mysql-intervals.js';
import { parseText } from './mysql-parse.js';
import { format } from './mysql-text.js';
import type { GtidSet } from './types.js';

/** Largest sequence number MySQL accepts in a GTID (GNO_END − 1 = 2^63 − 2). */
export const MYSQL_GNO_MAX = 9223372036854775806n;

export class MysqlGtidSet implements GtidSet {
  readonly flavor = 'mysql' as const;

  private constructor(private readonly p: Parts) {}

  static readonly EMPTY = new MysqlGtidSet({ keys: [], at: [0], data: new Uint32Array(0) });

  /** Parses GTID text as MySQL does; throws GtidParseError where MySQL raises ER_MALFORMED_GTID_SET_SPECIFICATION. */
  static parse(text: string): MysqlGtidSet {
    return new MysqlGtidSet(parseText(text));
  }

  /** Narrows a GtidSet of this flavor; mixing flavors is an error, never a silent wrong answer. */
  static from(set: GtidSet): MysqlGtidSet {
    if (set instanceof MysqlGtidSet) return set;
    throw new GtidError(`cannot combine a mysql GTID set with a ${set.flavor} one`);
  }

  isEmpty(): boolean {
    return this.p.keys.length === 0;
  }

  /** Number of transactions in the set. */
  count(): bigint {
    const d = this.p.data;
    let total = 0n;
    // the his and the los summed apart, each sum exact in a double over 2^20 intervals
    for (let from = 0; from < d.length; from += 1 << 22) {
      let hi = 0;
      let lo = 0;
      for (let i = from; i < Math.min(d.length, from + (1 << 22)); i += 4) {
        hi += d[i + 2]! - d[i]!;
        lo += d[i + 3]! - d[i + 1]! + 1;
      }
      total += BigInt(hi) * 4294967296n + BigInt(lo);
    }
    return total;
  }

  /** MySQL's GTID_SUBSET(this, other). */
  isSubsetOf(set: GtidSet): boolean {
    const a = this.p;
    const b = MysqlGtidSet.from(set).p;
    if (a.keys.length > b.keys.length) return false;
    for (let k = 0, j = 0; k < a.keys.length; k++) {
      const key = a.keys[k]!;
      while (j < b.keys.length && b.keys[j]! < key) j++;
      if (b.keys[j] !== key || !isSubset(a.data, a.at[k]!, a.at[k + 1]!, b.data, b.at[j]!, b.at[j + 1]!)) return false;
    }
    return true;
  }

  equals(set: GtidSet): boolean {
    const a = this.p;
    const b = MysqlGtidSet.from(set).p;
    if (a.keys.length !== b.keys.length || a.data.length !== b.data.length) return false;
    for (let k = 0; k < a.keys.length; k++) if (a.keys[k] !== b.keys[k] || a.at[k] !== b.at[k]) return false;
    for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false;
    return true;
  }

  union(set: GtidSet): MysqlGtidSet {
    const [a, b] = [this.p, MysqlGtidSet.from(set).p];
    // both sets' lists, each key's sorted and merged again: sorting two sorted runs is linear (V8's sort is TimSort)
    const data = new Uint32Array(a.data.length + b.data.length);
    data.set(a.data);
    data.set(b.data, a.data.length);
    return new MysqlGtidSet(
      normalize([...a.keys, ...b.keys], [...a.at, ...b.at.slice(1).map((x) => x + a.data.length)], data),
    );
  }

  intersect(set: GtidSet): MysqlGtidSet {
    return this.subtract(this.subtract(set));
  }

  /** MySQL's GTID_SUBTRACT(this, other): what this set has that `other` lacks. */
  subtract(set: GtidSet): MysqlGtidSet {
    return new MysqlGtidSet(difference(this.p, MysqlGtidSet.from(set).p));
  }

  /** MySQL's canonical text: UUIDs lower-case and sorted, untagged intervals before tags, members joined by ",\n". */
  toString(): string {
    return format(this.p, ',\n');
  }

  /** Canonical text on one line (members joined by ","), for logs and messages. */
  toCompactString(): string {
    return format(this.p, ',');
  }

  /** The part of the set written by the server with this UUID (every tag of it). */
  ofUuid(uuid: string): MysqlGtidSet {
    const u = uuid.toLowerCase();
    return this.filter((key) => key.slice(0, 36) === u);
  }

  /** The part of the set the given UUIDs did not write. */
  withoutUuids(uuids: Iterable<string>): MysqlGtidSet {
    const drop = new Set([...uuids].map((u) => u.toLowerCase()));
    return this.filter((key) => !drop.has(key.slice(0, 36)));
  }

  /** The tagged GTIDs of the set (MySQL 8.3+ `uuid:tag:n`), as a set. */
  tagged(): MysqlGtidSet {
    return this.filter((key) => key.length > 36);
  }

  /** The tags the set carries, sorted. */
  tags(): string[] {
    return [...new Set(this.p.keys.filter((k) => k.length > 36).map((k) => k.slice(37)))].sort();
  }

  /** The UUIDs of the set's members, sorted. */
  uuids(): string[] {
    return [...new Set(this.p.keys.map((k) => k.slice(0, 36)))];
  }

  private filter(keep: (key: string) => boolean): MysqlGtidSet {
    const { keys, at, data } = this.p;
    const out = { keys: [] as string[], at: [0], data: new Uint32Array(0) };
    const runs: Uint32Array[] = [];
    for (let k = 0; k < keys.length; k++) {
      if (!keep(keys[k]!)) continue;
      runs.push(data.subarray(at[k]!, at[k + 1]!));
      out.keys.push(keys[k]!);
      out.at.push(out.at[out.at.length - 1]! + runs[runs.length - 1]!.length);
    }
    out.data = new Uint32Array(out.at[out.at.length - 1]!);
    runs.forEach((run, k) => out.data.set(run, out.at[k]));
    return new MysqlGtidSet(out);
  }
}
