/**
 * MySQL GTID sets: parsing, canonical text and set algebra, exactly as MySQL
 * 9.x does them (proven against a real server by test/differential).
 *
 * Pure and deterministic: no Node APIs, no clocks, no randomness and no state
 * kept between calls, so workflow code may import it. MySQL allows sequence
 * numbers 1 … 2^63 − 2; every one is kept exactly, and count() is a bigint.
 *
 * Grammar accepted (what MySQL's own parser accepts, including its leniencies):
 *   set      := ws ( ','* ws member ws )*            -- empty members are skipped
 *   member   := uuid ws ( ':' ws ( interval | tag ) ws )*
 *   uuid     := 8-4-4-4-12 hex digits | the same inside '{' '}' | 32 hex digits
 *   interval := number ws ( '-' ws number )?         -- start > end is an empty interval
 *   tag      := [A-Za-z_][A-Za-z0-9_]{0,31}          -- applies to the intervals after it
 *
 * A set is its keys, one per transaction source (the UUID, or `uuid:tag`, MySQL's
 * "TSID"), sorted as MySQL prints them, and one Uint32Array holding every interval
 * as four numbers [startHi, startLo, endHi, endLo]: a bound is hi × 2^32 + lo, its
 * 64-bit value in two halves that doubles hold exactly, compared as (hi, lo) pairs.
 * The intervals of keys[k] are data[at[k], at[k + 1]): sorted, disjoint and never
 * adjacent (1-5 and 6-9 are stored as 1-9), so equal sets are equal number by number.
 * One buffer a set, rather than one array a member, keeps a set of 10,000 members
 * to a few objects, and the algebra is a merge of two sorted key lists.
 */
import { GtidError, GtidParseError } from './errors.js';
import type { GtidSet } from './types.js';

/** Largest sequence number MySQL accepts in a GTID (GNO_END − 1 = 2^63 − 2). */
export const MYSQL_GNO_MAX = 9223372036854775806n;
const TAG_MAX_LENGTH = 32;
/** 2^32: a bound is hi × TWO_32 + lo, with 0 ≤ lo < TWO_32. */
const TWO_32 = 4294967296;
/** MYSQL_GNO_MAX as (hi, lo). */
const GNO_MAX_HI = 0x7fffffff;
const GNO_MAX_LO = 0xfffffffe;
/** MySQL reads each number as an unsigned 64-bit integer before checking the interval bounds. */
const UINT64_MAX_HI = 0xffffffff;

interface Parts {
  /** Sorted keys, each with at least one interval. */
  readonly keys: readonly string[];
  /** The intervals of keys[k] are data[at[k], at[k + 1]). */
  readonly at: readonly number[];
  readonly data: Uint32Array;
}

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

// ---------------------------------------------------------------------------
// Parser
//
// The parser reads the text as bytes (one per UTF-16 unit, so positions are the
// text's), with a 0 byte past the end that matches no character class: scanning
// loops stop there without a bounds check. A long text is read a chunk at a time,
// each chunk ending where a ',' begins (never inside a member: ',' only separates
// members), so a few KiB of bytes are reused rather than a copy of the whole text
// made, which would touch as many fresh pages as the text is long.

const CHUNK = 1 << 16;

/** Throws what MySQL reports as ER_MALFORMED_GTID_SET_SPECIFICATION, in its words, at its position. */
function fail(text: string, at: number, reason: string): never {
  throw new GtidParseError(text, at, reason, 'mysql');
}

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isHex = (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
const isTagStart = (c: number) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f;
const isTagChar = (c: number) => isTagStart(c) || isDigit(c);
/** MySQL's my_isspace for ASCII: space, \t, \n, \v, \f, \r (`c <= 0x20` first rules out the usual byte at once). */
const isSpace = (c: number) => c <= 0x20 && (c === 0x20 || (c >= 0x09 && c <= 0x0d));

function skipSpace(b: Uint8Array, i: number): number {
  while (isSpace(b[i]!)) i++;
  return i;
}

/** text[from, to) into b[0, to − from) as bytes, any non-ASCII unit as 0x80 or more (matching nothing), then a 0. */
function toBytes(text: string, from: number, to: number, b: Uint8Array): void {
  const n = to - from;
  const part = from === 0 && to === text.length ? text : text.slice(from, to);
  const { read, written } = new TextEncoder().encodeInto(part, b.subarray(0, n));
  if (read !== n || written !== n) for (let k = 0; k < n; k++) b[k] = Math.min(text.charCodeAt(from + k), 0xff);
  b[n] = 0;
}

/** Powers of 10, of 5, and 2^(32 − m), for reading numbers exactly (see parseText). */
const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7];
const POW5 = POW10.map((_, m) => 5 ** m);
const SPLIT = POW10.map((_, m) => 2 ** (32 - m));

