/**
 * MySQL GTID sets: parsing, canonical text and set algebra, exactly as MySQL
 * 9.x does them (proven against a real server by test/differential).
 *
 * Pure and deterministic: no Node APIs, no clocks, no randomness, so workflow
 * code may import it. Sequence numbers are bigint: MySQL allows 1 … 2^63 − 2.
 *
 * Grammar accepted (what MySQL's own parser accepts, including its leniencies):
 *   set      := ws ( ','* ws member ws )*            -- empty members are skipped
 *   member   := uuid ws ( ':' ws ( interval | tag ) ws )*
 *   uuid     := 8-4-4-4-12 hex digits | the same inside '{' '}' | 32 hex digits
 *   interval := number ws ( '-' ws number )?         -- start > end is an empty interval
 *   tag      := [A-Za-z_][A-Za-z0-9_]{0,31}          -- applies to the intervals after it
 */
import { GtidError, GtidParseError } from './errors.js';
import type { GtidSet } from './types.js';

/** Largest sequence number MySQL accepts in a GTID (GNO_END − 1 = 2^63 − 2). */
export const MYSQL_GNO_MAX = 9223372036854775806n;
/** MySQL reads each number as an unsigned 64-bit integer before checking the interval bounds. */
const UINT64_MAX = 18446744073709551615n;
const TAG_MAX_LENGTH = 32;

/**
 * Interval lists are flat arrays [start0, end0, start1, end1, …] of inclusive
 * bounds, sorted, disjoint and never adjacent (1-5 and 6-9 are stored as 1-9).
 */
type Intervals = readonly bigint[];

/** The key of one transaction source: the UUID, and the tag after ':' if any (MySQL's "TSID"). */
function tsidKey(uuid: string, tag: string): string {
  return tag === '' ? uuid : `${uuid}:${tag}`;
}

export class MysqlGtidSet implements GtidSet {
  readonly flavor = 'mysql' as const;

  /** TSID key → normalized, non-empty interval list. */
  private constructor(private readonly members: ReadonlyMap<string, Intervals>) {}

  static readonly EMPTY = new MysqlGtidSet(new Map());

  /** Parses GTID text as MySQL does; throws GtidParseError where MySQL raises ER_MALFORMED_GTID_SET_SPECIFICATION. */
  static parse(text: string): MysqlGtidSet {
    return new MysqlGtidSet(new Parser(text).parse());
  }

  /** Narrows a GtidSet of this flavor; mixing flavors is an error, never a silent wrong answer. */
  static from(set: GtidSet): MysqlGtidSet {
    if (set instanceof MysqlGtidSet) return set;
    throw new GtidError(`cannot combine a mysql GTID set with a ${set.flavor} one`);
  }

  isEmpty(): boolean {
    return this.members.size === 0;
  }

  /** Number of transactions in the set. */
  count(): bigint {
    let total = 0n;
    for (const list of this.members.values()) {
      for (let i = 0; i < list.length; i += 2) total += list[i + 1]! - list[i]! + 1n;
    }
    return total;
  }

  /** MySQL's GTID_SUBSET(this, other). */
  isSubsetOf(set: GtidSet): boolean {
    const other = MysqlGtidSet.from(set);
    for (const [key, mine] of this.members) {
      const theirs = other.members.get(key);
      if (theirs === undefined || !listIsSubset(mine, theirs)) return false;
    }
    return true;
  }

  equals(set: GtidSet): boolean {
    const other = MysqlGtidSet.from(set);
    if (this.members.size !== other.members.size) return false;
    for (const [key, mine] of this.members) {
      const theirs = other.members.get(key);
      if (theirs === undefined || mine.length !== theirs.length) return false;
      for (let i = 0; i < mine.length; i++) if (mine[i] !== theirs[i]) return false;
    }
    return true;
  }

