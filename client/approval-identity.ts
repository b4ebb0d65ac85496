/**
 * Who really decided a gate. An approval carries the name its sender gave
 * (`by`), which anyone can type; Temporal records, with every signal and
 * update, the identity of the client that sent it (its `identity` option:
 * by default pid@host, or what the operator's Temporal authorization
 * attaches). The workflow cannot see that identity, so the client reads it
 * from the history and sets it beside each decision.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { LoadedDataConverter } from '@temporalio/common';
import proto from '@temporalio/proto';
import type { ApprovalRequest } from '../common/switch/messages.js';
import type { ApprovalRecord } from '../common/switch/status.js';

const { EventType } = proto.temporal.api.enums.v1;

export interface SentDecision {
  decision: 'approve' | 'reject';
  request: Partial<ApprovalRequest>;
  /** The sending client's identity, as Temporal recorded it. */
  identity: string;
  via: 'signal' | 'update';
}

/** Every approve/reject signal and accepted update in the workflow's history, in order. */
export async function sentDecisions(handle: WorkflowHandle, converter: LoadedDataConverter): Promise<SentDecision[]> {
  const out: SentDecision[] = [];
  const decode = async (p: proto.temporal.api.common.v1.IPayload | undefined): Promise<Partial<ApprovalRequest>> => {
    if (!p) return {};
    try {
      const [decoded] = await converter.payloadCodecs.reduceRight(
        async (acc, c) => c.decode(await acc),
        Promise.resolve([p]),
      );
      return (converter.payloadConverter.fromPayload(decoded!) ?? {}) as Partial<ApprovalRequest>;
    } catch {
      return {};
    }
  };
  for (const e of (await handle.fetchHistory()).events ?? []) {
    const type = e.eventType;
    if (type === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED) {
      const a = e.workflowExecutionSignaledEventAttributes!;
      if (a.signalName !== 'approve' && a.signalName !== 'reject') continue;
      out.push({
        decision: a.signalName,
        request: await decode(a.input?.payloads?.[0]),
        identity: a.identity ?? '',
        via: 'signal',
      });
    } else if (type === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED) {
      const r = e.workflowExecutionUpdateAcceptedEventAttributes!.acceptedRequest;
      const name = r?.input?.name;
      if (name !== 'approve' && name !== 'reject') continue;
      out.push({
        decision: name,
        request: await decode(r?.input?.args?.payloads?.[0]),
        identity: r?.meta?.identity ?? '',
        via: 'update',
      });
    }
  }
  return out;
}

/**
 * The approvals with `identity` set from the decision that made each: the
 * first sent decision of the same kind, channel, name and gate (or no gate)
 * not used for an earlier one.
 */
export function withIdentities(approvals: ApprovalRecord[], sent: SentDecision[]): ApprovalRecord[] {
  const used = new Set<number>();
  return approvals.map((a) => {
    if ((a.state !== 'approved' && a.state !== 'rejected') || (a.via !== 'signal' && a.via !== 'update')) return a;
    const decision = a.state === 'approved' ? 'approve' : 'reject';
    const i = sent.findIndex(
      (s, k) =>
        !used.has(k) &&
        s.decision === decision &&
        s.via === a.via &&
        s.request.by === a.by &&
        (s.request.gate === undefined || s.request.gate === a.gate),
    );
    if (i < 0) return a;
    used.add(i);
    return { ...a, identity: sent[i]!.identity };
  });
}