/**
 * Parses the whole text into the intervals of each key, in input order. When the
 * keys come sorted and each one's intervals sorted and apart (canonical text, the
 * usual case) that is the set; otherwise normalize() sorts and merges.
 */
function parseText(text: string): Parts {
  const len = text.length;
  // the chunk in b: text[base, base + bLength), then a 0
  let b = new Uint8Array(Math.min(len, 2 * CHUNK) + 1);
  let base = 0;
  let bLength = 0;
  let data: Uint32Array = new Uint32Array(Math.min(1024, len));
  let n = 0;
  const keys: string[] = [];
  const at: number[] = [0];
  let sorted = true;
  let i = 0;
  for (;;) {
    while (b[i] === 0x2c /* , */) i = skipSpace(b, i + 1);
    if (i >= bLength) {
      base += i;
      if (base >= len) break;
      // the next chunk: the first one, or one that starts with ','
      let cut = base + CHUNK >= len ? len : text.indexOf(',', base + CHUNK);
      if (cut < 0) cut = len;
      bLength = cut - base;
      if (bLength >= b.length) b = new Uint8Array(bLength + 1); // a member longer than a chunk
      toBytes(text, base, cut, b);
      i = skipSpace(b, 0);
      continue;
    }
    // member := uuid ws ( ':' ws ( interval | tag ) ws )*
    let uuid: string;
    if (bLength - i >= 36 && isCanonicalUuidAt(b, i)) {
      // what servers print; pieces under 13 characters are copies, so the key does not keep the text alive
      const t = base + i;
      uuid = text.slice(t, t + 12) + text.slice(t + 12, t + 24) + text.slice(t + 24, t + 36);
      i += 36;
    } else {
      uuid = otherUuid(text, base, b, i);
      i += b[i] === 0x7b ? 38 : b[i + 8] === 0x2d ? 36 : 32;
    }
    let key = uuid;
    let runFrom = n;
    let c = b[i]!;
    while (isSpace(c)) c = b[++i]!;
    while (c === 0x3a /* : */) {
      c = b[++i]!;
      while (isSpace(c)) c = b[++i]!;
      if (isDigit(c)) {
        // interval := number ws ( '-' ws number )?, read into data[n, n + 4), which counts only if it is not reversed
        // One loop reads both numbers, written out once and inline: as a function it costs ~20% of the parse.
        if (n + 4 > data.length) data = grow(data, n + 4, (n * len) / (base + i));
        for (let o = n; ; o += 2) {
          const from = i;
          let value = c - 0x30;
          // a number of more than 13 digits: the first 13, read into value, move here and value starts again
          let head = -1;
          i++;
          for (;;) {
            // four digits at a time: it halves the chain of dependent multiplications that bounds the speed
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
            if (i - from === 13) {
              head = value; // as many digits as are sure to be exact
              value = 0;
            } else if (i - from > 20) {
              break; // one digit too many for 2^64 − 1, unless leading zeros
            }
          }
          // the number is value, or head × 10^m + value
          let hi = 0;
          let lo = value;
          const m = head < 0 ? 0 : i - from - 13;
          if (m > 7) {
            while (isDigit(b[i]!)) i++;
            const v = overlongNumber(text, base + from, base + i);
            hi = Number(v >> 32n);
            lo = Number(v & 0xffffffffn);
          } else if (head >= 0 || value >= TWO_32) {
            // exactly, every product and sum below 2^53: with head = hh × 2^(32−m) + hl, it is
            // hh × 5^m × 2^32 + (hl × 10^m + value), the second term below 5^m × 2^32 + 10^m
            const h = head < 0 ? value : head;
            const hh = Math.floor(h / SPLIT[m]!);
            const rest = (h - hh * SPLIT[m]!) * POW10[m]! + (head < 0 ? 0 : value);
            const carry = Math.floor(rest / TWO_32);
            hi = hh * POW5[m]! + carry;
            lo = rest - carry * TWO_32;
          }
          if (hi > UINT64_MAX_HI) fail(text, base + from, 'Number out of range');
          data[o] = hi;
          data[o + 1] = lo;
          const overMax = hi > GNO_MAX_HI || (hi === GNO_MAX_HI && lo > GNO_MAX_LO);
          if (o === n && ((hi === 0 && lo === 0) || overMax)) fail(text, base + from, 'Interval start out of range');
          c = b[i]!;
          while (isSpace(c)) c = b[++i]!;
          if (o > n) {
            if (overMax) fail(text, base + i, 'Interval end out of range'); // MySQL checks it after the whitespace
            break;
          }
          if (c !== 0x2d /* - */) {
            data[n + 2] = hi;
            data[n + 3] = lo;
            break;
          }
          c = b[++i]!;
          while (isSpace(c)) c = b[++i]!;
          if (!isDigit(c)) fail(text, base + i, 'Expected number');
        }
        // MySQL accepts a reversed interval such as 5-3 and adds nothing for it
        if (diff(data, n + 2, data, n) >= 0) {
          // one that does not start past the end + 1 of the one before makes the key's list need normalizing
          if (n > runFrom && diff(data, n, data, n - 2) <= 1) sorted = false;
          n += 4;
        }
      } else if (isTagStart(c)) {
        const begin = i;
        while (isTagChar(b[i]!)) i++;
        if (i - begin > TAG_MAX_LENGTH) fail(text, base + begin, 'Expected number');
        if (n > runFrom) {
          sorted &&= keys.length === 0 || keys[keys.length - 1]! < key;
          keys.push(key);
          at.push(n);
        }
        key = `${uuid}:${text.slice(base + begin, base + i).toLowerCase()}`;
        runFrom = n;
        c = b[i]!;
      } else {
        fail(text, base + i, 'Expected number');
      }
      while (isSpace(c)) c = b[++i]!;
    }
    if (n > runFrom) {
      sorted &&= keys.length === 0 || keys[keys.length - 1]! < key;
      keys.push(key);
      at.push(n);
    }
    if (i < bLength && c !== 0x2c) fail(text, base + i, 'Expected ","');
  }
  // the rest in a function of its own: parseText is usually first optimized while in its loop (on-stack
  // replacement), before any code after the loop has run, and code without feedback there would drop back to
  // the interpreter at each call
  return finish(keys, at, data, n, sorted);
}

