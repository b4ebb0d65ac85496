/**
 * Whether an approve/reject request fits the switch's state: the one rule
 * behind the update validator (which refuses with the reason) and the
 * signal handler (which records the reason and ignores the signal).
 */
import { GATES, type Gate, type SwitchStatus } from './status.js';

export const MAX_COMMENT = 2000;

/** The problem with `req`, phrased for the person who sent it, or null when it may be applied. */
export function approvalProblem(status: SwitchStatus, configured: readonly Gate[], req: unknown): string | null {
  if (req === null || typeof req !== 'object') return `send a JSON object such as {"by":"alice","comment":"…"}`;
  const r = req as { gate?: unknown; by?: unknown; comment?: unknown };
  if (typeof r.by !== 'string' || r.by.trim() === '') return `say who decides: "by" is required, e.g. {"by":"alice"}`;
  if (r.by.length > 200) return '"by" is longer than 200 characters';
  if (r.comment !== undefined && typeof r.comment !== 'string') return '"comment" must be text';
  if (typeof r.comment === 'string' && r.comment.length > MAX_COMMENT) return `"comment" is longer than ${MAX_COMMENT} characters`;
  if (r.gate !== undefined && !(GATES as readonly unknown[]).includes(r.gate)) {
    return `unknown gate ${JSON.stringify(r.gate)}: the gates are ${GATES.join(', ')}`;
  }
  const gate = r.gate as Gate | undefined;
  if (gate !== undefined && !configured.includes(gate)) {
    return `gate ${gate} is not configured for this switch (its gates: ${configured.join(', ') || 'none'})`;
  }
  const pending = status.approvals.find((a) => a.state === 'pending');
  if (gate !== undefined && !pending) {
    const done = status.approvals.find((a) => a.gate === gate);
    if (done) return `gate ${gate} was already ${done.state}${done.by ? ` by ${done.by}` : ''}${done.decidedAt ? ` at ${done.decidedAt}` : ''}`;
  }
  if (!pending) {
    const where = status.outcome ? `the switch has finished (${status.outcome})` : `the switch is in phase ${status.phase}`;
    return `no approval is pending: ${where}; gates configured: ${configured.join(', ') || 'none'}`;
  }
  if (gate !== undefined && gate !== pending.gate) {
    const done = status.approvals.find((a) => a.gate === gate);
    return done ? `gate ${gate} was already ${done.state}${done.by ? ` by ${done.by}` : ''}; the switch now waits at ${pending.gate}` : `gate ${gate} is not reached yet: the switch waits at ${pending.gate}`;
  }
  return null;
}
