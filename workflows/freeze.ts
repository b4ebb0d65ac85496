/**
 * The freeze: from the pause (or stop) of DM's tasks to their resume (or
 * start), bounded by options.maxFreezeSeconds; a gate or a catch-up wait
 * inside it waits no longer than the freeze may last.
 */
import type { ApplicationFailure } from '@temporalio/workflow';
import { failure, SwitchErrorType } from '../common/switch/errors.js';
import type { GateLimit } from './approvals.js';

/** How long DM may still stay frozen, and what a switch that passes it fails with. */
export interface Freeze {
  /** Workflow time (ms) when DM was frozen. */
  since: number;
  /** Workflow time (ms) by which the tasks must run again. */
  until: number;
  maxSeconds: number;
}

export function startFreeze(maxSeconds: number): Freeze {
  const since = Date.now();
  return { since, until: since + maxSeconds * 1000, maxSeconds };
}

export function freezeTimeout(f: Freeze, where: string): ApplicationFailure {
  return failure(
    `DM has been frozen ${Math.round((Date.now() - f.since) / 1000)} s, ${where}: ` +
      `options.maxFreezeSeconds (${f.maxSeconds} s) is over, so the switch is undone ` +
      `and replication resumes on the old instance; start it again when the cause is fixed`,
    SwitchErrorType.FreezeTimeout,
  );
}

/** The freeze as a gate's limit: a gate inside it waits no longer than the freeze may last. */
export function freezeLimit(f: Freeze | null, gate: string): GateLimit | undefined {
  if (!f) return undefined;
  return {
    until: f.until,
    why: `options.maxFreezeSeconds (${f.maxSeconds} s) ran out while DM was frozen`,
    failure: () => freezeTimeout(f, `waiting at gate ${gate}`),
  };
}
