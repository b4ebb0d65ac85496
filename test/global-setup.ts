/**
 * Runs once before any suite: makes sure every cached component exists (the
 * database roots, the temporal CLI, DM and TiDB), so that building one on a
 * fresh machine (minutes) is not charged to a single suite's hook timeout.
 * Suites then start what they need on free ports through test/sandbox.
 */
import { dbRoot } from './sandbox/db.js';
import { dmBinDir } from './sandbox/dm.js';
import { temporalBinary } from './sandbox/temporal.js';

export default async function setup(): Promise<void> {
  await Promise.all([
    dbRoot('mysql'),
    dbRoot('mariadb', '10.11'),
    dbRoot('mariadb', '11.8'),
    temporalBinary(),
    dmBinDir({ withTidb: true }),
  ]);
}
