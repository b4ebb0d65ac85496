/**
 * The VIP switch end to end on real components: MySQL 9.7 hosts in network
 * namespaces (primary, replica A, replica B), a real VIP moved by `ip addr`
 * and a gratuitous ARP, a DM cluster whose source reads through the VIP, TiDB
 * downstream, the Temporal dev server and the real worker activities.
 *
 * Each case asserts the end state of DM, MySQL, the VIP and the downstream
 * data, not only the workflow's result.
 */
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { switchWorkflowId } from '../../common/switch/ids.js';
import type { VipSwitchRequest } from '../../common/switch/input.js';
import { statusQuery } from '../../common/switch/messages.js';
import type { SwitchStatus } from '../../common/switch/status.js';
import { buildActivities } from '../../worker/activities.js';
import { parseWorkerConfig } from '../../worker/config.js';
import { workflowsPath } from '../../worker/workflows-path.js';
import { startDb, type DbInstance } from '../sandbox/db.js';
import { startDm, type DmCluster } from '../sandbox/dm.js';
import { createSource, expectOk, startIncrementalTask } from '../sandbox/dm-setup.js';
import { startTemporal, type TemporalDevServer } from '../sandbox/temporal.js';
import { startTidb, type TidbInstance } from '../sandbox/tidb.js';
import { replicateFrom, tableChecksum, waitCaughtUp, writeRows } from '../sandbox/topology.js';
import { startVipLab, type VipLab } from '../sandbox/vip-lab.js';

const SOURCE = 'mysql-via-vip';
const TASK = 'app-via-vip';
let lab: VipLab;
let primary: DbInstance;
let a: DbInstance;
let b: DbInstance;
let dm: DmCluster;
let tidb: TidbInstance;
let temporal: TemporalDevServer;
let client: Client;
let worker: Worker;
let workerRun: Promise<void>;
let nativeConnection: NativeConnection;

beforeAll(async () => {
  lab = await startVipLab({ hosts: 3 });
  const host = (i: number, serverId: number, name: string) =>
    startDb({ flavor: 'mysql', netns: lab.hosts[i]!.netns, host: lab.hosts[i]!.address, bindAddress: '0.0.0.0', port: 3306, serverId, name });
  [primary, a, b, dm, tidb, temporal] = await Promise.all([host(0, 1, 'vip-primary'), host(1, 2, 'vip-replica-a'), host(2, 3, 'vip-replica-b'), startDm({ workers: 1 }), startTidb(), startTemporal()]);
  await Promise.all([replicateFrom(a, primary), replicateFrom(b, primary)]);
  await writeRows(primary, 10);
  await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
  await lab.assign(1); // the VIP starts on replica A
  // DM reads through the VIP: its source config names the VIP, not replica A
  await createSource(dm, SOURCE, { host: lab.vip, port: 3306, flavor: 'mysql' });
  await startIncrementalTask(dm, TASK, [SOURCE], tidb, a);

  const config = parseWorkerConfig(`
dm: { clusters: { default: { masterAddr: "${dm.masterAddr}", dmctl: "${dm.dmctlPath}" } } }
credentials: { sandbox-root: { user: root } }
vip: { providers: { default: { type: command, locate: ${JSON.stringify(lab.locateCommand)}, move: ${JSON.stringify(lab.moveCommand)}, env: ${JSON.stringify(lab.env)} } } }
taskQueue: e2e-vip
`);
  nativeConnection = await NativeConnection.connect({ address: temporal.address });
  worker = await Worker.create({ connection: nativeConnection, taskQueue: 'e2e-vip', workflowsPath, activities: buildActivities(config) });
  workerRun = worker.run();
  client = new Client({ connection: await Connection.connect({ address: temporal.address }) });
}, 300_000);

afterAll(async () => {
  worker?.shutdown();
  await workerRun?.catch(() => undefined);
  await nativeConnection?.close();
  await client?.connection.close();
  await Promise.all([temporal?.destroy(), dm?.destroy(), tidb?.destroy(), primary?.destroy(), a?.destroy(), b?.destroy()].map((p) => p?.catch(() => undefined)));
  await lab?.destroy();
});

