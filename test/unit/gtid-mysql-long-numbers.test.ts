import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MysqlGtidSet } from '../../common/gtid/index.js';

const UUID = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const MAX = 2n ** 63n - 2n;

/** Canonical text of sorted, disjoint, non-adjacent intervals, built with BigInt as the reference. */
function canonical(numbers: bigint[]): string {
  const sorted = [...new Set(numbers)].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
  const merged: Array<[bigint, bigint]> = [];
  for (let j = 0; j + 1 < sorted.length; j += 2) {
    const last = merged[merged.length - 1];
    if (last && sorted[j]! <= last[1] + 1n) last[1] = sorted[j + 1]!;
    else merged.push([sorted[j]!, sorted[j + 1]!]);
  }
  return merged.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(':');
}

// The parser reuses the first 13 digits of the last long number when the next one starts with the same bytes:
// numbers of 13 to 19 digits sharing (or nearly sharing) such a prefix must still read exactly.
describe('MySQL GTID numbers of 13 to 19 digits sharing leading digits', () => {
  const prefixes = fc.array(fc.bigInt({ min: 10n ** 12n, max: 10n ** 13n - 1n }), { minLength: 1, maxLength: 3 });
  const numbers = prefixes.chain((heads) =>
    fc.array(
      fc.oneof(
        fc
          .tuple(fc.constantFrom(...heads), fc.integer({ min: 0, max: 6 }), fc.bigInt({ min: 0n, max: 999_999n }))
          .map(([head, extra, tail]) => {
            const v = BigInt(`${head}${tail.toString().padStart(6, '0').slice(0, extra)}`);
            return v > MAX ? MAX : v;
          }),
        fc.bigInt({ min: 1n, max: MAX }),
      ),
      { minLength: 2, maxLength: 24 },
    ),
  );

  it('round-trips canonical text, in order and reversed', () => {
    fc.assert(
      fc.property(numbers, (ns) => {
        const text = canonical(ns);
        if (text === '') return;
        expect(MysqlGtidSet.parse(`${UUID}:${text}`).toString()).toBe(`${UUID}:${text}`);
        const reversed = `${UUID}:${text.split(':').reverse().join(':')}`;
        expect(MysqlGtidSet.parse(reversed).toString()).toBe(`${UUID}:${text}`);
      }),
      { numRuns: 2000 },
    );
  });

  it('counts exactly where consecutive bounds share their first 13 digits', () => {
    const set = MysqlGtidSet.parse(
      `${UUID}:1152921504606846977-1152921504606846983:1152921504606846990-1152921504606847001`,
    );
    expect(set.count()).toBe(7n + 12n);
    expect(set.toString()).toBe(
      `${UUID}:1152921504606846977-1152921504606846983:1152921504606846990-1152921504606847001`,
    );
  });
});
