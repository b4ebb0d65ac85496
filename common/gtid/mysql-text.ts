/**
 * MySQL's canonical GTID text of a set's parts: UUIDs lower-case and sorted,
 * untagged intervals before tags, each interval `start-end` (or `n` alone).
 *
 * The text is written as bytes into a buffer of at most OUT_CHUNK bytes, turned
 * into a string each time it fills: one string a chunk, joined at the end,
 * rather than a string for each number and each interval.
 */
import { type Parts, TAG_MAX_LENGTH } from './mysql-intervals.js';

const OUT_CHUNK = 1 << 15;
/** "00" "01" … "99" as bytes: two digits at a time. */
const PAIRS = Uint8Array.from({ length: 200 }, (_, k) => 0x30 + (k & 1 ? (k >> 1) % 10 : Math.floor(k / 20)));

export function format({ keys, at, data }: Parts, separator: string): string {
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