const ref = (db: DbInstance) => ({ host: db.host, port: 3306, credentials: 'sandbox-root' });

async function runSwitch(req: VipSwitchRequest, during?: () => Promise<void>): Promise<{ status: SwitchStatus; error?: unknown }> {
  const handle = await client.workflow.start('vipSwitch', { taskQueue: 'e2e-vip', workflowId: `${switchWorkflowId('default', SOURCE)}-${Date.now()}`, args: [req] });
  const duringDone = during?.();
  let error: unknown;
  try {
    await handle.result();
  } catch (e) {
    error = e;
  }
  await duringDone;
  return { status: await handle.query(statusQuery), error };
}

async function downstreamMatchesPrimary(timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [want, got] = await Promise.all([tableChecksum(primary), tableChecksum(tidb)]);
    if (want.rows === got.rows && want.checksum === got.checksum) return;
    if (Date.now() > deadline) throw new Error(`downstream ${JSON.stringify(got)} != primary ${JSON.stringify(want)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function taskState(): Promise<{ stage: string; unit: string }> {
  const r = expectOk('query-status', await dm.ctl(['query-status', TASK]));
  const sub = (r.sources as Array<{ subTaskStatus: Array<{ stage: string; unit: string }> }>)[0]!.subTaskStatus[0]!;
  return { stage: sub.stage, unit: sub.unit };
}

const failureType = (e: unknown) => (e instanceof WorkflowFailedError && e.cause instanceof ApplicationFailure ? e.cause.type : undefined);

// a switch's verification can wait on DM's checkpoint flushes (about a minute): generous per-test time
describe('VIP switch on the real stack', { timeout: 300_000 }, () => {
  it('given rows before, during and after, should move DM from replica A to B with every row downstream exactly once', async () => {
    await writeRows(primary, 20);
    await downstreamMatchesPrimary();
    const { status, error } = await runSwitch(
      { sourceId: SOURCE, newInstance: ref(b), oldInstance: ref(a), vip: { address: lab.vip }, options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 } },
      async () => {
        // writes while the switch runs: some land while DM is paused
        for (let i = 0; i < 10; i++) {
          await writeRows(primary, 3);
          await new Promise((r) => setTimeout(r, 200));
        }
      },
    );
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.steps.map((s) => s.step)).toEqual([`pause-task ${TASK}`, `move VIP ${lab.vip} to ${b.host}`, `resume-task ${TASK}`]);
    expect(await lab.provider().locate(lab.vip, [])).toBe(b.host);

    await writeRows(primary, 20);
    await downstreamMatchesPrimary();
    expect(await taskState()).toEqual({ stage: 'Running', unit: 'Sync' });
    const dumps = await b.query<{ n: number }>(`SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'`);
    expect(Number(dumps[0]!.n)).toBeGreaterThan(0);
  });

  it('given a new instance that lags (SOURCE_DELAY), should wait for it and then switch', async () => {
    // replica A is the target now: make it apply 8 s behind the primary, threads running
    await a.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 8; START REPLICA SQL_THREAD');
    let outcome: Awaited<ReturnType<typeof runSwitch>>;
    try {
      await writeRows(primary, 5);
      await downstreamMatchesPrimary(); // DM (through B) is now ahead of A
      outcome = await runSwitch({ sourceId: SOURCE, newInstance: ref(a), oldInstance: ref(b), vip: { address: lab.vip }, options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 } });
    } finally {
      await a.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 0; START REPLICA SQL_THREAD');
    }
    const { status, error } = outcome;
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.decisions.some((d) => d.verdict === 'wait')).toBe(true);
    expect(status.decisions.some((d) => /caught up after \d+ s/.test(d.reason))).toBe(true);
    expect(await lab.provider().locate(lab.vip, [])).toBe(a.host);
    await writeRows(primary, 5);
    await downstreamMatchesPrimary();
  });

  it('given a new instance that never catches up in time, should time out and leave DM on the old instance', async () => {
    await b.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 3600; START REPLICA SQL_THREAD');
    let outcome: Awaited<ReturnType<typeof runSwitch>>;
    try {
      await writeRows(primary, 5);
      await downstreamMatchesPrimary();
      outcome = await runSwitch({ sourceId: SOURCE, newInstance: ref(b), oldInstance: ref(a), vip: { address: lab.vip }, options: { catchUpTimeoutSeconds: 5, verifyTimeoutSeconds: 60 } });
    } finally {
      await b.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 0; START REPLICA SQL_THREAD');
    }
    const { status, error } = outcome;
    expect(failureType(error)).toBe('CatchUpTimeout');
    expect(status.outcome).toBe('rolled-back');
    expect(status.compensation.map((c) => `${c.step}:${c.result}`)).toEqual([`resume-task ${TASK}:done`]);
    expect(await lab.provider().locate(lab.vip, [])).toBe(a.host);
    await writeRows(primary, 5);
    await downstreamMatchesPrimary();
    expect(await taskState()).toEqual({ stage: 'Running', unit: 'Sync' });
  });

  it('given the old instance crashed (killed first), should still switch and lose no row', async () => {
    await waitCaughtUp(b, primary, 60_000);
    a.kill();
    await a.waitExit();
    await writeRows(primary, 10); // DM cannot read these until it moves
    const { status, error } = await runSwitch({ sourceId: SOURCE, newInstance: ref(b), oldInstance: ref(a), vip: { address: lab.vip }, options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 120 } });
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.warnings.join('\n')).toMatch(/old instance .* is unreachable/);
    expect(await lab.provider().locate(lab.vip, [])).toBe(b.host);
    await writeRows(primary, 5);
    await downstreamMatchesPrimary(90_000);
    expect(await taskState()).toEqual({ stage: 'Running', unit: 'Sync' });
  });

  it('given relay on, should stop it for the move, start it after, and verify it moved to a new sub-directory', async () => {
    await a.start(); // back from the crash of the previous case, replicating again
    await waitCaughtUp(a, primary, 60_000);
    expectOk('start-relay', await dm.ctl(['start-relay', '-s', SOURCE]));
    const relayOf = async () => {
      const r = expectOk('query-status', await dm.ctl(['query-status', '-s', SOURCE]));
      return (r.sources as Array<{ sourceStatus: { relayStatus: null | { relaySubDir: string; stage: string; relayCatchUpMaster: boolean } } }>)[0]!.sourceStatus.relayStatus;
    };
    for (let i = 0; i < 60 && (await relayOf())?.stage !== 'Running'; i++) await new Promise((r) => setTimeout(r, 500));
    const before = await relayOf();
    expect(before?.stage).toBe('Running');
    try {
      await writeRows(primary, 10);
      await downstreamMatchesPrimary();
      const { status, error } = await runSwitch({ sourceId: SOURCE, newInstance: ref(a), oldInstance: ref(b), vip: { address: lab.vip }, options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 120 } });
      expect(error).toBeUndefined();
      expect(status.outcome).toBe('switched');
      expect(status.steps.map((x) => x.step)).toEqual([`pause-task ${TASK}`, `stop-relay -s ${SOURCE}`, `move VIP ${lab.vip} to ${a.host}`, `start-relay -s ${SOURCE}`, `resume-task ${TASK}`]);
      const after = await relayOf();
      expect(after?.relaySubDir).not.toBe(before?.relaySubDir);
      expect(after?.relaySubDir.startsWith(await a.variable('server_uuid'))).toBe(true);
      expect(status.decisions.at(-2)?.reason).toMatch(/relay switched to sub-directory/);
      await writeRows(primary, 10);
      await downstreamMatchesPrimary();
      expect(await taskState()).toEqual({ stage: 'Running', unit: 'Sync' });
    } finally {
      await dm.ctl(['stop-relay', '-s', SOURCE]);
    }
  });
});
