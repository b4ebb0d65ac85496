/**
 * Approval gates of the switch workflows on a real Temporal dev server, with
 * scripted (fake) activities (scripted-world.ts): approving and rejecting by
 * signal and by update, the update validator's refusals, a gate that times
 * out, cancellation at a gate, a dry run, and what a rejection before or
 * after a change leads to.
 */
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import {
  approveSignal,
  approveUpdate,
  rejectSignal,
  rejectUpdate,
  statusQuery,
  type ApprovalRequest,
} from '../../common/switch/messages.js';
import type { SwitchStatus } from '../../common/switch/status.js';
import { failureType, fakeWorld, input, pendingGate, runSwitch, U, useScriptedTemporal } from './scripted-world.js';

useScriptedTemporal();

async function inPhase(h: WorkflowHandle, phase: SwitchStatus['phase']): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await h.query(statusQuery)).phase === phase) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the switch never reached phase ${phase}`);
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
    expect(w.calls.filter((c) => ['pause', 'vipMove new.example', 'resume'].includes(c))).toEqual([
      'pause',
      'vipMove new.example',
      'resume',
    ]);
    expect(status.decisions.filter((d) => d.verdict === 'go' && d.reason.startsWith('approved by')).length).toBe(3);
  });

  it('given updates, should refuse what does not fit with the reason while the switch keeps waiting, and return the record when approved', async () => {
    const w = fakeWorld();
    // hold pause-task until the test has asked for approvals while no gate is pending
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const pause = w.activities.dmPauseTasks;
    w.activities.dmPauseTasks = async () => {
      await released;
      return pause();
    };
    type Seen = {
      early: Array<string | null>;
      pending?: SwitchStatus;
      details?: string;
      refusals: Array<string | null>;
      still?: SwitchStatus;
      record?: unknown;
      again?: string | null;
      second?: unknown;
    };
    const seen: Seen = { early: [], refusals: [] };
    const { result, status } = await runSwitch(
      w,
      input({ approvals: { gates: ['before-switch', 'before-resume'], timeoutSeconds: 600 } }),
      async (h) => {
        await inPhase(h, 'pausing');
        seen.early = [await refusal(h, { by: 'alice' }), await refusal(h, { gate: 'before-switch', by: 'alice' })];
        release();
        seen.pending = await pendingGate(h, 'before-switch');
        seen.details = (
          (await h.query<{ currentDetails?: string }>('__temporal_workflow_metadata')) ?? {}
        ).currentDetails;
        seen.refusals = [
          await refusal(h, { gate: 'before-switch' }),
          await refusal(h, { gate: 'after-lunch', by: 'alice' }),
          await refusal(h, { gate: 'before-freeze', by: 'alice' }),
          await refusal(h, { gate: 'before-resume', by: 'alice' }),
        ];
        seen.still = await h.query(statusQuery);
        seen.record = await h.executeUpdate(approveUpdate, {
          args: [{ gate: 'before-switch', by: 'alice', comment: 'GTID sets look right' }],
        });
        seen.again = await refusal(h, { gate: 'before-switch', by: 'bob' });
        await pendingGate(h, 'before-resume');
        seen.second = await h.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
      },
    );
    expect(result?.outcome).toBe('switched');
    expect(seen.early[0]).toBe(
      'no approval is pending: the switch is in phase pausing; gates configured: before-switch, before-resume; send it again once the status shows phase awaiting-approval',
    );
    expect(seen.early[1]).toMatch(
      /^gate before-switch is not reached yet; no approval is pending: the switch is in phase pausing/,
    );
    expect(seen.refusals[0]).toMatch(/"by" is required/);
    expect(seen.refusals[1]).toMatch(
      /unknown gate "after-lunch": the gates are before-freeze, before-switch, before-resume/,
    );
    expect(seen.refusals[2]).toMatch(
      /gate before-freeze is not configured for this switch \(its gates: before-switch, before-resume\)/,
    );
    expect(seen.refusals[3]).toMatch(/^gate before-resume is not reached yet: the switch waits at before-switch/);
    // refused updates leave the gate pending
    expect(seen.still?.phase).toBe('awaiting-approval');
    expect(seen.still?.approvals).toEqual([expect.objectContaining({ gate: 'before-switch', state: 'pending' })]);
    expect(seen.record).toMatchObject({
      gate: 'before-switch',
      state: 'approved',
      by: 'alice',
      comment: 'GTID sets look right',
      via: 'update',
    });
    expect(seen.again).toMatch(/^gate before-switch was already approved by alice at \d{4}-/);
    expect(seen.second).toMatchObject({ gate: 'before-resume', state: 'approved', by: 'bob', via: 'update' });
    expect(status.approvals.map((a) => `${a.gate}:${a.state}:${a.by}`)).toEqual([
      'before-switch:approved:alice',
      'before-resume:approved:bob',
    ]);
    // the approver saw what they approved: the frozen GTID sets and the plan
    expect(seen.pending!.phase).toBe('awaiting-approval');
    const approving = seen.pending!.approvals[0]!.approving;
    expect(approving.gtids.filter((g) => g.label.endsWith('(frozen)')).map((g) => [g.label, g.set])).toEqual([
      ['gtid-P new instance (frozen)', `${U}:1-10`],
      ['gtid-E new instance (frozen)', `${U}:1-100`],
      ['gtid-S task app (frozen)', `${U}:1-100`],
    ]);
    expect(approving.summary).toMatch(/move the VIP vip.example from old.example to new.example/);
    expect(approving.plan.length).toBeGreaterThan(3);
    // and the Temporal UI's current details say which gate waits, on what, and how to approve
    expect(seen.details).toMatch(/Approval needed at gate `before-switch`/);
    expect(seen.details).toContain(`gtid-S task app (frozen): \`${U}:1-100\``);
    expect(seen.details).not.toContain('(before pause)');
    expect(seen.details).toMatch(
      /temporal workflow signal --workflow-id \S+ --name approve --input '\{"gate":"before-switch","by":"<you>"\}'/,
    );
    expect(seen.details).toMatch(/dm-switch approve \S+ --gate before-switch/);
  });

  it('given a rejection at before-freeze, should end refused without pausing anything', async () => {
    const w = fakeWorld();
    const { error, status } = await runSwitch(
      w,
      input({ approvals: { gates: ['before-freeze'], timeoutSeconds: 600 } }),
      async (h) => {
        await pendingGate(h, 'before-freeze');
        await h.signal(rejectSignal, { by: 'carol', comment: 'peak traffic' });
      },
    );
    expect(failureType(error)).toBe('Rejected');
    expect(status.outcome).toBe('refused');
    expect(status.decisions.at(-1)?.reason).toMatch(
      /^rejected before any change, nothing to undo: rejected by carol at gate before-freeze: peak traffic/,
    );
    expect(w.calls).not.toContain('pause');
  });

  it('given a rejection at before-resume, should move the VIP back and resume on the old instance', async () => {
    const w = fakeWorld();
    const { error, status } = await runSwitch(
      w,
      input({ approvals: { gates: ['before-resume'], timeoutSeconds: 600 } }),
      async (h) => {
        await pendingGate(h, 'before-resume');
        await h.executeUpdate(rejectUpdate, { args: [{ by: 'dave' }] });
      },
      'vip-switch-rejected-by-update',
    );
    expect(failureType(error)).toBe('Rejected');
    expect(status.outcome).toBe('rolled-back');
    expect(status.compensation.map((c) => `${c.step}:${c.result}`)).toEqual([
      'move VIP vip.example back to old.example:done',
      'resume-task app:done',
    ]);
    expect(w.holder()).toBe('old.example');
    expect(w.tasks[0]!.stage).toBe('Running');
    // the VIP goes back only with every task confirmed Paused (the undo pauses again, idempotently), and the end state is read
    expect(w.calls.filter((c) => c === 'pause' || c === 'resume' || c.startsWith('vipMove'))).toEqual([
      'pause',
      'vipMove new.example',
      'pause',
      'vipMove old.example',
      'resume',
    ]);
    expect(status.decisions.at(-1)?.reason).toMatch(
      /^every change was undone, and checked: VIP vip.example on old.example; source src reads vip.example:3306; task app Running\/Sync; 1 binlog dump connection\(s\) from dm-worker w1 \(192.0.2.7; registered as replica w1\) on old.example:3306; the old instance old.example:3306 holds what the tasks applied downstream/,
    );
    expect(
      status.decisions.some((d) =>
        d.reason.startsWith('rejected after a change (rejected by dave at gate before-resume); undoing 2 step(s)'),
      ),
    ).toBe(true);
    expect(status.stopped).toEqual({ how: 'rejected', cause: 'rejected by dave at gate before-resume', checked: true });
  });

  it('given cancellation while a gate waits, should close the gate and undo what was changed', async () => {
    const w = fakeWorld();
    const { error, status } = await runSwitch(
      w,
      input({ approvals: { gates: ['before-switch'], timeoutSeconds: 600 } }),
      async (h) => {
        await pendingGate(h, 'before-switch');
        await h.cancel();
      },
    );
    expect(error).toBeDefined();
    expect(status.outcome).toBe('rolled-back');
    expect(status.approvals).toEqual([
      expect.objectContaining({
        gate: 'before-switch',
        state: 'cancelled',
        via: 'cancellation',
        comment: 'the switch was cancelled while waiting at this gate',
      }),
    ]);
    expect(w.calls.filter((c) => c === 'pause' || c === 'resume' || c.startsWith('vipMove'))).toEqual([
      'pause',
      'resume',
    ]);
  });

  it('given nobody decides in time, should reject with ApprovalTimedOut', async () => {
    const w = fakeWorld();
    const { error, status } = await runSwitch(
      w,
      input({ approvals: { gates: ['before-freeze'], timeoutSeconds: 10 } }),
    );
    expect(failureType(error)).toBe('ApprovalTimedOut');
    expect(status.outcome).toBe('refused');
    expect(status.approvals[0]).toMatchObject({ gate: 'before-freeze', state: 'timed-out', via: 'timeout' });
    expect(w.calls).not.toContain('pause');
  }, 30_000);

  it('given an invalid signal, should record and ignore it, and keep waiting for a valid one', async () => {
    const w = fakeWorld();
    const { result, status } = await runSwitch(
      w,
      input({ approvals: { gates: ['before-freeze'], timeoutSeconds: 600 } }),
      async (h) => {
        await pendingGate(h, 'before-freeze');
        await h.signal(approveSignal, { gate: 'before-switch', by: 'eve' });
        await h.signal(approveSignal, { by: '  ' });
        await h.signal(approveSignal, { by: 'frank' });
      },
    );
    expect(result?.outcome).toBe('switched');
    const ignored = status.decisions.filter((d) => d.reason.startsWith('ignored approve signal'));
    expect(ignored.map((d) => d.reason)).toEqual([
      expect.stringMatching(/^ignored approve signal from eve: gate before-switch is not configured/),
      expect.stringMatching(/^ignored approve signal: say who decides/),
    ]);
    expect(status.approvals[0]).toMatchObject({ state: 'approved', by: 'frank' });
  });

  it('given a dry run with gates, should not wait and say at which gates it would', async () => {
    const w = fakeWorld();
    const { result } = await runSwitch(
      w,
      input({
        options: { dryRun: true },
        approvals: { gates: ['before-freeze', 'before-switch', 'before-resume'], timeoutSeconds: 600 },
      }),
    );
    expect(result?.outcome).toBe('dry-run');
    expect(result?.approvals).toEqual([]);
    expect(result?.decisions.filter((d) => d.reason.startsWith('dry run: would wait')).map((d) => d.reason)).toEqual([
      'dry run: would wait for approval at gate before-freeze, before: pause the tasks of source src (app) to move the VIP vip.example to new.example',
      'dry run: would wait for approval at gate before-switch, before: move the VIP vip.example from old.example to new.example',
      'dry run: would wait for approval at gate before-resume, before: resume the tasks of source src (app), now reading new.example through vip.example',
    ]);
    expect(w.calls.filter((c) => c === 'pause' || c === 'resume' || c.startsWith('vipMove'))).toEqual([]);
    // a dry run's "would wait" tells nobody
    expect(w.notices).toEqual([]);
  });

  it('given gates, should notify each once as it starts waiting, without the gate waiting for the notification, and record one that failed as a warning', async () => {
    const w = fakeWorld();
    let release!: () => void;
    const hung = new Promise<void>((r) => (release = r));
    const sent = w.activities.notifySend;
    let n = 0;
    w.activities.notifySend = async (e) => {
      n++;
      if (n === 1)
        await hung; // the first receiver does not answer until the test lets it
      else throw ApplicationFailure.nonRetryable('receiver down (scripted)', 'NotifyFailed');
      return sent(e);
    };
    const seen: { second?: SwitchStatus } = {};
    const { result, status, workflowId } = await runSwitch(
      w,
      input({ approvals: { gates: ['before-freeze', 'before-switch'], timeoutSeconds: 600 } }),
      async (h) => {
        await pendingGate(h, 'before-freeze');
        // the notification is still in flight: the gate takes its decision all the same
        await h.executeUpdate(approveUpdate, { args: [{ by: 'alice' }] });
        await pendingGate(h, 'before-switch');
        for (let i = 0; i < 100 && !(seen.second = await h.query(statusQuery)).warnings.length; i++)
          await new Promise((r) => setTimeout(r, 50));
        release();
        await h.executeUpdate(approveUpdate, { args: [{ by: 'bob' }] });
      },
    );
    expect(result?.outcome).toBe('switched');
    expect(n).toBe(2);
    // the failed notification: a warning while the gate still waits, and nothing else changed
    expect(seen.second?.phase).toBe('awaiting-approval');
    expect(seen.second?.warnings).toEqual([
      'could not notify that gate before-switch waits for approval: receiver down (scripted) (the switch goes on as it would without)',
    ]);
    expect(status.approvals.map((a) => `${a.gate}:${a.state}:${a.by}`)).toEqual([
      'before-freeze:approved:alice',
      'before-switch:approved:bob',
    ]);
    // what each notification said: the gate, what it approves, until when, which switch
    expect(w.notices).toHaveLength(1); // the second one threw before it was recorded
    const first = w.notices[0]!;
    expect(first).toMatchObject({
      event: 'awaiting-approval',
      gate: 'before-freeze',
      workflowId,
      sourceId: 'src',
      dmCluster: 'default',
      kind: 'vip-switch',
      summary: status.approvals[0]!.approving.summary,
    });
    expect(
      first.event === 'awaiting-approval' && Date.parse(first.decideBy) - Date.parse(status.approvals[0]!.requestedAt),
    ).toBe(600_000);
    expect(first.runId).toMatch(/^[0-9a-f-]{36}$/);
  });
});
