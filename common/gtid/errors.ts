/**
 * Errors of the GTID module. Pure: no Node APIs, safe inside workflows.
 */
import type { Flavor } from './types.js';

/** A GTID text that the server would reject, with where and why. */
export class GtidParseError extends Error {
  override readonly name = 'GtidParseError';
  constructor(
    /** The text that was being parsed. */
    readonly input: string,
    /** Zero-based offset of the problem in `input` (same convention as MySQL's "after N characters"). */
    readonly position: number,
    /** What was wrong, in MySQL's words where MySQL has words for it (e.g. `Expected number`). */
    readonly reason: string,
    readonly flavor: Flavor,
  ) {
    super(
      `malformed ${flavor === 'mysql' ? 'MySQL GTID set' : 'MariaDB GTID list'}: ` +
        `${reason} at position ${position}: ${excerpt(input, position)}`,
    );
  }
}

/** Two sets of different flavors were combined, or two MariaDB positions diverged. */
export class GtidError extends Error {
  override readonly name = 'GtidError';
}

function excerpt(input: string, position: number): string {
  const before = input.slice(Math.max(0, position - 20), position);
  const after = input.slice(position, position + 20);
  const show = (s: string) => JSON.stringify(s).slice(1, -1);
  const head = position > 20 ? '…' : '';
  const tail = position + 20 < input.length ? '…' : '';
  return `"${head}${show(before)}[HERE]${show(after)}${tail}"`;
}