  union(set: GtidSet): MysqlGtidSet {
    const other = MysqlGtidSet.from(set);
    const out = new Map(this.members);
    for (const [key, theirs] of other.members) {
      const mine = out.get(key);
      out.set(key, mine === undefined ? theirs : listUnion(mine, theirs));
    }
    return new MysqlGtidSet(out);
  }

  intersect(set: GtidSet): MysqlGtidSet {
    const other = MysqlGtidSet.from(set);
    const out = new Map<string, Intervals>();
    for (const [key, mine] of this.members) {
      const theirs = other.members.get(key);
      if (theirs === undefined) continue;
      const both = listIntersect(mine, theirs);
      if (both.length > 0) out.set(key, both);
    }
    return new MysqlGtidSet(out);
  }

  /** MySQL's GTID_SUBTRACT(this, other): what this set has that `other` lacks. */
  subtract(set: GtidSet): MysqlGtidSet {
    const other = MysqlGtidSet.from(set);
    const out = new Map<string, Intervals>();
    for (const [key, mine] of this.members) {
      const theirs = other.members.get(key);
      const rest = theirs === undefined ? mine : listSubtract(mine, theirs);
      if (rest.length > 0) out.set(key, rest);
    }
    return new MysqlGtidSet(out);
  }

  /** MySQL's canonical text: UUIDs lower-case and sorted, untagged intervals before tags, members joined by ",\n". */
  toString(): string {
    return this.format(',\n');
  }

  /** Canonical text on one line (members joined by ","), for logs and messages. */
  toCompactString(): string {
    return this.format(',');
  }

  /** The part of the set written by the server with this UUID (every tag of it). */
  ofUuid(uuid: string): MysqlGtidSet {
    const u = uuid.toLowerCase();
    return new MysqlGtidSet(new Map([...this.members].filter(([key]) => key.slice(0, 36) === u)));
  }

  /** The part of the set the given UUIDs did not write. */
  withoutUuids(uuids: Iterable<string>): MysqlGtidSet {
    const drop = new Set([...uuids].map((u) => u.toLowerCase()));
    return new MysqlGtidSet(new Map([...this.members].filter(([key]) => !drop.has(key.slice(0, 36)))));
  }

  /** The tagged GTIDs of the set (MySQL 8.3+ `uuid:tag:n`), as a set. */
  tagged(): MysqlGtidSet {
    return new MysqlGtidSet(new Map([...this.members].filter(([key]) => key.length > 36)));
  }

  /** The tags the set carries, sorted. */
  tags(): string[] {
    return [...new Set([...this.members.keys()].filter((k) => k.length > 36).map((k) => k.slice(37)))].sort();
  }

  /** The UUIDs of the set's members, sorted. */
  uuids(): string[] {
    return [...new Set([...this.members.keys()].map((k) => k.slice(0, 36)))].sort();
  }

  private format(memberSeparator: string): string {
    const keys = [...this.members.keys()].sort();
    const parts: string[] = [];
    let currentUuid = '';
    let current = '';
    for (const key of keys) {
      const uuid = key.slice(0, 36);
      const tag = key.length > 36 ? key.slice(37) : '';
      if (uuid !== currentUuid) {
        if (current !== '') parts.push(current);
        currentUuid = uuid;
        current = uuid;
      }
      if (tag !== '') current += `:${tag}`;
      const list = this.members.get(key)!;
      for (let i = 0; i < list.length; i += 2) {
        const start = list[i]!;
        const end = list[i + 1]!;
        current += start === end ? `:${start}` : `:${start}-${end}`;
      }
    }
    if (current !== '') parts.push(current);
    return parts.join(memberSeparator);
  }
}

// ---------------------------------------------------------------------------
// Parser

const enum Reason {
  ExpectedNumber = 'Expected number',
  ExpectedComma = 'Expected ","',
  ExpectedDash = 'Expected "-"',
  ExpectedBrace = 'Expected "}"',
  ExpectedHex = 'Expected hex digit',
  ExpectedTwoHex = 'Expected at least two hex digits',
  StartOutOfRange = 'Interval start out of range',
  EndOutOfRange = 'Interval end out of range',
  NumberOutOfRange = 'Number out of range',
}