function finish(keys: string[], at: number[], data: Uint32Array, n: number, sorted: boolean): Parts {
  return sorted ? { keys, at, data: trim(data, n) } : normalize(keys, at, data);
}

/** Whether b[i, i + 36) is a lower-case dashed UUID (the caller checked the length). */
function isCanonicalUuidAt(b: Uint8Array, i: number): boolean {
  for (let k = 0; k < 36; k++) {
    const c = b[i + k]!;
    if (k === 8 || k === 13 || k === 18 || k === 23 ? c !== 0x2d : !(isDigit(c) || (c >= 0x61 && c <= 0x66))) {
      return false;
    }
  }
  return true;
}

/** The UUID at b[i] (text[base + i]) in another form MySQL accepts (braced, upper-case, no dashes), as a key. */
function otherUuid(text: string, base: number, b: Uint8Array, i: number): string {
  const braced = b[i] === 0x7b; /* { */
  if (braced) i++;
  let hex = text.slice(base + i, base + (i = hexDigits(text, base, b, i, 8)));
  if (braced || b[i] === 0x2d) {
    for (const width of [4, 4, 4, 12]) {
      if (b[i] !== 0x2d) fail(text, base + i, 'Expected "-"');
      i++;
      hex += text.slice(base + i, base + (i = hexDigits(text, base, b, i, width)));
    }
    if (braced && b[i] !== 0x7d) fail(text, base + i, 'Expected "}"');
  } else {
    hex += text.slice(base + i, base + (i = hexDigits(text, base, b, i, 24)));
  }
  hex = hex.toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Reads `width` hex digits at i, two at a time as MySQL does (so its error positions are ours); returns the end. */
function hexDigits(text: string, base: number, b: Uint8Array, i: number, width: number): number {
  for (let k = 0; k < width; k += 2) {
    // the whole text's length, as MySQL's
    if (text.length - (base + i) < 2) fail(text, base + i, 'Expected at least two hex digits');
    if (!isHex(b[i]!)) fail(text, base + i, 'Expected hex digit');
    i++;
    if (!isHex(b[i]!)) fail(text, base + i, 'Expected hex digit');
    i++;
  }
  return i;
}

/** The number text[from, to) of over 20 digits: only leading zeros keep it within 2^64 − 1, as MySQL reads it. */
function overlongNumber(text: string, from: number, to: number): bigint {
  const digits = text.slice(from, to).replace(/^0+/, '');
  if (text.charCodeAt(from) !== 0x30 || digits.length > 20) fail(text, from, 'Number out of range');
  return BigInt(`0${digits}`);
}

/** Sorts and merges each key's intervals (given in input order, each start ≤ end), for text that is not canonical. */
function normalize(keys: readonly string[], at: readonly number[], data: Uint32Array): Parts {
  const order = keys.map((_, k) => k).sort((x, y) => (keys[x]! < keys[y]! ? -1 : keys[x]! > keys[y]! ? 1 : x - y));
  const out = { keys: [] as string[], at: [0], data: new Uint32Array(data.length) };
  const d = out.data;
  let o = 0;
  for (let g = 0; g < order.length;) {
    const key = keys[order[g]!]!;
    const starts: number[] = [];
    for (; g < order.length && keys[order[g]!] === key; g++) {
      for (let i = at[order[g]!]!; i < at[order[g]! + 1]!; i += 4) starts.push(i);
    }
    starts.sort((x, y) => diff(data, x, data, y));
    const begin = o;
    for (const x of starts) {
      // merged into the last interval when it overlaps or touches it
      if (o === begin || diff(data, x, d, o - 2) > 1) {
        for (let k = 0; k < 4; k++) d[o++] = data[x + k]!;
      } else if (diff(data, x + 2, d, o - 2) > 0) {
        put(d, o - 2, data, x + 2, 0);
      }
    }
    out.keys.push(key);
    out.at.push(o);
  }
  return { ...out, data: trim(d, o) };
}

// ---------------------------------------------------------------------------
// Buffers

/**
 * A copy of buf with room for `need` numbers, and for `estimate` if larger: callers extrapolate the final size
 * from their progress, so that a buffer grows about once (fresh memory costs a page fault a page, in a VM).
 */
function grow(buf: Uint32Array, need: number, estimate: number): Uint32Array {
  const out = new Uint32Array(Math.ceil(Math.max(need, 1.25 * buf.length, 1.15 * estimate, 64)));
  out.set(buf);
  return out;
}

/** buf's used part: a view when it is most of buf, else a copy, so that a set keeps little unused memory. */
function trim(buf: Uint32Array, used: number): Uint32Array {
  return used >= buf.length * 0.75 ? buf.subarray(0, used) : buf.slice(0, used);
}

// ---------------------------------------------------------------------------
// Set algebra: a difference is the two sorted key lists merged, each key both sets
// have subtracted list from list; a union is a normalization (see normalize), an
// intersection a \ (a \ b).

function difference(a: Parts, b: Parts): Parts {
  const keys: string[] = [];
  const at = [0];
  // room for as many numbers as a has, and for the most one key's result can have beyond its own
  let data: Uint32Array = new Uint32Array(a.data.length + maxRun(b));
  let n = 0;
  for (let i = 0, j = 0; i < a.keys.length; i++) {
    const key = a.keys[i]!;
    while (j < b.keys.length && b.keys[j]! < key) j++;
    const [bj, bEnd] = b.keys[j] === key ? [b.at[j]!, b.at[j + 1]!] : [0, 0];
    const [ai, aEnd] = [a.at[i]!, a.at[i + 1]!];
    // a result has at most as many intervals as its two lists together; the estimate extrapolates the size
    if (n + aEnd - ai + bEnd - bj > data.length)
      data = grow(data, n + aEnd - ai + bEnd - bj, (n * a.keys.length) / (i || 1));
    const o = subtract(a.data, ai, aEnd, b.data, bj, bEnd, data, n);
    if (o > n) {
      keys.push(key);
      at.push((n = o));
    }
  }
  return { keys, at, data: trim(data, n) };
}

/** The most numbers one key of the set has. */
function maxRun(p: Parts): number {
  let max = 0;
  for (let k = 1; k < p.at.length; k++) max = Math.max(max, p.at[k]! - p.at[k - 1]!);
  return max;
}

/**
 * The sign of x's bound at i minus y's at j, and the difference itself when it is
 * small (below 2^53): exactly what comparing bounds, and bounds ± 1, takes.
 */
function diff(x: Uint32Array, i: number, y: Uint32Array, j: number): number {
  return x[i] === y[j] ? x[i + 1]! - y[j + 1]! : (x[i]! - y[j]!) * TWO_32 + (x[i + 1]! - y[j + 1]!);
}

/** Writes src's bound at k plus delta (−1, 0 or 1) at out[o]. */
function put(out: Uint32Array, o: number, src: Uint32Array, k: number, delta: number): void {
  const lo = src[k + 1]! + delta;
  out[o] = src[k]! + (lo < 0 ? -1 : lo === TWO_32 ? 1 : 0);
  out[o + 1] = lo;
}

/** a[i, iEnd) \ b[j, jEnd), written at out[o…]; returns where it ends. */
function subtract(
  a: Uint32Array,
  i: number,
  iEnd: number,
  b: Uint32Array,
  j: number,
  jEnd: number,
  out: Uint32Array,
  o: number,
) {
  for (; i < iEnd; i += 4) {
    while (j < jEnd && diff(b, j + 2, a, i) < 0) j += 4; // b's intervals that end before a's starts
    // what is left of a's interval starts at out[o], cut by each of b's that starts within it
    out[o] = a[i]!;
    out[o + 1] = a[i + 1]!;
    let k = j;
    for (; k < jEnd && diff(b, k, a, i + 2) <= 0; k += 4) {
      if (diff(b, k, out, o) > 0) put(out, (o += 4) - 2, b, k, -1);
      if (diff(b, k + 2, a, i + 2) >= 0) break;
      put(out, o, b, k + 2, 1);
    }
    if (k === jEnd || diff(b, k, a, i + 2) > 0) {
      out[o + 2] = a[i + 2]!;
      out[o + 3] = a[i + 3]!;
      o += 4;
    }
  }
  return o;
}

/** Whether the list a[i, iEnd) is within b[j, jEnd). */
function isSubset(a: Uint32Array, i: number, iEnd: number, b: Uint32Array, j: number, jEnd: number): boolean {
  for (; i < iEnd; i += 4) {
    while (j < jEnd && diff(b, j + 2, a, i) < 0) j += 4;
    if (j >= jEnd || diff(b, j, a, i) > 0 || diff(b, j + 2, a, i + 2) < 0) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Text
//
// The text is written as bytes into a buffer of at most OUT_CHUNK bytes, turned
// into a string each time it fills: one string a chunk, joined at the end,
// rather than a string for each number and each interval.

const OUT_CHUNK = 1 << 15;
/** "00" "01" … "99" as bytes: two digits at a time. */
const PAIRS = Uint8Array.from({ length: 200 }, (_, k) => 0x30 + (k & 1 ? (k >> 1) % 10 : Math.floor(k / 20)));

function format({ keys, at, data }: Parts, separator: string): string {
  const decoder = new TextDecoder();
  // room for what a key writes beyond the limit: a separator, a UUID, a tag, and an interval of two 19-digit numbers
  const slack = 2 + 36 + 1 + TAG_MAX_LENGTH + 40;
  const out = new Uint8Array(Math.min(OUT_CHUNK, data.length * 11 + keys.length * 72) + slack);
  const limit = out.length - slack;
  const parts: string[] = [];
  let o = 0;
  let uuid = '';
  const [last, digits] = [new Float64Array([-1, 0, 0, -1, 0]), new Uint8Array(16)];
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k]!;
    if (o > limit) {
      parts.push(decoder.decode(out.subarray(0, o)));
      o = 0;
    }
    // a key writes its UUID, unless the key before was the same UUID untagged or with another tag
    const from = uuid !== '' && key.startsWith(uuid) ? 36 : 0;
    if (from === 0) {
      if (k > 0) for (let s = 0; s < separator.length; s++) out[o++] = separator.charCodeAt(s);
      uuid = key.slice(0, 36);
    }
    for (let s = from; s < key.length; s++) out[o++] = key.charCodeAt(s);
    for (let i = at[k]!; i < at[k + 1]!; i += 4) {
      if (o > limit) {
        parts.push(decoder.decode(out.subarray(0, o)));
        o = 0;
      }
      out[o++] = 0x3a; // :
      o = putNumber(out, o, data[i]!, data[i + 1]!, last, digits);
      if (data[i] !== data[i + 2] || data[i + 1] !== data[i + 3]) {
        out[o++] = 0x2d; // -
        o = putNumber(out, o, data[i + 2]!, data[i + 3]!, last, digits);
      }
    }
  }
  parts.push(decoder.decode(out.subarray(0, o)));
  return parts.length === 1 ? parts[0]! : parts.join('');
}

/**
 * Writes the digits of hi × 2^32 + lo at out[o…]; returns where they end. Consecutive bounds mostly share their hi
 * and their digits but the last nine, so `last` keeps what was worked out for the number before: its hi, the two
 * parts of the split that depend on hi alone, its value div 10^9, and that one's digits (in `digits`).
 */
function putNumber(out: Uint8Array, o: number, hi: number, lo: number, last: Float64Array, digits: Uint8Array) {
  if (hi === 0) {
    if (lo < 1e9) return putDigits(out, o, lo, 0);
    const g = (lo / 1e9) >>> 0; // an integer division, quicker than the general case below
    return putDigits(out, putDigits(out, o, g, 0), lo - g * 1e9, 9);
  }
  if (hi !== last[0]) {
    // value = 10^9 × (4hi + xq × 2^16) + s, from 2^32 = 4 × 10^9 + 294967296, with hi = hh × 2^16 + hl and
    // hh × 294967296 = xq × 10^9 + xr: s = xr × 2^16 + hl × 294967296 + lo, every product and sum below 2^53
    const x = (hi >>> 16) * 294967296;
    const xq = Math.floor(x / 1e9);
    last[0] = hi;
    last[1] = (x - xq * 1e9) * 65536 + (hi & 0xffff) * 294967296;
    last[2] = 4 * hi + xq * 65536;
  }
  const s = last[1]! + lo;
  const sq = Math.floor(s / 1e9);
  const h = last[2]! + sq;
  if (h !== last[3]) {
    const g = Math.floor(h / 1e9);
    last[3] = h;
    last[4] = g === 0 ? putDigits(digits, 0, h, 0) : putDigits(digits, putDigits(digits, 0, g, 0), h - g * 1e9, 9);
  }
  for (let k = 0; k < last[4]!; k++) out[o++] = digits[k]!;
  return putDigits(out, o, s - sq * 1e9, 9);
}

/** Writes n (0 ≤ n < 10^9) at out[o…], in `width` digits (9) or without leading zeros (0); returns the end. */
function putDigits(out: Uint8Array, o: number, n: number, width: number): number {
  n |= 0; // an int32, so that dividing by 100 below is integer arithmetic, several times quicker
  let end = o + (width || 1);
  if (width === 0) for (let t = 10; t <= n; t *= 10) end++;
  let p = end;
  // four digits a step: one division on the chain from digit to digit, the two pairs of the step apart from it
  for (; p > o + 3; p -= 4) {
    const q = (n / 10000) | 0;
    const r = n - q * 10000;
    const r1 = (r / 100) | 0;
    out[p - 1] = PAIRS[(r - r1 * 100) * 2 + 1]!;
    out[p - 2] = PAIRS[(r - r1 * 100) * 2]!;
    out[p - 3] = PAIRS[r1 * 2 + 1]!;
    out[p - 4] = PAIRS[r1 * 2]!;
    n = q;
  }
  for (; p > o + 1; p -= 2) {
    const q = (n / 100) | 0;
    out[p - 1] = PAIRS[(n - q * 100) * 2 + 1]!;
    out[p - 2] = PAIRS[(n - q * 100) * 2]!;
    n = q;
  }
  if (p > o) out[o] = 0x30 + n;
  return end;
}
