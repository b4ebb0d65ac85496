/**
 * The MySQL GTID module against a real MySQL 9.7: for thousands of generated
 * sets and pairs, our answers must equal the server's GTID_SUBSET,
 * GTID_SUBTRACT and normalisation; for malformed text, we must reject exactly
 * what the server rejects, at the same position, for the same reason.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GtidParseError, MysqlGtidSet } from '../../common/gtid/index.js';
import { startDb, type DbInstance } from '../sandbox/db.js';
import { mutatedMysqlGtidText, mysqlGtidText } from '../support/gtid-arbitraries.js';

let db: DbInstance;
beforeAll(async () => {
  db = await startDb({ flavor: 'mysql', name: 'gtid-oracle' });
});
afterAll(async () => {
  await db?.destroy();
});

// Fixed seeds keep CI reproducible; DM_SWITCH_FUZZ_SEED explores new ground.
const seed = Number(process.env.DM_SWITCH_FUZZ_SEED ?? 20261122);
const runs = Number(process.env.DM_SWITCH_FUZZ_RUNS ?? 2500);

type Verdict = { ok: true; text: string } | { ok: false; position: number; reason: string };

function serverVerdict(e: unknown): Verdict {
  const message = (e as { sqlMessage?: string }).sqlMessage ?? String(e);
  const m = /Malformed GTID set specification '(.*?) (?:after (\d+) characters|at the beginning of the string)/s.exec(
    message,
  );
  if (!m) throw e;
  return { ok: false, reason: m[1]!, position: m[2] === undefined ? 0 : Number(m[2]) };
}
function ourVerdict(text: string): Verdict {
  try {
    return { ok: true, text: MysqlGtidSet.parse(text).toString() };
  } catch (e) {
    if (!(e instanceof GtidParseError)) throw e;
    return { ok: false, position: e.position, reason: e.reason };
  }
}

describe('MySQL GTID module vs MySQL 9.7', () => {
  it('runs against a real MySQL 9.x', async () => {
    expect(await db.variable('version')).toMatch(/^9\./);
    expect(await db.variable('gtid_mode')).toBe('ON');
  });

  it(`agrees with GTID_SUBSET, GTID_SUBTRACT, union and intersection on ${runs} random pairs`, async () => {
    await fc.assert(
      fc.asyncProperty(mysqlGtidText, mysqlGtidText, async (a, b) => {
        const [row] = await db.query<Record<string, string | number>>(
          `SELECT GTID_SUBSET(?, ?) AS subset, GTID_SUBTRACT(?, ?) AS diff,
                  GTID_SUBTRACT(?, '') AS na, GTID_SUBTRACT(CONCAT(?, ',', ?), '') AS uni,
                  GTID_SUBTRACT(?, GTID_SUBTRACT(?, ?)) AS inter`,
          [a, b, a, b, a, a, b, a, a, b],
        );
        const A = MysqlGtidSet.parse(a);
        const B = MysqlGtidSet.parse(b);
        expect(A.toString()).toBe(row!.na);
        expect(A.isSubsetOf(B)).toBe(Number(row!.subset) === 1);
        expect(A.subtract(B).toString()).toBe(row!.diff);
        expect(A.union(B).toString()).toBe(row!.uni);
        expect(A.intersect(B).toString()).toBe(row!.inter);
      }),
      { seed, numRuns: runs },
    );
  });

  it(`rejects exactly what the server rejects, at the same position, on ${runs} edited strings`, async () => {
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(mutatedMysqlGtidText, async (text) => {
        let server: Verdict;
        try {
          const [row] = await db.query<{ n: string }>(`SELECT GTID_SUBTRACT(?, '') AS n`, [text]);
          server = { ok: true, text: row!.n };
        } catch (e) {
          server = serverVerdict(e);
          rejected++;
        }
        expect(ourVerdict(text)).toEqual(server);
      }),
      { seed: seed + 1, numRuns: runs },
    );
    // the generator must really exercise rejection, not only valid edits
    expect(rejected).toBeGreaterThan(runs / 5);
  });
});
