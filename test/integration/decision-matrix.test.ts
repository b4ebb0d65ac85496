/**
 * The runbook's decision matrix on real MySQL 9.7: new instances provisioned by
 * each method (plain replication, snapshot + gtid_purged, empty transactions
 * + purge), read by the real mysqlInspect activity, against DM positions
 * (gtid-S) before, inside and after the new instance's purged range, and
 * beyond what it has executed. Each case asserts go / wait / refuse and the
 * exact GTIDs named in the reason. The same instances then carry errant
 * transactions, a relay position ahead of DM's, and tagged GTIDs, for the
 * rules that come on top of the runbook's (common/switch/errant.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlActivities } from '../../activities/mysql.js';
import { MysqlGtidSet } from '../../common/gtid/index.js';
import { decideGtids, decideRelayPosition } from '../../common/switch/decide.js';
import { describeTaggedGtids, findErrant, type ErrantTarget } from '../../common/switch/errant.js';
import type { InstanceFacts } from '../../common/switch/types.js';
import type { DbInstance } from '../sandbox/db.js';
import {
  provisionReplica,
  purgeBinaryLogs,
  startTopology,
  waitCaughtUp,
  writeRows,
  type ProvisionMethod,
  type Topology,
} from '../sandbox/topology.js';

const activities = createMysqlActivities(async () => ({ user: 'root', password: '' }));
let topo: Topology;
let uuid: string;
const replicas = new Map<ProvisionMethod, DbInstance>();
/** The snapshot point: the primary's last GTID number when the snapshot replicas were provisioned. */
let snapAt: number;
let last: number;

beforeAll(async () => {
  topo = await startTopology({ replicas: 0 });
  uuid = await topo.primary.variable('server_uuid');
  await writeRows(topo.primary, 20);
  // plain replication first, while the primary still has its whole binlog
  replicas.set('replication', await provisionReplica(topo.primary, 'replication', { serverId: 11 }));
  await waitCaughtUp(replicas.get('replication')!, topo.primary);
  snapAt = Number(/:1-(\d+)$/.exec(await topo.primary.variable('gtid_executed'))![1]);
  replicas.set('snapshot', await provisionReplica(topo.primary, 'snapshot', { serverId: 12 }));
  replicas.set('empty-transactions', await provisionReplica(topo.primary, 'empty-transactions', { serverId: 13 }));
  await writeRows(topo.primary, 10);
  for (const r of replicas.values()) await waitCaughtUp(r, topo.primary);
  // the plain replica purges too, after the snapshot point, so its purged range is known
  await purgeBinaryLogs(replicas.get('replication')!);
  last = Number(/:1-(\d+)$/.exec(await topo.primary.variable('gtid_executed'))![1]);
}, 180_000);
afterAll(async () => {
  await Promise.all([...replicas.values()].map((r) => r.destroy()));
  await topo?.destroy();
});

const upTo = (n: number) => `${uuid}:1-${n}`;

