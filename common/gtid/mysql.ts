/**
 * MySQL GTID sets: parsing, canonical text and set algebra, exactly as MySQL
 * 9.x does them (proven against a real server by test/differential).
 *
 * Pure and deterministic: no Node APIs, no clocks, no randomness, so workflow
 * code may import it. MySQL allows sequence numbers 1 … 2^63 − 2; every one is
 * kept exactly (see "Interval lists" below), and count() is a bigint.
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
const TAG_MAX_LENGTH = 32;

// ---------------------------------------------------------------------------
// Interval lists
//
// An interval list holds inclusive bounds, sorted, disjoint and never adjacent
// (1-5 and 6-9 are stored as 1-9). It has one of two exact encodings:
//
// - Narrow, the normal case: a Float64Array [start0, end0, start1, end1, …],
//   used when every bound is at most 2^53 − 1, so that each bound, and each
//   bound ± 1, is an exact double.
// - Wide, when some bound is past 2^53 − 1: a Uint32Array [startHi0,
//   startLo0, endHi0, endLo0, …], four numbers per interval, each bound being
//   hi × 2^32 + lo (its unsigned 64-bit value, split), so bounds compare as
//   (hi, lo) pairs. It takes 16 bytes an interval, as a narrow list does:
//   half of what (hi, lo) in doubles takes, and memory that is written fresh
//   is costly (each new page faults: ~2 µs a 4 KiB page in this sandbox's VM).
//
// A list is wide exactly when its last (largest) bound is past 2^53 − 1, so
// each list has one encoding and equal lists are equal element by element.
// Combining a narrow list with a wide one widens the narrow one first; a
// result whose bounds all fit is narrowed again.
//
// The lists of one set are mostly views into a few shared buffers (one per
// parse or operation), which keeps them off the garbage-collected heap.

/** A narrow or wide list (see above); wide lists are named `q` ("quads") below. */
type Intervals = Float64Array | Uint32Array;

function isWide(list: Intervals): list is Uint32Array {
  return list instanceof Uint32Array;
}

/** 2^32: a wide bound is hi × LO_RANGE + lo, with 0 ≤ lo ≤ LO_MAX. */
const LO_RANGE = 4294967296;
const LO_MAX = 0xffffffff;
/** 2^−32, to multiply by rather than divide. */
const LO_RANGE_INVERSE = 1 / LO_RANGE;
/** A bound is at most 2^53 − 1 (Number.MAX_SAFE_INTEGER), and fits a narrow list, exactly when its hi is below this. */
const NARROW_HI_LIMIT = 0x200000;
/** MYSQL_GNO_MAX as (hi, lo). */
const GNO_MAX_HI = 0x7fffffff;
const GNO_MAX_LO = 0xfffffffe;
/** MySQL reads each number as an unsigned 64-bit integer before checking the interval bounds: past 2^64 − 1 is a hi past this. */
const UINT64_MAX_HI = 0xffffffff;

const NO_BOUNDS: Float64Array = new Float64Array(0);
const NO_QUADS: Uint32Array = new Uint32Array(0);

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
    return new MysqlGtidSet(parseText(text));
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
      if (isWide(list)) {
        const q = list;
        for (let i = 0; i < q.length; i += 4) {
          total += (BigInt(q[i + 2]!) - BigInt(q[i]!)) * 4294967296n + BigInt(q[i + 3]! - q[i + 1]! + 1);
        }
      } else {
        // exact: the list's transactions number at most its last bound, < 2^53
        let sum = 0;
        for (let i = 0; i < list.length; i += 2) sum += list[i + 1]! - list[i]! + 1;
        total += BigInt(sum);
      }
    }
    return total;
  }

  /** MySQL's GTID_SUBSET(this, other). */
  isSubsetOf(set: GtidSet): boolean {
    const other = MysqlGtidSet.from(set);
    if (this.members.size > other.members.size) return false;
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
      if (theirs === undefined || !listEquals(mine, theirs)) return false;
    }
    return true;
  }

  union(set: GtidSet): MysqlGtidSet {
    const other = MysqlGtidSet.from(set);
    const out = new Map(this.members);
    const keys: string[] = [];
    const as: Intervals[] = [];
    const bs: Intervals[] = [];
    for (const [key, theirs] of other.members) {
      const mine = out.get(key);
      if (mine === undefined) {
        out.set(key, theirs);
      } else {
        keys.push(key);
        as.push(mine);
        bs.push(theirs);
      }
    }
    const both = combine(Op.Union, as, bs);
    for (let k = 0; k < keys.length; k++) out.set(keys[k]!, both[k]!);
    return new MysqlGtidSet(out);
  }

  intersect(set: GtidSet): MysqlGtidSet {
    const other = MysqlGtidSet.from(set);
    const keys: string[] = [];
    const as: Intervals[] = [];
    const bs: Intervals[] = [];
    for (const [key, mine] of this.members) {
      const theirs = other.members.get(key);
      if (theirs === undefined) continue;
      keys.push(key);
      as.push(mine);
      bs.push(theirs);
    }
    const both = combine(Op.Intersect, as, bs);
    const out = new Map<string, Intervals>();
    for (let k = 0; k < keys.length; k++) if (both[k] !== undefined) out.set(keys[k]!, both[k]!);
    return new MysqlGtidSet(out);
  }

  /** MySQL's GTID_SUBTRACT(this, other): what this set has that `other` lacks. */
  subtract(set: GtidSet): MysqlGtidSet {
    const other = MysqlGtidSet.from(set);
    const keys: string[] = [];
    const as: Intervals[] = [];
    const bs: Intervals[] = [];
    // a key `other` lacks keeps its list, in place in the map's order
    const slots: Array<Intervals | number> = [];
    for (const [key, mine] of this.members) {
      const theirs = other.members.get(key);
      if (theirs === undefined) {
        slots.push(mine);
      } else {
        slots.push(as.length);
        as.push(mine);
        bs.push(theirs);
      }
      keys.push(key);
    }
    const rest = combine(Op.Subtract, as, bs);
    const out = new Map<string, Intervals>();
    for (let k = 0; k < keys.length; k++) {
      const slot = slots[k]!;
      const list = typeof slot === 'number' ? rest[slot] : slot;
      if (list !== undefined) out.set(keys[k]!, list);
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
      current += formatList(this.members.get(key)!);
    }
    if (current !== '') parts.push(current);
    return parts.join(memberSeparator);
  }
}

