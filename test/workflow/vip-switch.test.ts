/**
 * The VIP switch workflow on a real Temporal dev server, with SCRIPTED
 * (fake) activities. These cover the branches whose faults cannot be produced
 * for real cheaply: a VIP provider that fails to move back, a resume that
 * leaves tasks in error, cancellation at a chosen phase. The real-stack tests
 * (test/integration) cover the ordinary paths on real DM, MySQL and a real
 * VIP.
 */
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SourceState, SourceTask } from '../../activities/dm.js';
import type { InstanceFacts } from '../../activities/mysql.js';
import { statusQuery } from '../../common/switch/messages.js';
import type { SwitchStatus } from '../../common/switch/status.js';
import type { VipSwitchRequest } from '../../common/switch/input.js';
import { startTemporal, type TemporalDevServer } from '../sandbox/temporal.js';
import { workflowsPath } from '../../worker/workflows-path.js';

const U = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
let temporal: TemporalDevServer;
let client: Client;
let bundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  [temporal, bundle] = await Promise.all([startTemporal(), bundleWorkflowCode({ workflowsPath })]);
  client = new Client({ connection: await Connection.connect({ address: temporal.address }) });
}, 120_000);
afterAll(async () => {
  await client?.connection.close();
  await temporal?.destroy();
});

/** A scripted world: DM tasks, two instances and a VIP, with the calls recorded and faults on demand. */
function fakeWorld(faults: { moveBackFails?: boolean; resumeLeavesError?: boolean; newLagsForever?: boolean; oldDown?: boolean; vipOnNew?: boolean; purgedBeyond?: boolean } = {}) {
  const calls: string[] = [];
  const tasks: SourceTask[] = [{ name: 'app', stage: 'Running', unit: 'Sync', syncerBinlogGtid: `${U}:1-100`, masterBinlogGtid: `${U}:1-100`, errors: [] }];
  let holder = faults.vipOnNew ? 'new.example' : 'old.example';
  const facts = (host: string, uuid: string, executed: string, purged: string): InstanceFacts => ({
    reachable: true, address: `${host}:3306`, flavor: 'mysql', version: '9.7.4', serverUuid: uuid, serverId: 1, gtidMode: 'ON', binlogFormat: 'ROW', binlogRowImage: 'FULL',
    binlogRowEventMaxSize: 8192, logBin: true, gtidExecuted: executed, gtidPurged: purged, replica: { ioRunning: true, sqlRunning: true, sourceHost: 'primary', sourcePort: 3306, lastError: '' },
  });
  const state = (): SourceState => ({ sourceId: 'src', worker: 'w1', enableGtid: true, enableRelay: false, flavor: 'mysql', from: { host: 'vip.example', port: 3306, user: 'dm' }, relay: null, tasks: tasks.map((t) => ({ ...t })) });
  const activities = {
    async dmSourceState() { calls.push('dmSourceState'); return state(); },
    async dmPauseTasks() { calls.push('pause'); for (const t of tasks) t.stage = 'Paused'; return state().tasks; },
    async dmResumeTasks() {
      calls.push('resume');
      for (const t of tasks) {
        t.stage = faults.resumeLeavesError && holder === 'new.example' ? 'Paused' : 'Running';
        t.errors = faults.resumeLeavesError && holder === 'new.example' ? ['binlog checksum mismatch (scripted)'] : [];
      }
      return state().tasks;
    },
    async dmAwaitSyncing() {
      calls.push('awaitSyncing');
      if (tasks.some((t) => t.errors.length)) throw ApplicationFailure.create({ message: `tasks did not become Running: ${tasks.map((t) => t.errors.join()).join()}`, type: 'VerificationFailed', nonRetryable: true });
      return state().tasks;
    },
    async mysqlInspect(ref: { host: string }): Promise<InstanceFacts> {
      calls.push(`inspect ${ref.host}`);
      if (ref.host === 'old.example') return faults.oldDown ? { reachable: false, address: 'old.example:3306', error: 'connect ECONNREFUSED (scripted)' } : facts('old.example', 'aaaaaaaa-0000-0000-0000-000000000001', `${U}:1-100`, '');
      return facts('new.example', 'aaaaaaaa-0000-0000-0000-000000000002', faults.newLagsForever ? `${U}:1-90` : `${U}:1-100`, faults.purgedBeyond ? `${U}:1-120` : `${U}:1-10`);
    },
    async mysqlWaitForGtids(req: { timeoutSeconds: number }) { calls.push('waitForGtids'); return { caughtUp: false, missing: `${U}:91-100`, waitedSeconds: req.timeoutSeconds }; },
    async mysqlBinlogDumpClients() { calls.push('dumpClients'); return [{ user: 'dm', host: 'worker:1234', command: 'Binlog Dump GTID' }]; },
    async vipLocate() { calls.push('vipLocate'); return holder; },
    async vipMove(req: { to: { host: string } }) {
      calls.push(`vipMove ${req.to.host}`);
      if (holder === req.to.host) return { alreadyThere: true, holder };
      if (faults.moveBackFails && req.to.host === 'old.example') throw ApplicationFailure.create({ message: 'VIP provider: old host unreachable (scripted)', type: 'VipMoveFailed', nonRetryable: true });
      holder = req.to.host;
      return { alreadyThere: false, holder };
    },
  };
  return { calls, activities, holder: () => holder, tasks };
}