function isSpace(c: number): boolean {
  // MySQL's my_isspace for ASCII: space, \t, \n, \v, \f, \r
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}
function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}
function isTagStart(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
}
function isTagChar(c: number): boolean {
  return isTagStart(c) || isDigit(c);
}

class Parser {
  private i = 0;
  private readonly raw = new Map<string, bigint[]>();

  constructor(private readonly text: string) {}

  parse(): Map<string, Intervals> {
    this.skipSpace();
    for (;;) {
      while (this.peek() === 0x2c /* , */) {
        this.i++;
        this.skipSpace();
      }
      if (this.atEnd()) break;
      this.member();
      if (this.atEnd()) break;
      if (this.peek() !== 0x2c) this.fail(Reason.ExpectedComma);
    }
    const out = new Map<string, Intervals>();
    for (const [key, pairs] of this.raw) {
      const list = normalize(pairs);
      if (list.length > 0) out.set(key, list);
    }
    return out;
  }

  private member(): void {
    const uuid = this.uuid();
    this.skipSpace();
    let tag = '';
    while (this.peek() === 0x3a /* : */) {
      this.i++;
      this.skipSpace();
      const c = this.peek();
      if (isDigit(c)) {
        this.interval(uuid, tag);
      } else if (isTagStart(c)) {
        const begin = this.i;
        while (isTagChar(this.peek())) this.i++;
        if (this.i - begin > TAG_MAX_LENGTH) this.fail(Reason.ExpectedNumber, begin);
        tag = this.text.slice(begin, this.i).toLowerCase();
      } else {
        this.fail(Reason.ExpectedNumber);
      }
      this.skipSpace();
    }
  }

  private interval(uuid: string, tag: string): void {
    const startAt = this.i;
    const start = this.number();
    if (start === 0n || start > MYSQL_GNO_MAX) this.fail(Reason.StartOutOfRange, startAt);
    this.skipSpace();
    let end = start;
    if (this.peek() === 0x2d /* - */) {
      this.i++;
      this.skipSpace();
      if (!isDigit(this.peek())) this.fail(Reason.ExpectedNumber);
      end = this.number();
      // MySQL checks the end only after the whitespace that follows it.
      this.skipSpace();
      if (end > MYSQL_GNO_MAX) this.fail(Reason.EndOutOfRange);
    }
    // MySQL accepts a reversed interval such as 5-3 and adds nothing for it.
    if (start <= end) {
      const key = tsidKey(uuid, tag);
      let pairs = this.raw.get(key);
      if (pairs === undefined) this.raw.set(key, (pairs = []));
      pairs.push(start, end);
    }
  }

  private number(): bigint {
    const begin = this.i;
    while (isDigit(this.peek())) this.i++;
    const digits = this.text.slice(begin, this.i);
    const value = BigInt(digits);
    if (value > UINT64_MAX) this.fail(Reason.NumberOutOfRange, begin);
    return value;
  }