/** `:start-end` (or `:n`) for each interval of a list. */
function formatList(list: Intervals): string {
  let out = '';
  if (isWide(list)) {
    const q = list;
    for (let i = 0; i < q.length; i += 4) {
      const start = wideText(q[i]!, q[i + 1]!);
      out += q[i] === q[i + 2] && q[i + 1] === q[i + 3] ? `:${start}` : `:${start}-${wideText(q[i + 2]!, q[i + 3]!)}`;
    }
  } else {
    for (let i = 0; i < list.length; i += 2) {
      const start = list[i]!;
      const end = list[i + 1]!;
      out += start === end ? `:${start}` : `:${start}-${end}`;
    }
  }
  return out;
}

/**
 * The decimal digits of the bound hi × 2^32 + lo (hi < 2^31, as MySQL's bounds
 * are below 2^63), made exactly with doubles: as (h, l) = (value div 10^9,
 * value mod 10^9), from 2^32 = 4 × 10^9 + 294967296, with hi split in 16-bit
 * halves so that every product stays below 2^53.
 */
function wideText(hi: number, lo: number): string {
  const hh = Math.floor(hi / 65536);
  const hl = hi - hh * 65536;
  const x = hh * 294967296; // < 2^44; x × 2^16 is (xq × 10^9 + xr) × 2^16
  const xq = Math.floor(x / 1e9); // exact: x / 10^9 < 2^14 is an integer or at least 10^−9 below the next one
  const s = (x - xq * 1e9) * 65536 + hl * 294967296 + lo; // < 2^47
  const sq = Math.floor(s / 1e9);
  const h = 4 * hi + xq * 65536 + sq;
  const l = s - sq * 1e9;
  return h === 0 ? `${l}` : `${h}${`${l}`.padStart(9, '0')}`;
}

// ---------------------------------------------------------------------------
// Shared buffers

/**
 * A copy of buf with room for at least `need` numbers, and for `estimate` if
 * larger: callers extrapolate the final size from their progress, so that a
 * buffer grows about once. (Fresh memory is costly where page faults are, as
 * in virtual machines: it is better touched once, in its final place.)
 */
function grow<T extends Intervals>(buf: T, need: number, estimate: number): T {
  const size = Math.ceil(Math.max(need, 1.25 * buf.length, 1.15 * estimate, 64));
  const out = (isWide(buf) ? new Uint32Array(size) : new Float64Array(size)) as T;
  out.set(buf);
  return out;
}

/** buf itself when it is mostly used, else a copy of its used part, so views cut from it waste little memory. */
function trim<T extends Intervals>(buf: T, used: number): T {
  return used >= buf.length * 0.75 ? buf : (buf.slice(0, used) as T);
}

function view(buf: Float64Array, from: number, to: number): Float64Array {
  return new Float64Array(buf.buffer, buf.byteOffset + from * 8, to - from);
}

function quadView(buf: Uint32Array, from: number, to: number): Uint32Array {
  return new Uint32Array(buf.buffer, buf.byteOffset + from * 4, to - from);
}

// ---------------------------------------------------------------------------
// Parser
//
// The parser reads the text as bytes (one per UTF-16 unit, so positions are
// the text's), with a 0 byte past the end that matches no character class:
// scanning loops stop there without a bounds check. It is written as plain
// functions with its state in locals: V8 drops optimized code that relied on
// a short-lived parser object whenever a garbage collection frees that object,
// which made every parse after a collection start in slow code.

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

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}
function isLowerHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66);
}
function isTagStart(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
}
function isTagChar(c: number): boolean {
  return isTagStart(c) || isDigit(c);
}

function fail(text: string, at: number, reason: Reason): never {
  throw new GtidParseError(text, at, reason, 'mysql');
}

const encoder = typeof TextEncoder === 'function' ? new TextEncoder() : undefined;

/**
 * The parser reads a long text a chunk at a time, each chunk ending where a
 * ',' begins (never inside a member: ',' only separates members), so a chunk
 * is a run of whole members and the scratch bytes are reused, not allocated.
 */
const CHUNK = 1 << 16;
const scratch = new Uint8Array(2 * CHUNK);
/** Where in the text the chunk that chunkBytes() returned ends. */
let chunkEnd = 0;

/**
 * text[from, chunkEnd) as bytes, one per UTF-16 unit, any non-ASCII one as
 * 0xff (which, like 0, matches no character class), then a 0.
 */
