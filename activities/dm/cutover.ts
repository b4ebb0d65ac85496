/**
 * Asking DM to flush a task's checkpoint as soon as it has applied a given GTID set, instead of up to one
 * checkpoint-flush-interval later.
 *
 * `dmctl validation update <task> -s <source> --cutover-binlog-gtid <set>` stores a "cutover" location on the
 * subtask's validator and on its syncer (dm/syncer/data_validator.go, UpdateValidator). After each job it applies,
 * the syncer compares the job's location with it and, once the job reached it, flushes its checkpoint at once and
 * forgets it (dm/syncer/syncer.go, handleJob's defer); the validator persists its own checkpoint there too. Only a
 * subtask that has a validator (the task runs continuous validation, or ran it and it was stopped) takes it; DM
 * answers any other with "validator not found for task <task> with source <source>".
 *
 * It changes no configuration and starts or stops nothing. Setting the same location again (a retried activity)
 * only makes DM flush once more on its next job; a location the task already passed (or one it cannot compare)
 * makes DM flush on its next job. It proves nothing by itself: verification still waits for query-status to show
 * the flushed position.
 */
import type { DmContext } from './context.js';
import { dmctlFailures } from './parse.js';

/** What DM answered for one task. */
export interface CutoverAnswer {
  task: string;
  /** set: DM will flush when it reaches the location; no-validator: the subtask has none; refused: any other answer. */
  outcome: 'set' | 'no-validator' | 'refused';
  /** DM's words when it did not take the location. */
  words: string;
}

/** DM's answer to a subtask without a validator (dm/pkg/terror ErrValidatorNotFound). */
export const NO_VALIDATOR = /validator not found for task/i;

export function cutoverActivities(ctx: DmContext) {
  return {
    /**
     * Per task of the source: asks DM to flush the task's checkpoint as soon as it has applied `gtidSet`. Never
     * throws for DM's answer or for dmctl failing: each task's outcome is returned, for the switch to record.
     */
    async dmRequestCheckpointFlushAt(req: {
      dmCluster: string;
      sourceId: string;
      tasks: string[];
      gtidSet: string;
    }): Promise<CutoverAnswer[]> {
      const out: CutoverAnswer[] = [];
      for (const task of req.tasks) {
        const args = ['validation', 'update', task, '-s', req.sourceId, '--cutover-binlog-gtid', req.gtidSet];
        try {
          const failures = dmctlFailures(await ctx.dmctl(req.dmCluster, args));
          const words = failures.map((f) => f.msg).join('; ');
          if (failures.length === 0) out.push({ task, outcome: 'set', words: '' });
          else out.push({ task, outcome: NO_VALIDATOR.test(words) ? 'no-validator' : 'refused', words });
        } catch (e) {
          out.push({ task, outcome: 'refused', words: e instanceof Error ? e.message : String(e) });
        }
      }
      return out;
    },
  };
}
