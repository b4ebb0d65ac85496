/**
 * GTID sets for both flavors behind one interface, chosen by the DM source's
 * flavor. Pure: workflows and activities both import this.
 *
 * Across process and history boundaries GTID sets travel as their canonical
 * text (`toString()`), never as objects: bigint has no JSON form.
 */
import { GtidError, GtidParseError } from './errors.js';
import { MariadbGtidSet } from './mariadb.js';
import { MysqlGtidSet } from './mysql.js';
import type { Flavor, GtidSet } from './types.js';

export { GtidError, GtidParseError, MariadbGtidSet, MysqlGtidSet };
export { MYSQL_GNO_MAX } from './mysql.js';
export type { MariadbGtid } from './mariadb.js';
export { parseMariadbBinlogState } from './mariadb.js';

export type { Flavor, GtidSet };
export const FLAVORS: readonly Flavor[] = ['mysql', 'mariadb'];

/** Parses `text` in the dialect of `flavor`; throws GtidParseError (with the position) on malformed input. */
export function parseGtidSet(flavor: Flavor, text: string): GtidSet {
  switch (flavor) {
    case 'mysql':
      return MysqlGtidSet.parse(text);
    case 'mariadb':
      return MariadbGtidSet.parse(text);
    default:
      throw new GtidError(`unknown GTID flavor ${JSON.stringify(flavor)}: use "mysql" or "mariadb"`);
  }
}

/** `a ⊆ b` on GTID texts of one flavor. */
export function isSubset(flavor: Flavor, a: string, b: string): boolean {
  return parseGtidSet(flavor, a).isSubsetOf(parseGtidSet(flavor, b));
}

/** `a \ b` on GTID texts of one flavor, as canonical text. */
export function subtract(flavor: Flavor, a: string, b: string): string {
  return parseGtidSet(flavor, a).subtract(parseGtidSet(flavor, b)).toString();
}

/** Canonical text of a GTID text. */
export function normalize(flavor: Flavor, text: string): string {
  return parseGtidSet(flavor, text).toString();
}

/**
 * Shortens a canonical GTID text for messages: whole members (UUID or domain
 * entries) up to `maxLength` characters, then how many more were left out.
 */
export function abbreviate(set: GtidSet, maxLength = 400): string {
  const text = set.toCompactString();
  if (text.length <= maxLength) return text;
  const members = text.split(',');
  let out = '';
  let shown = 0;
  for (const m of members) {
    if (out.length + m.length + 1 > maxLength && shown > 0) break;
    out += (shown > 0 ? ',' : '') + m;
    shown++;
  }
  return `${out} … and ${members.length - shown} more`;
}

/**
 * Names what `holder` lacks of `required`, in words for errors and reports,
 * e.g. `new instance lacks 3e11fa47-…:101-150`. Returns null when nothing is missing.
 */
export function describeMissing(required: GtidSet, available: GtidSet, holder: string): string | null {
  const missing = required.subtract(available);
  if (missing.isEmpty()) return null;
  return `${holder} lacks ${abbreviate(missing)}`;
}