function chunkBytes(text: string, from: number): Uint8Array {
  const len = text.length;
  let cut = from + CHUNK >= len ? len : text.indexOf(',', from + CHUNK);
  if (cut < 0) cut = len;
  const n = cut - from;
  const bytes = n < scratch.length ? scratch : new Uint8Array(n + 1); // a member longer than a chunk
  chunkEnd = cut;
  bytes[n] = 0;
  if (encoder !== undefined) {
    const { read, written } = encoder.encodeInto(from === 0 && cut === len ? text : text.slice(from, cut), bytes.subarray(0, n));
    if (read === n && written === n) return bytes; // all ASCII
  }
  for (let k = 0; k < n; k++) {
    const c = text.charCodeAt(from + k);
    bytes[k] = c < 0x80 ? c : 0xff;
  }
  bytes[n] = 0;
  return bytes;
}

/**
 * Where the whitespace at i ends. MySQL's my_isspace for ASCII: space, \t, \n, \v, \f, \r.
 * (Here and in the parser's loops `c <= 0x20` comes first: the usual byte, a
 * digit or punctuation, is then ruled out by one comparison.)
 */
function skipSpace(b: Uint8Array, i: number): number {
  let c = b[i]!;
  while (c <= 0x20 && (c === 0x20 || (c >= 0x09 && c <= 0x0d))) c = b[++i]!;
  return i;
}

/** Value of the decimal digits b[from, to) (at most 15 digits, so exact). */
function digitsValue(b: Uint8Array, from: number, to: number): number {
  let v = 0;
  for (let k = from; k < to; k++) v = v * 10 + (b[k]! - 0x30);
  return v;
}

// Results of the helpers below beyond their return value, read right after the call.
let numberEnd = 0;
let uuidEnd = 0;
let longHead = 0;
let longTail = 0;

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7];
const POW5 = POW10.map((_, m) => 5 ** m);
const SPLIT = POW10.map((_, m) => 2 ** (32 - m));
/** 1 / SPLIT[m], to multiply by rather than divide: exact, as SPLIT[m] is a power of 2, and a multiplication is quicker. */
const SPLIT_INVERSE = SPLIT.map((split) => 1 / split);

/**
 * The number at b[begin…] (text[base + begin, …)) of more than 20 digits,
 * whose first 21 end at i, as longHead × 10^m + longTail (m returned, at most
 * 7, longHead < 10^13) when its leading zeros leave at most 20; sets
 * numberEnd. Throws as MySQL does past 2^64 − 1.
 */
function overlongNumber(text: string, base: number, b: Uint8Array, begin: number, i: number): number {
  if (b[begin] !== 0x30) fail(text, base + begin, Reason.NumberOutOfRange);
  while (isDigit(b[i]!)) i++;
  numberEnd = i;
  let from = begin;
  while (from < i && b[from] === 0x30) from++;
  const digits = i - from;
  if (digits > 20) fail(text, base + begin, Reason.NumberOutOfRange);
  const headEnd = Math.min(i, from + 13);
  longHead = digitsValue(b, from, headEnd);
  longTail = digitsValue(b, headEnd, i);
  return i - headEnd;
}

