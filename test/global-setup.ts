/**
 * Runs once before any suite: makes sure the cached database roots exist, so
 * that building them (a minute each on a fresh machine) is not charged to a
 * single test's timeout.
 */
import { dbRoot } from './sandbox/db.js';

export default async function setup(): Promise<void> {
  await Promise.all([dbRoot('mysql'), dbRoot('mariadb')]);
}