  private uuid(): string {
    const braced = this.peek() === 0x7b; /* { */
    if (braced) this.i++;
    let hex = this.hex(8);
    if (braced || this.peek() === 0x2d) {
      for (const width of [4, 4, 4, 12]) {
        if (this.peek() !== 0x2d) this.fail(Reason.ExpectedDash);
        this.i++;
        hex += this.hex(width);
      }
      if (braced) {
        if (this.peek() !== 0x7d) this.fail(Reason.ExpectedBrace);
        this.i++;
      }
    } else {
      hex += this.hex(24);
    }
    hex = hex.toLowerCase();
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** `width` hex digits, read two at a time as MySQL does (so its error positions are ours too). */
  private hex(width: number): string {
    const begin = this.i;
    for (let k = 0; k < width; k += 2) {
      if (this.text.length - this.i < 2) this.fail(Reason.ExpectedTwoHex);
      if (!isHex(this.peek())) this.fail(Reason.ExpectedHex);
      this.i++;
      if (!isHex(this.peek())) this.fail(Reason.ExpectedHex);
      this.i++;
    }
    return this.text.slice(begin, this.i);
  }

  private skipSpace(): void {
    while (isSpace(this.peek())) this.i++;
  }
  private peek(): number {
    return this.i < this.text.length ? this.text.charCodeAt(this.i) : -1;
  }
  private atEnd(): boolean {
    return this.i >= this.text.length;
  }
  private fail(reason: Reason, at: number = this.i): never {
    throw new GtidParseError(this.text, at, reason, 'mysql');
  }
}

// ---------------------------------------------------------------------------
// Interval list algebra (linear merges over sorted lists)

/** Appends [start, end] to a sorted list, merging it into the last interval when they overlap or touch. */
function appendMerged(out: bigint[], start: bigint, end: bigint): void {
  const last = out.length - 1;
  if (last > 0 && start <= out[last]! + 1n) {
    if (end > out[last]!) out[last] = end;
  } else {
    out.push(start, end);
  }
}

function normalize(pairs: bigint[]): Intervals {
  const n = pairs.length / 2;
  let sorted = true;
  for (let k = 1; k < n && sorted; k++) if (pairs[2 * k]! < pairs[2 * k - 2]!) sorted = false;
  let src = pairs;
  if (!sorted) {
    const order = Array.from({ length: n }, (_, k) => k);
    order.sort((x, y) => (pairs[2 * x]! < pairs[2 * y]! ? -1 : pairs[2 * x]! > pairs[2 * y]! ? 1 : 0));
    src = [];
    for (const k of order) src.push(pairs[2 * k]!, pairs[2 * k + 1]!);
  }
  const out: bigint[] = [];
  for (let k = 0; k < src.length; k += 2) {
    const start = src[k]!;
    const end = src[k + 1]!;
    appendMerged(out, start, end);
  }
  return out;
}

function listUnion(a: Intervals, b: Intervals): Intervals {
  const out: bigint[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let start: bigint;
    let end: bigint;
    if (j >= b.length || (i < a.length && a[i]! <= b[j]!)) {
      start = a[i]!;
      end = a[i + 1]!;
      i += 2;
    } else {
      start = b[j]!;
      end = b[j + 1]!;
      j += 2;
    }
    appendMerged(out, start, end);
  }
  return out;
}

function listIntersect(a: Intervals, b: Intervals): Intervals {
  const out: bigint[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const lo = a[i]! > b[j]! ? a[i]! : b[j]!;
    const hi = a[i + 1]! < b[j + 1]! ? a[i + 1]! : b[j + 1]!;
    if (lo <= hi) out.push(lo, hi);
    if (a[i + 1]! < b[j + 1]!) i += 2;
    else j += 2;
  }
  return out;
}

function listSubtract(a: Intervals, b: Intervals): Intervals {
  const out: bigint[] = [];
  let j = 0;
  for (let i = 0; i < a.length; i += 2) {
    let start = a[i]!;
    const end = a[i + 1]!;
    while (j < b.length && b[j + 1]! < start) j += 2;
    let k = j;
    while (k < b.length && b[k]! <= end) {
      if (b[k]! > start) out.push(start, b[k]! - 1n);
      if (b[k + 1]! >= end) {
        start = end + 1n;
        break;
      }
      start = b[k + 1]! + 1n;
      k += 2;
    }
    if (start <= end) out.push(start, end);
  }
  return out;
}

function listIsSubset(a: Intervals, b: Intervals): boolean {
  let j = 0;
  for (let i = 0; i < a.length; i += 2) {
    while (j < b.length && b[j + 1]! < a[i]!) j += 2;
    if (j >= b.length || b[j]! > a[i]! || b[j + 1]! < a[i + 1]!) return false;
  }
  return true;
}