/** The UUID at b[i] (text[base + i]), lower-case and dashed; sets uuidEnd. */
function uuid(text: string, base: number, b: Uint8Array, bLength: number, i: number): string {
  // Fast path: the canonical form (lower-case, dashed), which is what servers print.
  if (bLength - i >= 36 && isCanonicalUuidAt(b, i)) {
    uuidEnd = i + 36;
    const t = base + i;
    // Pieces shorter than 13 characters are copies, so the key does not keep the whole text alive.
    return text.slice(t, t + 12) + text.slice(t + 12, t + 24) + text.slice(t + 24, t + 36);
  }
  const braced = b[i] === 0x7b; /* { */
  if (braced) i++;
  let hex = text.slice(base + i, base + (i = hexDigits(text, base, b, i, 8)));
  if (braced || b[i] === 0x2d) {
    for (const width of [4, 4, 4, 12]) {
      if (b[i] !== 0x2d) fail(text, base + i, Reason.ExpectedDash);
      i++;
      hex += text.slice(base + i, base + (i = hexDigits(text, base, b, i, width)));
    }
    if (braced) {
      if (b[i] !== 0x7d) fail(text, base + i, Reason.ExpectedBrace);
      i++;
    }
  } else {
    hex += text.slice(base + i, base + (i = hexDigits(text, base, b, i, 24)));
  }
  uuidEnd = i;
  hex = hex.toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Reads `width` hex digits at i, two at a time as MySQL does (so its error positions are ours too); returns where they end. */
function hexDigits(text: string, base: number, b: Uint8Array, i: number, width: number): number {
  for (let k = 0; k < width; k += 2) {
    if (text.length - (base + i) < 2) fail(text, base + i, Reason.ExpectedTwoHex); // the whole text's length, as MySQL's
    if (!isHex(b[i]!)) fail(text, base + i, Reason.ExpectedHex);
    i++;
    if (!isHex(b[i]!)) fail(text, base + i, Reason.ExpectedHex);
    i++;
  }
  return i;
}

/** Whether b[i, i + 36) is a lower-case dashed UUID (the caller checked the length). */
function isCanonicalUuidAt(b: Uint8Array, i: number): boolean {
  for (let k = 0; k < 36; k++) {
    const c = b[i + k]!;
    if (k === 8 || k === 13 || k === 18 || k === 23) {
      if (c !== 0x2d) return false;
    } else if (!isLowerHex(c)) {
      return false;
    }
  }
  return true;
}

const enum Run {
  None = 0,
  Narrow = 1,
  Wide = 2,
  /** A flag on Narrow or Wide: the run's intervals need normalizing. */
  Unsorted = 4,
}

/** The runs of a parse, in input order: run k holds the intervals [spans[3k + 1], spans[3k + 2]) of the pool spans[3k] says, for keys[k]. */
interface Runs {
  keys: string[];
  spans: number[];
}

/** Records that the intervals [from, to) of one pool belong to `key`, after those recorded before. */
function addRun(runs: Runs, key: string, kind: Run, from: number, to: number): void {
  runs.keys.push(key);
  runs.spans.push(kind, from, to);
}

/**
 * Parses the whole text. Intervals go, in input order, to one of two pools:
 * narrow pairs, or wide quads for those with a bound past 2^53 − 1. Each run
 * of intervals of one key in one pool is recorded in `runs`; a key with a
 * single run that is already normalized (the usual case: canonical text) gets
 * a view of the pool as its list.
 */
function parseText(text: string): Map<string, Intervals> {
  const len = text.length;
  // the chunk in b: text[base, base + bLength), then a 0
  let base = 0;
  let b = chunkBytes(text, 0);
  let bLength = chunkEnd;
  let np: Float64Array = NO_BOUNDS; // narrow pool
  let nn = 0;
  let wp: Uint32Array = NO_QUADS; // wide pool
  let wn = 0;
  const runs: Runs = { keys: [], spans: [] };
  let i = skipSpace(b, 0);
  for (;;) {
    while (b[i] === 0x2c /* , */) i = skipSpace(b, i + 1);
    if (i >= bLength) {
      if (base + i >= len) break;
      // the next chunk, which starts with ','
      base += i;
      b = chunkBytes(text, base);
      bLength = chunkEnd - base;
      i = 0;
      continue;
    }
    // member := uuid ws ( ':' ws ( interval | tag ) ws )*
    const uuidKey = uuid(text, base, b, bLength, i);
    i = uuidEnd;
    let key = uuidKey;
    let run = Run.None;
    let runFrom = 0;
    // whether the run's intervals are not sorted, disjoint and apart (Run.Unsorted) or are (0): checked as they come, against
    // the previous interval's end + 1 (after, or afterHi:afterLo), so that a run already normalized is used as it is
    let unsorted = 0;
    let after = 0;
    let afterHi = 0;
    let afterLo = 0;
    let c = b[i]!;
    while (c <= 0x20 && (c === 0x20 || (c >= 0x09 && c <= 0x0d))) c = b[++i]!;
    while (c === 0x3a /* : */) {
      c = b[++i]!;
      while (c <= 0x20 && (c === 0x20 || (c >= 0x09 && c <= 0x0d))) c = b[++i]!;
      if (c >= 0x30 && c <= 0x39) {
        // interval := number ws ( '-' ws number )?
        // One loop reads both numbers, written out once and inline: as a function it costs ~20% of the parse (measured).
        let start = 0;
        let startHi = 0;
        let startLo = 0;
        let end = 0;
        let endHi = 0;
        let endLo = 0;
        for (let second = false; ; second = true) {
          const at = i;
          let value = c - 0x30;
          // a number of more than 13 digits: the first 13, read into value, move here and value starts again
          let head = -1;
          i++;
          for (;;) {
            // four digits at a time: it halves the chain of dependent multiplications that bounds the speed of long numbers
            const d1 = b[i]! - 0x30;
            if (d1 >>> 0 > 9) break;
            const d2 = b[i + 1]! - 0x30;
            if (d2 >>> 0 > 9) {
              value = value * 10 + d1;
              i += 1;
              break;
            }
            const d3 = b[i + 2]! - 0x30;
            if (d3 >>> 0 > 9) {
              value = value * 100 + (d1 * 10 + d2);
              i += 2;
              break;
            }
            const d4 = b[i + 3]! - 0x30;
            if (d4 >>> 0 > 9) {
              value = value * 1000 + (d1 * 100 + d2 * 10 + d3);
              i += 3;
              break;
            }
            value = value * 10000 + (d1 * 1000 + d2 * 100 + d3 * 10 + d4);
            i += 4;
            if (i - at === 13) {
              // as many digits as are sure to be exact
              head = value;
              value = 0;
            } else if (i - at > 20) {
              break; // 21 digits: one too many for 2^64 − 1, unless leading zeros
            }
          }
          c = b[i]!;
          // a wide number's value: hi × 2^32 + lo (value is then −1)
          let hi = 0;
          let lo = 0;
          if (head >= 0) {
            let m = i - at - 13; // digits in value
            if (m > 7) {
              m = overlongNumber(text, base, b, at, i); // as head × 10^m + value, leading zeros dropped
              head = longHead;
              value = longTail;
              c = b[(i = numberEnd)]!;
            }
            if (m <= 2) {
              value = head * POW10[m]! + value; // at most 15 digits: exact
            } else {
              // head × 10^m + value, exactly in doubles, every product and sum below 2^53: with head = hh × 2^(32−m) + hl,
              // it is hh × 5^m × 2^32 + (hl × 10^m + value), the second term below 5^m × 2^32 + 10^m
              const split = SPLIT[m]!;
              const hh = Math.floor(head * SPLIT_INVERSE[m]!);
              const rest = (head - hh * split) * POW10[m]! + value;
              const carry = Math.floor(rest * LO_RANGE_INVERSE);
              hi = hh * POW5[m]! + carry;
              lo = rest - carry * LO_RANGE;
              if (hi > UINT64_MAX_HI) fail(text, base + at, Reason.NumberOutOfRange);
              value = hi < NARROW_HI_LIMIT ? hi * LO_RANGE + lo : -1;
            }
          }
          if (!second) {
            start = value;
            startHi = hi;
            startLo = lo;
            if (start <= 0 && (start === 0 || hi > GNO_MAX_HI || (hi === GNO_MAX_HI && lo > GNO_MAX_LO))) fail(text, base + at, Reason.StartOutOfRange);
          }
          while (c <= 0x20 && (c === 0x20 || (c >= 0x09 && c <= 0x0d))) c = b[++i]!;
          if (second) {
            // MySQL checks the end only after the whitespace that follows it.
            end = value;
            endHi = hi;
            endLo = lo;
            if (end < 0 && (hi > GNO_MAX_HI || (hi === GNO_MAX_HI && lo > GNO_MAX_LO))) fail(text, base + i, Reason.EndOutOfRange);
            break;
          }
          if (c !== 0x2d /* - */) {
            end = start;
            endHi = startHi;
            endLo = startLo;
            break;
          }
          c = b[++i]!;
          while (c <= 0x20 && (c === 0x20 || (c >= 0x09 && c <= 0x0d))) c = b[++i]!;
          if (!(c >= 0x30 && c <= 0x39)) fail(text, base + i, Reason.ExpectedNumber);
        }
        // MySQL accepts a reversed interval such as 5-3 and adds nothing for it
        // (nor for a wide start and a narrow end).
        if (end < 0) {
          if (start >= 0 || !(endHi < startHi || (endHi === startHi && endLo < startLo))) {
            if (run !== Run.Wide) {
              if (run !== Run.None) addRun(runs, key, run | unsorted, runFrom, nn);
              run = Run.Wide;
              runFrom = wn;
              unsorted = 0;
              afterHi = 0;
              afterLo = 0;
            }
            if (start >= 0) {
              startHi = Math.floor(start / LO_RANGE); // exact: a division by a power of 2
              startLo = start - startHi * LO_RANGE;
            }
            if (startHi < afterHi || (startHi === afterHi && startLo <= afterLo)) unsorted = Run.Unsorted;
            if (wn + 4 > wp.length) wp = grow(wp, wn + 4, (wn * len) / (base + i));
            wp[wn] = startHi;
            wp[wn + 1] = startLo;
            wp[wn + 2] = endHi;
            wp[wn + 3] = endLo;
            wn += 4;
            // end + 1
            afterHi = endHi;
            afterLo = endLo + 1;
            if (afterLo === LO_RANGE) {
              afterHi++;
              afterLo = 0;
            }
          }
        } else if (start >= 0 && start <= end) {
          if (run !== Run.Narrow) {
            if (run !== Run.None) addRun(runs, key, run | unsorted, runFrom, wn);
            run = Run.Narrow;
            runFrom = nn;
            unsorted = 0;
            after = 0;
          }
          if (start <= after) unsorted = Run.Unsorted;
          if (nn + 2 > np.length) np = grow(np, nn + 2, (nn * len) / (base + i));
          np[nn] = start;
          np[nn + 1] = end;
          nn += 2;
          after = end + 1;
        }
      } else if (isTagStart(c)) {
        const begin = i;
        while (isTagChar(b[i]!)) i++;
        if (i - begin > TAG_MAX_LENGTH) fail(text, base + begin, Reason.ExpectedNumber);
        if (run !== Run.None) addRun(runs, key, run | unsorted, runFrom, run === Run.Narrow ? nn : wn);
        run = Run.None;
        key = tsidKey(uuidKey, text.slice(base + begin, base + i).toLowerCase());
        c = b[i]!;
      } else {
        fail(text, base + i, Reason.ExpectedNumber);
      }
      while (c <= 0x20 && (c === 0x20 || (c >= 0x09 && c <= 0x0d))) c = b[++i]!;
    }
    if (run !== Run.None) addRun(runs, key, run | unsorted, runFrom, run === Run.Narrow ? nn : wn);
    if (i >= bLength) {
      if (base + i >= len) break;
      base += i;
      b = chunkBytes(text, base);
      bLength = chunkEnd - base;
      i = 0;
      continue;
    }
    if (c !== 0x2c) fail(text, base + i, Reason.ExpectedComma);
  }
  // the rest in functions of their own: parseText is usually first optimized while in
  // its loop (on-stack replacement), before any code after the loop has run, and code
  // without feedback there would drop back to the interpreter at each call
  return listsOf(runs, trim(np, nn), trim(wp, wn));
}

/** Each key's normalized list, from its runs in the pools. */
function listsOf(runs: Runs, np: Float64Array, wp: Uint32Array): Map<string, Intervals> {
  const { keys, spans } = runs;
  const out = new Map<string, Intervals>();
  let repeated: Set<string> | undefined;
  for (let k = 0; k < keys.length; k++) {
    const kind = spans[3 * k]!;
    const from = spans[3 * k + 1]!;
    const to = spans[3 * k + 2]!;
    const size = out.size;
    out.set(
      keys[k]!,
      kind === Run.Narrow
        ? view(np, from, to)
        : kind === Run.Wide
          ? quadView(wp, from, to)
          : kind & Run.Narrow
            ? normalizeNarrow(np.slice(from, to))
            : normalizeWide(wp.slice(from, to)),
    );
    // a key seen before (it came back later in the text) leaves the size as it was: one lookup, not two
    if (out.size === size) (repeated ??= new Set()).add(keys[k]!);
  }
  if (repeated !== undefined) gatherRuns(runs, repeated, np, wp, out);
  return out;
}

/** Sets the list of each key with several runs: its runs are gathered in input order, then normalized. */
function gatherRuns(runs: Runs, repeated: ReadonlySet<string>, np: Float64Array, wp: Uint32Array, out: Map<string, Intervals>): void {
  const spansOf = new Map<string, number[]>();
  for (let k = 0; k < runs.keys.length; k++) {
    const key = runs.keys[k]!;
    if (!repeated.has(key)) continue;
    const r = spansOf.get(key) ?? [];
    r.push(runs.spans[3 * k]!, runs.spans[3 * k + 1]!, runs.spans[3 * k + 2]!);
    spansOf.set(key, r);
  }
  for (const [key, r] of spansOf) out.set(key, gatherList(r, np, wp));
}

/** The spans r (kind, from, to, …) as one normalized list. */
function gatherList(r: number[], np: Float64Array, wp: Uint32Array): Intervals {
  let wide = false;
  let size = 0;
  for (let k = 0; k < r.length; k += 3) {
    wide ||= (r[k]! & Run.Wide) !== 0;
    size += r[k + 2]! - r[k + 1]!;
  }
  if (!wide) {
    const pairs = new Float64Array(size);
    let at = 0;
    for (let k = 0; k < r.length; k += 3) {
      pairs.set(np.subarray(r[k + 1]!, r[k + 2]!), at);
      at += r[k + 2]! - r[k + 1]!;
    }
    return normalizeNarrow(pairs);
  }
  const parts: Uint32Array[] = [];
  let total = 0;
  for (let k = 0; k < r.length; k += 3) {
    const part = r[k]! & Run.Wide ? wp.subarray(r[k + 1]!, r[k + 2]!) : widen(np.subarray(r[k + 1]!, r[k + 2]!));
    parts.push(part);
    total += part.length;
  }
  const quads = new Uint32Array(total);
  let at = 0;
  for (const part of parts) {
    quads.set(part, at);
    at += part.length;
  }
  return normalizeWide(quads);
}

/** Sorts and merges pairs given in input order (each start ≤ end). */
function normalizeNarrow(pairs: Float64Array): Intervals {
  const n = pairs.length / 2;
  let sorted = true;
  for (let m = 1; m < n && sorted; m++) if (pairs[2 * m]! < pairs[2 * m - 2]!) sorted = false;
  let src = pairs;
  if (!sorted) {
    const order = Array.from({ length: n }, (_, m) => m);
    order.sort((x, y) => pairs[2 * x]! - pairs[2 * y]!); // stable, like MySQL's result: ties merge anyway
    src = new Float64Array(pairs.length);
    for (let m = 0; m < n; m++) {
      src[2 * m] = pairs[2 * order[m]!]!;
      src[2 * m + 1] = pairs[2 * order[m]! + 1]!;
    }
  }
  const out = new Float64Array(src.length);
  let at = 0;
  for (let m = 0; m < src.length; m += 2) {
    const start = src[m]!;
    const end = src[m + 1]!;
    if (at > 0 && start <= out[at - 1]! + 1) {
      if (end > out[at - 1]!) out[at - 1] = end;
    } else {
      out[at] = start;
      out[at + 1] = end;
      at += 2;
    }
  }
  return at === out.length ? out : out.slice(0, at);
}

/** Sorts and merges quads given in input order (each start ≤ end); returns a wide list. */
function normalizeWide(q: Uint32Array): Intervals {
  const n = q.length / 4;
  let sorted = true;
  for (let m = 1; m < n && sorted; m++) {
    const h = q[4 * m]!;
    const ph = q[4 * m - 4]!;
    if (h < ph || (h === ph && q[4 * m + 1]! < q[4 * m - 3]!)) sorted = false;
  }
  let src = q;
  if (!sorted) {
    const order = Array.from({ length: n }, (_, m) => m);
    order.sort((x, y) => q[4 * x]! - q[4 * y]! || q[4 * x + 1]! - q[4 * y + 1]!);
    src = new Uint32Array(q.length);
    for (let m = 0; m < n; m++) src.set(q.subarray(4 * order[m]!, 4 * order[m]! + 4), 4 * m);
  }
  const out = new Uint32Array(src.length);
  let at = 0;
  for (let m = 0; m < src.length; m += 4) at = appendWide(out, at, 0, src[m]!, src[m + 1]!, src[m + 2]!, src[m + 3]!);
  return at === out.length ? out : out.slice(0, at);
}

// ---------------------------------------------------------------------------
// Set operations on lists: each pair of lists is combined into shared output
// buffers (one for narrow results, one for wide ones). Before each pair, the
// buffer is made to have room for the worst case: a union, intersection or
// difference of lists of n and m intervals has at most n + m intervals.

const enum Op {
  Union,
  Intersect,
  Subtract,
}

/** `op` on each pair (as[k], bs[k]); undefined where the result is empty. */
function combine(op: Op, as: readonly Intervals[], bs: readonly Intervals[]): Array<Intervals | undefined> {
  const n = as.length;
  // room for a typical result (the longer list's size); grown, rarely, for more
  let narrowSize = 0;
  let narrowSlack = 0;
  let wideSize = 0;
  let wideSlack = 0;
  for (let k = 0; k < n; k++) {
    const a = as[k]!;
    const b = bs[k]!;
    if (!isWide(a) && !isWide(b)) {
      narrowSize += Math.max(a.length, b.length);
      narrowSlack = Math.max(narrowSlack, Math.min(a.length, b.length));
    } else {
      wideSize += Math.max(quadLength(a), quadLength(b));
      wideSlack = Math.max(wideSlack, Math.min(quadLength(a), quadLength(b)));
    }
  }
  // plus the room each pair is checked for beyond its typical result
  let np: Float64Array = narrowSize > 0 ? new Float64Array(narrowSize + narrowSlack) : NO_BOUNDS;
  let wp: Uint32Array = wideSize > 0 ? new Uint32Array(wideSize + wideSlack) : NO_QUADS;
  let nn = 0;
  let wn = 0;
  const ends = new Array<number>(n); // where result k ends in its buffer; narrow ≥ 0, wide as −1 − end
  for (let k = 0; k < n; k++) {
    const a = as[k]!;
    const b = bs[k]!;
    if (!isWide(a) && !isWide(b)) {
      const need = nn + a.length + b.length;
      if (need > np.length) np = grow(np, need, (nn * n) / Math.max(k, 1));
      nn = op === Op.Union ? narrowUnion(a, b, np, nn) : op === Op.Intersect ? narrowIntersect(a, b, np, nn) : narrowSubtract(a, b, np, nn);
      ends[k] = nn;
    } else {
      const qa = quads(a);
      const qb = quads(b);
      const need = wn + qa.length + qb.length;
      if (need > wp.length) wp = grow(wp, need, (wn * n) / Math.max(k, 1));
      wn = op === Op.Union ? wideUnion(qa, qb, wp, wn) : op === Op.Intersect ? wideIntersect(qa, qb, wp, wn) : wideSubtract(qa, qb, wp, wn);
      ends[k] = -1 - wn;
    }
  }
  np = trim(np, nn);
  wp = trim(wp, wn);
  const out = new Array<Intervals | undefined>(n);
  let nFrom = 0;
  let wFrom = 0;
  for (let k = 0; k < n; k++) {
    const end = ends[k]!;
    if (end >= 0) {
      out[k] = end > nFrom ? view(np, nFrom, end) : undefined;
      nFrom = end;
    } else {
      const wEnd = -1 - end;
      out[k] = wEnd > wFrom ? encodeWide(quadView(wp, wFrom, wEnd)) : undefined;
      wFrom = wEnd;
    }
  }
  return out;
}

/** Numbers in the list's quads. */
function quadLength(list: Intervals): number {
  return isWide(list) ? list.length : 2 * list.length;
}

/** The list as a wide one. */
function quads(list: Intervals): Uint32Array {
  return isWide(list) ? list : widen(list);
}

/** The narrow list as a wide one (which, with bounds that fit, is not its encoding: a step of a computation). */
function widen(a: Float64Array): Uint32Array {
  const out = new Uint32Array(a.length * 2);
  for (let i = 0; i < a.length; i++) {
    const v = a[i]!;
    const hi = Math.floor(v / LO_RANGE); // exact: a division by a power of 2
    out[2 * i] = hi;
    out[2 * i + 1] = v - hi * LO_RANGE;
  }
  return out;
}

/** A wide list in its encoding: one whose bounds all fit is narrowed again. */
function encodeWide(q: Uint32Array): Intervals {
  const n = q.length;
  if (q[n - 2]! >= NARROW_HI_LIMIT) return q;
  const out = new Float64Array(n / 2);
  for (let i = 0; i < n; i += 2) out[i / 2] = q[i]! * LO_RANGE + q[i + 1]!;
  return out;
}

// Narrow lists. Each function writes its result at out[at…] and returns where it ends.

function narrowUnion(a: Intervals, b: Intervals, out: Float64Array, at: number): number {
  const begin = at;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    let start: number;
    let end: number;
    if (j >= b.length || (i < a.length && a[i]! <= b[j]!)) {
      start = a[i]!;
      end = a[i + 1]!;
      i += 2;
    } else {
      start = b[j]!;
      end = b[j + 1]!;
      j += 2;
    }
    // merge into the last interval when they overlap or touch
    if (at > begin && start <= out[at - 1]! + 1) {
      if (end > out[at - 1]!) out[at - 1] = end;
    } else {
      out[at] = start;
      out[at + 1] = end;
      at += 2;
    }
  }
  return at;
}

