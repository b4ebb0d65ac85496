/**
 * How long verification may wait for DM to show a resumed task's progress. DM's query-status shows a task's
 * position as of its last FLUSHED checkpoint; DM flushes when a task pauses, after each DDL it applies, and otherwise
 * only once the task's `checkpoint-flush-interval` (30 s unless set) has passed since the last flush. After a resume
 * under writes, the position shows what the new instance had at resume only at the first flush one interval after
 * the pause. A verification timeout not comfortably above the longest interval would fail under writes and undo a
 * switch that went well: refused at preflight, before any change.
 */
import { SwitchErrorType } from '../common/switch/errors.js';
import { dm } from './activities.js';
import { refuse } from './preflight.js';
import type { Tracker } from './tracker.js';

/** What verification needs beyond one flush interval: the resume itself, DM's reply and a poll or two. */
export const FLUSH_MARGIN_SECONDS = 15;

/** The longest flush interval of the source's tasks and the task that has it (null when no task was read). */
export interface FlushWait {
  task: string;
  seconds: number;
  setIn: string;
}

/**
 * Reads every task's checkpoint-flush-interval on the source (`config task`) and refuses, before any change, when
 * `verifyTimeoutSeconds` is below the longest plus FLUSH_MARGIN_SECONDS; otherwise says how long verification may
 * wait and why. Returns the longest interval (null without tasks), for the waits after an undo.
 */
export async function flushPreflight(
  t: Tracker,
  req: { dmCluster: string; sourceId: string; tasks: string[]; verifyTimeoutSeconds: number },
): Promise<FlushWait | null> {
  if (req.tasks.length === 0) return null;
  const read = await dm.dmTaskFlushIntervals({ dmCluster: req.dmCluster, sourceId: req.sourceId, tasks: req.tasks });
  const longest = Object.entries(read)
    .map(([task, x]) => ({ task, ...x }))
    .sort((a, b) => b.seconds - a.seconds || a.task.localeCompare(b.task))[0];
  if (!longest) return null;
  const setIn = longest.setIn.startsWith("DM's")
    ? longest.setIn
    : `${longest.setIn} in its configuration, as \`dmctl config task ${longest.task}\` shows`;
  const where = `task ${longest.task} flushes its checkpoint every ${longest.seconds} s (${setIn})`;
  const needed = longest.seconds + FLUSH_MARGIN_SECONDS;
  if (req.verifyTimeoutSeconds < needed) {
    refuse(
      t,
      SwitchErrorType.PreflightFailed,
      `switch refused, nothing was changed: ${where}, and DM's query-status shows only the flushed checkpoint, so ` +
        `under writes verification sees the task include what the new instance had at resume only up to ` +
        `${longest.seconds} s after the pause; options.verifyTimeoutSeconds is ${req.verifyTimeoutSeconds} s, so ` +
        `verification would fail and undo a switch that went well. Raise options.verifyTimeoutSeconds to at least ` +
        `${needed}, or lower the task's checkpoint-flush-interval (e.g. 3 s; \`dmctl stop-task\` then ` +
        '`dmctl start-task` with the changed configuration, which goes on from the checkpoint)',
    );
  }
  const each = Object.entries(read)
    .map(([task, x]) => `${task} ${x.seconds} s`)
    .join(', ');
  t.decide(
    'info',
    `under writes, verification may wait up to ${longest.seconds} s after the pause for DM's flushed checkpoint ` +
      `(${where}; DM's query-status shows only the flushed checkpoint, written at a pause, after a DDL, and ` +
      `otherwise once per interval): checkpoint-flush-interval per task: ${each}; ` +
      `options.verifyTimeoutSeconds is ${req.verifyTimeoutSeconds} s`,
  );
  return longest;
}
