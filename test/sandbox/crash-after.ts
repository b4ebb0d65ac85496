/**
 * Fault injection for the crash tests: a worker that kills itself with
 * SIGKILL right after an activity's effect and before its completion reaches
 * Temporal — the moment no phase-boundary kill can hit. The activity runs to
 * its end (its effect is real: the VIP moved, the tasks paused), then the
 * process dies before the interceptor returns the result, so Temporal retries
 * the activity after its heartbeat timeout, on the restarted worker.
 *
 *   DM_SWITCH_TEST_CRASH_AFTER=vipMove,dmStartTasks   activity types to crash after
 *   DM_SWITCH_TEST_CRASH_MARKS=<dir>                  one file per type once crashed:
 *                                                     each type kills once, not on every retry
 *
 * Run as the worker's entry point (test/sandbox/worker-process.ts `entry`).
 */
import type { Context } from '@temporalio/activity';
import type { ActivityInboundCallsInterceptor } from '@temporalio/worker';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runWorkerProcess } from '../../worker/run.js';

export function crashAfter(types: string[], marks: string) {
  return (ctx: Context): { inbound: ActivityInboundCallsInterceptor } => ({
    inbound: {
      async execute(input, next) {
        const result = await next(input);
        const type = ctx.info.activityType;
        const mark = join(marks, type);
        if (types.includes(type) && !existsSync(mark)) {
          writeFileSync(
            mark,
            `${new Date().toISOString()} attempt ${ctx.info.attempt} of workflow ${ctx.info.workflowExecution?.workflowId}\n`,
          );
          process.kill(process.pid, 'SIGKILL');
          await new Promise(() => undefined);
        }
        return result;
      },
    },
  });
}

const types = (process.env.DM_SWITCH_TEST_CRASH_AFTER ?? '').split(',').filter(Boolean);
const marks = process.env.DM_SWITCH_TEST_CRASH_MARKS ?? '';
if (types.length && !marks)
  throw new Error('DM_SWITCH_TEST_CRASH_AFTER needs DM_SWITCH_TEST_CRASH_MARKS (a directory)');
await runWorkerProcess(types.length ? { activityInterceptors: [crashAfter(types, marks)] } : {});
