/**
 * Telling someone: when a gate starts waiting (a switch's, or a drain's
 * plan) and when a switch ends needs-operator, the notify activity POSTs to the worker's notifier
 * (activities/notify.ts; none configured: it sends nothing).
 *
 * A notification never changes what a switch does: one that cannot be sent
 * is a warning in the status. A gate's is not awaited (the gate waits, and
 * takes decisions, while it is sent, and the switch ends only once it is
 * done); needs-operator's is sent before the switch fails; both in a scope
 * cancellation cannot interrupt.
 */
import type { NotifyEvent, NotifyResult } from '../common/switch/types.js';
import { ActivityFailure, CancellationScope, log, workflowInfo } from '@temporalio/workflow';
import type { ApprovalRecord } from '../common/switch/status.js';
import { notify } from './activities.js';
import type { HostRecord } from './drain-record.js';
import type { Journal, JournalStatus } from './journal.js';
import type { Tracker } from './tracker.js';

function about(t: Tracker) {
  const { workflowId, runId } = workflowInfo();
  return {
    workflowId,
    runId,
    sourceId: t.status.sourceId,
    dmCluster: t.status.dmCluster,
    kind: t.status.kind,
    at: new Date().toISOString(),
  };
}

const why = (e: unknown) =>
  e instanceof ActivityFailure && e.cause ? e.cause.message : e instanceof Error ? e.message : String(e);

function send(j: Journal<JournalStatus>, event: NotifyEvent, what: string, goesOn = 'the switch'): Promise<void> {
  return CancellationScope.nonCancellable(() => notify.notifySend(event)).then(
    (r: NotifyResult) => {
      if (r.sent) log.info(`notified: ${what}`, { workflowId: event.workflowId, status: r.status });
    },
    (e: unknown) =>
      j.decide('warn', `could not notify that ${what}: ${why(e)} (${goesOn} goes on as it would without)`),
  );
}

/** A drain's (or return's) plan waits at its gate until `decideBy` (ISO): as `notifyGate`, for a host. */
export function notifyHostGate(h: HostRecord, record: ApprovalRecord<string>, decideBy: string): Promise<void> {
  const { workflowId, runId } = workflowInfo();
  const { kind, host, port } = h.status;
  const event: NotifyEvent = {
    workflowId,
    runId,
    kind,
    host: `${host}:${port}`,
    at: new Date().toISOString(),
    event: 'awaiting-approval',
    gate: 'plan',
    summary: record.approving.summary,
    decideBy,
  };
  return send(h, event, `the ${kind}'s plan waits for approval`, `the ${kind}`);
}

/**
 * The gate `record` waits until `decideBy` (ISO): sent without the gate
 * waiting for it. Returns the sending (it never rejects): the switch's end waits for it (Gates.noticesSent), so
 * that its completion never arrives while the task that ends the switch
 * runs (the server would fail that task, and an update it carried with it).
 */
export function notifyGate(t: Tracker, record: ApprovalRecord, decideBy: string): Promise<void> {
  return send(
    t,
    { ...about(t), event: 'awaiting-approval', gate: record.gate, summary: record.approving.summary, decideBy },
    `gate ${record.gate} waits for approval`,
  );
}

/** The switch ended needs-operator (`message`: its failure's): returns once sent, or once sending failed. */
export async function notifyNeedsOperator(t: Tracker, message: string): Promise<void> {
  await send(
    t,
    {
      ...about(t),
      event: 'needs-operator',
      outcome: 'needs-operator',
      message,
      operatorActions: [...t.status.operatorActions],
    },
    'the switch needs an operator',
  );
}
