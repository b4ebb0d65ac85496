import { describe, expect, it } from 'vitest';
import { approvalProblem } from '../../common/switch/approval-rules.js';
import type { ApprovalRecord, SwitchStatus } from '../../common/switch/status.js';

const status = (approvals: Array<Partial<ApprovalRecord>>, over: Partial<SwitchStatus> = {}): SwitchStatus =>
  ({
    kind: 'vip-switch', dmCluster: 'default', sourceId: 's', phase: 'awaiting-approval', dryRun: false, startedAt: '', updatedAt: '',
    tasks: [], gtids: [], decisions: [], plan: [], steps: [], compensation: [], warnings: [], operatorActions: [],
    approvals: approvals.map((a) => ({ gate: 'before-switch', state: 'pending', requestedAt: '', approving: { summary: '', plan: [], gtids: [] }, ...a })),
    ...over,
  }) as SwitchStatus;

describe('approvalProblem', () => {
  const gates = ['before-freeze', 'before-switch'] as const;

  it('given the pending gate (named or not) and an approver, should accept', () => {
    expect(approvalProblem(status([{}]), gates, { by: 'alice' })).toBeNull();
    expect(approvalProblem(status([{}]), gates, { gate: 'before-switch', by: 'alice', comment: 'ok' })).toBeNull();
  });

  it.each([
    [null, /send a JSON object/],
    [{}, /"by" is required/],
    [{ by: '   ' }, /"by" is required/],
    [{ by: 'x'.repeat(201) }, /longer than 200/],
    [{ by: 'a', comment: 5 }, /"comment" must be text/],
    [{ by: 'a', comment: 'x'.repeat(2001) }, /longer than 2000/],
    [{ by: 'a', gate: 'nope' }, /unknown gate "nope": the gates are before-freeze, before-switch, before-resume/],
    [{ by: 'a', gate: 'before-resume' }, /gate before-resume is not configured for this switch \(its gates: before-freeze, before-switch\)/],
    [{ by: 'a', gate: 'before-freeze' }, /gate before-freeze is not reached yet: the switch waits at before-switch/],
  ])('given %j, should refuse with the reason', (req, reason) => {
    expect(approvalProblem(status([{}]), gates, req)).toMatch(reason);
  });

  it('given a gate already decided, should say by whom', () => {
    const s = status([{ gate: 'before-freeze', state: 'approved', by: 'alice', decidedAt: 'T1' }, {}]);
    expect(approvalProblem(s, gates, { gate: 'before-freeze', by: 'bob' })).toBe('gate before-freeze was already approved by alice; the switch now waits at before-switch');
    const done = status([{ gate: 'before-switch', state: 'rejected', by: 'carol', decidedAt: 'T2' }], { phase: 'done', outcome: 'refused' });
    expect(approvalProblem(done, gates, { gate: 'before-switch', by: 'bob' })).toBe('gate before-switch was already rejected by carol at T2');
  });

  it('given nothing pending, should say where the switch is', () => {
    expect(approvalProblem(status([], { phase: 'preflight' }), gates, { by: 'a' })).toBe('no approval is pending: the switch is in phase preflight; gates configured: before-freeze, before-switch');
    expect(approvalProblem(status([], { phase: 'done', outcome: 'switched' }), [], { by: 'a' })).toBe('no approval is pending: the switch has finished (switched); gates configured: none');
  });
});