function narrowIntersect(a: Intervals, b: Intervals, out: Float64Array, at: number): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const lo = a[i]! > b[j]! ? a[i]! : b[j]!;
    const hi = a[i + 1]! < b[j + 1]! ? a[i + 1]! : b[j + 1]!;
    if (lo <= hi) {
      out[at] = lo;
      out[at + 1] = hi;
      at += 2;
    }
    if (a[i + 1]! < b[j + 1]!) i += 2;
    else j += 2;
  }
  return at;
}

function narrowSubtract(a: Intervals, b: Intervals, out: Float64Array, at: number): number {
  let j = 0;
  for (let i = 0; i < a.length; i += 2) {
    let start = a[i]!;
    const end = a[i + 1]!;
    while (j < b.length && b[j + 1]! < start) j += 2;
    let k = j;
    while (k < b.length && b[k]! <= end) {
      if (b[k]! > start) {
        out[at] = start;
        out[at + 1] = b[k]! - 1;
        at += 2;
      }
      if (b[k + 1]! >= end) {
        start = end + 1;
        break;
      }
      start = b[k + 1]! + 1;
      k += 2;
    }
    if (start <= end) {
      out[at] = start;
      out[at + 1] = end;
      at += 2;
    }
  }
  return at;
}

function narrowIsSubset(a: Intervals, b: Intervals): boolean {
  let j = 0;
  for (let i = 0; i < a.length; i += 2) {
    const start = a[i]!;
    while (j < b.length && b[j + 1]! < start) j += 2;
    if (j >= b.length || b[j]! > start || b[j + 1]! < a[i + 1]!) return false;
  }
  return true;
}

