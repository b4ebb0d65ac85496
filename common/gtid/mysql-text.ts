/**
 * MySQL's canonical GTID text of a set's parts: UUIDs lower-case and sorted,
 * untagged intervals before tags, each interval `start-end` (or `n` alone).
 *
 * The text is written as bytes into one buffer sized for the longest text the set
 * can have, then turned into a string at once (one copy, rather than a string for
 * each number, or chunks joined afterwards). Digits are written four at a time, as
 * one 32-bit store of four ASCII bytes looked up in QUADS.
 */
import type { Parts } from './mysql-intervals.js';

/** The four digits of k (0 ≤ k < 10^4), leading zeros kept, as a little-endian 32-bit word of their ASCII bytes. */
const QUADS = Uint32Array.from(
  { length: 10_000 },
  (_, k) =>
    0x30 +
    Math.floor(k / 1000) +
    (0x30 + (Math.floor(k / 100) % 10)) * 0x100 +
    (0x30 + (Math.floor(k / 10) % 10)) * 0x10000 +
    (0x30 + (k % 10)) * 0x1000000,
);
/**
 * Room for the bytes a store writes past the end of the text: a four-byte store of a number's last digits (up to
 * 3 bytes past them), or a bound's cached leading digits (12 bytes at most 4 past them), written over by what
 * follows or never read.
 */
const SLACK = 16;

/**
 * Bytes to string: Node's Buffer makes a one-byte string from latin1 bytes about eight times faster than
 * TextDecoder checks and decodes UTF-8 (4 MB: ~0.4 ms against ~3 ms); where there is no Buffer (Temporal's
 * workflow sandbox), TextDecoder. The text is ASCII, so both give the same string.
 */
interface Latin1Bytes {
  toString(encoding: 'latin1', start: number, end: number): string;
}
const nodeBuffer = (globalThis as { Buffer?: { from(b: ArrayBuffer, at: number, n: number): Latin1Bytes } }).Buffer;
function decode(bytes: Uint8Array, length: number): string {
  if (nodeBuffer)
    return nodeBuffer.from(bytes.buffer as ArrayBuffer, bytes.byteOffset, length).toString('latin1', 0, length);
  return new TextDecoder().decode(bytes.subarray(0, length));
}

export function format({ keys, at, data }: Parts, separator: string): string {
  // room for the longest text the set can have: each key with its separator, each interval as two 19-digit
  // numbers, and the bytes a four-byte store writes past the end; pages never written cost nothing
  let size = SLACK + (data.length / 4) * 40;
  for (const key of keys) size += separator.length + key.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  // what the bound written last worked out, for the next one (see putBound)
  const last = new Float64Array([-1, 0, 0, -1, 0, 0, 0, 0]);
  let o = 0;
  let uuid = '';
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k]!;
    // a key writes its UUID, unless the key before was the same UUID untagged or with another tag
    const from = uuid !== '' && key.startsWith(uuid) ? 36 : 0;
    if (from === 0) {
      if (k > 0) for (let s = 0; s < separator.length; s++) out[o++] = separator.charCodeAt(s);
      uuid = key.slice(0, 36);
    }
    for (let s = from; s < key.length; s++) out[o++] = key.charCodeAt(s);
    for (let i = at[k]!; i < at[k + 1]!; i += 4) {
      out[o++] = 0x3a; // :
      const [startHi, startLo, endHi, endLo] = [data[i]!, data[i + 1]!, data[i + 2]!, data[i + 3]!];
      o = startHi === 0 ? putUint(view, o, startLo) : putBound(view, o, startHi, startLo, last);
      if (startLo !== endLo || startHi !== endHi) {
        out[o++] = 0x2d; // -
        o = endHi === 0 ? putUint(view, o, endLo) : putBound(view, o, endHi, endLo, last);
      }
    }
  }
  return decode(out, o);
}

/** Writes n (0 ≤ n < 2^32) without leading zeros at o; returns where its digits end. */
function putUint(v: DataView, o: number, n: number): number {
  if (n < 10_000) return putShort(v, o, n);
  if (n < 100_000_000) {
    const q = (n / 10_000) | 0;
    o = putShort(v, o, q);
    v.setUint32(o, QUADS[n - q * 10_000]!, true);
    return o + 4;
  }
  const q = Math.floor(n / 100_000_000);
  return put8(v, putShort(v, o, q), n - q * 100_000_000);
}

/** Writes n (0 ≤ n < 10^4) without leading zeros at o, in one store of four bytes; returns where its digits end. */
function putShort(v: DataView, o: number, n: number): number {
  const length = n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : 4;
  // the last `length` digits of the four moved to the first bytes; the bytes after them are written over next
  v.setUint32(o, QUADS[n]! >>> (32 - 8 * length), true);
  return o + length;
}

/** Writes n (0 ≤ n < 10^8) in exactly eight digits at o; returns o + 8. */
function put8(v: DataView, o: number, n: number): number {
  const q = (n / 10_000) | 0;
  v.setUint32(o, QUADS[q]!, true);
  v.setUint32(o + 4, QUADS[n - q * 10_000]!, true);
  return o + 8;
}

/**
 * Writes hi × 2^32 + lo (hi > 0) at o as q × 10^8 + r: q's digits, then r's eight; returns where they end.
 * With 2^32 = 42 × 10^8 + 94967296, hi = hh × 2^16 + hl and hh × 94967296 = xq × 10^8 + xr, the value is
 * 10^8 × (42 hi + 2^16 xq) + (2^16 xr + hl × 94967296 + lo), every product and sum below 2^53. Consecutive bounds
 * mostly share hi and q, so `last` keeps hi, the two terms that depend on it alone, q, q's length and its digits
 * as three words, and a bound that shares them only works out and writes r.
 */
function putBound(v: DataView, o: number, hi: number, lo: number, last: Float64Array): number {
  if (hi !== last[0]) {
    const x = (hi >>> 16) * 94_967_296;
    const xq = Math.floor(x / 100_000_000);
    last[0] = hi;
    last[1] = 42 * hi + xq * 65_536;
    last[2] = (x - xq * 100_000_000) * 65_536 + (hi & 0xffff) * 94_967_296;
  }
  const s = last[2]! + lo;
  const sq = Math.floor(s / 100_000_000);
  const q = last[1]! + sq;
  if (q !== last[3]) {
    // q < 2^63 / 10^8 < 10^11: at most three digits, then eight
    const qq = Math.floor(q / 100_000_000);
    const end = qq === 0 ? putUint(v, o, q) : put8(v, putShort(v, o, qq), q - qq * 100_000_000);
    last[3] = q;
    last[4] = end - o;
    last[5] = v.getUint32(o, true);
    last[6] = v.getUint32(o + 4, true);
    last[7] = v.getUint32(o + 8, true);
  } else {
    v.setUint32(o, last[5]!, true);
    v.setUint32(o + 4, last[6]!, true);
    v.setUint32(o + 8, last[7]!, true);
  }
  // `| 0`: the length read from the Float64Array is a double, and a double offset would make every index after it
  // (here and in format's loop) a double too, ~10% of the writing
  return put8(v, o + (last[4]! | 0), s - sq * 100_000_000);
}
