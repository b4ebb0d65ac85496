import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  describeMissing,
  GtidError,
  GtidParseError,
  MariadbGtidSet,
  MYSQL_GNO_MAX,
  MysqlGtidSet,
  parseGtidSet,
} from '../../common/gtid/index.js';
import { mysqlGtidText } from '../support/gtid-arbitraries.js';

const U = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const V = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const p = (t: string) => MysqlGtidSet.parse(t);

describe('MySQL GTID text', () => {
  it.each([
    ['', ''],
    ['  \n', ''],
    [`${U.toUpperCase()}:1-5:7`, `${U}:1-5:7`],
    [`${V}:3,${U}:7`, `${U}:7,\n${V}:3`],
    [`${U}:7:1-5:6`, `${U}:1-7`],
    [`${U}:1-3,${U}:2-8`, `${U}:1-8`],
    [`${U}:tag_b:1-3:TAG_A:5:1-2`, `${U}:tag_a:1-2:5:tag_b:1-3`],
    [`${U}:1,${U}:t:2`, `${U}:1:t:2`],
    [`{${U}}:1`, `${U}:1`],
    [`${U.replaceAll('-', '')}:1`, `${U}:1`],
    [`${U} : 1 - 5 , , ${V}:01`, `${U}:1-5,\n${V}:1`],
    [`${U}:5-3`, ''],
    [`${U}:a:b:1`, `${U}:b:1`],
    [`${U}`, ''],
    [`${U}:1-${MYSQL_GNO_MAX}`, `${U}:1-${MYSQL_GNO_MAX}`],
  ])('given %j, format() gives MySQL canonical %j', (input, canonical) => {
    expect(p(input).toString()).toBe(canonical);
  });

  it.each([
    [`${U}:0`, 37, 'Interval start out of range'],
    [`${U}:${MYSQL_GNO_MAX + 1n}`, 37, 'Interval start out of range'],
    [`${U}:1-${MYSQL_GNO_MAX + 1n}`, 58, 'Interval end out of range'],
    [`${U}:99999999999999999999`, 37, 'Number out of range'],
    [`${U}:1 ${V}:1`, 39, 'Expected ","'],
    [`${U}::1`, 37, 'Expected number'],
    [`${U}:1:`, 39, 'Expected number'],
    [`${U}:abcdefghijabcdefghijabcdefghij123:1`, 37, 'Expected number'],
    [`{${U}:1`, 37, 'Expected "}"'],
    [`zz${U.slice(2)}:1`, 0, 'Expected hex digit'],
    [`${U}:+1`, 37, 'Expected number'],
  ])('given malformed %j, should throw GtidParseError at %i: %s', (input, position, reason) => {
    const err = (() => {
      try {
        p(input);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(GtidParseError);
    expect(err).toMatchObject({ position, reason, input });
    expect((err as Error).message).toContain(`${reason} at position ${position}`);
  });
});

describe('MySQL GTID algebra', () => {
  it('given the runbook conditions, should decide as the runbook says', () => {
    const S = p(`${U}:1-100`);
    const P = p(`${U}:1-50`);
    const E = p(`${U}:1-150`);
    expect(P.isSubsetOf(S) && S.isSubsetOf(E)).toBe(true);
    expect(p(`${U}:1-120`).isSubsetOf(S)).toBe(false); // purged beyond what DM applied
    expect(describeMissing(p(`${U}:1-150`), p(`${U}:1-100`), 'new instance')).toBe(`new instance lacks ${U}:101-150`);
    expect(describeMissing(S, E, 'new instance')).toBeNull();
  });

  it('counts transactions, with bigint precision at the top of the range', () => {
    expect(p(`${U}:1-5:7,${V}:${MYSQL_GNO_MAX - 1n}-${MYSQL_GNO_MAX}`).count()).toBe(8n);
  });

  it('given sets of different flavors, should refuse to combine them', () => {
    expect(() => p(`${U}:1`).isSubsetOf(MariadbGtidSet.parse('0-1-1'))).toThrow(GtidError);
    expect(() => parseGtidSet('percona' as never, '')).toThrow(/unknown GTID flavor/);
  });

  const set = mysqlGtidText.map(p);
  const laws = { numRuns: 400 };

  it('format and parse round-trip', () => {
    fc.assert(
      fc.property(set, (a) => p(a.toString()).equals(a) && p(a.toString()).toString() === a.toString()),
      laws,
    );
  });
  it('union is commutative and associative; intersection commutative', () => {
    fc.assert(
      fc.property(set, set, set, (a, b, c) => {
        expect(a.union(b).toString()).toBe(b.union(a).toString());
        expect(a.union(b).union(c).toString()).toBe(a.union(b.union(c)).toString());
        expect(a.intersect(b).toString()).toBe(b.intersect(a).toString());
      }),
      laws,
    );
  });
  it('subset agrees with subtract, union and intersect', () => {
    fc.assert(
      fc.property(set, set, (a, b) => {
        const sub = a.isSubsetOf(b);
        expect(a.subtract(b).isEmpty()).toBe(sub);
        expect(a.union(b).equals(b)).toBe(sub);
        expect(a.intersect(b).equals(a)).toBe(sub);
        expect(a.isSubsetOf(a.union(b))).toBe(true);
        expect(a.intersect(b).isSubsetOf(a)).toBe(true);
      }),
      laws,
    );
  });
  it('a \\ b and a ∩ b partition a', () => {
    fc.assert(
      fc.property(set, set, (a, b) => {
        expect(a.subtract(b).intersect(b).isEmpty()).toBe(true);
        expect(a.subtract(b).union(a.intersect(b)).equals(a)).toBe(true);
        expect(a.union(b).count()).toBe(a.count() + b.count() - a.intersect(b).count());
      }),
      laws,
    );
  });
  it('a \\ (b ∪ c) = (a \\ b) \\ c', () => {
    fc.assert(
      fc.property(set, set, set, (a, b, c) => a.subtract(b.union(c)).equals(a.subtract(b).subtract(c))),
      laws,
    );
  });
});

describe('MySQL GTID sequence numbers past 2^53 and long texts', () => {
  const SAFE = 2n ** 53n - 1n; // the largest exact double: lists past it take another encoding
  const at = (t: string) => {
    try {
      p(t);
    } catch (e) {
      return e instanceof GtidParseError ? `${e.reason} at ${e.position}` : e;
    }
    return 'ok';
  };

  it.each([
    [`${U}:${SAFE}`, `${U}:${SAFE}`],
    [`${U}:${SAFE + 1n}`, `${U}:${SAFE + 1n}`],
    [`${U}:${SAFE - 1n}-${SAFE + 2n}`, `${U}:${SAFE - 1n}-${SAFE + 2n}`],
    [`${U}:1-${SAFE}:${SAFE + 1n}-${SAFE + 5n}`, `${U}:1-${SAFE + 5n}`], // adjacent across 2^53: merged
    [`${U}:${SAFE + 1n}-${SAFE + 5n}:1-${SAFE}`, `${U}:1-${SAFE + 5n}`], // the same, unsorted
    [`${U}:${SAFE + 1n}-${SAFE}`, ''], // reversed across 2^53
    [`${U}:${MYSQL_GNO_MAX}:1`, `${U}:1:${MYSQL_GNO_MAX}`],
    [`${U}:9223372036000000001-9223372036000000003`, `${U}:9223372036000000001-9223372036000000003`], // low part printed with its zeros
    [
      `${U}:1152921504999999999-1152921505000000001:1152921505000000002`,
      `${U}:1152921504999999999-1152921505000000002`,
    ], // carry between the parts
    [`${U}:999999999-1000000001:1000000002-1000000005`, `${U}:999999999-1000000005`],
    [`${U}:000000000000000000000${SAFE + 2n}`, `${U}:${SAFE + 2n}`], // leading zeros
    [`${U}:0000000000000000000000000001-00000000000000000000009`, `${U}:1-9`],
    [`${U}:1000000000000000-1000000000000000`, `${U}:1000000000000000`], // 16 digits, below 2^53
    [`${U}:${SAFE + 1n}:a:1:${SAFE + 9n},${U}:a:${SAFE + 3n}`, `${U}:${SAFE + 1n}:a:1:${SAFE + 3n}:${SAFE + 9n}`],
  ])('given %j, format() gives %j', (input, canonical) => {
    expect(p(input).toString()).toBe(canonical);
    expect(p(canonical).equals(p(input))).toBe(true);
  });

  it.each([
    [`${U}:18446744073709551615`, 'Interval start out of range at 37'], // 2^64 − 1: a number, but past the range
    [`${U}:18446744073709551616`, 'Number out of range at 37'],
    [`${U}:0018446744073709551616`, 'Number out of range at 37'],
    [`${U}:123456789012345678901`, 'Number out of range at 37'],
    [`${U}:1-18446744073709551615 :2`, 'Interval end out of range at 60'], // checked after the whitespace
    [`${U}:1-18446744073709551616`, 'Number out of range at 39'],
    [`${U}:1-${MYSQL_GNO_MAX + 1n}`, 'Interval end out of range at 58'],
    [`${U}:${MYSQL_GNO_MAX}-${MYSQL_GNO_MAX}`, 'ok'],
    [`${U}:00000000000000000000000000000000000`, 'Interval start out of range at 37'],
  ])('given %j, should answer %j', (input, verdict) => {
    expect(at(input)).toBe(verdict);
  });

  it('counts exactly across encodings', () => {
    expect(p(`${U}:1-${MYSQL_GNO_MAX}`).count()).toBe(MYSQL_GNO_MAX);
    expect(p(`${U}:1-5:${SAFE + 2n}-${SAFE + 8n},${V}:${SAFE}`).count()).toBe(13n);
    expect(p(`${U}:1152921504999999998-1152921505000000001`).count()).toBe(4n);
  });

  it('combines small-number lists with large-number ones', () => {
    const small = p(`${U}:1-100,${V}:7`);
    const large = p(`${U}:50-${SAFE + 2n},${V}:${MYSQL_GNO_MAX}`);
    expect(small.union(large).toString()).toBe(`${U}:1-${SAFE + 2n},\n${V}:7:${MYSQL_GNO_MAX}`);
    expect(large.union(small).toString()).toBe(small.union(large).toString());
    // a result without large numbers is a small-number list again, equal to the same set parsed
    expect(small.intersect(large).toString()).toBe(`${U}:50-100`);
    expect(small.intersect(large).equals(p(`${U}:50-100`))).toBe(true);
    expect(large.intersect(small).equals(p(`${U}:50-100`))).toBe(true);
    expect(small.subtract(large).toString()).toBe(`${U}:1-49,\n${V}:7`);
    expect(small.subtract(large).equals(p(`${U}:1-49,${V}:7`))).toBe(true);
    expect(large.subtract(small).toString()).toBe(`${U}:101-${SAFE + 2n},\n${V}:${MYSQL_GNO_MAX}`);
    expect(
      p(`${U}:1-${SAFE + 2n}`)
        .subtract(p(`${U}:${SAFE + 1n}-${SAFE + 2n}`))
        .equals(p(`${U}:1-${SAFE}`)),
    ).toBe(true);
    expect(p(`${U}:60-70`).isSubsetOf(large)).toBe(true);
    expect(small.isSubsetOf(large)).toBe(false);
    expect(large.isSubsetOf(small)).toBe(false);
    expect(large.isSubsetOf(p(`${U}:1-${MYSQL_GNO_MAX},${V}:1-${MYSQL_GNO_MAX}`))).toBe(true);
    expect(p(`${U}:${SAFE + 1n}`).equals(p(`${U}:${SAFE}`))).toBe(false);
    expect(p(`${U}:${SAFE}`).isSubsetOf(p(`${U}:${SAFE + 1n}`))).toBe(false);
    expect(p(`${U}:${SAFE + 1n}`).isSubsetOf(p(`${U}:${SAFE}`))).toBe(false);
    expect(
      p(`${U}:${SAFE}-${SAFE + 1n}`)
        .subtract(p(`${U}:${SAFE}`))
        .toString(),
    ).toBe(`${U}:${SAFE + 1n}`);
    expect(
      p(`${U}:${SAFE}-${SAFE + 1n}`)
        .subtract(p(`${U}:${SAFE + 1n}`))
        .equals(p(`${U}:${SAFE}`)),
    ).toBe(true);
  });

  it('keeps numbers exact across the 2^32 split of large-number lists, in text and in set operations', () => {
    // bounds near multiples of 2^32 (where a large-number list carries from its low half) and of 10^9, and 14 to 19 digits
    // long; both sets of a pair draw theirs near the same few points, so that they meet
    const point = fc
      .oneof(
        fc.bigInt(1n, 1n << 31n).map((k) => k << 32n),
        fc.bigInt(1n, 9_223_372_036n).map((k) => k * 1_000_000_000n),
        fc.integer({ min: 13, max: 18 }).chain((e) => fc.bigInt(10n ** BigInt(e), 10n ** BigInt(e + 1) - 1n)),
      )
      .filter((n) => n > 8n && n <= MYSQL_GNO_MAX - 16n);
    const lists = (points: bigint[]) => {
      const interval = fc
        .tuple(fc.constantFrom(...points), fc.bigInt(-8n, 8n), fc.bigInt(0n, 6n))
        .map(([at, d, w]) => [at + d, at + d + w] as const);
      const list = fc.array(interval, { maxLength: 5 });
      return fc.tuple(list, list);
    };
    // the reference: each GTID of the list, as a sorted array of bigints (lists are short and intervals narrow)
    const gtids = (l: ReadonlyArray<readonly [bigint, bigint]>) => {
      const all = new Set<bigint>();
      for (const [s, e] of l) for (let n = s; n <= e; n++) all.add(n);
      return [...all].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
    };
    const canonical = (ns: bigint[]) => {
      let out = '';
      for (let k = 0; k < ns.length;) {
        let j = k;
        while (j + 1 < ns.length && ns[j + 1] === ns[j]! + 1n) j++;
        out += ns[j] === ns[k] ? `:${ns[k]}` : `:${ns[k]}-${ns[j]}`;
        k = j + 1;
      }
      return out === '' ? '' : `${U}${out}`;
    };
    const text = (l: ReadonlyArray<readonly [bigint, bigint]>, zeros: number) =>
      `${U}${l.map(([s, e]) => `:${'0'.repeat(zeros)}${s}-${e}`).join('')}`;
    fc.assert(
      fc.property(fc.array(point, { minLength: 1, maxLength: 3 }).chain(lists), fc.nat(3), ([a, b], zeros) => {
        const A = p(text(a, zeros));
        const B = p(text(b, 0));
        const ga = gtids(a);
        const gb = gtids(b);
        expect(A.toString()).toBe(canonical(ga));
        expect(A.count()).toBe(BigInt(ga.length));
        expect(A.union(B).toString()).toBe(canonical(gtids([...a, ...b])));
        expect(A.subtract(B).toString()).toBe(canonical(ga.filter((n) => !gb.includes(n))));
        expect(A.intersect(B).toString()).toBe(canonical(ga.filter((n) => gb.includes(n))));
        expect(A.isSubsetOf(B)).toBe(ga.every((n) => gb.includes(n)));
        expect(A.union(B).equals(p(canonical(gtids([...a, ...b]))))).toBe(true);
      }),
      { seed: 20261206, numRuns: 2000 },
    );
  });

  it('reads texts longer than its chunks: members, errors and positions anywhere', () => {
    const uuid = (n: number) => `3e11fa47-71ca-11e1-9e33-${n.toString(16).padStart(12, '0')}`;
    const members = Array.from({ length: 6000 }, (_, n) => `${uuid(n)}:1-${n + 2}:${SAFE + BigInt(n)}`);
    const text = members.join(',\n');
    expect(text.length).toBeGreaterThan(5 * 65536);
    const set = p(text);
    expect(set.uuids()).toHaveLength(6000);
    expect(set.toString()).toBe([...members].sort().join(',\n'));
    expect(set.count()).toBe(BigInt((6000 * 5999) / 2 + 2 * 6000 + 6000));
    // one member longer than two chunks
    const long = `${U}:${Array.from({ length: 40000 }, (_, k) => `${3 * k + 1}-${3 * k + 2}`).join(':')}`;
    expect(p(long).count()).toBe(80000n);
    expect(p(`${text},${long}`).count()).toBe(set.count() + 80000n);
    // malformed far into the text, at the server's positions
    const cut = text.indexOf(',\n', 200000) + 2; // the start of a member's UUID
    expect(at(`${text.slice(0, cut)}zz${text.slice(cut + 2)}`)).toBe(`Expected hex digit at ${cut}`);
    expect(at(`${text.slice(0, cut - 2)} x${text.slice(cut - 2)}`)).toBe(`Expected "," at ${cut - 1}`);
    expect(at(`${text.slice(0, cut)}${uuid(1)}:é,${text.slice(cut)}`)).toBe(`Expected number at ${cut + 37}`);
    expect(at(`${text},${U.slice(0, -1)}`)).toBe(`Expected at least two hex digits at ${text.length + 1 + 34}`);
    expect(at(`${text},${U}:99999999999999999999`)).toBe(`Number out of range at ${text.length + 1 + 37}`);
    expect(at(`${text},${U}:1-${MYSQL_GNO_MAX + 1n}`)).toBe(`Interval end out of range at ${text.length + 1 + 58}`);
  });
});