// Wide lists: the same, on (hi, lo) bounds, four numbers per interval. Each
// function writes its result's quads at out[at…] and returns where they end.

/** Appends [sh:sl, eh:el] to the quads out[begin, at), merging it into the last interval when they overlap or touch; returns the new end. */
function appendWide(out: Uint32Array, at: number, begin: number, sh: number, sl: number, eh: number, el: number): number {
  if (at > begin) {
    // start <= lastEnd + 1
    let nh = out[at - 2]!;
    let nl = out[at - 1]! + 1;
    if (nl === LO_RANGE) {
      nh++;
      nl = 0;
    }
    if (sh < nh || (sh === nh && sl <= nl)) {
      if (eh > out[at - 2]! || (eh === out[at - 2]! && el > out[at - 1]!)) {
        out[at - 2] = eh;
        out[at - 1] = el;
      }
      return at;
    }
  }
  out[at] = sh;
  out[at + 1] = sl;
  out[at + 2] = eh;
  out[at + 3] = el;
  return at + 4;
}

function wideUnion(a: Uint32Array, b: Uint32Array, out: Uint32Array, at: number): number {
  const begin = at;
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && (a[i]! < b[j]! || (a[i] === b[j] && a[i + 1]! <= b[j + 1]!)))) {
      at = appendWide(out, at, begin, a[i]!, a[i + 1]!, a[i + 2]!, a[i + 3]!);
      i += 4;
    } else {
      at = appendWide(out, at, begin, b[j]!, b[j + 1]!, b[j + 2]!, b[j + 3]!);
      j += 4;
    }
  }
  return at;
}

