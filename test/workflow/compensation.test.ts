/**
 * Compensation that cannot lie (the outcome is the state read after the undo), on a real Temporal dev server with
 * a scripted world (test/workflow/scripted-world.ts). The faults here are
 * scripted because real components cannot produce them on demand: DM
 * refusing the pause of one task of two, refusing the resume of one task of
 * two, a VIP move whose answer is lost. The same shapes with real crashes on
 * the real stack are in test/integration/crash-inside-e2e.test.ts.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { rejectUpdate } from '../../common/switch/messages.js';
import {
  failureType,
  fakeAddressWorld,
  fakeWorld,
  input,
  pendingGate,
  runSwitch,
  useScriptedTemporal,
} from './scripted-world.js';

useScriptedTemporal();

const changes = (calls: string[]) => calls.filter((c) => c === 'pause' || c === 'resume' || c.startsWith('vipMove'));
const stages = (w: ReturnType<typeof fakeWorld>) => w.tasks.map((t) => `${t.name} ${t.stage}`);

describe('compensation that cannot lie (scripted faults)', () => {
  it('given a VIP move whose answer was lost and a rejection at before-resume, should still move the VIP back (the undo follows preflight, not the move)', async () => {
    const w = fakeWorld({ moveAnswerLost: true });
    const { error, status } = await runSwitch(
      w,
      input({ approvals: { gates: ['before-resume'], timeoutSeconds: 600 } }),
      async (h) => {
        await pendingGate(h, 'before-resume', 100);
        await h.executeUpdate(rejectUpdate, { args: [{ by: 'dave' }] });
      },
      'vip-switch-undo-after-lost-move',
    );
    expect(failureType(error)).toBe('Rejected');
    expect(status.outcome).toBe('rolled-back');
    expect(w.holder()).toBe('old.example');
    expect(stages(w)).toEqual(['app Running']);
    // forward once (its answer lost), the retry finds it there, back once
    expect(changes(w.calls)).toEqual([
      'pause',
      'vipMove new.example',
      'vipMove new.example',
      'pause',
      'vipMove old.example',
      'resume',
    ]);
  });

  it('given the pause of the second of two tasks refused, should resume the first and end rolled-back, checked', async () => {
    const w = fakeWorld({ twoTasks: true, pauseFailsOn: 'app2' });
    const { error, status } = await runSwitch(w, input());
    expect(failureType(error)).toBe('DmOperationFailed');
    expect(status.outcome).toBe('rolled-back');
    expect(stages(w)).toEqual(['app Running', 'app2 Running']);
    expect(w.holder()).toBe('old.example');
    expect(changes(w.calls)).toEqual(['pause', 'resume']);
    expect(status.decisions.at(-1)?.reason).toMatch(
      /^every change was undone, and checked: .*task app Running.*task app2 Running/,
    );
  });

  it('given the resume of the second of two tasks refused on the new instance, should pause both before the VIP moves back, and resume both on the old one', async () => {
    const w = fakeWorld({ twoTasks: true, resumeFailsOn: 'app2' });
    const { error, status } = await runSwitch(w, input(), undefined, 'vip-switch-undo-partial-resume');
    expect(failureType(error)).toBe('DmOperationFailed');
    expect(status.outcome).toBe('rolled-back');
    expect(w.holder()).toBe('old.example');
    expect(stages(w)).toEqual(['app Running', 'app2 Running']);
    // never the VIP moved back while app runs on the new instance: pause (and confirm) first
    expect(changes(w.calls)).toEqual([
      'pause',
      'vipMove new.example',
      'resume',
      'pause',
      'pause',
      'vipMove old.example',
      'resume',
    ]);
    expect(status.compensation.map((c) => `${c.step}:${c.result}`)).toEqual([
      'pause-task app, app2 (before moving back):done',
      'move VIP vip.example back to old.example:done',
      'resume-task app, app2:done',
    ]);
  });

  it('given a failure after the VIP moved away from an old instance that was down at preflight, should leave the VIP and the paused tasks and end needs-operator saying so', async () => {
    const w = fakeWorld({ oldDown: true, resumeLeavesError: true });
    const { error, status } = await runSwitch(w, input());
    expect(failureType(error)).toBe('CompensationFailed');
    expect(status.outcome).toBe('needs-operator');
    expect(w.holder()).toBe('new.example');
    expect(changes(w.calls).filter((c) => c.startsWith('vipMove'))).toEqual(['vipMove new.example']);
    expect(stages(w)).toEqual(['app Paused']);
    expect(status.compensation.find((c) => c.step.startsWith('move VIP'))?.detail).toMatch(
      /did not answer at preflight, so the VIP is not moved back to it/,
    );
    expect(status.operatorActions.join('\n')).toMatch(/decide where the VIP vip.example belongs/);
    // someone was told, with what to run, before the switch failed
    expect(w.notices).toEqual([
      expect.objectContaining({
        event: 'needs-operator',
        outcome: 'needs-operator',
        sourceId: 'src',
        kind: 'vip-switch',
        operatorActions: status.operatorActions,
      }),
    ]);
    expect(w.notices[0]!.event === 'needs-operator' && w.notices[0]!.message).toMatch(
      /could not be undone .*operatorActions say what to run/,
    );
  });

  it('given a switch cancelled at a gate that then needs an operator, and a notifier that fails, should still notify both, and end needs-operator with a warning', async () => {
    const w = fakeWorld({ oldDown: true });
    const sent = w.activities.notifySend;
    w.activities.notifySend = async (e) => {
      if (e.event === 'needs-operator') {
        await sent(e); // recorded: it was asked for, after the cancellation
        throw ApplicationFailure.nonRetryable('receiver answered HTTP 503 (scripted)', 'NotifyFailed');
      }
      return sent(e);
    };
    const { error, status } = await runSwitch(
      w,
      input({ approvals: { gates: ['before-resume'], timeoutSeconds: 600 } }),
      async (h) => {
        await pendingGate(h, 'before-resume');
        await h.cancel();
      },
    );
    // the outcome is the one it would be without a notifier
    expect(failureType(error)).toBe('CompensationFailed');
    expect(status.outcome).toBe('needs-operator');
    expect(status.decisions.some((d) => d.reason.startsWith('cancelled after a change'))).toBe(true);
    expect(w.notices.map((n) => n.event)).toEqual(['awaiting-approval', 'needs-operator']);
    expect(status.warnings).toContain(
      'could not notify that the switch needs an operator: receiver answered HTTP 503 (scripted) (the switch goes on as it would without)',
    );
  });

  it('given every undo succeeds but the end state differs (the task stays in error on the old instance), should end needs-operator with what was observed', async () => {
    const w = fakeWorld({ resumeLeavesError: true });
    // scripted: the task fails on the old instance too once resumed there
    const resume = w.activities.dmResumeTasks;
    w.activities.dmResumeTasks = async () => {
      const r = await resume();
      if (w.holder() === 'old.example') for (const t of w.tasks) t.errors = ['relay log corrupt (scripted)'];
      return r;
    };
    const { error, status } = await runSwitch(w, input());
    expect(failureType(error)).toBe('CompensationFailed');
    expect(status.outcome).toBe('needs-operator');
    expect(status.decisions.at(-1)?.reason).toMatch(
      /every undo step ran, but the state is not the one before the switch: task app is Running with errors: relay log corrupt \(scripted\), not Running/,
    );
    expect(status.operatorActions).toContain('dmctl --master-addr=<dm-master> resume-task -s src app');
  });

  it('given a start under a workflow ID that is not the source business key, should refuse before anything changes, naming the ID to use', async () => {
    const w = fakeWorld();
    const { error, status } = await runSwitch(w, input(), undefined, undefined, 'my-own-id-42');
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(failureType(error)).toBe('InvalidInput');
    expect(status.outcome).toBe('refused');
    expect(status.decisions.at(-1)?.reason).toMatch(/must run under "dm-switch\/default\/src"/);
    expect(w.calls).toEqual([]);
  });

  it('given the stop of the second of two tasks refused (address switch), should start the first again on the old source and end rolled-back, checked', async () => {
    const w = fakeAddressWorld({ stopFailsOn: 'app2' });
    const req = {
      sourceId: 'src',
      newInstance: { host: 'new.example', credentials: 'upstream' },
      oldInstance: { host: 'old.example', credentials: 'upstream' },
      taskCredentials: 'downstream',
      options: { catchUpTimeoutSeconds: 1, verifyTimeoutSeconds: 20 },
    };
    const { error, status } = await runSwitch(
      w,
      req,
      undefined,
      'address-switch-undo-partial-stop',
      undefined,
      'addressSwitch',
    );
    expect(failureType(error)).toBe('DmOperationFailed');
    expect(status.outcome).toBe('rolled-back');
    expect(w.source()).toEqual({ host: 'old.example' });
    expect(
      w
        .tasks()
        .map((t) => `${t.name} ${t.stage}`)
        .sort(),
    ).toEqual(['app Running', 'app2 Running']);
    expect(w.calls.filter((c) => /^(stopTasks|startTasks|stopSource|createSource)/.test(c))).toEqual([
      'stopTasks',
      'startTasks old.example',
    ]);
    expect(status.decisions.at(-1)?.reason).toMatch(
      /^every change was undone, and checked: source src reads old.example:3306/,
    );
  });
});
