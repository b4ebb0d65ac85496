/**
 * fast-check generators of GTID text, in the shapes that stress a parser and
 * the interval algebra: several UUIDs written every way MySQL accepts, tags,
 * overlapping, adjacent and reversed intervals, numbers at both ends of the
 * range, whitespace and empty members. Shared by the property tests and the
 * differential tests against real servers.
 */
import fc from 'fast-check';
import { MYSQL_GNO_MAX } from '../../common/gtid/index.js';

/** A few UUIDs so that generated pairs share members. */
export const UUIDS = [
  '3e11fa47-71ca-11e1-9e33-c80aa9429562',
  '3e11fa47-71ca-11e1-9e33-c80aa9429563',
  'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee',
  '00000000-0000-0000-0000-000000000001',
] as const;
const TAGS = ['a', 'tag_b', 'Zz9', '_x', 'abcdefghijabcdefghijabcdefghij12'] as const;

const space = fc.constantFrom('', '', '', '', ' ', '\n', '\t', ' \r\n ');

/** A UUID written in any of MySQL's accepted forms and any letter case. */
export const uuidText = fc
  .tuple(fc.constantFrom(...UUIDS), fc.constantFrom('dashed', 'dashed', 'dashed', 'braced', 'plain'), fc.boolean())
  .map(([uuid, form, upper]) => {
    const u = upper ? uuid.toUpperCase() : uuid;
    return form === 'braced' ? `{${u}}` : form === 'plain' ? u.replaceAll('-', '') : u;
  });

/** Sequence numbers clustered where bugs live: small, around 2^53, and at MySQL's maximum. */
export const gno = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt(1n, 40n) },
  { weight: 1, arbitrary: fc.bigInt(2n ** 53n - 5n, 2n ** 53n + 5n) },
  { weight: 2, arbitrary: fc.bigInt(MYSQL_GNO_MAX - 40n, MYSQL_GNO_MAX) },
  { weight: 1, arbitrary: fc.bigInt(1n, MYSQL_GNO_MAX) },
);

const interval = fc
  .tuple(gno, fc.oneof(fc.constant(0n), fc.bigInt(0n, 12n), gno), fc.nat(9), space, space)
  .map(([start, width, shape, s1, s2]) => {
    if (shape === 0) return `${start}`;
    // mostly start <= end, sometimes reversed (MySQL reads 5-3 as empty)
    let end = shape === 9 ? width : start + width;
    if (end > MYSQL_GNO_MAX) end = MYSQL_GNO_MAX;
    return `${start}${s1}-${s2}${end}`;
  });

const tagText = fc.constantFrom(...TAGS).chain((t) => fc.boolean().map((up) => (up ? t.toUpperCase() : t)));

const element = fc.oneof({ weight: 4, arbitrary: interval }, { weight: 1, arbitrary: tagText });

const member = fc
  .tuple(uuidText, fc.array(fc.tuple(space, element, space), { minLength: 0, maxLength: 6 }), space)
  .map(([uuid, elements, s]) => uuid + s + elements.map(([a, e, b]) => `:${a}${e}${b}`).join(''));

/** Valid MySQL GTID text (every string it yields, MySQL accepts). */
export const mysqlGtidText = fc
  .tuple(space, fc.array(fc.tuple(member, fc.constantFrom(',', ',', ',\n', ', ', ',,')), { maxLength: 5 }), space)
  .map(([a, members, b]) => a + members.map(([m, sep], i) => (i === members.length - 1 ? m : m + sep)).join('') + b);

/** Up to `max` single-character edits of a valid text: usually invalid, sometimes still valid. */
function mutated(valid: fc.Arbitrary<string>, alphabet: string, max: number): fc.Arbitrary<string> {
  const edit = fc.tuple(fc.nat(), fc.constantFrom('insert', 'delete', 'replace'), fc.constantFrom(...alphabet));
  return fc.tuple(valid, fc.array(edit, { minLength: 1, maxLength: max })).map(([text, edits]) => {
    let t = text;
    for (const [at, op, ch] of edits) {
      const i = t.length === 0 ? 0 : at % (t.length + (op === 'insert' ? 1 : 0));
      if (op === 'insert') t = t.slice(0, i) + ch + t.slice(i);
      else if (op === 'delete') t = t.slice(0, i) + t.slice(i + 1);
      else t = t.slice(0, i) + ch + t.slice(i + 1);
    }
    return t;
  });
}

export const mutatedMysqlGtidText = mutated(mysqlGtidText, '0123456789aAfFgxz:,-{}_ +\n\t.9', 3);

// ---------------------------------------------------------------------------
// MariaDB

const mariaSeq = fc.oneof(
  { weight: 6, arbitrary: fc.bigInt(0n, 40n) },
  { weight: 2, arbitrary: fc.bigInt(2n ** 64n - 20n, 2n ** 64n - 1n) },
  { weight: 1, arbitrary: fc.bigInt(0n, 2n ** 64n - 1n) },
);
const mariaId = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 4 }) },
  { weight: 1, arbitrary: fc.constant(4294967295) },
);
const numberText = (n: bigint | number) =>
  fc
    .tuple(
      fc.constantFrom('', '', '', ' ', '\t', '\n'),
      fc.constantFrom('', '', '', '+'),
      fc.constantFrom('', '', '', '0'),
    )
    .map(([s, plus, zero]) => `${s}${plus}${zero}${n}`);

/** Valid MariaDB GTID positions (distinct domains). */
export const mariadbGtidText = fc
  .uniqueArray(fc.tuple(mariaId, mariaId, mariaSeq), { selector: ([d]) => d, maxLength: 4 })
  .chain((gtids) =>
    gtids.length === 0
      ? fc.constant('')
      : fc
          .tuple(
            ...gtids.map(([d, s, q]) =>
              fc.tuple(numberText(d), numberText(s), numberText(q)).map(([a, b, c]) => `${a}-${b}-${c}`),
            ),
          )
          .map((parts) => parts.join(',')),
  );

/** Positions over few domains with close sequence numbers, so subset answers vary. */
export const mariadbPositionPair = fc
  .tuple(
    fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.bigInt(0n, 6n)), {
      selector: ([d]) => d,
      maxLength: 3,
    }),
    fc.uniqueArray(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 3 }), fc.bigInt(0n, 6n)), {
      selector: ([d]) => d,
      maxLength: 3,
    }),
  )
  .map(([a, b]) => [a.map((g) => g.join('-')).join(','), b.map((g) => g.join('-')).join(',')] as const);

export const mutatedMariadbGtidText = mutated(mariadbGtidText, '0123456789-,+ x\n', 2);
