/**
 * Approvals that reach a switch while it comes back from a lost worker: an
 * update that arrives with the result of the step before its gate, one sent
 * as soon as a status query on the new worker shows the gate, a signal that
 * arrives with that result, and one sent while the step still runs. Each must
 * be refused or ignored with a reason, or taken, never applied to a gate that
 * opened in a later workflow task, and the history must replay.
 *
 * Core delivers a workflow task's signals and updates ahead of its step
 * results, live on a worker that replays the task and on replay. A worker
 * that caches the switch may be ahead of its task (a status query on a new
 * worker applies the step's result before the task that carries it): it then
 * takes an update or a signal after the gate opened, where a replay delivers
 * it before. workflows/approvals.ts makes the decision the same both ways: an
 * update's handler waits for its gate within the task, and a signal that finds
 * no gate is kept for a gate that opens in the same task. Every worker here
 * caches workflows; dm-switch's worker does not, and worker/worker.ts says
 * why (the rebuilt history with the update accepted after the gate's commands).
 *
 * Real dev server, scripted activities; the lost worker is a workflow-only
 * process, frozen (SIGSTOP) with its polls open or killed.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { execa } from 'execa';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { historyFromJSON, historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { approveSignal, approveUpdate, rejectUpdate, statusQuery } from '../../common/switch/messages.js';
import { switchWorkflowId } from '../../common/switch/ids.js';
import type { SwitchStatus } from '../../common/switch/status.js';
import { workflowsPath } from '../../worker/workflows-path.js';
import { fakeWorld, input, pendingGate, scriptedServer, useScriptedTemporal } from './scripted-world.js';

const { client } = useScriptedTemporal();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A switch that waits at before-freeze, run by a workflow-only worker process
 * (`lost`) while a step before the gate (`step`, an activity; the last one
 * before the gate is netResolveHosts for the VIP's readers) is held on an in-process activity worker
 * until `release()`. Resolves once that step runs.
 */