describe('the GTID decision on real provisioned instances', () => {
  it('given each method, the new instance reports the purged range that method leaves', async () => {
    for (const [method, r] of replicas) {
      const facts = await activities.mysqlInspect({ host: r.host, port: r.port, credentials: 'root' });
      if (!facts.reachable) throw new Error(facts.error);
      const purged = MysqlGtidSet.parse(facts.gtidPurged ?? '');
      // plain replication purged its whole binlog after catching up; the snapshot methods purged up to the snapshot
      expect(purged.toString()).toBe(method === 'replication' ? upTo(last) : upTo(snapAt));
      expect(facts.gtidExecuted).toBe(upTo(last));
      expect(facts.replica?.ioRunning && facts.replica.sqlRunning).toBe(true);
    }
  });

  const positions = [
    ['before the purged range', () => 3],
    ['inside the purged range', () => snapAt - 2],
    ['at the end of the purged range', () => snapAt],
    ['after the purged range', () => snapAt + 5],
  ] as const;

  for (const method of ['snapshot', 'empty-transactions'] as const) {
    for (const [where, at] of positions) {
      it(`given a ${method} instance and DM ${where}, should ${at() < snapAt ? 'refuse naming the purged GTIDs' : 'go'}`, async () => {
        const r = replicas.get(method)!;
        const facts = await activities.mysqlInspect({ host: r.host, port: r.port, credentials: 'root' });
        if (!facts.reachable) throw new Error(facts.error);
        const S = upTo(at());
        const d = decideGtids({
          flavor: 'mysql',
          gtidS: S,
          gtidP: facts.gtidPurged,
          gtidE: facts.gtidExecuted,
          newInstanceReplicating: true,
        });
        if (at() < snapAt) {
          expect(d.verdict).toBe('refuse');
          const lost = at() + 1 === snapAt ? `${uuid}:${snapAt}` : `${uuid}:${at() + 1}-${snapAt}`;
          expect(d.reason).toContain(`purged binlog that DM has not replicated yet (${lost})`);
        } else {
          expect(d).toMatchObject({ verdict: 'go', reason: expect.stringMatching(/gtid-P ⊆ gtid-S ⊆ gtid-E/) });
        }
      });
    }
  }

  it('given a plain-replication instance that purged after catching up, should refuse DM positions inside its purged range and go after it', async () => {
    const r = replicas.get('replication')!;
    const facts = await activities.mysqlInspect({ host: r.host, port: r.port, credentials: 'root' });
    if (!facts.reachable) throw new Error(facts.error);
    const purgedTo = Number(/:1-(\d+)$/.exec(facts.gtidPurged!)![1]);
    expect(
      decideGtids({
        flavor: 'mysql',
        gtidS: upTo(purgedTo - 1),
        gtidP: facts.gtidPurged,
        gtidE: facts.gtidExecuted,
        newInstanceReplicating: true,
      }).verdict,
    ).toBe('refuse');
    expect(
      decideGtids({
        flavor: 'mysql',
        gtidS: upTo(purgedTo),
        gtidP: facts.gtidPurged,
        gtidE: facts.gtidExecuted,
        newInstanceReplicating: true,
      }).verdict,
    ).toBe('go');
  });

  it('given DM beyond what the new instance executed, should wait while it replicates and refuse once replication stops', async () => {
    const r = replicas.get('snapshot')!;
    const ahead = `${uuid}:1-${last + 5}`;
    let facts = await activities.mysqlInspect({ host: r.host, port: r.port, credentials: 'root' });
    if (!facts.reachable) throw new Error(facts.error);
    const replicating = !!(facts.replica?.ioRunning && facts.replica.sqlRunning);
    expect(
      decideGtids({
        flavor: 'mysql',
        gtidS: ahead,
        gtidP: facts.gtidPurged,
        gtidE: facts.gtidExecuted,
        newInstanceReplicating: replicating,
      }),
    ).toMatchObject({
      verdict: 'wait',
      missing: `${uuid}:${last + 1}-${last + 5}`,
    });
    await r.query('STOP REPLICA');
    facts = await activities.mysqlInspect({ host: r.host, port: r.port, credentials: 'root' });
    if (!facts.reachable) throw new Error(facts.error);
    expect(
      decideGtids({
        flavor: 'mysql',
        gtidS: ahead,
        gtidP: facts.gtidPurged,
        gtidE: facts.gtidExecuted,
        newInstanceReplicating: !!(facts.replica?.ioRunning && facts.replica.sqlRunning),
      }).verdict,
    ).toBe('refuse');
    await r.query('START REPLICA');
  });
});

type Reachable = Extract<InstanceFacts, { reachable: true }>;
const inspect = async (db: DbInstance): Promise<Reachable> => {
  const f = await activities.mysqlInspect({ host: db.host, port: db.port, credentials: 'root' }, { withSources: true });
  if (!f.reachable) throw new Error(f.error);
  return f;
};
/** The new instance as the workflow hands it to the errant check. */
const target = (f: Reachable): ErrantTarget => ({
  label: `the new instance ${f.address}`,
  serverUuid: f.serverUuid,
  serverId: f.serverId,
  gtids: f.gtidExecuted,
  readOnly: f.readOnly!,
  replicating: (f.channels ?? []).some((c) => c.ioRunning || c.sqlRunning),
  sources: (f.sources ?? []).map((x) => ({
    label: x.address,
    serverUuid: x.reachable ? x.serverUuid : null,
    serverId: x.reachable ? x.serverId : null,
    read: x.reachable,
  })),
});
const references = (f: Reachable, S: string) => [
  { label: "DM's position", gtids: S },
  ...(f.sources ?? []).flatMap((x) => (x.reachable ? [{ label: x.address, gtids: x.gtids }] : [])),
];