function wideIntersect(a: Uint32Array, b: Uint32Array, out: Uint32Array, at: number): number {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    // lo = the later start, hi = the earlier end
    const aStartsLater = a[i]! > b[j]! || (a[i] === b[j] && a[i + 1]! >= b[j + 1]!);
    const loH = aStartsLater ? a[i]! : b[j]!;
    const loL = aStartsLater ? a[i + 1]! : b[j + 1]!;
    const aEndsFirst = a[i + 2]! < b[j + 2]! || (a[i + 2] === b[j + 2] && a[i + 3]! < b[j + 3]!);
    const hiH = aEndsFirst ? a[i + 2]! : b[j + 2]!;
    const hiL = aEndsFirst ? a[i + 3]! : b[j + 3]!;
    if (loH < hiH || (loH === hiH && loL <= hiL)) {
      out[at] = loH;
      out[at + 1] = loL;
      out[at + 2] = hiH;
      out[at + 3] = hiL;
      at += 4;
    }
    if (aEndsFirst) i += 4;
    else j += 4;
  }
  return at;
}

function wideSubtract(a: Uint32Array, b: Uint32Array, out: Uint32Array, at: number): number {
  let j = 0;
  for (let i = 0; i < a.length; i += 4) {
    let sh = a[i]!;
    let sl = a[i + 1]!;
    const eh = a[i + 2]!;
    const el = a[i + 3]!;
    // skip b's intervals that end before start
    while (j < b.length && (b[j + 2]! < sh || (b[j + 2] === sh && b[j + 3]! < sl))) j += 4;
    let k = j;
    let covered = false;
    // b's intervals that start at or before end
    while (k < b.length && (b[k]! < eh || (b[k] === eh && b[k + 1]! <= el))) {
      const bh = b[k]!;
      const bl = b[k + 1]!;
      if (bh > sh || (bh === sh && bl > sl)) {
        // start … b's start − 1
        out[at] = sh;
        out[at + 1] = sl;
        if (bl === 0) {
          out[at + 2] = bh - 1;
          out[at + 3] = LO_MAX;
        } else {
          out[at + 2] = bh;
          out[at + 3] = bl - 1;
        }
        at += 4;
      }
      const ch = b[k + 2]!;
      const cl = b[k + 3]!;
      if (ch > eh || (ch === eh && cl >= el)) {
        covered = true;
        break;
      }
      // start = b's end + 1
      if (cl + 1 === LO_RANGE) {
        sh = ch + 1;
        sl = 0;
      } else {
        sh = ch;
        sl = cl + 1;
      }
      k += 4;
    }
    if (!covered && (sh < eh || (sh === eh && sl <= el))) {
      out[at] = sh;
      out[at + 1] = sl;
      out[at + 2] = eh;
      out[at + 3] = el;
      at += 4;
    }
  }
  return at;
}

function wideIsSubset(a: Uint32Array, b: Uint32Array): boolean {
  let j = 0;
  for (let i = 0; i < a.length; i += 4) {
    const sh = a[i]!;
    const sl = a[i + 1]!;
    while (j < b.length && (b[j + 2]! < sh || (b[j + 2] === sh && b[j + 3]! < sl))) j += 4;
    if (j >= b.length) return false;
    if (b[j]! > sh || (b[j] === sh && b[j + 1]! > sl)) return false;
    const eh = a[i + 2]!;
    if (b[j + 2]! < eh || (b[j + 2] === eh && b[j + 3]! < a[i + 3]!)) return false;
  }
  return true;
}

function listIsSubset(a: Intervals, b: Intervals): boolean {
  if (isWide(a)) return isWide(b) && wideIsSubset(a, b); // a has a bound past every bound of a narrow b
  if (!isWide(b)) return narrowIsSubset(a, b);
  return wideIsSubset(widen(a), b);
}

function listEquals(a: Intervals, b: Intervals): boolean {
  // each list has exactly one encoding
  if (isWide(a) !== isWide(b) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
