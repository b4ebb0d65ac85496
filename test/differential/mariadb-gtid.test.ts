/**
 * The MariaDB GTID dialect against a real MariaDB 10.11: text accepted and
 * normalised exactly as `SET GLOBAL gtid_slave_pos` does, and the position
 * order exactly as MASTER_GTID_WAIT decides it.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GtidParseError, MariadbGtidSet } from '../../common/gtid/index.js';
import { startDb, type DbInstance } from '../sandbox/db.js';
import { mariadbGtidText, mariadbPositionPair, mutatedMariadbGtidText } from '../support/gtid-arbitraries.js';

let db: DbInstance;
beforeAll(async () => {
  db = await startDb({ flavor: 'mariadb', name: 'gtid-oracle-mariadb' });
});
afterAll(async () => {
  await db?.destroy();
});

const seed = Number(process.env.DM_SWITCH_FUZZ_SEED ?? 20261122);
const runs = Number(process.env.DM_SWITCH_FUZZ_RUNS ?? 2500) / 5;

async function serverNormalizes(text: string): Promise<string | null> {
  try {
    await db.query('SET GLOBAL gtid_slave_pos = ?', [text]);
  } catch (e) {
    if ([1941, 1943].includes((e as { errno?: number }).errno ?? 0)) return null;
    throw e;
  }
  return db.variable('gtid_slave_pos');
}
function ours(text: string): string | null {
  try {
    return MariadbGtidSet.parse(text).toString();
  } catch (e) {
    if (e instanceof GtidParseError) return null;
    throw e;
  }
}

describe('MariaDB GTID dialect vs MariaDB 10.11', () => {
  it('runs against a real MariaDB', async () => {
    expect(await db.variable('version')).toMatch(/MariaDB/);
  });

  it(`parses and normalises as gtid_slave_pos does, on ${runs} valid and ${runs} edited positions`, async () => {
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(mariadbGtidText, mutatedMariadbGtidText), async (text) => {
        const server = await serverNormalizes(text);
        if (server === null) rejected++;
        expect(ours(text)).toBe(server);
      }),
      { seed, numRuns: runs * 2 },
    );
    expect(rejected).toBeGreaterThan(runs / 5);
  });

  it(`orders positions as MASTER_GTID_WAIT does, on ${runs} pairs`, async () => {
    await fc.assert(
      fc.asyncProperty(mariadbPositionPair, async ([a, b]) => {
        await db.query('SET GLOBAL gtid_slave_pos = ?', [b]);
        const [row] = await db.query<{ w: number | string }>('SELECT MASTER_GTID_WAIT(?, 0) AS w', [a]);
        expect(MariadbGtidSet.parse(a).isSubsetOf(MariadbGtidSet.parse(b))).toBe(Number(row!.w) === 0);
      }),
      { seed: seed + 2, numRuns: runs },
    );
  });
});