const input = (over: Partial<VipSwitchRequest> = {}): VipSwitchRequest => ({
  sourceId: 'src',
  newInstance: { host: 'new.example', credentials: 'upstream' },
  oldInstance: { host: 'old.example', credentials: 'upstream' },
  vip: { address: 'vip.example' },
  options: { catchUpTimeoutSeconds: 1, verifyTimeoutSeconds: 5 },
  ...over,
});

let queueN = 0;
/**
 * Runs one switch. With DM_SWITCH_SAVE_HISTORIES=1, its history is saved as
 * test/fixtures/histories/<save>.json for the replay test (which catches
 * non-deterministic changes to the workflow code before users do).
 */
async function runSwitch(world: ReturnType<typeof fakeWorld>, req: unknown, during?: (h: Awaited<ReturnType<Client['workflow']['start']>>) => Promise<void>, save?: string) {
  const taskQueue = `vip-switch-test-${++queueN}`;
  const connection = await NativeConnection.connect({ address: temporal.address });
  const worker = await Worker.create({ connection, taskQueue, workflowBundle: bundle, activities: world.activities });
  try {
    return await worker.runUntil(async () => {
    const handle = await client.workflow.start('vipSwitch', { taskQueue, workflowId: `test-${taskQueue}`, args: [req] });
    if (during) await during(handle);
    let error: unknown;
    let result: SwitchStatus | undefined;
    try {
      result = (await handle.result()) as SwitchStatus;
    } catch (e) {
      error = e;
    }
    const status = await handle.query(statusQuery);
    if (save && process.env.DM_SWITCH_SAVE_HISTORIES) {
      await writeFile(join(import.meta.dirname, '../fixtures/histories', `${save}.json`), historyToJSON(await handle.fetchHistory()));
    }
    return { result, error, status };
    });
  } finally {
    await connection.close();
  }
}
const failureType = (e: unknown) => (e instanceof WorkflowFailedError && e.cause instanceof ApplicationFailure ? e.cause.type : undefined);

