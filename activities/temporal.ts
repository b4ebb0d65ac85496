/**
 * Temporal itself, as an outside system of a drain (workflows/drain.ts):
 * waiting for a switch the drain did not start (one already running for a
 * source is joined, not doubled) and reading how a switch ended, through
 * the worker's own client (same namespace, same payload codec).
 */
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { statusQuery } from '../common/switch/messages.js';
import type { SwitchStatus } from '../common/switch/status.js';

export function createTemporalActivities() {
  return {
    /**
     * Waits until the switch (workflow ID, and run if given) has closed, then
     * returns its status as the switch itself reports it (its `status`
     * query), or null with why when it cannot be read. Heartbeats while it
     * waits (the worker's keep-alive), so a dead worker's wait is taken
     * over; a retry simply waits again.
     */
    async switchAwaitStatus(req: {
      workflowId: string;
      runId?: string;
    }): Promise<{ status: SwitchStatus | null; failure?: string; runId: string }> {
      const handle = Context.current().client.workflow.getHandle(req.workflowId, req.runId);
      let failure: string | undefined;
      try {
        await handle.result();
      } catch (e) {
        if (e instanceof WorkflowNotFoundError)
          return {
            status: null,
            failure: `no switch ${req.workflowId}${req.runId ? ` run ${req.runId}` : ''}`,
            runId: req.runId ?? '',
          };
        failure = e instanceof WorkflowFailedError ? (e.cause?.message ?? e.message) : (e as Error).message;
      }
      const d = await handle.describe();
      try {
        return { status: await handle.query(statusQuery), ...(failure ? { failure } : {}), runId: d.runId };
      } catch (e) {
        return {
          status: null,
          failure: `${failure ? `${failure}; ` : ''}its status could not be read: ${(e as Error).message}`,
          runId: d.runId,
        };
      }
    },
  };
}

export type TemporalActivities = ReturnType<typeof createTemporalActivities>;
