/**
 * Approval gates of the switch workflows on a real Temporal dev server, with
 * scripted (fake) activities (scripted-world.ts): approving and rejecting by
 * signal and by update, the update validator's refusals, a gate that times
 * out, and what a rejection before or after a change leads to.
 */
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { approveSignal, approveUpdate, rejectSignal, rejectUpdate, statusQuery, type ApprovalRequest } from '../../common/switch/messages.js';
import type { Gate, SwitchStatus } from '../../common/switch/status.js';
import { failureType, fakeWorld, input, runSwitch, useScriptedTemporal } from './scripted-world.js';

useScriptedTemporal();

async function pendingGate(h: WorkflowHandle, gate: Gate): Promise<SwitchStatus> {
  for (let i = 0; i < 200; i++) {
    const s = await h.query(statusQuery);
    if (s.approvals.some((a) => a.gate === gate && a.state === 'pending')) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gate ${gate} never became pending`);
}

/** The validator's reason for refusing an update, or null when it was accepted. */
async function refusal(h: WorkflowHandle, req: unknown): Promise<string | null> {
  try {
    await h.executeUpdate(approveUpdate, { args: [req as ApprovalRequest] });
    return null;
  } catch (e) {
    if (e instanceof WorkflowUpdateFailedError) return e.cause?.message ?? e.message;
    throw e;
  }
}

describe('approval gates (scripted activities)', () => {
  it('given all three gates approved by signal, should switch and record who approved each gate', async () => {
    const w = fakeWorld();
    const { result, status } = await runSwitch(
      w,
      input({ approvals: { gates: ['before-freeze', 'before-switch', 'before-resume'], timeoutSeconds: 600 } }),
      async (h) => {
        for (const gate of ['before-freeze', 'before-switch', 'before-resume'] as const) {
          await pendingGate(h, gate);
          await h.signal(approveSignal, { gate, by: `dba-${gate}`, comment: `ok ${gate}` });
        }
      },
      'vip-switch-approved',
    );
    expect(result?.outcome).toBe('switched');
    expect(status.approvals.map((a) => [a.gate, a.state, a.by, a.comment, a.via])).toEqual([
      ['before-freeze', 'approved', 'dba-before-freeze', 'ok before-freeze', 'signal'],
      ['before-switch', 'approved', 'dba-before-switch', 'ok before-switch', 'signal'],
      ['before-resume', 'approved', 'dba-before-resume', 'ok before-resume', 'signal'],
    ]);
    // each gate was passed before its step, in order
    expect(w.calls.filter((c) => ['pause', 'vipMove new.example', 'resume'].includes(c))).toEqual(['pause', 'vipMove new.example', 'resume']);
    expect(status.decisions.filter((d) => d.verdict === 'go' && d.reason.startsWith('approved by')).length).toBe(3);
  });

  it('given updates, should refuse what does not fit with the reason, and return the record when approved', async () => {
    const w = fakeWorld();
    const seen: { pending?: SwitchStatus; refusals: Array<string | null>; record?: unknown; again?: string | null } = { refusals: [] };
    const { result } = await runSwitch(w, input({ approvals: { gates: ['before-switch'], timeoutSeconds: 600 } }), async (h) => {
      seen.pending = await pendingGate(h, 'before-switch');
      seen.refusals = [
        await refusal(h, { gate: 'before-switch' }),
        await refusal(h, { gate: 'after-lunch', by: 'alice' }),
        await refusal(h, { gate: 'before-freeze', by: 'alice' }),
        await refusal(h, { gate: 'before-resume', by: 'alice' }),
      ];
      seen.record = await h.executeUpdate(approveUpdate, { args: [{ gate: 'before-switch', by: 'alice', comment: 'GTID sets look right' }] });
      seen.again = await refusal(h, { gate: 'before-switch', by: 'bob' });
    });
    expect(result?.outcome).toBe('switched');
    expect(seen.refusals[0]).toMatch(/"by" is required/);
    expect(seen.refusals[1]).toMatch(/unknown gate "after-lunch": the gates are before-freeze, before-switch, before-resume/);
    expect(seen.refusals[2]).toMatch(/gate before-freeze is not configured for this switch \(its gates: before-switch\)/);
    expect(seen.refusals[3]).toMatch(/gate before-resume is not configured/);
    expect(seen.record).toMatchObject({ gate: 'before-switch', state: 'approved', by: 'alice', comment: 'GTID sets look right', via: 'update' });
    expect(seen.again).toMatch(/gate before-switch was already approved by alice/);
    // the approver saw what they approved: the frozen GTID sets and the plan
    const approving = seen.pending!.approvals[0]!.approving;
    expect(approving.gtids.map((g) => g.label)).toContain('gtid-S task app (frozen)');
    expect(approving.summary).toMatch(/move the VIP vip.example from old.example to new.example/);
    expect(approving.plan.length).toBeGreaterThan(3);
    expect(seen.pending!.phase).toBe('awaiting-approval');
  });

  it('given a rejection at before-freeze, should end refused without pausing anything', async () => {
    const w = fakeWorld();
    const { error, status } = await runSwitch(w, input({ approvals: { gates: ['before-freeze'], timeoutSeconds: 600 } }), async (h) => {
      await pendingGate(h, 'before-freeze');
      await h.signal(rejectSignal, { by: 'carol', comment: 'peak traffic' });
    });
    expect(failureType(error)).toBe('Rejected');
    expect(status.outcome).toBe('refused');
    expect(status.decisions.at(-1)?.reason).toMatch(/^rejected before any change, nothing to undo: rejected by carol at gate before-freeze: peak traffic/);
    expect(w.calls).not.toContain('pause');
  });

  it('given a rejection at before-resume, should move the VIP back and resume on the old instance', async () => {
    const w = fakeWorld();
    const { error, status } = await runSwitch(w, input({ approvals: { gates: ['before-resume'], timeoutSeconds: 600 } }), async (h) => {
      await pendingGate(h, 'before-resume');
      await h.executeUpdate(rejectUpdate, { args: [{ by: 'dave' }] });
    });
    expect(failureType(error)).toBe('Rejected');
    expect(status.outcome).toBe('rolled-back');
    expect(status.compensation.map((c) => `${c.step}:${c.result}`)).toEqual(['move VIP vip.example back to old.example:done', 'resume-task app:done']);
    expect(w.holder()).toBe('old.example');
    expect(w.tasks[0]!.stage).toBe('Running');
  });

  it('given nobody decides in time, should reject with ApprovalTimedOut', async () => {
    const w = fakeWorld();
    const { error, status } = await runSwitch(w, input({ approvals: { gates: ['before-freeze'], timeoutSeconds: 10 } }));
    expect(failureType(error)).toBe('ApprovalTimedOut');
    expect(status.outcome).toBe('refused');
    expect(status.approvals[0]).toMatchObject({ gate: 'before-freeze', state: 'timed-out', via: 'timeout' });
    expect(w.calls).not.toContain('pause');
  }, 30_000);

  it('given an invalid signal, should record and ignore it, and keep waiting for a valid one', async () => {
    const w = fakeWorld();
    const { result, status } = await runSwitch(w, input({ approvals: { gates: ['before-freeze'], timeoutSeconds: 600 } }), async (h) => {
      await pendingGate(h, 'before-freeze');
      await h.signal(approveSignal, { gate: 'before-switch', by: 'eve' });
      await h.signal(approveSignal, { by: '  ' });
      await h.signal(approveSignal, { by: 'frank' });
    });
    expect(result?.outcome).toBe('switched');
    const ignored = status.decisions.filter((d) => d.reason.startsWith('ignored approve signal'));
    expect(ignored.map((d) => d.reason)).toEqual([
      expect.stringMatching(/^ignored approve signal from eve: gate before-switch is not configured/),
      expect.stringMatching(/^ignored approve signal: say who decides/),
    ]);
    expect(status.approvals[0]).toMatchObject({ state: 'approved', by: 'frank' });
  });

  it('given a dry run with gates, should not wait and say it would', async () => {
    const w = fakeWorld();
    const { result } = await runSwitch(w, input({ options: { dryRun: true }, approvals: { gates: ['before-freeze'], timeoutSeconds: 600 } }));
    expect(result?.outcome).toBe('dry-run');
    expect(result?.approvals).toEqual([]);
    expect(result?.decisions.some((d) => d.reason.startsWith('dry run: would wait for approval at gate before-freeze'))).toBe(true);
  });
});
