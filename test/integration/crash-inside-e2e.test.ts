/**
 * Crashes inside the steps that change something (the outcome must still be the real state), on the real
 * stack: the worker is a real process that kills itself with SIGKILL right
 * after an activity's effect and before its completion reaches Temporal
 * (test/sandbox/crash-after.ts), and is started again. The retried activity
 * then finds its work done ("already there", "already paused"). Each switch
 * is then forced to compensate (a rejection at a gate, or a cancellation),
 * and the real end state must be what the outcome says: the VIP back on the
 * old instance (the lab's move log counts every real move), every task
 * Running, relay Running, DM's binlog dumps on the old instance and none on
 * the new one, every row downstream exactly once.
 *
 * One stack for every case: MySQL primary + two replicas in a VIP lab, DM's
 * source reading through the VIP (on replica A) with relay on and two tasks
 * (schemas app and app2), TiDB downstream. Every case starts and ends with
 * that state, so the cases run in order on it.
 */
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejectUpdate, statusQuery } from '../../common/switch/messages.js';
import type { SwitchStatus } from '../../common/switch/status.js';
import type { DbInstance } from '../sandbox/db.js';
import { expectOk, taskConfig } from '../sandbox/dm-setup.js';
import type { DmCluster } from '../sandbox/dm.js';
import { startStack, type Stack } from '../sandbox/stack.js';
import {
  binlogDumps,
  downstreamMatches,
  failureType,
  historyEvents,
  relayStatus,
  saveHistory,
  sourceReads,
  startRelay,
  startSwitch,
  taskState,
  waitForStatus,
  writeUntil,
} from '../sandbox/switch-harness.js';
import type { TidbInstance } from '../sandbox/tidb.js';
import { tableChecksum, waitCaughtUp, writeRows } from '../sandbox/topology.js';
import type { VipLab } from '../sandbox/vip-lab.js';
import { startWorkerProcess, type WorkerProcess } from '../sandbox/worker-process.js';

const QUEUE = 'e2e-crash-inside';
const TASK2 = 'app2-to-downstream';
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
  dir = await mkdtemp(join(tmpdir(), 'dsw-crash-inside-'));
  moveLog = join(dir, 'vip-moves.log');
  // a second task on the source: schema app2, started from A's position after its table exists on both sides
  await primary.query('CREATE DATABASE IF NOT EXISTS app2');
  await primary.query(
    'CREATE TABLE IF NOT EXISTS app2.rows (id BIGINT PRIMARY KEY AUTO_INCREMENT, payload VARCHAR(64) NOT NULL, written_by INT NOT NULL)',
  );
  await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
  await tidb.query('CREATE DATABASE IF NOT EXISTS app2');
  await tidb.query(
    'CREATE TABLE IF NOT EXISTS app2.rows (id BIGINT PRIMARY KEY AUTO_INCREMENT, payload VARCHAR(64) NOT NULL, written_by INT NOT NULL)',
  );
  const [pos] = await a.query<{ File: string; Position: number; Executed_Gtid_Set: string }>('SHOW BINARY LOG STATUS');
  const cfg = taskConfig(TASK2, [SOURCE], tidb, {
    'binlog-name': pos!.File,
    'binlog-pos': Number(pos!.Position),
    'binlog-gtid': pos!.Executed_Gtid_Set.replace(/\s+/g, ''),
  });
  cfg['block-allow-list'] = { 'app-only': { 'do-dbs': ['app2'] } };
  expectOk('start-task', await dm.ctl(['start-task', await dm.file(`task-${TASK2}.yaml`, stringify(cfg))]));
  expect((await startRelay(dm, SOURCE))?.stage).toBe('Running');
  worker = await startWorkerProcess({
    configYaml: stack.workerConfigYaml(QUEUE, { vipMoveLog: moveLog }),
    temporalAddress: stack.temporal!.address,
    entry: join(import.meta.dirname, '../sandbox/crash-after.ts'),
    autoRestart: true,
  });
  client = new Client({ connection: await Connection.connect({ address: stack.temporal!.address }) });
  await write(5);
  await inSync();
}, 300_000);

