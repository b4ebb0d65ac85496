/**
 * Durability on the real stack: the worker is a real process (worker/main.ts)
 * and is killed with SIGKILL at every phase boundary of a switch, and inside
 * its long activities (the catch-up wait), then started again; the Temporal
 * dev server is killed and restarted on its SQLite file mid-switch; and of
 * two workers on one task queue, the one running a switch's wait is killed
 * and the other carries the switch on. Each
 * switch must complete exactly once: the VIP moved once (the lab's move log
 * counts real moves), one source in DM, the task Running, every row
 * downstream exactly once.
 *
 * The cases run in order on one stack: MySQL hosts in a VIP lab, DM's source
 * reading through the VIP, TiDB downstream.
 */
import { Client, Connection } from '@temporalio/client';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbInstance } from '../sandbox/db.js';
import type { DmCluster } from '../sandbox/dm.js';
import { crashAtEveryStep } from '../sandbox/crash.js';
import { startStack, type Stack } from '../sandbox/stack.js';
import {
  addressSwitchSteps,
  binlogDumps,
  downstreamMatches,
  sourceIds,
  sourceReads,
  startSwitch,
  taskState,
  writeUntil,
} from '../sandbox/switch-harness.js';
import type { TidbInstance } from '../sandbox/tidb.js';
import { waitCaughtUp, writeRows } from '../sandbox/topology.js';
import type { VipLab } from '../sandbox/vip-lab.js';
import { startWorkerProcess, type WorkerProcess } from '../sandbox/worker-process.js';

const QUEUE = 'e2e-crash';
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
let worker: WorkerProcess;
let dir: string;
let moveLog: string;

beforeAll(async () => {
  stack = await startStack({ temporal: true, mysql: { replicas: 2 }, dm: true, vip: true });
  [primary, a, b] = stack.topology!.all() as [DbInstance, DbInstance, DbInstance];
  ({ vipLab: lab, dm, downstream: tidb } = stack as Required<Stack>);
  SOURCE = stack.sourceId!;
  TASK = stack.taskName!;
  dir = await mkdtemp(join(tmpdir(), 'dsw-crash-'));
  moveLog = join(dir, 'vip-moves.log');
  await writeRows(primary, 10);
  await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
  worker = await startWorkerProcess({
    configYaml: stack.workerConfigYaml(QUEUE, { vipMoveLog: moveLog }),
    temporalAddress: stack.temporal!.address,
  });
  client = new Client({ connection: await Connection.connect({ address: stack.temporal!.address }) });
}, 300_000);

/** Writers a failed case may leave running, their rejection (the stack stopped under them) handled. */
const writers: Array<Promise<unknown>> = [];

