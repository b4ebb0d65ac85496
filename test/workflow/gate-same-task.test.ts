/**
 * Approvals that reach a switch while it comes back from a lost worker: an
 * update that arrives with the result of the step before its gate, and one
 * sent as soon as a status query on the new worker shows the gate. Each must
 * be refused with a reason or taken, never applied to a gate that is not
 * open, and the history must replay.
 *
 * Core delivers an update in the activation of the task that carries it,
 * ahead of activity results; on replay it delivers an accepted update in the
 * activation of the task that accepted it. A random-kill run once had a
 * worker that cached the switch take the update in a later activation of the
 * task than the step that opened the gate (a status query had applied that
 * step ahead of its task), and the history did not replay (the worker then
 * fails the replay with what to do: workflows/approvals.ts). The worker now caches no
 * switch (worker/worker.ts), as the new workers here; the exact timing of
 * that run could not be produced on demand, so `npm run chaos` is its check.
 *
 * Real dev server, scripted activities; the lost worker is a workflow-only
 * process, frozen (SIGSTOP) with its polls open or killed.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { execa } from 'execa';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rejectUpdate, statusQuery } from '../../common/switch/messages.js';
import { switchWorkflowId } from '../../common/switch/ids.js';
import type { SwitchStatus } from '../../common/switch/status.js';
import { workflowsPath } from '../../worker/workflows-path.js';
import { fakeWorld, input, scriptedServer, useScriptedTemporal } from './scripted-world.js';

const { client } = useScriptedTemporal();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A switch that waits at before-freeze, run by a workflow-only worker process
 * (`lost`) while the step before the gate (the last activity) is held on an
 * in-process activity worker until `release()`. Resolves once that step runs.
 */