afterAll(async () => {
  await worker?.stop();
  await client?.connection.close();
  await stack?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const ref = (db: { host: string }) => ({ host: db.host, port: 3306, credentials: 'sandbox-root' });
const moves = async () => (await readFile(moveLog, 'utf8').catch(() => '')).split('\n').filter(Boolean);
const write = async (n: number) => {
  await writeRows(primary, n);
  for (let i = 0; i < n; i++)
    await primary.query(`INSERT INTO app2.rows (payload, written_by) VALUES (?, @@server_id)`, [`row-${i}`]);
};
/** Every row of both schemas downstream exactly once; on a miss, what DM says of the source, for the reader. */
async function inSync(timeoutMs = 180_000): Promise<void> {
  try {
    await downstreamMatches(primary, tidb, timeoutMs);
  } catch (e) {
    const status = await dm.ctl(['query-status', '-s', SOURCE]).catch((x: Error) => x.message);
    const gtids = await Promise.all([primary, a, b].map((d) => d.variable('gtid_executed').catch(() => '?')));
    throw new Error(
      `${(e as Error).message}\nDM: ${JSON.stringify(status).slice(0, 4000)}\ngtid_executed primary/A/B: ${gtids.join(' / ')}`,
    );
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [want, got] = await Promise.all([
      tableChecksum(primary, 'rows', 'app2'),
      tableChecksum(tidb, 'rows', 'app2'),
    ]);
    if (want.rows === got.rows && want.checksum === got.checksum) return;
    if (Date.now() > deadline)
      throw new Error(`downstream app2.rows ${JSON.stringify(got)} != upstream ${JSON.stringify(want)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** The worker kills itself after each of `types` (once each) from the next start on; a fresh start so the setting applies. */
async function crashAfter(types: string[]): Promise<string> {
  const marks = await mkdtemp(join(dir, 'marks-'));
  worker.setEnv({ DM_SWITCH_TEST_CRASH_AFTER: types.join(','), DM_SWITCH_TEST_CRASH_MARKS: marks });
  await worker.kill9();
  await worker.start();
  return marks;
}

async function reject(handle: WorkflowHandle, gate: string): Promise<void> {
  await waitForStatus(handle, (s) => s.approvals.some((x) => x.gate === gate && x.state === 'pending'), 180_000);
  await handle.executeUpdate(rejectUpdate, { args: [{ by: 'dba', comment: 'forcing compensation after a crash' }] });
}

/**
 * What `rolled-back` promises, read from the real state: the VIP on A (the
 * old instance), the source reading the VIP, both tasks Running in Sync,
 * relay Running, DM's dump connections on A and none on B, and every row
 * written meanwhile and after downstream exactly once.
 */
async function expectRolledBack(
  status: SwitchStatus,
  error: unknown,
  movesBefore: number,
  movesNow: number,
): Promise<void> {
  const why = status.decisions.map((d) => `${d.verdict}: ${d.reason}`).join('\n');
  expect(status.outcome, why).toBe('rolled-back');
  expect(failureType(error)).not.toBe('CompensationFailed');
  expect(status.decisions.at(-1)?.reason, why).toMatch(/^every change was undone, and checked: /);
  expect(await lab.provider().locate(lab.vip, [])).toBe(a.host);
  expect(await sourceReads(dm, SOURCE)).toEqual({ host: lab.vip, port: 3306 });
  expect((await moves()).length - movesBefore).toBe(movesNow);
  for (const task of [TASK, TASK2])
    expect(await taskState(dm, SOURCE, task)).toEqual({ stage: 'Running', unit: 'Sync' });
  expect((await relayStatus(dm, SOURCE))?.stage).toBe('Running');
  expect(await binlogDumps(a)).toBeGreaterThan(0);
  expect(await binlogDumps(b)).toBe(0);
  await write(5);
  await inSync();
}

const vipReq = (gates: string[]) => ({
  sourceId: SOURCE,
  newInstance: ref(b),
  oldInstance: ref(a),
  vip: { address: lab.vip },
  approvals: { gates, timeoutSeconds: 600 },
  options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 120 },
});
const addressReq = (gates: string[]) => ({
  sourceId: SOURCE,
  newInstance: ref(b),
  oldInstance: ref({ host: lab.vip }),
  taskCredentials: 'sandbox-root',
  approvals: { gates, timeoutSeconds: 600 },
  options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 120 },
});

/** The compensation's steps, with the two tasks always named in one order (DM lists them in either). */
const undone = (s: SwitchStatus) =>
  s.compensation.map((c) => `${c.step.replace(`${TASK2}, ${TASK}`, `${TASK}, ${TASK2}`)}:${c.result}`);

/** Runs one switch with the crash plan, forces compensation with `force`, and returns its end. */
async function crashCase(
  workflow: 'vipSwitch' | 'addressSwitch',
  req: object,
  types: string[],
  force: (h: WorkflowHandle) => Promise<unknown>,
) {
  await Promise.all([waitCaughtUp(a, primary, 60_000), waitCaughtUp(b, primary, 60_000)]);
  const marks = await crashAfter(types);
  const crashes = worker.crashes;
  const movesBefore = (await moves()).length;
  const sw = await startSwitch(client, workflow, QUEUE, req as { sourceId: string });
  const writer = writeUntil(
    sw.handle.result().catch(() => undefined),
    () => write(1),
    500,
  );
  // force compensation as soon as the last planned crash happened (before the retried step can finish)
  let ended = false;
  void sw.handle.result().then(
    () => (ended = true),
    () => (ended = true),
  );
  for (const deadline = Date.now() + 240_000; worker.crashes < crashes + types.length;) {
    if (ended || Date.now() > deadline) {
      const status = (await sw.handle.query(statusQuery)) as SwitchStatus;
      const why = status.decisions.map((d) => `${d.verdict}: ${d.reason}`).join('\n');
      throw new Error(
        `the worker did not crash after ${types.join(', ')} (crashes: ${worker.crashes - crashes}); the switch ${ended ? `ended ${status.outcome}` : `is at ${status.phase}`}:\n${why}`,
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  await force(sw.handle);
  const { status, error } = await sw.end();
  await writer;
  // the crashes happened where planned, after the effect: one mark per type
  expect((await readdir(marks)).sort()).toEqual([...types].sort());
  // the history counts steps, not seconds waited: a forward switch stays within 150 events (vip-switch-e2e), and one
  // that crashed twice and undid everything, with retried activities and the rollback check, within 250 (a history
  // that grew with time waited would reach Temporal's limits on a long switch)
  const history = await historyEvents(sw.handle);
  expect(history.count, history.what).toBeLessThanOrEqual(250);
  return { status, error, movesBefore, handle: sw.handle };
}

describe('a worker killed inside a changing step, then compensation', { timeout: 600_000 }, () => {
  it('given a kill right after the VIP moved and a rejection at before-resume, should move it back (the undo registered before the move) and end rolled-back', async () => {
    const { status, error, movesBefore } = await crashCase('vipSwitch', vipReq(['before-resume']), ['vipMove'], (h) =>
      reject(h, 'before-resume'),
    );
    expect(failureType(error)).toBe('Rejected');
    // one real move forward (its retry found the VIP there), one back
    await expectRolledBack(status, error, movesBefore, 2);
    expect(undone(status)).toEqual([
      `move VIP ${lab.vip} back to ${a.host}:done`,
      `start-relay -s ${SOURCE}:done`,
      `resume-task ${TASK}, ${TASK2}:done`,
    ]);
  });

  it('given a kill right after both tasks paused and a rejection at before-switch, should resume both and end rolled-back', async () => {
    const { status, error, movesBefore } = await crashCase(
      'vipSwitch',
      vipReq(['before-switch']),
      ['dmPauseTasks'],
      (h) => reject(h, 'before-switch'),
    );
    expect(failureType(error)).toBe('Rejected');
    await expectRolledBack(status, error, movesBefore, 0);
  });

  it('given a kill right after stop-relay and a rejection at before-switch, should start relay again and end rolled-back', async () => {
    const { status, error, movesBefore } = await crashCase(
      'vipSwitch',
      vipReq(['before-switch']),
      ['dmStopRelay'],
      (h) => reject(h, 'before-switch'),
    );
    expect(failureType(error)).toBe('Rejected');
    await expectRolledBack(status, error, movesBefore, 0);
  });

  it('given kills right after start-relay and right after resume-task on the new instance, then a cancellation, should pause, move the VIP back with every task Paused, and end rolled-back', async () => {
    const { status, error, movesBefore, handle } = await crashCase(
      'vipSwitch',
      vipReq([]),
      ['dmStartRelay', 'dmResumeTasksSyncing'],
      (h) => h.cancel(),
    );
    expect(status.decisions.some((d) => d.reason.startsWith('cancelled after a change'))).toBe(true);
    expect(error).toBeDefined();
    await expectRolledBack(status, error, movesBefore, 2);
    expect(undone(status)).toEqual([
      `pause-task ${TASK}, ${TASK2} (before moving back):done`,
      `stop-relay -s ${SOURCE} (before moving back):done`,
      `move VIP ${lab.vip} back to ${a.host}:done`,
      `start-relay -s ${SOURCE}:done`,
      `resume-task ${TASK}, ${TASK2}:done`,
    ]);
    await saveHistory(handle, 'vip-switch-undo-after-start-relay');
  });

  it('given kills right after stop-task and operate-source stop, and a rejection at before-resume, should re-create the old source and start both tasks on it', async () => {
    const { status, error, movesBefore } = await crashCase(
      'addressSwitch',
      addressReq(['before-resume']),
      ['dmStopTasks', 'dmStopSource'],
      (h) => reject(h, 'before-resume'),
    );
    expect(failureType(error)).toBe('Rejected');
    await expectRolledBack(status, error, movesBefore, 0);
  });

  it('given kills right after operate-source create and start-task on the new instance, then a cancellation, should stop the tasks there before re-creating the old source', async () => {
    const { status, error, movesBefore } = await crashCase(
      'addressSwitch',
      addressReq([]),
      ['dmCreateSource', 'dmStartTasks'],
      (h) => h.cancel(),
    );
    expect(error).toBeDefined();
    await expectRolledBack(status, error, movesBefore, 0);
    const order = undone(status);
    expect(order.indexOf(`stop-task -s ${SOURCE} ${TASK}, ${TASK2} (before going back):done`)).toBeGreaterThanOrEqual(
      0,
    );
    expect(order.indexOf(`stop-task -s ${SOURCE} ${TASK}, ${TASK2} (before going back):done`)).toBeLessThan(
      order.findIndex((s) => s.startsWith(`operate-source create ${SOURCE}`)),
    );
  });

  // last: it leaves the VIP on B (switched), where every case above starts from A
  it('given a kill right after the resume saw every task Running in Sync, should resume again on the retry (DM answers for tasks already running) and end switched, as the real state is', async () => {
    const { status, error, movesBefore } = await crashCase('vipSwitch', vipReq([]), ['dmResumeTasksSyncing'], () =>
      Promise.resolve(),
    );
    const why = status.decisions.map((d) => `${d.verdict}: ${d.reason}`).join('\n');
    expect(error, why).toBeUndefined();
    expect(status.outcome, why).toBe('switched');
    // the retried resume found both tasks running and said so: one step, done, and no compensation
    expect(status.steps.filter((x) => x.step.startsWith('resume-task ')).map((x) => x.result)).toEqual(['done']);
    expect(status.compensation).toEqual([]);
    expect(await lab.provider().locate(lab.vip, [])).toBe(b.host);
    expect((await moves()).length - movesBefore).toBe(1);
    for (const task of [TASK, TASK2])
      expect(await taskState(dm, SOURCE, task)).toEqual({ stage: 'Running', unit: 'Sync' });
    expect((await relayStatus(dm, SOURCE))?.stage).toBe('Running');
    expect(await binlogDumps(b)).toBeGreaterThan(0);
    expect(await binlogDumps(a)).toBe(0);
    await write(5);
    await inSync();
  });
});
