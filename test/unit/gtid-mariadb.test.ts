import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeMissing, GtidParseError, MariadbGtidSet, parseGtidSet } from '../../common/gtid/index.js';
import { mariadbGtidText } from '../support/gtid-arbitraries.js';

const p = (t: string) => MariadbGtidSet.parse(t);

describe('MariaDB GTID positions', () => {
  it.each([
    ['', ''],
    ['1-2-5,0-1-100', '0-1-100,1-2-5'],
    ['00-01-0100', '0-1-100'],
    ['0-+1-\t1', '0-1-1'],
    ['0-1-1,\n1-1-1', '0-1-1,1-1-1'],
    ['4294967295-4294967295-18446744073709551615', '4294967295-4294967295-18446744073709551615'],
  ])('given %j, format() gives MariaDB canonical %j', (input, canonical) => {
    expect(p(input).toString()).toBe(canonical);
  });

  it.each([
    ['0-1-100,0-2-101', /conflict \(duplicate domain id 0\)/],
    ['4294967296-1-1', /domain id out of range/],
    ['0-1-18446744073709551616', /sequence number out of range/],
    ['0-1', /Expected "-"/],
    ['0-1-1,', /Expected domain id/],
    [' 0-1-1 ', /Expected ","/],
    ['-1-1-1', /Expected domain id at position 0/],
  ])('given malformed %j, should throw GtidParseError saying %s', (input, message) => {
    expect(() => p(input)).toThrow(GtidParseError);
    expect(() => p(input)).toThrow(message);
  });

  it('compares per domain by sequence number, as MASTER_GTID_WAIT does', () => {
    const pos = p('0-1-100,1-2-5');
    expect(p('0-1-99').isSubsetOf(pos)).toBe(true);
    expect(p('0-9-100').isSubsetOf(pos)).toBe(true);
    expect(p('0-1-101').isSubsetOf(pos)).toBe(false);
    expect(p('2-1-1').isSubsetOf(pos)).toBe(false);
    expect(describeMissing(p('0-1-120,1-2-5'), pos, 'new instance')).toBe('new instance lacks 0-1-120');
    expect(parseGtidSet('mariadb', '0-1-5').flavor).toBe('mariadb');
  });

  it('union, intersect and subtract are consistent with the order', () => {
    const set = mariadbGtidText.map(p);
    fc.assert(
      fc.property(set, set, (a, b) => {
        expect(a.isSubsetOf(a.union(b)) && b.isSubsetOf(a.union(b))).toBe(true);
        expect(a.intersect(b).isSubsetOf(a) && a.intersect(b).isSubsetOf(b)).toBe(true);
        expect(a.subtract(b).isEmpty()).toBe(a.isSubsetOf(b));
        expect(p(a.toString()).equals(a)).toBe(true);
      }),
      { numRuns: 400 },
    );
  });
});