async function switchHeldBeforeGate(
  taskQueue: string,
  sourceId: string,
  workflowTaskTimeout?: string,
  step: 'dmTaskShardModes' | 'netResolveHosts' = 'dmTaskShardModes',
) {
  const { address } = scriptedServer();
  const w = fakeWorld();
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  let held = false;
  const activities = w.activities as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const real = activities[step]!;
  activities[step] = async (...a: unknown[]) => {
    // netResolveHosts: the VIP's other readers (workflows/shared-vip.ts), not an earlier same-host check
    const vipReaders = (a[0] as { hosts?: string[] }).hosts?.includes('vip.example');
    if (step === 'netResolveHosts' && !vipReaders) return real(...a);
    held = true;
    await released;
    return real(...a);
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

  it('given a status query on a new worker and an approval as soon as the gate shows, should take it and leave a history that replays, also rebuilt with the update in the task that opened the gate', async () => {
    const { handle, release, lost, connection, stop } = await switchHeldBeforeGate(
      'gate-after-query',
      'src-q',
      undefined,
      'netResolveHosts',
    );
    try {
      // the worker running the switch dies; its sticky queue keeps the next task for a while
      lost.kill('SIGKILL');
      await lost;
      const second = await Worker.create({ connection, taskQueue: 'gate-after-query', workflowsPath });
      const result = await second.runUntil(async () => {
        // the step completes: its task waits on the lost worker's sticky queue
        release();
        await sleep(300);
        // a person watching the status, then approving as soon as the gate shows
        let status: SwitchStatus | null = null;
        for (let i = 0; i < 200 && !status?.approvals.some((a) => a.state === 'pending'); i++)
          status = await handle.query(statusQuery).catch(() => null);
        const first = await handle.executeUpdate(approveUpdate, { args: [{ gate: 'before-freeze', by: 'dba' }] }).then(
          (r) => r as unknown,
          (e: unknown) =>
            e instanceof WorkflowUpdateFailedError ? (e.cause?.message ?? e.message) : Promise.reject(e),
        );
        const end = await handle.result().then(
          (r: { outcome?: string }) => r.outcome ?? 'completed',
          (e: Error & { cause?: { message?: string } }) => e.cause?.message ?? e.message,
        );
        return { first, end, final: await handle.query(statusQuery) };
      });
      const history = await handle.fetchHistory();
      await expect(
        Worker.runReplayHistory({ workflowsPath, replayName: 'gate-after-query' }, history, handle.workflowId),
      ).resolves.toBeUndefined();
      expect(result.first).toMatchObject({ gate: 'before-freeze', state: 'approved', by: 'dba', via: 'update' });
      expect(result.final.approvals.map((a) => [a.gate, a.state, a.by, a.via])).toEqual([
        ['before-freeze', 'approved', 'dba', 'update'],
      ]);
      expect(result.end).toBe('switched');

      // The same history rebuilt as a worker ahead of its task writes it: the update accepted in the task that
      // carries the step's result (on replay Core delivers both in one activation, the update first).
      const events = eventsOf(history);
      const replay = (rebuilt: Event[], name: string) =>
        Worker.runReplayHistory(
          { workflowsPath, replayName: name },
          historyFromJSON({ events: rebuilt }),
          handle.workflowId,
        );
      // its acceptance ahead of the gate's commands: the handler waits for the gate, then approves it
      const acceptFirst = updateIntoGateTask(events, true);
      const step = completionOf(acceptFirst, 'netResolveHosts', Number(accepted(acceptFirst).eventId));
      expect(taskAfter(acceptFirst, step)).toBe(taskBefore(acceptFirst, Number(accepted(acceptFirst).eventId)));
      expect(updateResult(acceptFirst)).toMatchObject({ gate: 'before-freeze', state: 'approved', by: 'dba' });
      await expect(replay(acceptFirst, 'update-accepted-first')).resolves.toBeUndefined();
      // its acceptance after the gate's commands, the order a live worker whose state was ahead of its task
      // (the gate opened in an earlier activation) writes: no code replays it, since Core delivers the update
      // first. This is why worker/worker.ts keeps no workflow cache.
      await expect(replay(updateIntoGateTask(events, false), 'update-accepted-after-gate')).rejects.toThrow(
        /Nondeterminism/,
      );
    } finally {
      await stop();
    }
  });

  it('given an approve signal that arrives with the result of the step before the gate, should approve that gate and leave a history that replays', async () => {
    const { handle, release, lost, connection, stop } = await switchHeldBeforeGate(
      'signal-same-task',
      'src-s',
      undefined,
      'netResolveHosts',
    );
    try {
      lost.kill('SIGKILL');
      await lost;
      // the step completes and the signal comes while nobody runs the task that carries both
      release();
      await sleep(500);
      await handle.signal(approveSignal, { gate: 'before-freeze', by: 'dba' });
      const second = await Worker.create({ connection, taskQueue: 'signal-same-task', workflowsPath });
      const result = await second.runUntil(async () => {
        // decided, or ignored with a reason; an ignored signal leaves the gate pending: reject it to end
        let status: SwitchStatus = await handle.query(statusQuery);
        for (let i = 0; i < 300 && status.approvals.every((a) => a.state !== 'approved') && !ignored(status); i++) {
          await sleep(100);
          status = await handle.query(statusQuery);
        }
        if (status.approvals.some((a) => a.state === 'pending'))
          await handle.executeUpdate(rejectUpdate, { args: [{ by: 'test' }] });
        const end = await handle.result().then(
          (r: { outcome?: string }) => r.outcome ?? 'completed',
          (e: Error & { cause?: { message?: string } }) => e.cause?.message ?? e.message,
        );
        return { end, final: await handle.query(statusQuery) };
      });
      const history = await handle.fetchHistory();
      const events = eventsOf(history);
      const signalled = events.find((e) => e.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED')!;
      // one workflow task carries the step's result and the signal
      const delivered = taskAfter(events, Number(signalled.eventId));
      expect(taskAfter(events, completionOf(events, 'netResolveHosts', Number(delivered)))).toBe(delivered);
      expect(ignored(result.final)).toBeUndefined();
      expect(result.final.approvals.map((a) => [a.gate, a.state, a.by, a.via])).toEqual([
        ['before-freeze', 'approved', 'dba', 'signal'],
      ]);
      expect(result.end).toBe('switched');
      await expect(
        Worker.runReplayHistory({ workflowsPath, replayName: 'signal-same-task' }, history, handle.workflowId),
      ).resolves.toBeUndefined();
    } finally {
      await stop();
    }
  });

  it('given an approve signal sent while the step before the gate still runs, should record it as ignored and never apply it to the gate that opens later', async () => {
    const { handle, release, stop } = await switchHeldBeforeGate(
      'signal-earlier-task',
      'src-e',
      undefined,
      'netResolveHosts',
    );
    try {
      // the workflow worker is alive: the signal has a workflow task of its own, before the step completes
      await handle.signal(approveSignal, { gate: 'before-freeze', by: 'early-dba' });
      for (let i = 0; i < 100 && !(await signalTaskDone(handle)); i++) await sleep(100);
      expect(await signalTaskDone(handle)).toBe(true);
      release();
      const atGate = await pendingGate(handle, 'before-freeze');
      // the gate waits: the early signal was for no gate
      expect(atGate.approvals.map((a) => [a.gate, a.state])).toEqual([['before-freeze', 'pending']]);
      expect(ignored(atGate)).toMatch(/ignored approve signal from early-dba: .*no approval (is|was) pending/);
      await handle.executeUpdate(rejectUpdate, { args: [{ gate: 'before-freeze', by: 'dba' }] });
      const end = await handle.result().then(
        () => 'completed',
        (e: Error & { cause?: { message?: string } }) => e.cause?.message ?? e.message,
      );
      expect(end).toMatch(/rejected by dba at gate before-freeze/);
      const history = await handle.fetchHistory();
      await expect(
        Worker.runReplayHistory({ workflowsPath, replayName: 'signal-earlier-task' }, history, handle.workflowId),
      ).resolves.toBeUndefined();
    } finally {
      await stop();
    }
  });
});

interface Event {
  eventId: string;
  eventType: string;
  [attributes: string]: unknown;
  activityTaskScheduledEventAttributes?: { activityType: { name: string } };
  activityTaskCompletedEventAttributes?: { scheduledEventId: string };
}

const eventsOf = (h: Parameters<typeof historyToJSON>[0]): Event[] =>
  (JSON.parse(historyToJSON(h)) as { events: Event[] }).events;

/** The event id of the last completion of an activity of this type before event `before`. */
function completionOf(events: Event[], activity: string, before: number): number {
  const scheduled = new Set(
    events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType.name === activity).map((e) => e.eventId),
  );
  const done = events.filter(
    (e) => Number(e.eventId) < before && scheduled.has(e.activityTaskCompletedEventAttributes?.scheduledEventId ?? ''),
  );
  return Number(done.at(-1)!.eventId);
}

