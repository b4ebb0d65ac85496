/**
 * The mysqlInspect activity against a real MariaDB, 10.11 and 11.8 (the MySQL
 * side is exercised by the decision matrix and the end-to-end switches).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlActivities } from '../../activities/mysql.js';
import { MARIADB_ERAS, startDb, type DbInstance, type MariadbEra } from '../sandbox/db.js';

const activities = createMysqlActivities(async () => ({ user: 'root', password: '' }));

describe.each(MARIADB_ERAS)('mysqlInspect on MariaDB %s', (era: MariadbEra) => {
  let maria: DbInstance;
  beforeAll(async () => {
    maria = await startDb({ flavor: 'mariadb', mariadbEra: era, serverId: 7, name: 'inspect-mariadb' });
    await maria.query(
      'CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY); INSERT INTO app.t VALUES (1), (2)',
    );
  });
  afterAll(async () => {
    await maria?.destroy();
  });

  it('given a MariaDB with binary logging, should report its flavor, settings and gtid_current_pos, and no gtid_purged', async () => {
    const facts = await activities.mysqlInspect({ host: maria.host, port: maria.port, credentials: 'root' });
    expect(facts).toMatchObject({
      reachable: true,
      flavor: 'mariadb',
      serverUuid: 'server_id:7',
      serverId: 7,
      gtidMode: 'ON',
      binlogFormat: 'ROW',
      binlogRowImage: 'FULL',
      binlogRowEventMaxSize: null,
      logBin: true,
      gtidPurged: null,
      replica: null,
      // asked whatever the version says; MariaDB has neither variable and answers "unknown system variable"
      binlogRowValueOptions: null,
      binlogTransactionCompression: null,
    });
    if (!facts.reachable) throw new Error(facts.error);
    expect(facts.gtidExecuted).toBe(await maria.variable('gtid_current_pos'));
    expect(facts.gtidExecuted).toMatch(/^0-7-\d+$/);
    if (facts.reachable) expect(facts.version).toMatch(new RegExp(`^${era.replace('.', '\\.')}\\.\\d+-MariaDB`));
  });
});

describe('mysqlInspect on an instance that is down', () => {
  it('given an instance that is down, should say so instead of failing', async () => {
    const facts = await activities.mysqlInspect({ host: '127.0.0.1', port: 1, credentials: 'root' });
    expect(facts).toMatchObject({
      reachable: false,
      address: '127.0.0.1:1',
      error: expect.stringMatching(/ECONNREFUSED/),
    });
  });
});
