/**
 * What DM can read from the new instance, and no needless refusals after a
 * primary dies, on the real stack: MySQL 9.7 hosts in network namespaces
 * (primary P, replicas A and B) behind a real VIP that DM reads through,
 * TiDB downstream, the Temporal dev server and the real worker.
 *
 * - binlog_row_value_options=PARTIAL_JSON on B: B logs every UPDATE as a
 *   PARTIAL_UPDATE_ROWS_EVENT, which DM's syncer does not read: a switch to
 *   B is refused before anything changes, and discovery passes B over (and
 *   passes over DM's own binlog readers that SHOW REPLICAS lists, without
 *   logging in to them).
 * - binlog_transaction_compression=ON on B: DM reads the rows events inside
 *   Transaction_payload events; a switch to B while the application writes
 *   (JSON_SET updates included) ends with downstream equal to upstream.
 * - P killed while A's SQL thread still applies its relay log (SOURCE_DELAY):
 *   A's IO thread shows `Connecting`, yet A catches up, so the switch waits
 *   for it instead of refusing.
 *
 * The cases run in order, each from where the previous one left the source.
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { AddressSwitchRequest, VipSwitchRequest } from '../../common/switch/input.js';
import type { SwitchStatus } from '../../common/switch/status.js';
import { MARIADB_ERAS, type DbInstance, type MariadbEra } from '../sandbox/db.js';
import type { DmCluster } from '../sandbox/dm.js';
import { createSource, expectOk, taskConfig } from '../sandbox/dm-setup.js';
import { startStack, type Stack } from '../sandbox/stack.js';
import {
  downstreamMatches,
  failureType,
  runSwitch,
  startInProcessWorker,
  taskState,
  writeUntil,
} from '../sandbox/switch-harness.js';
import type { TidbInstance } from '../sandbox/tidb.js';
import {
  replicateFrom,
  startTopology,
  waitCaughtUp,
  writeRows,
  type SqlTarget,
  type Topology,
} from '../sandbox/topology.js';
import type { VipLab } from '../sandbox/vip-lab.js';

const QUEUE = 'e2e-binlog-settings';
let stack: Stack;
let SOURCE: string;
let TASK: string;
let lab: VipLab;
let primary: DbInstance;
let a: DbInstance;
let b: DbInstance;
let dm: DmCluster;
let tidb: TidbInstance;
let client: Client;
const stops: Array<() => Promise<void>> = [];

const ref = (db: DbInstance) => ({ host: db.host, port: 3306, credentials: 'sandbox-root' });
const at = (db: DbInstance) => `${db.host}:3306`;
const options = { catchUpTimeoutSeconds: 120, verifyTimeoutSeconds: 120 };
type Target = Pick<VipSwitchRequest, 'newInstance' | 'discover'>;
const req = (from: DbInstance, target: Target): VipSwitchRequest => ({
  sourceId: SOURCE,
  oldInstance: ref(from),
  vip: { address: lab.vip },
  options,
  ...target,
});
const vipHolder = () => lab.provider().locate(lab.vip, []);
const refusals = (s: SwitchStatus) =>
  s.decisions
    .filter((d) => d.verdict === 'refuse')
    .map((d) => d.reason)
    .join('\n');
const esc = (s: string) => s.replace(/\./g, '\\.');
const switching = (r: VipSwitchRequest) =>
  runSwitch(client, 'vipSwitch', QUEUE, r, (ended) => writeUntil(ended, () => write(primary)));
const decided = (s: SwitchStatus) => s.decisions.map((d) => `${d.verdict}: ${d.reason}`).join('\n');

let bump = 0;
/** One application transaction of each kind: an insert, and an in-place JSON update (JSON_SET). */
async function write(db: DbInstance): Promise<void> {
  await writeRows(db, 1);
  bump++;
  await db.query(`UPDATE app.docs SET doc = JSON_SET(doc, '$.n', ?) WHERE id = ?`, [bump, (bump % 5) + 1]);
}

/** app.docs as rows of (id, n, s): comparable between MySQL and TiDB whatever their JSON text. */
async function docs(db: SqlTarget): Promise<string> {
  const rows = await db.query<{ id: number; n: string; s: string }>(
    `SELECT id, JSON_UNQUOTE(JSON_EXTRACT(doc, '$.n')) AS n, JSON_UNQUOTE(JSON_EXTRACT(doc, '$.s')) AS s
       FROM app.docs ORDER BY id`,
  );
  return rows.map((r) => `${r.id}:${r.n}:${String(r.s).length}`).join(',');
}

