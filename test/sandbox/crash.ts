/**
 * Crashing the worker at every step of a running switch: watch the
 * workflow's history, and each time an activity of a type not seen before is
 * scheduled (a phase boundary) kill the worker with SIGKILL and start it
 * again; for the named long activities, also kill it while the activity
 * runs. Returns where it killed, so a test can assert it did.
 */
import type { WorkflowHandle } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { WorkerProcess } from './worker-process.js';

export interface CrashPlan {
  /** Activity types to crash inside of as well (after they started), e.g. the catch-up wait. */
  inside?: string[];
  /** How long an activity named in `inside` runs before the crash. */
  insideAfterMs?: number;
}

export async function crashAtEveryStep(
  handle: WorkflowHandle,
  worker: WorkerProcess,
  plan: CrashPlan = {},
): Promise<string[]> {
  const kills: string[] = [];
  const seenTypes = new Set<string>();
  const insideDone = new Set<string>();
  for (;;) {
    const { events } = await handle.fetchHistory();
    let killFor: string | null = null;
    for (const e of events ?? []) {
      const scheduled = e.activityTaskScheduledEventAttributes;
      if (scheduled) {
        const type = scheduled.activityType?.name ?? '?';
        if (!killFor && !seenTypes.has(type)) {
          // one kill per new type: the next poll finds the next new one
          seenTypes.add(type);
          killFor = `before ${type}`;
        }
      }
      if (
        e.workflowExecutionCompletedEventAttributes ||
        e.workflowExecutionFailedEventAttributes ||
        e.workflowExecutionCanceledEventAttributes ||
        e.workflowExecutionTerminatedEventAttributes
      ) {
        return kills;
      }
    }
    if (!killFor && plan.inside?.length) {
      // a running activity shows in the pending activities (history records its start only when it ends)
      const pending = (await handle.describe()).raw.pendingActivities ?? [];
      for (const a of pending) {
        const type = a.activityType?.name ?? '?';
        if (
          plan.inside.includes(type) &&
          !insideDone.has(type) &&
          a.state === proto.temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED
        ) {
          insideDone.add(type);
          killFor = `inside ${type}`;
          break;
        }
      }
    }
    if (killFor) {
      if (killFor.startsWith('inside')) await new Promise((r) => setTimeout(r, plan.insideAfterMs ?? 1500));
      await worker.kill9();
      kills.push(killFor);
      await worker.start();
    } else {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