describe('errant transactions, the relay position and tagged GTIDs on the same instances', () => {
  it.each(['replication', 'snapshot', 'empty-transactions'] as const)(
    'given a %s replica, should find nothing errant, and then exactly the local write that GTID_SUBTRACT finds',
    async (method) => {
      const r = replicas.get(method)!;
      const clean = await inspect(r);
      expect(clean.sources?.[0]).toMatchObject({
        reachable: true,
        address: `${topo.primary.host}:${topo.primary.port}`,
      });
      expect(findErrant('mysql', target(clean), references(clean, upTo(last))).errant).toBe('');

      await r.query(`INSERT INTO app.rows (id, payload, written_by) VALUES (?, 'local write', @@server_id)`, [
        800000000 + r.serverId,
      ]);
      const dirty = await inspect(r);
      const [oracle] = await topo.primary.query<{ x: string }>('SELECT GTID_SUBTRACT(?, ?) AS x', [
        dirty.gtidExecuted,
        await topo.primary.variable('gtid_executed'),
      ]);
      const found = findErrant('mysql', target(dirty), references(dirty, upTo(last)));
      expect(found.errant).toBe(MysqlGtidSet.parse(oracle!.x).toCompactString());
      expect(MysqlGtidSet.parse(found.errant).uuids()).toEqual([dirty.serverUuid]);
      expect(found.findings[0]!.origin).toMatch(/itself .* a replica that is replicating/);

      // made whole: the primary commits the same GTID as an empty transaction, and it is errant no more
      await topo.primary.query(`SET GTID_NEXT = '${found.errant}'; BEGIN; COMMIT; SET GTID_NEXT = 'AUTOMATIC'`);
      await waitCaughtUp(r, topo.primary);
      await r.query('SET SESSION sql_log_bin = 0; DELETE FROM app.rows WHERE id = ?; SET SESSION sql_log_bin = 1', [
        800000000 + r.serverId,
      ]);
      const healed = await inspect(r);
      expect(findErrant('mysql', target(healed), references(healed, upTo(last))).errant).toBe('');
    },
  );

  it('given a relay position R before, inside and after the purged range and beyond what was executed, should decide as for gtid-S', async () => {
    const facts = await inspect(replicas.get('snapshot')!);
    const R = (n: number) =>
      decideRelayPosition({
        flavor: 'mysql',
        relayGtid: upTo(n),
        gtidP: facts.gtidPurged,
        gtidE: facts.gtidExecuted,
        newInstanceReplicating: true,
      });
    expect(R(3)).toMatchObject({
      verdict: 'refuse',
      reason: expect.stringMatching(
        /gtid-P ⊄ R: the new instance has purged binlog that the relay log does not hold yet/,
      ),
    });
    expect(R(snapAt).verdict).toBe('go');
    expect(R(snapAt + 5)).toMatchObject({
      verdict: 'go',
      reason: expect.stringMatching(/gtid-P ⊆ R ⊆ gtid-E: the new instance holds every transaction of the relay log/),
    });
    const executed = Number(/:1-(\d+)$/.exec(MysqlGtidSet.parse(facts.gtidExecuted).ofUuid(uuid).toString())![1]);
    expect(R(executed + 3)).toMatchObject({
      verdict: 'wait',
      missing: `${uuid}:${executed + 1}-${executed + 3}`,
      reason: expect.stringMatching(/R ⊄ gtid-E: the new instance lacks .* which the relay log already holds/),
    });
  });

  it('given a tagged transaction on the primary, should find the tag in every instance it reached (last: it stays there)', async () => {
    await topo.primary.query(
      `SET gtid_next = 'AUTOMATIC:matrix_tag'; INSERT INTO app.rows (payload, written_by) VALUES ('tagged', @@server_id); SET gtid_next = 'AUTOMATIC'`,
    );
    for (const r of replicas.values()) {
      await waitCaughtUp(r, topo.primary);
      const facts = await inspect(r);
      const text = describeTaggedGtids('mysql', [
        { label: 'gtid-E of the new instance', gtids: facts.gtidExecuted },
        { label: 'gtid-S', gtids: upTo(last) },
      ]);
      expect(text).toMatch(
        new RegExp(`^tagged GTIDs found \\(tag matrix_tag; gtid-E of the new instance: ${uuid}:matrix_tag:1\\)`),
      );
    }
  });
});
