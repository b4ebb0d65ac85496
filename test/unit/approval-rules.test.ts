import { describe, expect, it } from 'vitest';
import { approvalProblem, waitsOnlyForAGate } from '../../common/switch/approval-rules.js';
import type { ApprovalRecord, SwitchStatus } from '../../common/switch/status.js';

const status = (approvals: Array<Partial<ApprovalRecord>>, over: Partial<SwitchStatus> = {}): SwitchStatus =>
  ({
    kind: 'vip-switch',
    dmCluster: 'default',
    sourceId: 's',
    phase: 'awaiting-approval',
    dryRun: false,
    startedAt: '',
    updatedAt: '',
    tasks: [],
    gtids: [],
    decisions: [],
    plan: [],
    steps: [],
    compensation: [],
    warnings: [],
    operatorActions: [],
    approvals: approvals.map((a) => ({
      gate: 'before-switch',
      state: 'pending',
      requestedAt: '',
      approving: { summary: '', plan: [], gtids: [] },
      ...a,
    })),
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
    [
      { by: 'a', gate: 'before-resume' },
      /gate before-resume is not configured for this switch \(its gates: before-freeze, before-switch\)/,
    ],
  ])('given %j, should refuse with the reason', (req, reason) => {
    expect(approvalProblem(status([{}]), gates, req)).toMatch(reason);
  });

  it('given the pending gate named by another configured gate, should say which gate waits', () => {
    expect(approvalProblem(status([{}]), gates, { by: 'a', gate: 'before-freeze' })).toBe(
      'gate before-freeze is not reached yet: the switch waits at before-switch; decide that gate first (or leave "gate" out)',
    );
  });

  it('given a gate already decided, should say how, by whom and when', () => {
    const s = status([{ gate: 'before-freeze', state: 'approved', by: 'alice', decidedAt: 'T1' }, {}]);
    expect(approvalProblem(s, gates, { gate: 'before-freeze', by: 'bob' })).toBe(
      'gate before-freeze was already approved by alice at T1; the switch now waits at before-switch',
    );
    const done = status([{ gate: 'before-switch', state: 'rejected', by: 'carol', decidedAt: 'T2' }], {
      phase: 'done',
      outcome: 'refused',
    });
    expect(approvalProblem(done, gates, { gate: 'before-switch', by: 'bob' })).toBe(
      'gate before-switch was already rejected by carol at T2',
    );
    const moving = status([{ gate: 'before-switch', state: 'approved', by: 'alice', decidedAt: 'T3' }], {
      phase: 'moving-vip',
    });
    expect(approvalProblem(moving, gates, { gate: 'before-switch', by: 'alice' })).toBe(
      'gate before-switch was already approved by alice at T3',
    );
    const late = status([{ gate: 'before-freeze', state: 'timed-out', via: 'timeout', decidedAt: 'T4' }], {
      phase: 'done',
      outcome: 'refused',
    });
    expect(approvalProblem(late, gates, { gate: 'before-freeze', by: 'bob' })).toBe(
      'gate before-freeze was already timed out (nobody decided in time) at T4',
    );
    const cancelled = status(
      [
        {
          gate: 'before-freeze',
          state: 'cancelled',
          via: 'cancellation',
          decidedAt: 'T5',
          comment: 'the switch was cancelled while waiting at this gate',
        },
      ],
      { phase: 'compensating' },
    );
    expect(approvalProblem(cancelled, gates, { gate: 'before-freeze', by: 'bob' })).toBe(
      'gate before-freeze was already cancelled at T5 (the switch was cancelled while waiting at this gate)',
    );
  });

  it('given nothing pending, should say where the switch is and when to send it', () => {
    expect(approvalProblem(status([], { phase: 'preflight' }), gates, { by: 'a' })).toBe(
      'no approval is pending: the switch is in phase preflight; gates configured: before-freeze, before-switch; send it again once the status shows phase awaiting-approval',
    );
    expect(approvalProblem(status([], { phase: 'pausing' }), gates, { by: 'a', gate: 'before-switch' })).toBe(
      'gate before-switch is not reached yet; no approval is pending: the switch is in phase pausing; gates configured: before-freeze, before-switch; send it again once the status shows phase awaiting-approval',
    );
    expect(approvalProblem(status([], { phase: 'preflight' }), [], { by: 'a' })).toBe(
      "no approval is pending: this switch has no approval gates (its input's approvals.gates is empty)",
    );
    expect(approvalProblem(status([], { phase: 'done', outcome: 'switched' }), [], { by: 'a' })).toBe(
      'no approval is pending: the switch has finished (switched)',
    );
  });

  it('given a record left pending while the switch no longer waits (e.g. compensating), should not accept it', () => {
    expect(approvalProblem(status([{}], { phase: 'compensating' }), gates, { by: 'a' })).toMatch(
      /^no approval is pending: the switch is in phase compensating/,
    );
  });
});

describe('waitsOnlyForAGate', () => {
  const gates = ['before-freeze', 'before-switch'] as const;
  const moving = (approvals: Array<Partial<ApprovalRecord>> = []) => status(approvals, { phase: 'preflight' });

  it('given no gate waiting and a request for a configured gate not decided yet (or none named), should be true', () => {
    expect(waitsOnlyForAGate(moving(), gates, { by: 'alice' })).toBe(true);
    expect(waitsOnlyForAGate(moving(), gates, { gate: 'before-switch', by: 'alice' })).toBe(true);
  });

  it('given any other problem, a gate waiting, or a finished switch, should be false', () => {
    expect(waitsOnlyForAGate(moving(), gates, { gate: 'before-freeze' })).toBe(false);
    expect(waitsOnlyForAGate(moving(), gates, { gate: 'nope', by: 'a' })).toBe(false);
    expect(waitsOnlyForAGate(moving(), ['before-freeze'], { gate: 'before-switch', by: 'a' })).toBe(false);
    const decided = moving([{ gate: 'before-freeze', state: 'approved', by: 'bob' }]);
    expect(waitsOnlyForAGate(decided, gates, { gate: 'before-freeze', by: 'a' })).toBe(false);
    expect(waitsOnlyForAGate(status([{}]), gates, { by: 'a' })).toBe(false);
    expect(waitsOnlyForAGate(status([], { phase: 'done', outcome: 'switched' }), gates, { by: 'a' })).toBe(false);
    expect(waitsOnlyForAGate(moving(), [], { by: 'a' })).toBe(false);
  });
});
