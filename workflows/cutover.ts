/**
 * Before verification waits for DM's flushed position to include what the new instance had at resume: asks DM to
 * flush each task's checkpoint as soon as it has applied exactly that, instead of at its next
 * checkpoint-flush-interval (activities/dm/cutover.ts). DM does this only for a task that has a validator
 * (continuous validation); for any other task, and whenever DM refuses, nothing changes: verification waits for
 * the flush as it always did. The proof stays the same (the flushed position must include the resume point); only
 * when DM writes it changes. Never fails the switch by itself.
 */
import { ActivityFailure } from '@temporalio/workflow';
import type { CutoverAnswer } from '../activities/dm/cutover.js';
import { dm } from './activities.js';
import type { Tracker } from './tracker.js';

export interface FlushRequest {
  dmCluster: string;
  sourceId: string;
  tasks: string[];
  /** The new instance's gtid_executed when the tasks ran again: what verification waits for. */
  gtidSet: string;
  /** The tasks' longest checkpoint-flush-interval, as preflight read it (unknown: not read). */
  flushSeconds?: number;
}

const list = (xs: CutoverAnswer[]) => xs.map((x) => x.task).join(', ');

/** Asks DM for an early checkpoint flush at the resume point and records what it answered, per task. */
export async function requestCheckpointFlush(t: Tracker, req: FlushRequest): Promise<void> {
  if (req.tasks.length === 0 || !req.gtidSet) return;
  const upTo = `up to ${req.flushSeconds ?? "the task's checkpoint-flush-interval in"} s after the pause`;
  const asWithout = `verification waits for DM's checkpoint flush as it always did: under writes it may wait ${upTo}`;
  let answers: CutoverAnswer[];
  try {
    answers = await dm.dmRequestCheckpointFlushAt({
      dmCluster: req.dmCluster,
      sourceId: req.sourceId,
      tasks: req.tasks,
      gtidSet: req.gtidSet,
    });
  } catch (e) {
    if (!(e instanceof ActivityFailure)) throw e;
    t.decide('info', `DM could not be asked to flush early (${e.cause?.message ?? e.message}); ${asWithout}`);
    return;
  }
  const set = answers.filter((x) => x.outcome === 'set');
  const none = answers.filter((x) => x.outcome === 'no-validator');
  const refused = answers.filter((x) => x.outcome === 'refused');
  if (set.length) {
    t.decide(
      'info',
      `asked DM to flush the checkpoint of task(s) ${list(set)} as soon as they have applied what the new instance ` +
        `had at resume (${req.gtidSet}), rather than at their next checkpoint-flush-interval (\`dmctl validation ` +
        `update <task> -s ${req.sourceId} --cutover-binlog-gtid <set>\`, which DM takes from a task that runs ` +
        `continuous validation); verification still waits for query-status's flushed position to include it`,
    );
  }
  if (none.length) {
    t.decide(
      'info',
      `task(s) ${list(none)} run no continuous validation (DM: ${none[0]!.words}), so DM cannot be asked to flush ` +
        `their checkpoint early; ${asWithout}`,
    );
  }
  for (const x of refused)
    t.decide('info', `DM did not take the early checkpoint flush for task ${x.task} (DM: ${x.words}); ${asWithout}`);
}
