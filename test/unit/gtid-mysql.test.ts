import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeMissing, GtidError, GtidParseError, MariadbGtidSet, MYSQL_GNO_MAX, MysqlGtidSet, parseGtidSet } from '../../common/gtid/index.js';
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
  it('given the runbook conditions, should decide as DESIGN.md says', () => {
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
    fc.assert(fc.property(set, (a) => p(a.toString()).equals(a) && p(a.toString()).toString() === a.toString()), laws);
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
    fc.assert(fc.property(set, set, set, (a, b, c) => a.subtract(b.union(c)).equals(a.subtract(b).subtract(c))), laws);
  });
});