afterAll(async () => {
  await worker?.stop();
  await client?.connection.close();
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const ref = (db: DbInstance, port = 3306) => ({ host: db.host, port, credentials: 'sandbox-root' });
const moves = async () => (await readFile(moveLog, 'utf8').catch(() => '')).split('\n').filter(Boolean);
const matches = (timeoutMs?: number) => downstreamMatches(primary, tidb, timeoutMs);

describe('crash recovery on the real stack', { timeout: 600_000 }, () => {
  it('given the worker killed at every phase boundary and inside the catch-up wait, should VIP-switch exactly once', async () => {
    // B lags 60 s so that the switch waits for it, and the crash can land inside that wait (even when a
    // killed worker had already paused the tasks and the retry comes a heartbeat timeout, 10 s, later, and
    // DM's paused position is its last flushed checkpoint, up to 30 s old)
    await b.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 60; START REPLICA SQL_THREAD');
    try {
      await writeRows(primary, 10);
      await matches();
      const sw = await startSwitch(client, 'vipSwitch', QUEUE, {
        sourceId: SOURCE,
        newInstance: ref(b),
        oldInstance: ref(a),
        vip: { address: lab.vip },
        options: { catchUpTimeoutSeconds: 120, verifyTimeoutSeconds: 120 },
      } as never);
      const writer = writeUntil(
        sw.handle.result().catch(() => undefined),
        () => writeRows(primary, 1),
        500,
      );
      const kills = await crashAtEveryStep(sw.handle, worker, { inside: ['mysqlWaitForGtids'] });
      await writer;
      const { status, error } = await sw.end();
      console.log('kills:', kills.join(', '));
      expect(error).toBeUndefined();
      expect(status.outcome).toBe('switched');
      expect(kills).toEqual(
        expect.arrayContaining([
          'before dmPauseTasks',
          'inside mysqlWaitForGtids',
          'before vipMove',
          'before dmResumeTasksSyncing',
          'before dmAwaitPositions',
        ]),
      );
      expect(worker.starts).toBe(kills.length + 1);
      // exactly once: one real VIP move, one pause and one move in the switch's own record
      expect(await moves()).toEqual([expect.stringMatching(new RegExp(`${a.host} -> ${b.host}$`))]);
      expect(status.steps.filter((s) => s.step.startsWith('move VIP'))).toHaveLength(1);
      expect(await lab.provider().locate(lab.vip, [])).toBe(b.host);
    } finally {
      await b.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 0; START REPLICA SQL_THREAD');
    }
    await writeRows(primary, 10);
    await matches(90_000);
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });

  it('given the worker killed at every phase boundary, should re-point the source exactly once', async () => {
    await waitCaughtUp(a, primary, 60_000);
    const sw = await startSwitch(client, 'addressSwitch', QUEUE, {
      sourceId: SOURCE,
      newInstance: ref(a),
      oldInstance: ref(b),
      taskCredentials: 'sandbox-root',
      options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 120 },
    } as never);
    const writer = writeUntil(
      sw.handle.result().catch(() => undefined),
      () => writeRows(primary, 1),
      500,
    );
    const kills = await crashAtEveryStep(sw.handle, worker);
    await writer;
    const { status, error } = await sw.end();
    console.log('kills:', kills.join(', '));
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(kills).toEqual(
      expect.arrayContaining([
        'before dmSaveConfigs',
        'before dmStopTasks',
        'before dmStopSource',
        'before dmCreateSource',
        'before dmStartTasks',
      ]),
    );
    expect(status.steps.map((s) => s.step)).toEqual([
      `stop-task -s ${SOURCE} ${TASK}`,
      `operate-source stop ${SOURCE}`,
      `operate-source create ${SOURCE} reading ${a.host}:3306`,
      `start-task -s ${SOURCE} ${TASK}`,
    ]);
    expect(await sourceIds(dm)).toEqual([SOURCE]);
    expect(await sourceReads(dm, SOURCE)).toEqual({ host: a.host, port: 3306 });
    await writeRows(primary, 10);
    await matches(90_000);
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
    expect(await binlogDumps(a)).toBeGreaterThan(0);
  });

  it('given the Temporal server killed and restarted on its SQLite file mid-switch, should finish the switch', async () => {
    await waitCaughtUp(b, primary, 60_000);
    const sw = await startSwitch(client, 'addressSwitch', QUEUE, {
      sourceId: SOURCE,
      newInstance: ref(b),
      oldInstance: ref(a),
      taskCredentials: 'sandbox-root',
      options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 120 },
    } as never);
    // wait until the tasks are being stopped, then crash the server
    for (;;) {
      const { events } = await sw.handle.fetchHistory();
      if ((events ?? []).some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'dmStopTasks'))
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await stack.temporal!.kill();
    await writeRows(primary, 5);
    await new Promise((r) => setTimeout(r, 2000));
    await stack.temporal!.start();
    const writer = writeUntil(
      sw.handle.result().catch(() => undefined),
      () => writeRows(primary, 1),
      500,
    );
    const { status, error } = await sw.end();
    await writer;
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(await sourceIds(dm)).toEqual([SOURCE]);
    expect(await sourceReads(dm, SOURCE)).toEqual({ host: b.host, port: 3306 });
    await writeRows(primary, 5);
    await matches(90_000);
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });

  it('given two workers on one task queue and the one running the catch-up wait killed, should carry on on the other within 15 s and switch exactly once', async () => {
    const second = await startWorkerProcess({
      configYaml: stack.workerConfigYaml(QUEUE, { vipMoveLog: moveLog }),
      temporalAddress: stack.temporal!.address,
    });
    // A lags, so the switch waits inside mysqlWaitForGtids long enough to kill the worker running it
    await a.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 40; START REPLICA SQL_THREAD');
    try {
      await writeRows(primary, 5);
      const sw = await startSwitch(client, 'addressSwitch', QUEUE, {
        sourceId: SOURCE,
        newInstance: ref(a),
        oldInstance: ref(b),
        taskCredentials: 'sandbox-root',
        options: { catchUpTimeoutSeconds: 120, verifyTimeoutSeconds: 120 },
      } as never);
      const writer = writeUntil(
        sw.handle.result().catch(() => undefined),
        () => writeRows(primary, 1),
        500,
      );
      writers.push(writer.catch(() => 0));
      type Pending = {
        activityType?: { name?: string | null } | null;
        state?: unknown;
        attempt?: number | null;
        lastWorkerIdentity?: string | null;
        lastStartedTime?: { seconds?: unknown; nanos?: number | null } | null;
      };
      const startedMs = (p: Pending) =>
        Number(p.lastStartedTime?.seconds ?? 0) * 1000 + (p.lastStartedTime?.nanos ?? 0) / 1e6;
      const waiting = async (): Promise<Pending | undefined> =>
        ((await sw.handle.describe()).raw.pendingActivities as Pending[] | undefined)?.find(
          (p) => p.activityType?.name === 'mysqlWaitForGtids' && p.lastWorkerIdentity,
        );
      let first: Pending | undefined;
      for (const deadline = Date.now() + 120_000; !(first = await waiting());) {
        if (Date.now() > deadline) throw new Error('the switch never waited in mysqlWaitForGtids');
        await new Promise((r) => setTimeout(r, 100));
      }
      // the worker running it (the SDK's identity is pid@host), killed with SIGKILL
      const pid = Number(first.lastWorkerIdentity!.split('@')[0]);
      const [victim, survivor] = worker.pid === pid ? [worker, second] : [second, worker];
      expect(victim.pid).toBe(pid);
      const killedAt = Date.now();
      await victim.kill9();
      let retry: Pending | undefined;
      for (const deadline = Date.now() + 60_000; ;) {
        retry = await waiting();
        // the retry scheduled is not enough (its worker identity is still the dead one's): started again, after the kill
        if (retry && (retry.attempt ?? 1) > (first.attempt ?? 1) && startedMs(retry) > killedAt) break;
        if (Date.now() > deadline) throw new Error(`no other worker took the wait over: ${JSON.stringify(retry)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const startedAt = startedMs(retry);
      expect(retry.lastWorkerIdentity).not.toBe(first.lastWorkerIdentity);
      expect(survivor.pid).toBeDefined();
      expect(startedAt - killedAt).toBeLessThanOrEqual(15_000);
      await a.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 0; START REPLICA SQL_THREAD');
      const { status, error } = await sw.end();
      await writer;
      expect(error).toBeUndefined();
      expect(status.outcome).toBe('switched');
      // exactly once: one stop and one start of the task, one source
      expect(status.steps.map((x) => x.step)).toEqual(addressSwitchSteps(SOURCE, TASK, { host: a.host, port: 3306 }));
      expect(await sourceIds(dm)).toEqual([SOURCE]);
      expect(await sourceReads(dm, SOURCE)).toEqual({ host: a.host, port: 3306 });
    } finally {
      await a.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 0; START REPLICA SQL_THREAD');
      if (!worker.pid) await worker.start();
      await second.stop();
    }
    await writeRows(primary, 5);
    await matches(90_000);
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });
});
