/**
 * How a MySQL GTID set is held in memory, and the bound arithmetic the parser,
 * the algebra and the text share. Pure: no Node APIs, no state between calls.
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

export const TAG_MAX_LENGTH = 32;
/** 2^32: a bound is hi × TWO_32 + lo, with 0 ≤ lo < TWO_32. */
export const TWO_32 = 4294967296;

export interface Parts {
  /** Sorted keys, each with at least one interval. */
  readonly keys: readonly string[];
  /** The intervals of keys[k] are data[at[k], at[k + 1]). */
  readonly at: readonly number[];
  readonly data: Uint32Array;
}

/**
 * The sign of x's bound at i minus y's at j, and the difference itself when it is
 * small (below 2^53): exactly what comparing bounds, and bounds ± 1, takes.
 */
export function diff(x: Uint32Array, i: number, y: Uint32Array, j: number): number {
  return x[i] === y[j] ? x[i + 1]! - y[j + 1]! : (x[i]! - y[j]!) * TWO_32 + (x[i + 1]! - y[j + 1]!);
}

/** Writes src's bound at k plus delta (−1, 0 or 1) at out[o]. */
export function put(out: Uint32Array, o: number, src: Uint32Array, k: number, delta: number): void {
  const lo = src[k + 1]! + delta;
  out[o] = src[k]! + (lo < 0 ? -1 : lo === TWO_32 ? 1 : 0);
  out[o + 1] = lo;
}

/**
 * A copy of buf with room for `need` numbers, and for `estimate` if larger: callers extrapolate the final size
 * from their progress, so that a buffer grows about once (fresh memory costs a page fault a page, in a VM).
 */
export function grow(buf: Uint32Array, need: number, estimate: number): Uint32Array {
  const out = new Uint32Array(Math.ceil(Math.max(need, 1.25 * buf.length, 1.15 * estimate, 64)));
  out.set(buf);
  return out;
}

/** buf's used part: a view when it is most of buf, else a copy, so that a set keeps little unused memory. */
export function trim(buf: Uint32Array, used: number): Uint32Array {
  return used >= buf.length * 0.75 ? buf.subarray(0, used) : buf.slice(0, used);
}