/** Downstream equal to `upstream`: app.rows (every row once) and app.docs (every JSON update applied). */
async function downstreamEquals(upstream: DbInstance, timeoutMs = 90_000): Promise<void> {
  await downstreamMatches(upstream, tidb, timeoutMs);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [want, got] = await Promise.all([docs(upstream), docs(tidb).catch((e: Error) => e.message)]);
    if (want === got) return;
    if (Date.now() > deadline) throw new Error(`downstream app.docs ${got} != upstream ${want}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** How many events of `type` the instance's binary logs hold. */
async function binlogEvents(db: DbInstance, type: string): Promise<number> {
  let n = 0;
  for (const f of await db.query<{ Log_name: string }>('SHOW BINARY LOGS')) {
    const events = await db.query<{ Event_type: string }>(`SHOW BINLOG EVENTS IN '${f.Log_name}'`);
    n += events.filter((e) => e.Event_type === type).length;
  }
  return n;
}

/** A global setting changed on a replica, its applier restarted so that what it re-logs follows the setting. */
async function setOnReplica(db: DbInstance, assignment: string): Promise<void> {
  await db.query(`SET PERSIST ${assignment}`);
  await db.query('STOP REPLICA SQL_THREAD');
  await db.query('START REPLICA SQL_THREAD');
}

/** Nothing moved: DM still reads `on` through the VIP, its task runs, downstream equal to the primary. */
async function untouched(s: SwitchStatus, on: DbInstance): Promise<void> {
  expect(s.steps).toEqual([]);
  expect(await vipHolder()).toBe(on.host);
  expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  await write(primary);
  await downstreamEquals(primary);
}

describe('binary log settings DM cannot read, and a dead primary (real stack)', { timeout: 400_000 }, () => {
  beforeAll(async () => {
    stack = await startStack({ temporal: true, mysql: { replicas: 2 }, dm: true, vip: true });
    [primary, a, b] = stack.topology!.all() as [DbInstance, DbInstance, DbInstance];
    ({ vipLab: lab, dm, downstream: tidb } = stack as Required<Stack>);
    SOURCE = stack.sourceId!;
    TASK = stack.taskName!;
    // a JSON table the application updates in place (JSON_SET): what PARTIAL_JSON logs as partial updates
    await primary.query('CREATE TABLE IF NOT EXISTS app.docs (id INT PRIMARY KEY, doc JSON NOT NULL)');
    for (let id = 1; id <= 5; id++) {
      await primary.query(`INSERT INTO app.docs VALUES (?, JSON_OBJECT('n', 0, 's', REPEAT('x', 200)))`, [id]);
    }
    await writeRows(primary, 10);
    await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
    const w = await startInProcessWorker(stack.temporal!.address, stack.workerConfigYaml(QUEUE));
    client = w.client;
    stops.push(w.stop);
  }, 300_000);

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
    await stack?.stop();
  });

  it('given binlog_row_value_options=PARTIAL_JSON on the new instance, should refuse naming it and where', async () => {
    await setOnReplica(b, "binlog_row_value_options = 'PARTIAL_JSON'");
    await write(primary);
    await waitCaughtUp(b, primary);
    // what DM would read from B: the primary logs a full update, B re-logs it as a partial one
    expect(await binlogEvents(b, 'Update_rows_partial')).toBeGreaterThan(0);
    expect(await binlogEvents(primary, 'Update_rows_partial')).toBe(0);

    const { status, error } = await switching(req(a, { newInstance: ref(b) }));
    expect(failureType(error)).toBe('PreflightFailed');
    expect(status.outcome).toBe('refused');
    expect(refusals(status)).toMatch(
      new RegExp(
        `the new instance ${esc(at(b))} cannot serve DM: binlog_row_value_options is PARTIAL_JSON: ` +
          ".*PARTIAL_UPDATE_ROWS_EVENT.*SET PERSIST binlog_row_value_options = ''",
      ),
    );
    await untouched(status, a);
  });

  it("given discovery, should pass over the PARTIAL_JSON replica and DM's binlog readers, not logging in", async () => {
    const { status, error } = await runSwitch(client, 'vipSwitch', QUEUE, req(a, { discover: {} }));
    expect(failureType(error)).toBe('NoCandidate');
    expect(status.outcome).toBe('refused');
    // only servers are candidates: DM's reader on A (registered as its dm-worker's name) is not one of them
    expect(status.candidates?.map((c) => c.address).sort()).toEqual([at(a), at(b)].sort());
    const reader = `(server_id \\d+ of DM source ${SOURCE}|dm-worker worker\\d)`;
    const asked =
      `discovering candidates: ${esc(at(a))}: 0 replica\\(s\\) reported, ` +
      `passed over 1 DM binlog reader\\(s\\) \\(${reader}`;
    expect(decided(status)).toMatch(new RegExp(asked));
    const forB = status.candidates!.find((c) => c.address === at(b))!;
    expect(forB.reasons.join()).toMatch(/binlog_row_value_options is PARTIAL_JSON/);
    await untouched(status, a);
  });

  it('given binlog_transaction_compression=ON on the new instance, should switch, downstream equal', async () => {
    await setOnReplica(b, "binlog_row_value_options = ''");
    await setOnReplica(b, 'binlog_transaction_compression = ON');
    const payloads = await binlogEvents(b, 'Transaction_payload');
    const { status, error } = await switching(req(a, { newInstance: ref(b) }));
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(decided(status)).toMatch(
      /info: binlog_transaction_compression is ON on .*DM v8\.5's compatibility catalog still lists .* as unsupported/,
    );
    expect(await vipHolder()).toBe(b.host);
    for (let i = 0; i < 10; i++) await write(primary);
    await downstreamEquals(primary);
    // DM read compressed transactions from B: B logged the writes of the switch and after as Transaction_payload
    expect(await binlogEvents(b, 'Transaction_payload')).toBeGreaterThan(payloads + 10);
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });

  it("given the primary dead while the new instance's SQL thread applies its relay log, should wait", async () => {
    // A receives at once but applies 20 s late; B (DM reads it) applies at once, so DM is ahead of A
    await a.query('STOP REPLICA; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 20; START REPLICA');
    try {
      for (let i = 0; i < 5; i++) await write(primary);
      await downstreamEquals(primary);
      primary.kill();
      await primary.waitExit();
      for (const deadline = Date.now() + 30_000; ;) {
        const [s] = await a.query<{ Replica_IO_Running: string; Replica_SQL_Running: string }>('SHOW REPLICA STATUS');
        if (s!.Replica_IO_Running !== 'Yes' && s!.Replica_SQL_Running === 'Yes') break;
        if (Date.now() > deadline) throw new Error(`A's IO thread still ${s!.Replica_IO_Running}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const { status, error } = await runSwitch(client, 'vipSwitch', QUEUE, req(b, { newInstance: ref(a) }));
      expect(error).toBeUndefined();
      expect(status.outcome).toBe('switched');
      expect(decided(status)).toMatch(/wait: task .*gtid-S ⊄ gtid-E: the new instance lacks .* so wait for it/);
      expect(await vipHolder()).toBe(a.host);
      // the primary is gone: A now holds the topology's history, and downstream holds exactly it
      await downstreamEquals(a);
      expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
    } finally {
      if (!primary.running) await primary.start();
      await a.query('STOP REPLICA; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 0; START REPLICA');
    }
  });
});