async function switchHeldBeforeGate(taskQueue: string, sourceId: string, workflowTaskTimeout?: string) {
  const { address } = scriptedServer();
  const w = fakeWorld();
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let held = false;
  const shardModes = w.activities.dmTaskShardModes;
  w.activities.dmTaskShardModes = async () => {
    held = true;
    await released;
    return shardModes();
  };
  const connection = await NativeConnection.connect({ address });
  const activityWorker = await Worker.create({ connection, taskQueue, activities: w.activities });
  const acts = activityWorker.run();
  const lost = execa(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'workflow-only-worker.ts')], {
    env: { TEMPORAL_ADDRESS: address, TASK_QUEUE: taskQueue },
    buffer: false,
    reject: false,
  });
  const stop = async () => {
    lost.kill('SIGKILL');
    activityWorker.shutdown();
    await acts;
    await connection.close();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      lost.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
      void lost.then((r) => reject(new Error(`the workflow worker exited: ${r.exitCode}`)));
    });
    const handle = await client().workflow.start('vipSwitch', {
      taskQueue,
      workflowId: switchWorkflowId('default', sourceId),
      ...(workflowTaskTimeout ? { workflowTaskTimeout } : {}),
      args: [input({ sourceId, approvals: { gates: ['before-freeze'], timeoutSeconds: 600 } })],
    });
    for (let i = 0; i < 400 && !held; i++) await sleep(50);
    expect(held).toBe(true);
    return { handle, release, lost, connection, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

describe('a gate decided in the workflow task that opens it', () => {
  it('given the update arrives with the result of the step before the gate, should refuse it, take the next one, and leave a history that replays', async () => {
    const { handle, release, lost, connection, stop } = await switchHeldBeforeGate('gate-same-task', 'src', '2s');
    try {
      // the worker freezes with its polls open: the server hands it the next task (started), which it never completes
      await sleep(300);
      lost.kill('SIGSTOP');
      release();
      await sleep(500);
      // the approver's decision arrives while that task is started, and waits for the next one
      const early = handle.executeUpdate(rejectUpdate, { args: [{ gate: 'before-freeze', by: 'early-dba' }] }).then(
        () => null,
        (e: unknown) => (e instanceof WorkflowUpdateFailedError ? (e.cause?.message ?? e.message) : Promise.reject(e)),
      );
      await sleep(3000);
      lost.kill('SIGKILL');
      const second = await Worker.create({
        connection,
        taskQueue: 'gate-same-task',
        workflowsPath,
        maxCachedWorkflows: 0,
      });
      const result = await second.runUntil(async () => {
        const refusedWith = await early;
        let status: SwitchStatus = await handle.query(statusQuery);
        for (let i = 0; i < 100 && !status.approvals.some((a) => a.state === 'pending'); i++)
          status = await handle.query(statusQuery);
        const record =
          refusedWith === null
            ? null
            : await handle.executeUpdate(rejectUpdate, { args: [{ gate: 'before-freeze', by: 'dba' }] });
        const end = await handle.result().then(
          () => 'completed',
          (e: Error & { cause?: { message?: string } }) => e.cause?.message ?? e.message,
        );
        return { refusedWith, record, end, final: await handle.query(statusQuery) };
      });
      const history = await handle.fetchHistory();
      // the history replays
      await expect(
        Worker.runReplayHistory({ workflowsPath, replayName: 'gate-same-task' }, history, handle.workflowId),
      ).resolves.toBeUndefined();
      // refused with a reason that says to send it again; nothing was lost
      expect(result.refusedWith).toMatch(/send it again/);
      expect(result.record).toMatchObject({ gate: 'before-freeze', state: 'rejected', by: 'dba', via: 'update' });
      expect(result.final.approvals.map((a) => [a.gate, a.state, a.by])).toEqual([
        ['before-freeze', 'rejected', 'dba'],
      ]);
      expect(result.end).toMatch(/rejected by dba at gate before-freeze/);
    } finally {
      await stop();
    }
  });

  it('given a status query that opens the gate on a new worker before the task does, and an approval right then, should leave a history that replays', async () => {
    const { handle, release, lost, connection, stop } = await switchHeldBeforeGate('gate-after-query', 'src-q');
    try {
      // the worker running the switch dies; its sticky queue keeps the next task for 10 s
      lost.kill('SIGKILL');
      await lost;
      const second = await Worker.create({
        connection,
        taskQueue: 'gate-after-query',
        workflowsPath,
        maxCachedWorkflows: 0,
      });
      const result = await second.runUntil(async () => {
        // the new worker answers a status query, then the step completes
        expect((await handle.query(statusQuery)).approvals).toEqual([]);
        release();
        // a person watching the status: the new worker answers from the whole history, gate open
        let status: SwitchStatus | null = null;
        for (let i = 0; i < 200 && !status?.approvals.some((a) => a.state === 'pending'); i++)
          status = await handle.query(statusQuery).catch(() => null);
        const first = await handle.executeUpdate(rejectUpdate, { args: [{ gate: 'before-freeze', by: 'dba' }] }).then(
          (r) => r as unknown,
          (e: unknown) =>
            e instanceof WorkflowUpdateFailedError ? (e.cause?.message ?? e.message) : Promise.reject(e),
        );
        // refused (the gate's task was not done yet): send it again, as the reason says
        const record =
          typeof first === 'string'
            ? await handle.executeUpdate(rejectUpdate, { args: [{ gate: 'before-freeze', by: 'dba' }] })
            : first;
        const end = await handle.result().then(
          () => 'completed',
          (e: Error & { cause?: { message?: string } }) => e.cause?.message ?? e.message,
        );
        return { first, record, end };
      });
      const history = await handle.fetchHistory();
      await expect(
        Worker.runReplayHistory({ workflowsPath, replayName: 'gate-after-query' }, history, handle.workflowId),
      ).resolves.toBeUndefined();
      expect(result.record).toMatchObject({ gate: 'before-freeze', state: 'rejected', by: 'dba', via: 'update' });
      expect(result.end).toMatch(/rejected by dba at gate before-freeze/);
    } finally {
      await stop();
    }
  });
});
