/**
 * The mysqlInspect activity against a real MariaDB 10.11 (the MySQL side is
 * exercised by the decision matrix and the end-to-end switches).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlActivities } from '../../activities/mysql.js';
import { startDb, type DbInstance } from '../sandbox/db.js';

const activities = createMysqlActivities(async () => ({ user: 'root', password: '' }));
let maria: DbInstance;
beforeAll(async () => {
  maria = await startDb({ flavor: 'mariadb', serverId: 7, name: 'inspect-mariadb' });
  await maria.query('CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY); INSERT INTO app.t VALUES (1), (2)');
});
afterAll(async () => {
  await maria?.destroy();
});

describe('mysqlInspect on MariaDB', () => {
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
    });
    if (!facts.reachable) throw new Error(facts.error);
    expect(facts.gtidExecuted).toBe(await maria.variable('gtid_current_pos'));
    expect(facts.gtidExecuted).toMatch(/^0-7-\d+$/);
  });

  it('given an instance that is down, should say so instead of failing', async () => {
    const facts = await activities.mysqlInspect({ host: '127.0.0.1', port: 1, credentials: 'root' });
    expect(facts).toMatchObject({
      reachable: false,
      address: '127.0.0.1:1',
      error: expect.stringMatching(/ECONNREFUSED/),
    });
  });
});
