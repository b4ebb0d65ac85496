/**
 * Compensation both switch workflows share: the undo list and the way it is
 * run. Every change a switch makes pushes its undo before the change (a
 * crash can land after the effect and before the step returns), and every
 * undo reads the real state and does only what is still needed; on failure
 * or cancellation after the first change, the undos run in reverse in a
 * scope that cancellation cannot interrupt. A failed undo is surfaced, never
 * swallowed: the switch ends `needs-operator` with the commands to run (and
 * the worker's notifier is told, workflows/notify.ts). Once
 * every undo ran, the state before the switch is checked (Tracker's
 * rollbackCheck); a difference ends `needs-operator` too.
 */
import { ActivityFailure, ApplicationFailure, CancellationScope, isCancellation } from '@temporalio/workflow';
import { SwitchErrorType } from '../common/switch/errors.js';
import { notifyNeedsOperator } from './notify.js';
import type { Tracker } from './tracker.js';

export interface Undo {
  name: string;
  /** The command an operator runs if this undo fails. */
  byHand: string;
  run: () => Promise<unknown>;
}

/** The business failure inside `err` (activities' failures arrive wrapped in ActivityFailure). */
export function businessFailure(err: unknown): ApplicationFailure | null {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) return err.cause;
  return null;
}
export function describe(err: unknown): string {
  const app = businessFailure(err);
  if (app) return app.message;
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs the undo steps in reverse, in a scope cancellation cannot interrupt,
 * and always throws: the original failure (typed) when everything was undone,
 * CompensationFailed when an undo failed.
 */
export async function compensate(t: Tracker, undo: Undo[], err: unknown): Promise<never> {
  const cancelled = isCancellation(err);
  const cause = describe(err) || (cancelled ? 'the switch was cancelled' : 'unknown failure');
  const type = businessFailure(err)?.type ?? SwitchErrorType.DmOperationFailed;
  const how = cancelled
    ? 'cancelled'
    : type === SwitchErrorType.Rejected || type === SwitchErrorType.ApprovalTimedOut
      ? 'rejected'
      : 'failed';
  // what to do next depends on why it stopped (common/switch/next-steps.ts)
  if (t.status.outcome === undefined) t.status.failureType = cancelled ? 'cancelled' : type;
  const rethrow = (): never => {
    if (cancelled) throw err;
    throw ApplicationFailure.create({ message: cause, type, nonRetryable: true });
  };
  if (undo.length === 0) {
    if (t.status.outcome === undefined) {
      t.decide('refuse', `${how} before any change, nothing to undo: ${cause}`);
      t.finish('refused');
    }
    return rethrow();
  }
  t.phase('compensating');
  t.decide('info', `${how} after a change (${cause}); undoing ${undo.length} step(s)`);
  t.status.stopped = { how, cause, checked: false };
  const failedUndos: string[] = [];
  await CancellationScope.nonCancellable(async () => {
    for (const step of [...undo].reverse()) {
      if (failedUndos.length > 0) {
        // later undos depend on earlier ones (resume only once the VIP is back): stop here
        t.compensated(step.name, 'skipped', 'an earlier undo step failed');
        t.status.operatorActions.push(step.byHand);
        continue;
      }
      try {
        await step.run();
        t.compensated(step.name, 'done');
      } catch (e) {
        const msg = describe(e);
        t.compensated(step.name, 'failed', msg);
        failedUndos.push(`${step.name}: ${msg}`);
        t.status.operatorActions.push(step.byHand);
      }
    }
  });
  if (failedUndos.length > 0) {
    // say what is there now, so the operator starts from the real state, not from the steps
    const seen = t.rollbackCheck ? await observe(() => t.rollbackCheck!({ once: true })) : null;
    t.decide(
      'refuse',
      `undo failed; an operator must finish: ${failedUndos.join('; ')}${seen ? `. Observed: ${seen}` : ''}`,
    );
    return needsOperator(
      t,
      `switch ${how} (${cause}) and could not be undone (${failedUndos.join('; ')}); ` +
        `the status query's operatorActions say what to run`,
    );
  }
  // the outcome is what is there, not what the undo steps meant to do
  if (t.rollbackCheck) {
    let check;
    try {
      check = await CancellationScope.nonCancellable(() => t.rollbackCheck!());
    } catch (e) {
      check = {
        observed: `the state could not be read: ${describe(e)}`,
        problems: [`the state after the undo could not be read (${describe(e)})`],
        fix: [],
      };
    }
    if (check.problems.length > 0) {
      t.decide(
        'refuse',
        `every undo step ran, but the state is not the one before the switch: ` +
          `${check.problems.join('; ')}. Observed: ${check.observed}`,
      );
      t.status.operatorActions.push(...check.fix);
      return needsOperator(
        t,
        `switch ${how} (${cause}); after undoing it, ${check.problems.join('; ')} ` +
          `(observed: ${check.observed}); the status query's operatorActions say what to run`,
      );
    }
    t.decide('info', `every change was undone, and checked: ${check.observed}`);
    t.status.stopped.checked = true;
    t.finish('rolled-back');
    return rethrow();
  }
  t.decide('info', 'every change was undone: DM reads from the old instance again');
  t.finish('rolled-back');
  return rethrow();
}

async function observe(check: () => Promise<{ observed: string }>): Promise<string> {
  try {
    return (await CancellationScope.nonCancellable(check)).observed;
  } catch (e) {
    return `the state could not be read: ${describe(e)}`;
  }
}

/** Ends the switch needs-operator: the outcome first, then someone is told (even cancelled), then the failure. */
async function needsOperator(t: Tracker, message: string): Promise<never> {
  t.finish('needs-operator');
  await notifyNeedsOperator(t, message);
  throw ApplicationFailure.create({
    message,
    type: SwitchErrorType.CompensationFailed,
    nonRetryable: true,
    details: [t.status.operatorActions],
  });
}

/**
 * Runs one change with its undo: registered before the change (a crash can
 * land after the effect and before the change returns, and the retried
 * step then reports "nothing to do"), reading the real state when it runs.
 */
export async function guarded<T>(undo: Undo[], early: Undo | null, change: () => Promise<T>): Promise<T> {
  if (early) undo.push(early);
  return change();
}
