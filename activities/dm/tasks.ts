/**
 * A source's tasks: pause and resume (and the waits for Paused, Running),
 * stop and start again from their checkpoints, and check-task of a saved
 * configuration before anything is stopped.
 *
 * Every activity here is idempotent: it reads the state first, and asking
 * again for what is already true ("pause a paused task") is success.
 */
import { Context } from '@temporalio/activity';
import { failure, SwitchErrorType } from '../../common/switch/errors.js';
import type { SavedTaskConfig, SourceTask } from '../../common/switch/types.js';
import type { DmContext } from './context.js';
import { checked, isUpstreamConnectionError } from './dmctl.js';
import { dmctlFailures } from './parse.js';
import { withPrivateFile } from './private-file.js';
import { taskFile } from './task-config.js';

/** check-task of one saved configuration: whether DM could check it, and its precheck summary in words. */
export interface TaskCheck {
  /** False when DM could not reach the upstream it reads now: the configuration was not judged. */
  checked: boolean;
  summary: string;
}

export interface TasksRequest {
  dmCluster: string;
  sourceId: string;
  tasks: string[];
  timeoutSeconds?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * For this long a wait for task stages polls every 0.1 s (a pause or resume usually shows within it), then every
 * 0.5 s.
 */
const FAST_POLL_MS = 5000;

/**
 * Polls until every named task satisfies `ok`, heartbeating the stages seen;
 * throws `type` on timeout. `heal` may act on the tasks still pending.
 */
async function waitFor(
  ctx: DmContext,
  req: TasksRequest,
  what: string,
  ok: (t: SourceTask) => boolean,
  type: string,
  heal?: (pending: SourceTask[]) => Promise<void>,
): Promise<SourceTask[]> {
  const began = Date.now();
  const deadline = began + (req.timeoutSeconds ?? 60) * 1000;
  for (;;) {
    const state = await ctx.sourceState(req.dmCluster, req.sourceId);
    const tasks = state.tasks.filter((t) => req.tasks.includes(t.name));
    const missing = req.tasks.filter((n) => !tasks.some((t) => t.name === n));
    const pending = tasks.filter((t) => !ok(t));
    if (heal && pending.length > 0 && Date.now() < deadline) await heal(pending);
    const seen = tasks.map((t) => ({ name: t.name, stage: t.stage, unit: t.unit }));
    Context.current().heartbeat({ waitingFor: what, tasks: seen });
    if (missing.length === 0 && pending.length === 0) return tasks;
    if (Date.now() > deadline) {
      const detail = [
        ...missing.map((n) => `${n}: not found on source ${req.sourceId}`),
        ...pending.map((t) => `${t.name}: ${t.stage}/${t.unit}${t.errors.length ? ` (${t.errors.join('; ')})` : ''}`),
      ].join('; ');
      throw failure(`tasks did not become ${what} within ${req.timeoutSeconds ?? 60} s: ${detail}`, type, tasks);
    }
    // replication is paused while the switch waits for Paused or Running: look again soon, then every 0.5 s
    await sleep(Date.now() - began < FAST_POLL_MS ? 100 : 500);
    Context.current().cancellationSignal.throwIfAborted();
  }
}

/**
 * pause-task each task, and again every 3 s for one not yet Paused by request (DM may lose a pause to its task
 * checker).
 */
export async function pauseTasks(ctx: DmContext, req: TasksRequest): Promise<SourceTask[]> {
  const pause = async (name: string) => {
    checked(`pause-task ${name}`, await ctx.dmctl(req.dmCluster, ['pause-task', '-s', req.sourceId, name]));
    Context.current().heartbeat({ paused: name });
  };
  for (const name of req.tasks) await pause(name);
  let lastPause = Date.now();
  return waitFor(
    ctx,
    req,
    'Paused',
    (t) => t.stage === 'Paused' && t.canceled !== false,
    SwitchErrorType.DmOperationFailed,
    async (pending) => {
      if (Date.now() - lastPause < 3000) return;
      lastPause = Date.now();
      for (const t of pending) {
        Context.current().heartbeat({ pausingAgain: t.name, seen: `${t.stage}/${t.unit}` });
        await pause(t.name);
      }
    },
  );
}

/** resume-task each task not Running, again while DM answers with a broken upstream connection. */
export async function resumeTasks(ctx: DmContext, req: TasksRequest): Promise<SourceTask[]> {
  const deadline = Date.now() + (req.timeoutSeconds ?? 60) * 1000;
  for (const name of req.tasks) {
    for (let attempt = 1; ; attempt++) {
      const now = await ctx.sourceState(req.dmCluster, req.sourceId);
      const t = now.tasks.find((x) => x.name === name);
      if (t?.stage === 'Running' && t.errors.length === 0) break;
      const answer = await ctx.dmctl(req.dmCluster, ['resume-task', '-s', req.sourceId, name]);
      const failures = dmctlFailures(answer);
      if (failures.length === 0) break;
      // DM may answer a resume with the error that had paused the task while the task runs again without it
      const after = (await ctx.sourceState(req.dmCluster, req.sourceId)).tasks.find((x) => x.name === name);
      if (after?.stage === 'Running' && after.errors.length === 0) break;
      // what the task shows now counts too: a broken upstream connection there is worth another resume
      const text = [...failures.map((f) => f.msg), ...(after?.errors ?? [])].join('; ');
      Context.current().heartbeat({ resuming: name, attempt, lastError: text });
      if (!isUpstreamConnectionError(text) || Date.now() > deadline) checked(`resume-task ${name}`, answer);
      await sleep(Math.min(5000, 500 * attempt));
      Context.current().cancellationSignal.throwIfAborted();
    }
  }
  return (await ctx.sourceState(req.dmCluster, req.sourceId)).tasks.filter((t) => req.tasks.includes(t.name));
}

/** Every named task Running in the Sync unit without errors: replicating again. */
const syncing = (t: SourceTask) => t.stage === 'Running' && t.unit === 'Sync' && t.errors.length === 0;

/**
 * Waits until every task is Running in the Sync unit with no error, resuming again (at most every 3 s) a task that
 * paused on an upstream connection error; other errors are left for the timeout (VerificationFailed) to report.
 */
function awaitSyncing(ctx: DmContext, req: TasksRequest): Promise<SourceTask[]> {
  let lastHeal = 0;
  return waitFor(
    ctx,
    req,
    'Running/Sync without errors',
    syncing,
    SwitchErrorType.VerificationFailed,
    async (pending) => {
      if (Date.now() - lastHeal < 3000) return;
      for (const t of pending) {
        if (t.stage === 'Paused' && t.errors.some(isUpstreamConnectionError)) {
          lastHeal = Date.now();
          Context.current().heartbeat({ resumingAgain: t.name, after: t.errors.join('; ') });
          await ctx.dmctl(req.dmCluster, ['resume-task', '-s', req.sourceId, t.name]);
        }
      }
    },
  );
}

/**
 * resume-task each task, then waits (awaitSyncing, `syncTimeoutSeconds`) until every one is Running in Sync: one
 * activity, so the freeze ends when DM runs the tasks, not a workflow task and an activity later. No read first: DM
 * answers for itself. A resume it refuses is judged on what the task shows right after (Running without errors is
 * success, whatever the words: a task resumed by an earlier attempt of this activity, or one DM answered with the
 * error that had paused it), and retried while the refusal or the task names a broken upstream connection, until
 * `timeoutSeconds`; any other refusal fails DmOperationFailed with DM's words, as resumeTasks does. Safe to run again
 * after a crash at any point: resuming a running task changes nothing, and the wait reads the truth.
 */
export async function resumeTasksSyncing(
  ctx: DmContext,
  req: TasksRequest & { syncTimeoutSeconds: number },
): Promise<SourceTask[]> {
  const deadline = Date.now() + (req.timeoutSeconds ?? 60) * 1000;
  for (const name of req.tasks) {
    for (let attempt = 1; ; attempt++) {
      const answer = await ctx.dmctl(req.dmCluster, ['resume-task', '-s', req.sourceId, name]);
      const failures = dmctlFailures(answer);
      Context.current().heartbeat({ resumed: name, attempt, refused: failures.map((f) => f.msg) });
      if (failures.length === 0) break;
      const after = (await ctx.sourceState(req.dmCluster, req.sourceId)).tasks.find((x) => x.name === name);
      if (after?.stage === 'Running' && after.errors.length === 0) break;
      const text = [...failures.map((f) => f.msg), ...(after?.errors ?? [])].join('; ');
      if (!isUpstreamConnectionError(text) || Date.now() > deadline) checked(`resume-task ${name}`, answer);
      await sleep(Math.min(5000, 500 * attempt));
      Context.current().cancellationSignal.throwIfAborted();
    }
  }
  return awaitSyncing(ctx, { ...req, timeoutSeconds: req.syncTimeoutSeconds });
}

export function taskActivities(ctx: DmContext) {
  const { dmctl } = ctx;
  return {
    /**
     * `pause-task -s <source>` every task, then waits until every one is
     * Paused by that request. Also the tasks that already look Paused: one
     * that DM paused because of an error is not paused by a person, and DM's
     * task checker may resume it on its own during the freeze; pause-task
     * makes the pause ours (DM answers success for a paused task).
     *
     * DM's answer only means the master recorded the wish: the dm-worker
     * applies it later, and can lose it. Its task checker reads a task
     * Paused by an error, decides to auto-resume it, and resumes it after
     * our pause marked it as requested; DM then expects Paused and runs the
     * task. So a task that is not Paused by request (`canceled`) 3 s after
     * the last pause-task gets pause-task again (the master puts the stage
     * again, the worker applies it again), until the timeout. Idempotent.
     */
    async dmPauseTasks(req: TasksRequest): Promise<SourceTask[]> {
      return pauseTasks(ctx, req);
    },

    /**
     * `resume-task` each task not already running. Idempotent; does not wait
     * for Running (see dmAwaitSyncing). Right after a VIP move DM may still
     * hold pooled connections the move broke ("invalid connection"): such
     * upstream connection errors are retried within `timeoutSeconds`.
     */
    async dmResumeTasks(req: TasksRequest): Promise<SourceTask[]> {
      return resumeTasks(ctx, req);
    },

    /**
     * Waits until every task is Running in the Sync unit with no error. A task
     * that paused on an upstream connection error (a connection the VIP move
     * broke, used after resume) is resumed again, as DM's own workaround for
     * that error says; at most every 3 s. Other errors are left for the
     * timeout to report.
     */
    async dmAwaitSyncing(req: TasksRequest): Promise<SourceTask[]> {
      return awaitSyncing(ctx, req);
    },

    /**
     * `resume-task` each task and wait until every one is Running in Sync
     * without errors, in one activity (resumeTasksSyncing): the switch's
     * resume at the end of the freeze. Not for undo, which keeps
     * dmResumeTasks (it reads first, and does not wait).
     */
    async dmResumeTasksSyncing(req: TasksRequest & { syncTimeoutSeconds: number }): Promise<SourceTask[]> {
      return resumeTasksSyncing(ctx, req);
    },

    /**
     * `stop-task -s <source>` each task still on the source, keeping its
     * checkpoint (never --remove-meta), and waits until DM no longer lists it.
     * Idempotent: a task already gone is success.
     */
    async dmStopTasks(req: TasksRequest): Promise<string[]> {
      const deadline = Date.now() + (req.timeoutSeconds ?? 60) * 1000;
      const before = await ctx.sourceState(req.dmCluster, req.sourceId);
      const stopped: string[] = [];
      for (const name of req.tasks) {
        if (!before.tasks.some((t) => t.name === name)) continue;
        const answer = await dmctl(req.dmCluster, ['stop-task', '-s', req.sourceId, name]);
        if (!dmctlFailures(answer).every((f) => /task not found|not exist/i.test(f.msg))) {
          checked(`stop-task ${name}`, answer);
        }
        stopped.push(name);
      }
      for (;;) {
        const left = (await ctx.sourceState(req.dmCluster, req.sourceId)).tasks.filter((t) =>
          req.tasks.includes(t.name),
        );
        Context.current().heartbeat({ waitingFor: 'tasks stopped', left: left.map((t) => t.name) });
        if (left.length === 0) return stopped;
        if (Date.now() > deadline) {
          const still = left.map((t) => `${t.name} ${t.stage}`).join(', ');
          throw failure(
            `tasks still listed on source ${req.sourceId} ${req.timeoutSeconds ?? 60} s after stop-task: ${still}`,
            SwitchErrorType.DmOperationFailed,
          );
        }
        await sleep(500);
      }
    },

    /**
     * `start-task -s <source>` each saved task not already on the source, with
     * the downstream password (masked by DM) resolved from `credentials`; the
     * task resumes from its checkpoint. Idempotent. Does not wait for Running
     * (see dmAwaitSyncing).
     */
    async dmStartTasks(req: {
      dmCluster: string;
      sourceId: string;
      tasks: SavedTaskConfig[];
      credentials: string;
    }): Promise<SourceTask[]> {
      const now = await ctx.sourceState(req.dmCluster, req.sourceId);
      for (const task of req.tasks) {
        if (now.tasks.some((t) => t.name === task.name)) continue;
        const creds = await ctx.downstreamCredentials(req.credentials, task);
        await withPrivateFile(await ctx.privateDir(), `task-${task.name}.yaml`, taskFile(task, creds), async (path) => {
          const answer = await dmctl(req.dmCluster, ['start-task', '-s', req.sourceId, path]);
          const failures = dmctlFailures(answer);
          // started by an earlier attempt whose answer was lost: fine
          if (failures.length > 0 && !failures.every((f) => /already exist/i.test(f.msg))) {
            checked(`start-task ${task.name}`, answer);
          }
        });
      }
      const started = (await ctx.sourceState(req.dmCluster, req.sourceId)).tasks;
      return started.filter((t) => req.tasks.some((x) => x.name === t.name));
    },

    /**
     * `check-task` each saved configuration, normalised as start-task will
     * get it (normalizeTaskConfig) and with the downstream password from
     * `credentials`, while nothing is stopped yet: what DM would refuse at
     * start-task is found before the tasks are stopped. Returns each task's
     * check (TaskCheck); a configuration DM refuses throws DmOperationFailed
     * with DM's words.
     */
    async dmCheckTasks(req: {
      dmCluster: string;
      tasks: SavedTaskConfig[];
      credentials: string;
    }): Promise<Record<string, TaskCheck>> {
      const out: Record<string, TaskCheck> = {};
      for (const task of req.tasks) {
        const creds = await ctx.downstreamCredentials(req.credentials, task);
        await withPrivateFile(await ctx.privateDir(), `task-${task.name}.yaml`, taskFile(task, creds), async (path) => {
          const answer = await dmctl(req.dmCluster, ['check-task', path]);
          const text = `${answer.msg ?? ''} ${typeof answer.checkResult === 'string' ? answer.checkResult : ''}`;
          // check-task also connects to the upstream DM reads now: one that is down (a reason to switch) says
          // nothing about the config
          if (answer.result !== true && /scope=upstream|failed to open DSN/i.test(text)) {
            const first = text.trim().split('\n')[0]!.slice(0, 300);
            out[task.name] = {
              checked: false,
              summary: `not checked: DM could not reach the upstream it reads now (${first})`,
            };
            return;
          }
          if (answer.result !== true && !/no errors but some warnings/i.test(text)) {
            throw failure(
              `DM refuses the configuration of task ${task.name} as it would be started again (check-task): ` +
                text.trim().slice(0, 2000),
              SwitchErrorType.DmOperationFailed,
            );
          }
          out[task.name] = { checked: true, summary: /warnings/i.test(text) ? 'passed with warnings' : 'passed' };
        });
        Context.current().heartbeat({ checked: task.name });
      }
      return out;
    },
  };
}
