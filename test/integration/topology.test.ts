/**
 * The MySQL 9.7 topology the switch tests stand on: GTID replication that
 * really flows, and new replicas provisioned by each method of MySQL's GTID provisioning guide with
 * the gtid_purged / gtid_executed each method must leave behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlGtidSet } from '../../common/gtid/index.js';
import { startDb, type DbInstance } from '../sandbox/db.js';
import {
  provisionReplica,
  purgeBinaryLogs,
  replicateFrom,
  startTopology,
  tableChecksum,
  waitCaughtUp,
  writeRows,
  type Topology,
} from '../sandbox/topology.js';

let topo: Topology;
const extra: DbInstance[] = [];
beforeAll(async () => {
  topo = await startTopology({ replicas: 2 });
});
afterAll(async () => {
  await Promise.all(extra.map((d) => d.destroy()));
  await topo?.destroy();
});

const gtid = (t: string) => MysqlGtidSet.parse(t);

describe('MySQL topology', () => {
  it('given a primary and two replicas, should replicate rows with GTIDs and distinct server_uuids', async () => {
    await writeRows(topo.primary, 25);
    for (const r of topo.replicas) await waitCaughtUp(r, topo.primary);
    const sums = await Promise.all(topo.all().map((d) => tableChecksum(d)));
    expect(sums[0]!.rows).toBe(25);
    expect(new Set(sums.map((s) => `${s.rows}/${s.checksum}`)).size).toBe(1);
    const uuids = await Promise.all(topo.all().map((d) => d.variable('server_uuid')));
    expect(new Set(uuids).size).toBe(3);
    for (const d of topo.all()) {
      expect(await d.variable('gtid_mode')).toBe('ON');
      expect(await d.variable('binlog_format')).toBe('ROW');
      expect(await d.variable('binlog_row_image')).toBe('FULL');
    }
    const executed = await Promise.all(topo.all().map((d) => d.variable('gtid_executed')));
    expect(gtid(executed[1]!).equals(gtid(executed[0]!))).toBe(true);
  });

  it('given purged binary logs, snapshot and empty-transaction replicas should carry the snapshot in gtid_purged and catch up', async () => {
    await writeRows(topo.primary, 10);
    await purgeBinaryLogs(topo.primary);
    const primaryPurged = gtid(await topo.primary.variable('gtid_purged'));
    expect(primaryPurged.isEmpty()).toBe(false);

    for (const method of ['snapshot', 'empty-transactions'] as const) {
      const before = gtid(await topo.primary.variable('gtid_executed'));
      const replica = await provisionReplica(topo.primary, method);
      extra.push(replica);
      await writeRows(topo.primary, 5);
      await waitCaughtUp(replica, topo.primary);
      const purged = gtid(await replica.variable('gtid_purged'));
      // the snapshot's history is purged on the new replica: it can never send it on
      expect(purged.equals(before)).toBe(true);
      expect((await tableChecksum(replica)).checksum).toBe((await tableChecksum(topo.primary)).checksum);
    }
  });

  it('given the source purged its binary logs, plain replication cannot provision and the error says why', async () => {
    const replica = await provisionReplica(topo.primary, 'replication');
    extra.push(replica);
    await expect(waitCaughtUp(replica, topo.primary, 3000)).rejects.toThrow(/purged|1236|lacks/i);
  });

  it('given a source with its whole history, plain replication provisions a replica with nothing purged', async () => {
    const fresh = await startTopology({ replicas: 0 });
    try {
      await writeRows(fresh.primary, 5);
      const replica = await provisionReplica(fresh.primary, 'replication');
      extra.push(replica);
      await waitCaughtUp(replica, fresh.primary);
      expect(await replica.variable('gtid_purged')).toBe('');
      expect((await tableChecksum(replica)).rows).toBe(5);
    } finally {
      await fresh.destroy();
    }
  });
});

describe('MariaDB 11.8 topology', () => {
  // 11.8 replicates over TLS and checks the source's self-signed certificate unless the source is on loopback
  // (127.0.0.1) or the replication account has a password; the sandbox's hosts in network namespaces are neither
  it('given a source on an address that is not 127.0.0.1, should replicate as passwordless root over TLS', async () => {
    const source = await startDb({ flavor: 'mariadb', mariadbEra: '11.8', host: '127.0.0.2', serverId: 1 });
    extra.push(source);
    const replica = await startDb({ flavor: 'mariadb', mariadbEra: '11.8', serverId: 2 });
    extra.push(replica);
    expect(await source.variable('version')).toMatch(/^11\.8\.\d+-MariaDB/);
    await replicateFrom(replica, source);
    await writeRows(source, 3);
    await waitCaughtUp(replica, source, 20_000);
    const [status] = await replica.query<Record<string, unknown>>('SHOW SLAVE STATUS');
    expect(status).toMatchObject({ Slave_IO_Running: 'Yes', Master_SSL_Allowed: 'Yes' });
    expect(await tableChecksum(replica)).toEqual(await tableChecksum(source));
  });
});
