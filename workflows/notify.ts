/**
 * Telling someone: when a gate starts waiting and when a switch ends
 * needs-operator, the notify activity POSTs to the worker's notifier
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

function send(t: Tracker, event: NotifyEvent, what: string): Promise<void> {
  return CancellationScope.nonCancellable(() => notify.notifySend(event)).then(
    (r: NotifyResult) => {
      if (r.sent) log.info(`notified: ${what}`, { sourceId: t.status.sourceId, status: r.status });
    },
    (e: unknown) =>
      t.decide('warn', `could not notify that ${what}: ${why(e)} (the switch goes on as it would without)`),
  );
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
