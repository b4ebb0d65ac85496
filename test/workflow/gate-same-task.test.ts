/**
 * An approval that reaches the workflow together with the result of the
 * step before its gate, after the worker holding that task was lost: it
 * must be refused with a reason (never applied to a gate that is not open,
 * never lost silently), the next decision must be taken, and the history
 * must replay on a new worker.
 *
 * Core delivers an update in the activation of the task that carries it,
 * ahead of activity results; the gate's validator refuses it as "not
 * reached yet" there. A random-kill run once saw the live run take such an
 * update in a later activation of the same task, after the gate had opened:
 * on replay Core delivered it first, before the gate was open, and the
 * history no longer replayed. The gate therefore takes no decision in the
 * task that opened it (workflows/approvals.ts, `openedAt`). That later
 * activation could not be produced on demand here; this case covers the
 * path that can.
 *
 * Real dev server, scripted activities; the lost worker is a workflow-only
 * process frozen (SIGSTOP) with its polls open, so the server hands it the
 * task, which times out, then killed.
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

describe('a gate decided in the workflow task that opens it', () => {
  it('given the update arrives with the result of the step before the gate, should refuse it, take the next one, and leave a history that replays', async () => {
    const { address } = scriptedServer();
    const w = fakeWorld();
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let held = false;
    const shardModes = w.activities.dmTaskShardModes;
    // the last activity before the before-freeze gate: held until the workflow worker is stranded
    w.activities.dmTaskShardModes = async () => {
      held = true;
      await released;
      return shardModes();
    };
    const taskQueue = 'gate-same-task';
    const connection = await NativeConnection.connect({ address });
    const activityWorker = await Worker.create({ connection, taskQueue, activities: w.activities });
    const acts = activityWorker.run();
    const lost = execa(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'workflow-only-worker.ts')], {
      env: { TEMPORAL_ADDRESS: address, TASK_QUEUE: taskQueue },
      buffer: false,
      reject: false,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        lost.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
        void lost.then((r) => reject(new Error(`the workflow worker exited: ${r.exitCode}`)));
      });
      const handle = await client().workflow.start('vipSwitch', {
        taskQueue,
        workflowId: switchWorkflowId('default', 'src'),
        workflowTaskTimeout: '2s',
        args: [input({ approvals: { gates: ['before-freeze'], timeoutSeconds: 600 } })],
      });
      for (let i = 0; i < 400 && !held; i++) await sleep(50);
      expect(held).toBe(true);
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
      const second = await Worker.create({ connection, taskQueue, workflowsPath });
      const result = await second.runUntil(async () => {
        const refusedWith = await early;
        let status: SwitchStatus = await handle.query(statusQuery);
        for (let i = 0; i < 100 && !status.approvals.some((a) => a.state === 'pending'); i++) status = await handle.query(statusQuery);
        const record = refusedWith === null ? null : await handle.executeUpdate(rejectUpdate, { args: [{ gate: 'before-freeze', by: 'dba' }] });
        const end = await handle.result().then(
          () => 'completed',
          (e: Error & { cause?: { message?: string } }) => e.cause?.message ?? e.message,
        );
        return { refusedWith, record, end, final: await handle.query(statusQuery) };
      });
      const history = await handle.fetchHistory();
      // the history replays
      await expect(Worker.runReplayHistory({ workflowsPath, replayName: 'gate-same-task' }, history, handle.workflowId)).resolves.toBeUndefined();
      // refused with a reason that says to send it again; nothing was lost
      expect(result.refusedWith).toMatch(/send it again/);
      expect(result.record).toMatchObject({ gate: 'before-freeze', state: 'rejected', by: 'dba', via: 'update' });
      expect(result.final.approvals.map((a) => [a.gate, a.state, a.by])).toEqual([['before-freeze', 'rejected', 'dba']]);
      expect(result.end).toMatch(/rejected by dba at gate before-freeze/);
    } finally {
      lost.kill('SIGKILL');
      activityWorker.shutdown();
      await acts;
      await connection.close();
    }
  });
});
