/**
 * Reading MySQL GTID text into a set's parts, exactly as MySQL 9.x reads it:
 * what it accepts, its leniencies, and its errors in its words at its positions.
 *
 * Grammar accepted (what MySQL's own parser accepts, including its leniencies):
 *   set      := ws ( ','* ws member ws )*            -- empty members are skipped
 *   member   := uuid ws ( ':' ws ( interval | tag ) ws )*
 *   uuid     := 8-4-4-4-12 hex digits | the same inside '{' '}' | 32 hex digits
 *   interval := number ws ( '-' ws number )?         -- start > end is an empty interval
 *   tag      := [A-Za-z_][A-Za-z0-9_]{0,31}          -- applies to the intervals after it
 *
 * The parser reads the text as bytes (one per UTF-16 unit, so positions are the
 * text's), with a 0 byte past the end that matches no character class: scanning
 * loops stop there without a bounds check. A long text is read a chunk at a time,
 * each chunk ending where a ',' begins (never inside a member: ',' only separates
 * members), so a few KiB of bytes are reused rather than a copy of the whole text
 * made, which would touch as many fresh pages as the text is long.
 */
import { GtidParseError } from './errors.js';
import { normalize } from './mysql-algebra.js';
import { diff, grow, type Parts, TAG_MAX_LENGTH, TWO_32, trim } from './mysql-intervals.js';

/** The largest sequence number MySQL accepts (2^63 − 2, MYSQL_GNO_MAX), as (hi, lo). */
const GNO_MAX_HI = 0x7fffffff;
const GNO_MAX_LO = 0xfffffffe;
/** MySQL reads each number as an unsigned 64-bit integer before checking the interval bounds. */
const UINT64_MAX_HI = 0xffffffff;

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
/** 1 / SPLIT[m], exact (a power of 2): multiplying by it is the division, without a division's latency. */
const SPLIT_INVERSE = SPLIT.map((s) => 1 / s);
const TWO_32_INVERSE = 1 / TWO_32;

/**
 * Parses the whole text into the intervals of each key, in input order. When the
 * keys come sorted and each one's intervals sorted and apart (canonical text, the
 * usual case) that is the set; otherwise normalize() sorts and merges.
 */
export function parseText(text: string): Parts {
  const len = text.length;
  // the chunk in b: text[base, base + bLength), then a 0
  let b = new Uint8Array(Math.min(len, 2 * CHUNK) + 1);
  let view = new DataView(b.buffer);
  // the last number of 14 digits or more: where in b its first 13 digits are (−1: none in this chunk), their
  // value, and the head last converted, split for its m (see below); consecutive bounds share them
  let headAt = -1;
  let headValue = -1;
  let splitHead = -1;
  let splitM = -1;
  let splitHigh = 0;
  let splitRest = 0;
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
      if (bLength >= b.length) {
        b = new Uint8Array(bLength + 1); // a member longer than a chunk
        view = new DataView(b.buffer);
      }
      toBytes(text, base, cut, b);
      headAt = -1;
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
          if (
            headAt >= 0 &&
            from + 13 <= bLength &&
            view.getUint32(from, true) === view.getUint32(headAt, true) &&
            view.getUint32(from + 4, true) === view.getUint32(headAt + 4, true) &&
            view.getUint32(from + 8, true) === view.getUint32(headAt + 8, true) &&
            b[from + 12] === b[headAt + 12]
          ) {
            // the same first 13 digits as the last long number: its head, without reading them again
            head = headValue;
            value = 0;
            i = from + 13;
          }
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
              headAt = from;
              headValue = head;
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
            if (head < 0 || head !== splitHead || m !== splitM) {
              const hh = Math.floor(h * SPLIT_INVERSE[m]!);
              splitHigh = hh * POW5[m]!;
              splitRest = (h - hh * SPLIT[m]!) * POW10[m]!;
              // kept only for a head, which the next long number may share
              splitHead = head;
              splitM = m;
            }
            const rest = splitRest + (head < 0 ? 0 : value);
            const carry = Math.floor(rest * TWO_32_INVERSE);
            hi = splitHigh + carry;
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