/** The workflow task that delivers an event that came before it: the first task started after it. */
const taskAfter = (events: Event[], id: number) =>
  events.find((e) => Number(e.eventId) > id && e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_STARTED')?.eventId;

/** The workflow task whose completion wrote an event: the last task started before it. */
const taskBefore = (events: Event[], id: number) =>
  events.filter((e) => Number(e.eventId) < id && e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_STARTED').at(-1)?.eventId;

/** The reason an approve signal was ignored, if one was. */
const ignored = (s: SwitchStatus) => s.decisions.find((d) => /ignored approve signal/.test(d.reason))?.reason;

/** Whether a workflow task completed after the signal was recorded (the signal's own task). */
async function signalTaskDone(handle: { fetchHistory: () => Promise<Parameters<typeof historyToJSON>[0]> }) {
  const events = eventsOf(await handle.fetchHistory());
  const signalled = events.find((e) => e.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED');
  return (
    signalled !== undefined &&
    events.some(
      (e) => Number(e.eventId) > Number(signalled.eventId) && e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED',
    )
  );
}

const accepted = (events: Event[]) =>
  events.find((e) => e.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED')!;
const completedUpdate = (events: Event[]) =>
  events.find((e) => e.eventType === 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED')!;

/** What the update returned, as its completion event records it (a JSON payload). */
function updateResult(events: Event[]): unknown {
  const a = attrs(completedUpdate(events)) as { outcome?: { success?: { payloads?: Array<{ data?: string }> } } };
  return JSON.parse(Buffer.from(a.outcome?.success?.payloads?.[0]?.data ?? '', 'base64').toString('utf8'));
}

/** An event's attributes (the one `…Attributes` field). */
const attrs = (e: Event) =>
  Object.entries(e).find(([k, v]) => k.endsWith('Attributes') && v !== null && typeof v === 'object')?.[1] as
    Record<string, unknown> | undefined;

/**
 * The history of a switch whose update was accepted in a task after the one that opened its gate, rebuilt
 * as if the update had been accepted in the gate's task: the gate's timer (started there, cancelled by the
 * approval) goes, the accepting task goes, and its commands join the gate's task; ids are renumbered.
 * `acceptFirst`: the acceptance ahead of the gate's commands (the order a replay emits), else after them.
 */
function updateIntoGateTask(events: Event[], acceptFirst: boolean): Event[] {
  const T = (s: string) => `EVENT_TYPE_${s}`;
  const byId = new Map(events.map((e) => [e.eventId, e]));
  const wtc = (e: Event) => attrs(e)?.workflowTaskCompletedEventId as string | undefined;
  const acc = accepted(events);
  const done = completedUpdate(events);
  const accTask = events
    .filter((e) => Number(e.eventId) < Number(acc.eventId) && e.eventType === T('WORKFLOW_TASK_COMPLETED'))
    .at(-1)!;
  const accStarted = byId.get(attrs(accTask)!.startedEventId as string)!;
  const accScheduled = byId.get(attrs(accTask)!.scheduledEventId as string)!;
  const cancel = events.find((e) => e.eventType === T('TIMER_CANCELED') && wtc(e) === accTask.eventId);
  if (!cancel) throw new Error('the update was not accepted in a task after the one that opened its gate');
  const timer = byId.get(attrs(cancel)!.startedEventId as string)!;
  const gateTask = byId.get(wtc(timer)!)!;
  const gateCommands = events.filter((e) => wtc(e) === gateTask.eventId && e !== timer);
  const accCommands = events.filter((e) => wtc(e) === accTask.eventId && e !== cancel);
  const drop = new Set([acc, done, timer, cancel, accTask, accStarted, accScheduled, ...gateCommands, ...accCommands]);
  const out: Event[] = [];
  for (const e of events) {
    if (e === gateTask)
      out.push(e, ...(acceptFirst ? [acc, ...gateCommands] : [...gateCommands, acc]), done, ...accCommands);
    else if (!drop.has(e)) out.push(e);
  }
  const ids = new Map(out.map((e, i) => [e.eventId, String(i + 1)]));
  const rebuilt = JSON.parse(JSON.stringify(out)) as Event[];
  for (const e of rebuilt) {
    e.eventId = ids.get(e.eventId)!;
    const a = attrs(e);
    for (const [k, v] of Object.entries(a ?? {})) {
      if (!k.endsWith('EventId') || typeof v !== 'string') continue;
      if (k === 'workflowTaskCompletedEventId' && v === accTask.eventId) a![k] = ids.get(gateTask.eventId)!;
      else if (k === 'acceptedRequestSequencingEventId') a![k] = ids.get(attrs(gateTask)!.scheduledEventId as string)!;
      else a![k] = ids.get(v) ?? v;
    }
  }
  return rebuilt;
}
