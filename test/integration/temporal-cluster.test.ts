/**
 * The switches against a real Temporal cluster (as production runs them, not the dev server): the
 * Temporal server built from go.temporal.io/server on PostgreSQL 15 for
 * persistence and SQL visibility (test/sandbox/temporal-cluster.ts), not the
 * dev server on SQLite. One stack (MySQL hosts in a VIP lab, DM's source
 * reading through the VIP, TiDB downstream) runs, in order: a VIP switch and
 * an address switch with the real worker in this process, a crash of the
 * Temporal server, and the kill of one of two worker processes on one task
 * queue mid-wait. Each case asserts the end state of DM, the VIP and the
 * downstream, and that SQL visibility lists the switch by its search
 * attributes.
 */
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressSwitchRequest, VipSwitchRequest } from '../../common/switch/input.js';
import { SEARCH_ATTRIBUTES } from '../../common/switch/search-attributes.js';
import { checkSearchAttributes } from '../../worker/search-attributes.js';
import type { DbInstance } from '../sandbox/db.js';
import type { DmCluster } from '../sandbox/dm.js';
import { startStack, type Stack } from '../sandbox/stack.js';
import {
  addressSwitchSteps,
  binlogDumps,
  downstreamMatches,
  killWorkerRunning,
  listedSwitch,
  runSwitch,
  sourceIds,
  sourceReads,
  startInProcessWorker,
  startSwitch,
  taskState,
  writeUntil,
} from '../sandbox/switch-harness.js';
import type { TemporalCluster } from '../sandbox/temporal-cluster.js';
import type { TidbInstance } from '../sandbox/tidb.js';
import { waitCaughtUp, writeRows } from '../sandbox/topology.js';
import type { VipLab } from '../sandbox/vip-lab.js';
import { startWorkerProcess, type WorkerProcess } from '../sandbox/worker-process.js';

const QUEUE = 'cluster-e2e';
const KILL_QUEUE = 'cluster-kill';
let stack: Stack;
let temporal: TemporalCluster;
let SOURCE: string;
let TASK: string;
let lab: VipLab;
let primary: DbInstance;
let a: DbInstance;
let b: DbInstance;
let dm: DmCluster;
let tidb: TidbInstance;
let client: Client;
let stopWorker: (() => Promise<void>) | undefined;
const processes: WorkerProcess[] = [];

