/**
 * Set algebra on MySQL GTID sets' parts: a difference is the two sorted key lists
 * merged, each key both sets have subtracted list from list; a union is a
 * normalization (see normalize), an intersection a \ (a \ b). Pure: no state
 * between calls.
 */
import { diff, grow, type Parts, put, trim } from './mysql-intervals.js';

/** Sorts and merges each key's intervals (given in input order, each start ≤ end), for text that is not canonical. */
export function normalize(keys: readonly string[], at: readonly number[], data: Uint32Array): Parts {
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

export function difference(a: Parts, b: Parts): Parts {
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
    // a's interval in locals: each of b's bounds is compared with them, (hi, lo) pair against pair
    const sHi = a[i]!;
    const sLo = a[i + 1]!;
    const eHi = a[i + 2]!;
    const eLo = a[i + 3]!;
    // b's intervals that end before a's starts
    while (j < jEnd && (b[j + 2]! < sHi || (b[j + 2] === sHi && b[j + 3]! < sLo))) j += 4;
    // what is left of a's interval starts at out[o], cut by each of b's that starts within it
    out[o] = sHi;
    out[o + 1] = sLo;
    let k = j;
    for (; k < jEnd && (b[k]! < eHi || (b[k] === eHi && b[k + 1]! <= eLo)); k += 4) {
      if (diff(b, k, out, o) > 0) put(out, (o += 4) - 2, b, k, -1);
      if (b[k + 2]! > eHi || (b[k + 2] === eHi && b[k + 3]! >= eLo)) break;
      put(out, o, b, k + 2, 1);
    }
    if (k === jEnd || b[k]! > eHi || (b[k] === eHi && b[k + 1]! > eLo)) {
      out[o + 2] = eHi;
      out[o + 3] = eLo;
      o += 4;
    }
  }
  return o;
}

/** Whether the list a[i, iEnd) is within b[j, jEnd). */
export function isSubset(a: Uint32Array, i: number, iEnd: number, b: Uint32Array, j: number, jEnd: number): boolean {
  for (; i < iEnd; i += 4) {
    while (j < jEnd && diff(b, j + 2, a, i) < 0) j += 4;
    if (j >= jEnd || diff(b, j, a, i) > 0 || diff(b, j + 2, a, i + 2) < 0) return false;
  }
  return true;
}
