/**
 * The address switch on a MariaDB upstream, end to end, on each MariaDB era
 * the sandbox has, 10.11 and 11.8 (a primary and replicas A and B with
 * MariaDB's GTID replication), a DM
 * source with `flavor: mariadb` reading A, TiDB downstream, the Temporal dev
 * server and the real worker. MariaDB's GTIDs (`domain-server-seq`, no
 * gtid_purged, gtid_current_pos) take the other dialect's path through the
 * checks; this shows DM really moves and no row is lost or doubled.
 *
 * The task starts from A's position before the `app` schema existed, so DM
 * itself replicates its DDL downstream (no dump needed).
 *
 * Both eras share one stack (Temporal, DM, TiDB, the worker): each era
 * brings its own topology, source and task, and hands the stack back clean
 * (task stopped, source removed, downstream `app` dropped). On 11.8 the same
 * statements meet another server: utf8mb4 with the uca1400 collation by
 * default, replication over TLS by default, /usr/share/mariadb. Both cases
 * run on each era: the switch is where DM itself reads an 11.8 binary log and
 * moves (nothing else shows DM works with 11.8), and the refusal (a few
 * seconds) reads 11.8's own GTID state of a local write.
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressSwitchRequest } from '../../common/switch/input.js';
import { MARIADB_ERAS, type DbInstance, type MariadbEra } from '../sandbox/db.js';
import type { DmCluster } from '../sandbox/dm.js';
import { removeTask, startMariadbTaskFromNow } from '../sandbox/dm-setup.js';
import { startStack, type Stack } from '../sandbox/stack.js';
import {
  addressSwitchSteps,
  binlogDumps,
  failureType,
  downstreamMatches,
  runSwitch,
  saveHistory,
  sourceReads,
  startInProcessWorker,
  taskState,
  writeUntil,
} from '../sandbox/switch-harness.js';
import type { TidbInstance } from '../sandbox/tidb.js';
import { startTopology, waitCaughtUp, writeRows, type Topology } from '../sandbox/topology.js';

const QUEUE = 'e2e-mariadb';
let stack: Stack;
let dm: DmCluster;
let tidb: TidbInstance;
let client: Client;
let stopWorker: (() => Promise<void>) | undefined;

beforeAll(async () => {
  stack = await startStack({ temporal: true, dm: true });
  ({ dm, downstream: tidb } = stack as Required<Stack>);
  ({ client, stop: stopWorker } = await startInProcessWorker(stack.temporal!.address, stack.workerConfigYaml(QUEUE)));
}, 300_000);

afterAll(async () => {
  await stopWorker?.();
  await stack?.stop();
});

const ref = (db: DbInstance) => ({ host: db.host, port: db.port, credentials: 'sandbox-root' });

describe.each(MARIADB_ERAS)('address switch on a MariaDB %s upstream', { timeout: 300_000 }, (era: MariadbEra) => {
  // 10.11 keeps the names its saved history was recorded with
  const SOURCE = era === '10.11' ? 'mariadb-replica-01' : 'mariadb118-replica-01';
  const TASK = era === '10.11' ? 'maria-to-downstream' : 'maria118-to-downstream';
  let topology: Topology;
  let primary: DbInstance;
  let a: DbInstance;
  let b: DbInstance;
  const matches = () => downstreamMatches(primary, tidb, 90_000);

  beforeAll(async () => {
    topology = await startTopology({ flavor: 'mariadb', mariadbEra: era, replicas: 2 });
    [primary, a, b] = topology.all() as [DbInstance, DbInstance, DbInstance];
    expect(await primary.variable('version')).toMatch(new RegExp(`^${era.replace('.', '\\.')}\\.\\d+-MariaDB`));
    // one transaction outside `app`, so the task's starting GTID position is not empty
    await primary.query('CREATE DATABASE IF NOT EXISTS warmup');
    await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
    await startMariadbTaskFromNow(dm, TASK, SOURCE, tidb, a);
  }, 300_000);

  // the next era finds DM and the downstream as the stack started them
  afterAll(async () => {
    if (dm) await removeTask(dm, TASK, SOURCE, tidb);
    await topology?.destroy();
  });

  it('given rows before, during and after, should re-point the source from A to B with every row downstream exactly once', async () => {
    await writeRows(primary, 10);
    await matches();
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
    await waitCaughtUp(b, primary);

    const req: AddressSwitchRequest = {
      sourceId: SOURCE,
      newInstance: ref(b),
      oldInstance: ref(a),
      taskCredentials: 'sandbox-root',
      options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 },
    };
    const { status, error, handle } = await runSwitch(client, 'addressSwitch', QUEUE, req, (ended) =>
      writeUntil(ended, () => writeRows(primary, 1)),
    );
    if (era === '10.11') await saveHistory(handle, 'address-switch-mariadb'); // one history: the workflow is the same
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.steps.map((s) => s.step)).toEqual(addressSwitchSteps(SOURCE, TASK, b));
    // the checks ran on MariaDB's GTIDs: domain-server-seq, the new instance's gtid_current_pos
    const frozen = status.gtids.find((g) => g.label === `gtid-S task ${TASK} (frozen)`);
    expect(frozen?.set).toMatch(/^0-1-\d+$/);
    expect(status.gtids.find((g) => g.label === 'gtid-E new instance (frozen)')?.set).toMatch(/^0-1-\d+$/);
    expect(status.gtids.find((g) => g.label === 'gtid-P new instance (frozen)')?.set).toBe(
      '(MariaDB keeps no gtid_purged)',
    );
    expect(status.decisions.some((d) => d.reason.startsWith(`task ${TASK}: gtid-S ⊆ gtid-E`))).toBe(true);

    expect(await sourceReads(dm, SOURCE)).toEqual({ host: b.host, port: b.port });
    expect(await binlogDumps(b)).toBeGreaterThan(0);
    await writeRows(primary, 5);
    await matches();
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });

  it('given a local write on the new replica, should refuse naming its domain-server-seq, compared per domain and server id (last: the write stays)', async () => {
    // DM reads B since the previous case; a DBA writes on A directly, binary logging on
    await a.query(`INSERT INTO app.rows (id, payload, written_by) VALUES (700000001, 'local write on A', @@server_id)`);
    await writeRows(primary, 3); // the primary's next transaction takes the same sequence number in domain 0
    await waitCaughtUp(a, primary);
    const sid = Number(await a.variable('server_id'));
    const req: AddressSwitchRequest = {
      sourceId: SOURCE,
      newInstance: ref(a),
      oldInstance: ref(b),
      taskCredentials: 'sandbox-root',
      options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 },
    };
    const { status, error } = await runSwitch(client, 'addressSwitch', QUEUE, req);
    expect(failureType(error)).toBe('GtidRefused');
    expect(status.outcome).toBe('refused');
    const refusal = status.decisions
      .filter((d) => d.verdict === 'refuse')
      .map((d) => d.reason)
      .join('\n');
    expect(refusal).toMatch(
      new RegExp(
        `errant transactions .*: 0-${sid}-\\d+ \\(written on the new instance ${a.host}:${a.port} itself \\(server_id ${sid}\\)`,
      ),
    );
    // the primary's transactions A is ahead with are not errant: the per-(domain, server id) comparison tells them apart
    expect(refusal).not.toMatch(/0-1-\d+ \(/);
    expect(status.warnings.join()).toMatch(/gtid_strict_mode is OFF on the new instance/);
    expect(status.steps).toEqual([]);
    expect(await sourceReads(dm, SOURCE)).toEqual({ host: b.host, port: b.port });
    await matches();
  });
});