beforeAll(async () => {
  const t0 = Date.now();
  stack = await startStack({ temporalCluster: true, mysql: { replicas: 2 }, dm: true, vip: true });
  console.log(`stack with the Temporal cluster up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  temporal = stack.temporal as TemporalCluster;
  [primary, a, b] = stack.topology!.all() as [DbInstance, DbInstance, DbInstance];
  ({ vipLab: lab, dm, downstream: tidb } = stack as Required<Stack>);
  SOURCE = stack.sourceId!;
  TASK = stack.taskName!;
  await writeRows(primary, 10);
  await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
  ({ client, stop: stopWorker } = await startInProcessWorker(temporal.address, stack.workerConfigYaml(QUEUE)));
}, 400_000);

afterAll(async () => {
  await stopWorker?.();
  for (const p of processes) await p.stop().catch(() => undefined);
  await stack?.stop();
});

const vipRef = (db: DbInstance) => ({ host: db.host, port: 3306, credentials: 'sandbox-root' });
const matches = (timeoutMs?: number) => downstreamMatches(primary, tidb, timeoutMs);
const writing = (ended: Promise<unknown>) => writeUntil(ended, () => writeRows(primary, 1));
const setDelay = (db: DbInstance, s: number) =>
  db.query(`STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = ${s}; START REPLICA SQL_THREAD`);
/** The run as SQL visibility lists it, found by the switch's own search attributes. */
const listed = async (handle: WorkflowHandle, kind: string) => {
  const { runId } = await handle.describe();
  return listedSwitch(
    client,
    `DmSwitchSource = "${SOURCE}" AND DmSwitchKind = "${kind}" AND DmSwitchOutcome = "switched"`,
    runId,
  );
};

describe('the Temporal cluster (server on PostgreSQL)', () => {
  it("serves the namespace, with the switches' search attributes registered as Keyword", async () => {
    const connection = await Connection.connect({ address: temporal.address });
    try {
      const ns = await connection.workflowService.describeNamespace({ namespace: 'default' });
      expect(ns.namespaceInfo?.name).toBe('default');
      const info = await connection.workflowService.getSystemInfo({});
      expect(info.serverVersion).toMatch(/^1\.32\./);
    } finally {
      await connection.close();
    }
    const listedTypes = await temporal.listSearchAttributes();
    for (const name of Object.keys(SEARCH_ATTRIBUTES)) expect(listedTypes[name], name).toBe('Keyword');
    // the worker's own start-up check agrees
    expect(await checkSearchAttributes({ address: temporal.address }, 'default')).toEqual({ ok: true });
  });
});

describe('switches on the Temporal cluster', { timeout: 300_000 }, () => {
  it('VIP switch: moves DM from replica A to B, every row downstream once, listed by SQL visibility', async () => {
    await writeRows(primary, 10);
    await matches();
    const req: VipSwitchRequest = {
      sourceId: SOURCE,
      newInstance: vipRef(b),
      oldInstance: vipRef(a),
      vip: { address: lab.vip },
      options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 },
    };
    const { status, error, handle } = await runSwitch(client, 'vipSwitch', QUEUE, req, writing);
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.steps.filter((s) => s.step.startsWith('move VIP')).map((s) => s.step)).toEqual([
      `move VIP ${lab.vip} to ${b.host}`,
    ]);
    expect(await lab.provider().locate(lab.vip, [])).toBe(b.host);
    await writeRows(primary, 10);
    await matches();
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
    expect(await binlogDumps(b)).toBeGreaterThan(0);
    expect(await listed(handle, 'vip-switch')).toMatchObject({
      DmSwitchSource: SOURCE,
      DmSwitchCluster: 'default',
      DmSwitchKind: 'vip-switch',
      DmSwitchOutcome: 'switched',
    });
  });

  it("address switch: re-points the source from B (through the VIP) to A's own address, listed by SQL visibility", async () => {
    await waitCaughtUp(a, primary, 60_000);
    const req: AddressSwitchRequest = {
      sourceId: SOURCE,
      newInstance: vipRef(a),
      oldInstance: vipRef(b),
      taskCredentials: 'sandbox-root',
      options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 },
    };
    const { status, error, handle } = await runSwitch(client, 'addressSwitch', QUEUE, req, writing);
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.steps.map((s) => s.step)).toEqual(addressSwitchSteps(SOURCE, TASK, { host: a.host, port: 3306 }));
    expect(await sourceIds(dm)).toEqual([SOURCE]);
    expect(await sourceReads(dm, SOURCE)).toEqual({ host: a.host, port: 3306 });
    await writeRows(primary, 10);
    await matches(90_000);
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
    expect(await binlogDumps(a)).toBeGreaterThan(0);
    expect(await listed(handle, 'address-switch')).toMatchObject({
      DmSwitchSource: SOURCE,
      DmSwitchKind: 'address-switch',
      DmSwitchOutcome: 'switched',
    });
  });

  it('given the Temporal server killed (PostgreSQL running on), should start again on the same database and know every switch', async () => {
    const before = await client.workflow.count(`DmSwitchSource = "${SOURCE}"`);
    await temporal.kill();
    expect(temporal.running).toBe(false);
    await temporal.start();
    expect(temporal.running).toBe(true);
    expect((await client.workflow.count(`DmSwitchSource = "${SOURCE}"`)).count).toBe(before.count);
  });

  it('given two worker processes on one task queue and the one running the catch-up wait killed, should carry on on the other within 15 s and switch exactly once', async () => {
    const config = stack.workerConfigYaml(KILL_QUEUE);
    const workers = await Promise.all(
      [0, 1].map(() => startWorkerProcess({ configYaml: config, temporalAddress: temporal.address })),
    );
    processes.push(...workers);
    // B lags, so the switch waits inside mysqlWaitForGtids long enough to kill the worker running it
    await setDelay(b, 40);
    try {
      await writeRows(primary, 5);
      const sw = await startSwitch(client, 'addressSwitch', KILL_QUEUE, {
        sourceId: SOURCE,
        newInstance: vipRef(b),
        oldInstance: vipRef(a),
        taskCredentials: 'sandbox-root',
        options: { catchUpTimeoutSeconds: 120, verifyTimeoutSeconds: 120 },
      } as AddressSwitchRequest);
      const writer = writeUntil(
        sw.handle.result().catch(() => undefined),
        () => writeRows(primary, 1),
        500,
      ).catch(() => 0);
      const { first, retry, takeoverMs, victim } = await killWorkerRunning(sw.handle, 'mysqlWaitForGtids', workers);
      expect(retry.lastWorkerIdentity).not.toBe(first.lastWorkerIdentity);
      expect(Number(retry.lastWorkerIdentity!.split('@')[0])).toBe(workers[1 - victim]!.pid);
      expect(takeoverMs).toBeLessThanOrEqual(15_000);
      await setDelay(b, 0);
      const { status, error } = await sw.end();
      await writer;
      expect(error).toBeUndefined();
      expect(status.outcome).toBe('switched');
      // exactly once: one stop and one start of the task, one source
      expect(status.steps.map((x) => x.step)).toEqual(addressSwitchSteps(SOURCE, TASK, { host: b.host, port: 3306 }));
      expect(await sourceIds(dm)).toEqual([SOURCE]);
      expect(await sourceReads(dm, SOURCE)).toEqual({ host: b.host, port: 3306 });
      expect(await listed(sw.handle, 'address-switch')).toMatchObject({ DmSwitchOutcome: 'switched' });
    } finally {
      await setDelay(b, 0);
    }
    await writeRows(primary, 5);
    await matches(90_000);
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });
});