describe('VIP switch workflow (scripted activities)', () => {
  it('given a healthy world, should pause, move the VIP, resume, verify — in that order', async () => {
    const w = fakeWorld();
    const { result, status } = await runSwitch(w, input(), undefined, 'vip-switch-switched');
    expect(result?.outcome).toBe('switched');
    const effects = w.calls.filter((c) => ['pause', 'vipMove new.example', 'resume'].includes(c));
    expect(effects).toEqual(['pause', 'vipMove new.example', 'resume']);
    expect(status.gtids.map((g) => g.label)).toContain('gtid-S task app (frozen)');
    expect(status.decisions.some((d) => d.verdict === 'go' && /gtid-P ⊆ gtid-S ⊆ gtid-E/.test(d.reason))).toBe(true);
  });

  it('given a dry run, should check everything and change nothing', async () => {
    const w = fakeWorld();
    const { result } = await runSwitch(w, input({ options: { dryRun: true } }), undefined, 'vip-switch-dry-run');
    expect(result?.outcome).toBe('dry-run');
    expect(result?.plan.length).toBeGreaterThan(3);
    expect(w.calls.filter((c) => c === 'pause' || c.startsWith('vipMove') || c === 'resume')).toEqual([]);
  });

  it('given invalid input, should fail with InvalidInput before calling anything', async () => {
    const w = fakeWorld();
    const { error, status } = await runSwitch(w, { sourceId: 'src', newInstance: { host: 'h', credentials: 'c', password: 'hunter2' }, vip: { address: 'v' } });
    expect(failureType(error)).toBe('InvalidInput');
    expect(status.outcome).toBe('refused');
    expect(w.calls).toEqual([]);
  });

  it('given the new instance purged beyond DM position, should refuse before pausing', async () => {
    const w = fakeWorld({ purgedBeyond: true });
    const { error, status } = await runSwitch(w, input());
    expect(failureType(error)).toBe('GtidRefused');
    expect(status.decisions.at(-1)?.reason).toMatch(new RegExp(`${U}:101-120`));
    expect(w.calls).not.toContain('pause');
  });

  it('given the old instance is down, should warn and still switch', async () => {
    const w = fakeWorld({ oldDown: true });
    const { result } = await runSwitch(w, input());
    expect(result?.outcome).toBe('switched');
    expect(result?.warnings.join()).toMatch(/old instance old.example:3306 is unreachable/);
  });

  it('given the VIP already on the new instance (half-done switch), should not move it again', async () => {
    const w = fakeWorld({ vipOnNew: true });
    const { result } = await runSwitch(w, input());
    expect(result?.outcome).toBe('switched');
    expect(result?.steps.find((s) => s.step.startsWith('move VIP'))?.result).toBe('skipped');
  });

  it('given a new instance that never catches up, should time out and resume on the old instance', async () => {
    const w = fakeWorld({ newLagsForever: true });
    const { error, status } = await runSwitch(w, input(), undefined, 'vip-switch-catch-up-timeout');
    expect(failureType(error)).toBe('CatchUpTimeout');
    expect(status.outcome).toBe('rolled-back');
    expect(w.holder()).toBe('old.example');
    expect(w.calls.filter((c) => c === 'pause' || c === 'resume')).toEqual(['pause', 'resume']);
  });

  it('given tasks in error after resume (scripted fault), should pause, move the VIP back and resume on the old instance', async () => {
    const w = fakeWorld({ resumeLeavesError: true });
    const { error, status } = await runSwitch(w, input(), undefined, 'vip-switch-rolled-back');
    expect(failureType(error)).toBe('VerificationFailed');
    expect(status.outcome).toBe('rolled-back');
    expect(status.compensation.map((c) => `${c.step}:${c.result}`)).toEqual([
      'pause-task app (before moving back):done',
      'move VIP vip.example back to old.example:done',
      'resume-task app:done',
    ]);
    expect(w.holder()).toBe('old.example');
    expect(w.tasks[0]!.stage).toBe('Running');
  });

  it('given the VIP cannot move back (scripted fault), should stop in needs-operator with the commands to run, not swallow it', async () => {
    const w = fakeWorld({ resumeLeavesError: true, moveBackFails: true });
    const { error, status } = await runSwitch(w, input(), undefined, 'vip-switch-needs-operator');
    expect(failureType(error)).toBe('CompensationFailed');
    expect(status.outcome).toBe('needs-operator');
    expect(status.compensation.map((c) => c.result)).toEqual(['done', 'failed', 'skipped']);
    expect(status.operatorActions.join('\n')).toMatch(/move the VIP vip.example back to old.example[\s\S]*resume-task -s src/);
  });

  it('given cancellation while waiting for catch-up, should undo in a non-cancellable scope', async () => {
    const w = fakeWorld({ newLagsForever: true });
    w.activities.mysqlWaitForGtids = async () => {
      w.calls.push('waitForGtids');
      await new Promise((r) => setTimeout(r, 4000));
      return { caughtUp: false, missing: `${U}:91-100`, waitedSeconds: 4 };
    };
    const { error, status } = await runSwitch(w, input({ options: { catchUpTimeoutSeconds: 30, verifyTimeoutSeconds: 5 } }), async (h) => {
      for (let i = 0; i < 50 && !w.calls.includes('waitForGtids'); i++) await new Promise((r) => setTimeout(r, 100));
      await h.cancel();
    });
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(status.outcome).toBe('rolled-back');
    expect(w.calls.at(-1)).toBe('resume');
  });
});
