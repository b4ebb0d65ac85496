/**
 * Whether an approve/reject request fits the switch's state: the one rule
 * behind the update validator (which refuses with the reason) and the
 * signal handler (which records the reason and ignores the signal). Pure, so
 * it is unit-tested without Temporal, and every reason says what to do.
 */
import { GATES, type ApprovalRecord } from './status.js';

export const MAX_COMMENT = 2000;
export const MAX_APPROVER = 200;

/** Which workflow's gates a request is checked against, and how the reasons name it. */
export interface GateScope {
  /** Every gate this kind of workflow has. */
  gates: readonly string[];
  /** What the reasons call it: "switch", "drain", "return". */
  what: string;
  /** Why it waits at no gate, in its input's words. */
  noGates: string;
}

export const SWITCH_GATES: GateScope = {
  gates: GATES,
  what: 'switch',
  noGates: "its input's approvals.gates is empty",
};

/** What the rule reads of a workflow's status: where it is, and its gates' records. */
export interface GatedStatus {
  phase: string;
  outcome?: string;
  approvals: ReadonlyArray<ApprovalRecord<string>>;
}

/** The problem with `req`, phrased for the person who sent it, or null when it may be applied. */
export function approvalProblem(
  status: GatedStatus,
  configured: readonly string[],
  req: unknown,
  scope: GateScope = SWITCH_GATES,
): string | null {
  const what = scope.what;
  if (req === null || typeof req !== 'object') return `send a JSON object such as {"by":"alice","comment":"…"}`;
  const r = req as { gate?: unknown; by?: unknown; comment?: unknown };
  if (typeof r.by !== 'string' || r.by.trim() === '') return `say who decides: "by" is required, e.g. {"by":"alice"}`;
  if (r.by.length > MAX_APPROVER) return `"by" is longer than ${MAX_APPROVER} characters`;
  if (r.comment !== undefined && typeof r.comment !== 'string') return '"comment" must be text';
  if (typeof r.comment === 'string' && r.comment.length > MAX_COMMENT)
    return `"comment" is longer than ${MAX_COMMENT} characters; put the details elsewhere and link them`;
  if (r.gate !== undefined && !(scope.gates as readonly unknown[]).includes(r.gate)) {
    return `unknown gate ${JSON.stringify(r.gate)}: the gates are ${scope.gates.join(', ')}`;
  }
  const gate = r.gate as string | undefined;
  if (gate !== undefined && !configured.includes(gate)) {
    return `gate ${gate} is not configured for this ${what} (its gates: ${configured.join(', ') || 'none'})`;
  }
  // A record stays pending only while the switch waits at it (phase awaiting-approval).
  const pending =
    status.phase === 'awaiting-approval' ? status.approvals.find((a) => a.state === 'pending') : undefined;
  const decided =
    gate === undefined ? undefined : status.approvals.find((a) => a.gate === gate && a.state !== 'pending');
  if (decided)
    return (
      `gate ${gate} was already ` +
      `${decidedWords(decided)}${pending ? `; the ${what} now waits at ${pending.gate}` : ''}`
    );
  if (!pending) {
    if (status.outcome) return `no approval is pending: the ${what} has finished (${status.outcome})`;
    if (configured.length === 0) return `no approval is pending: this ${what} has no approval gates (${scope.noGates})`;
    const notYet = gate === undefined ? '' : `gate ${gate} is not reached yet; `;
    return (
      `${notYet}no approval is pending: the ${what} is in phase ${status.phase}; gates ` +
      `configured: ${configured.join(', ')}; send it again once the status shows phase awaiting-approval`
    );
  }
  if (gate !== undefined && gate !== pending.gate)
    return (
      `gate ${gate} is not reached yet: the ${what} waits at ${pending.gate}; decide ` +
      `that gate first (or leave "gate" out)`
    );
  return null;
}

/** "approved by alice at 2026-…", "timed out (nobody decided) at …". */
function decidedWords(a: ApprovalRecord<string>): string {
  const what = a.state === 'timed-out' ? 'timed out (nobody decided in time)' : a.state;
  return (
    `${what}${a.by ? ` by ${a.by}` : ''}${a.decidedAt ? ` at ${a.decidedAt}` : ''}` +
    `${a.comment && !a.by ? ` (${a.comment})` : ''}`
  );
}

/**
 * Whether the only thing wrong with `req` is that no gate waits right now: it names no gate or a configured
 * gate not decided yet, and the workflow has not finished. Such a signal may be meant for a gate that opens in
 * the same workflow task (Core delivers a task's signals ahead of the step results that open gates).
 */
export function waitsOnlyForAGate(
  status: GatedStatus,
  configured: readonly string[],
  req: unknown,
  scope: GateScope = SWITCH_GATES,
): boolean {
  if (status.outcome || configured.length === 0) return false;
  if (status.phase === 'awaiting-approval' && status.approvals.some((a) => a.state === 'pending')) return false;
  const named = req !== null && typeof req === 'object' ? (req as { gate?: unknown }).gate : undefined;
  const probe = typeof named === 'string' ? named : configured[0]!;
  // the same request against the same status with a gate waiting: accepted means nothing else is wrong
  const pending = { gate: probe, state: 'pending' } as ApprovalRecord<string>;
  const waiting: GatedStatus = { phase: 'awaiting-approval', approvals: [...status.approvals, pending] };
  return approvalProblem(waiting, configured, req, scope) === null;
}