/**
 * MariaDB with gtid_strict_mode after two failovers: P (server 1) dies, A (server 2) is promoted and B
 * replicates from it, DM reads A; then A dies too. B's gtid_binlog_state still names P's last entry
 * (0-1-n), which is behind DM's position in domain 0 (0-2-m): part of the stream DM read, not errant.
 * Run on each MariaDB era (what gtid_binlog_state keeps after a failover is the server's, not ours),
 * one stack for both: each era hands it back with its task and source removed and downstream `app` dropped.
 */
describe('MariaDB gtid_strict_mode after a failover (real stack)', { timeout: 400_000 }, () => {
  const MQUEUE = 'e2e-binlog-mariadb';
  let mstack: Stack;
  let mclient: Client;
  let stopWorker: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    mstack = await startStack({ temporal: true, dm: true });
    const w = await startInProcessWorker(mstack.temporal!.address, mstack.workerConfigYaml(MQUEUE));
    ({ client: mclient, stop: stopWorker } = w);
  }, 300_000);

  afterAll(async () => {
    await stopWorker?.();
    await mstack?.stop();
  });

  describe.each(MARIADB_ERAS)('on MariaDB %s', (era: MariadbEra) => {
    const MSOURCE = era === '10.11' ? 'mariadb-strict-01' : 'mariadb118-strict-01';
    const MTASK = era === '10.11' ? 'maria-strict-to-downstream' : 'maria118-strict-to-downstream';
    let topo: Topology;

    beforeAll(async () => {
      topo = await startTopology({ flavor: 'mariadb', mariadbEra: era, replicas: 2, args: ['--gtid-strict-mode=ON'] });
      expect(await topo.primary.variable('version')).toMatch(new RegExp(`^${era.replace('.', '\\.')}\\.\\d+-MariaDB`));
    }, 300_000);

    afterAll(async () => {
      if (mstack?.dm) {
        await mstack.dm.ctl(['stop-task', MTASK]);
        await mstack.dm.ctl(['operate-source', 'stop', MSOURCE]);
        await mstack.downstream!.query('DROP DATABASE IF EXISTS app');
      }
      await topo?.destroy();
    });

    it("given the old primary's entry behind DM's position on the survivor, should not call it errant", async () => {
      const [p, ma, mb] = topo.all() as [DbInstance, DbInstance, DbInstance];
      const down = mstack.downstream!;
      // P (server 1) writes, then dies; A (server 2) is promoted and B follows it
      await p.query('CREATE DATABASE IF NOT EXISTS warmup; CREATE TABLE IF NOT EXISTS warmup.t (id INT PRIMARY KEY)');
      await p.query('INSERT INTO warmup.t VALUES (1), (2)');
      await Promise.all([waitCaughtUp(ma, p), waitCaughtUp(mb, p)]);
      p.kill();
      await p.waitExit();
      await ma.query('STOP SLAVE; RESET SLAVE ALL');
      await replicateFrom(mb, ma);
      await ma.query('INSERT INTO warmup.t VALUES (3)');
      // DM reads A from its position after the failover (0-2-n): it never saw server 1's GTIDs
      const [master] = await ma.query<{ File: string; Position: number }>('SHOW MASTER STATUS');
      const gtid = await ma.variable('gtid_binlog_pos');
      expect(gtid).toMatch(/^0-2-\d+$/);
      const meta = { 'binlog-name': master!.File, 'binlog-pos': Number(master!.Position), 'binlog-gtid': gtid };
      await createSource(mstack.dm!, MSOURCE, ma);
      const config = stringify(taskConfig(MTASK, [MSOURCE], down, meta));
      expectOk('start-task', await mstack.dm!.ctl(['start-task', await mstack.dm!.file(`task-${MTASK}.yaml`, config)]));
      await writeRows(ma, 5);
      await waitCaughtUp(mb, ma);
      await downstreamMatches(ma, down, 90_000);
      expect(await mb.variable('gtid_binlog_state')).toMatch(/0-1-\d+.*0-2-\d+|0-2-\d+.*0-1-\d+/);
      // A dies too: DM's old instance and B's source are both gone
      ma.kill();
      await ma.waitExit();
      const r: AddressSwitchRequest = {
        sourceId: MSOURCE,
        newInstance: { host: mb.host, port: mb.port, credentials: 'sandbox-root' },
        oldInstance: { host: ma.host, port: ma.port, credentials: 'sandbox-root' },
        taskCredentials: 'sandbox-root',
        options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 120 },
      };
      const { status, error } = await runSwitch(mclient, 'addressSwitch', MQUEUE, r);
      const all = status.decisions.map((d) => `${d.verdict}: ${d.reason}`).join('\n');
      expect(error, all).toBeUndefined();
      expect(status.outcome).toBe('switched');
      const behind = /0-1-\d+: logged by server_id 1, at or below DM's position in domain 0; gtid_strict_mode is ON/;
      expect(all).toMatch(behind);
      await writeRows(mb, 3);
      await downstreamMatches(mb, down, 90_000);
      expect(await taskState(mstack.dm!, MSOURCE, MTASK)).toEqual({ stage: 'Running', unit: 'Sync' });
    });
  });
});
