/**
 * The VIP switch workflow on a real Temporal dev server, with SCRIPTED
 * (fake) activities (scripted-world.ts). These cover the branches whose
 * faults cannot be produced for real cheaply: a VIP provider that fails to
 * move back, a resume that leaves tasks in error, cancellation at a chosen
 * phase. The real-stack tests (test/integration) cover the ordinary paths on
 * real DM, MySQL and a real VIP.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { SA } from '../../common/switch/search-attributes.js';
import { failureType, fakeWorld, input, runSwitch, U, useScriptedTemporal } from './scripted-world.js';

const temporal = useScriptedTemporal();

describe('VIP switch workflow (scripted activities)', () => {
  it('given a healthy world, should pause, move the VIP, resume, verify — in that order', async () => {
    const w = fakeWorld();
    const { result, status } = await runSwitch(w, input(), undefined, 'vip-switch-switched');
    expect(result?.outcome).toBe('switched');
    const effects = w.calls.filter((c) => ['pause', 'vipMove new.example', 'resume'].includes(c));
    expect(effects).toEqual(['pause', 'vipMove new.example', 'resume']);
    expect(status.gtids.map((g) => g.label)).toContain('gtid-S task app (frozen)');
    expect(status.decisions.some((d) => d.verdict === 'go' && /gtid-P ⊆ gtid-S ⊆ gtid-E/.test(d.reason))).toBe(true);
  });

  it("given a healthy world, should close DM's idle connections after every read of DM in the freeze and before the move", async () => {
    const w = fakeWorld();
    const { result } = await runSwitch(w, input());
    expect(result?.outcome).toBe('switched');
    const frozen = w.calls.slice(w.calls.indexOf('pause'), w.calls.indexOf('vipMove new.example'));
    // which dm-worker serves the source is read in the freeze (alongside the re-check), exactly once
    expect(frozen.filter((c) => c === 'sourceWorker')).toEqual(['sourceWorker']);
    // query-status may use a pooled connection to the old instance: no DM read after the closing, before the move
    expect(frozen.at(-1)).toBe('closeIdle');
    expect(frozen.lastIndexOf('dmSourceState')).toBeLessThan(frozen.indexOf('closeIdle'));
  });

  it('given a healthy world, should end the freeze with one activity after the move that resumes and awaits Running', async () => {
    const w = fakeWorld();
    const { result, workflowId } = await runSwitch(w, input());
    expect(result?.outcome).toBe('switched');
    const events = (await temporal.client().workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const scheduled = events.flatMap((e) => e.activityTaskScheduledEventAttributes?.activityType?.name ?? []);
    // every workflow task and every activity between the move and Running again is time downstream receives nothing:
    // the resume waits for every task Running in Sync itself, and verification does not wait for it again
    expect(scheduled.slice(scheduled.indexOf('vipMove') + 1)[0]).toBe('dmResumeTasksSyncing');
    expect(scheduled).not.toContain('dmAwaitSyncing');
    expect(scheduled).not.toContain('dmResumeTasks');
    expect(result?.decisions.some((d) => /Running in Sync without errors, positions not behind/.test(d.reason))).toBe(
      true,
    );
  });

  it('given a switch, should keep its search attributes so it can be found and filtered', async () => {
    const w = fakeWorld();
    const { workflowId } = await runSwitch(w, input());
    const d = await temporal.client().workflow.getHandle(workflowId).describe();
    expect(d.typedSearchAttributes.get(SA.source)).toBe('src');
    expect(d.typedSearchAttributes.get(SA.cluster)).toBe('default');
    expect(d.typedSearchAttributes.get(SA.kind)).toBe('vip-switch');
    expect(d.typedSearchAttributes.get(SA.phase)).toBe('done');
    expect(d.typedSearchAttributes.get(SA.outcome)).toBe('switched');
    // and the UI's filter finds it (visibility is eventually consistent)
    let found: string[] = [];
    for (let i = 0; i < 50 && !found.includes(workflowId); i++) {
      found = [];
      for await (const x of temporal
        .client()
        .workflow.list({ query: `DmSwitchSource = "src" AND DmSwitchOutcome = "switched"` }))
        found.push(x.workflowId);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(found).toContain(workflowId);
  });

  it('given a dry run, should check everything and change nothing', async () => {
    const w = fakeWorld();
    const { result } = await runSwitch(w, input({ options: { dryRun: true } }), undefined, 'vip-switch-dry-run');
    expect(result?.outcome).toBe('dry-run');
    expect(result?.plan.length).toBeGreaterThan(3);
    expect(w.calls.filter((c) => c === 'pause' || c.startsWith('vipMove') || c === 'resume')).toEqual([]);
  });

  it('given invalid input, should fail with InvalidInput before calling anything', async () => {
    const w = fakeWorld();
    const { error, status } = await runSwitch(w, {
      sourceId: 'src',
      newInstance: { host: 'h', credentials: 'c', password: 'hunter2' },
      vip: { address: 'v' },
    });
    expect(failureType(error)).toBe('InvalidInput');
    expect(status.outcome).toBe('refused');
    expect(w.calls).toEqual([]);
  });

  it('given the new instance purged beyond DM position, should refuse before pausing', async () => {
    const w = fakeWorld({ purgedBeyond: true });
    const { error, status } = await runSwitch(w, input());
    expect(failureType(error)).toBe('GtidRefused');
    expect(status.decisions.at(-1)?.reason).toMatch(new RegExp(`${U}:101-120`));
    expect(w.calls).not.toContain('pause');
  });

  it('given the old instance is down, should warn and still switch', async () => {
    const w = fakeWorld({ oldDown: true });
    const { result } = await runSwitch(w, input());
    expect(result?.outcome).toBe('switched');
    expect(result?.warnings.join()).toMatch(/old instance old.example:3306 is unreachable/);
  });

  it('given the VIP already on the new instance and the task paused (half-done switch), should not move it again', async () => {
    const w = fakeWorld({ vipOnNew: true });
    w.tasks[0]!.stage = 'Paused';
    const { result } = await runSwitch(w, input());
    expect(result?.outcome).toBe('switched');
    expect(result?.alreadyDone).toBeUndefined();
    expect(result?.decisions.map((d) => d.reason).join('\n')).toMatch(/but task app is Paused: a switch was half done/);
    expect(result?.steps.find((s) => s.step.startsWith('move VIP'))?.result).toBe('skipped');
  });

  it('given DM already reading the new instance (VIP there, task Running, its dump there), should change nothing', async () => {
    const w = fakeWorld({ vipOnNew: true });
    const { result } = await runSwitch(w, input({ approvals: { gates: ['before-freeze'], timeoutSeconds: 60 } }));
    expect(result?.outcome).toBe('switched');
    expect(result?.alreadyDone).toBe(true);
    expect(result?.steps).toEqual([]);
    expect(result?.approvals).toEqual([]);
    expect(w.calls.filter((c) => c === 'pause' || c === 'resume' || c.startsWith('vipMove'))).toEqual([]);
    expect(result?.decisions.at(-1)?.reason).toMatch(
      /^nothing to do: DM already reads source src from new\.example:3306 through the VIP vip\.example \(task\(s\) app Running, dm-worker w1 .* reading new\.example:3306 \(dm@192\.0\.2\.7:1234\)\); nothing was paused, stopped or moved$/,
    );
    expect(result?.decisions.map((d) => d.reason).join('\n')).not.toMatch(/half done/);
  });

  it("given DM reading the new instance but another VIP reader's task left Paused, should not call it nothing to do", async () => {
    const w = fakeWorld({ vipOnNew: true, pausedSharer: true });
    const { status } = await runSwitch(w, input());
    expect(status.alreadyDone).toBeUndefined();
    expect(status.decisions.map((d) => d.reason).join('\n')).toMatch(
      /but task app-s2 is Paused \(source default\/src2\): a switch was half done/,
    );
  });

  it('given a new instance that never catches up, should time out and resume on the old instance', async () => {
    const w = fakeWorld({ newLagsForever: true });
    const { error, status } = await runSwitch(w, input(), undefined, 'vip-switch-catch-up-timeout');
    expect(failureType(error)).toBe('CatchUpTimeout');
    expect(status.outcome).toBe('rolled-back');
    expect(w.holder()).toBe('old.example');
    expect(w.calls.filter((c) => c === 'pause' || c === 'resume')).toEqual(['pause', 'resume']);
  });

  it('given tasks in error after resume (scripted fault), should pause, move the VIP back and resume on the old instance', async () => {
    const w = fakeWorld({ resumeLeavesError: true });
    const { error, status } = await runSwitch(w, input(), undefined, 'vip-switch-rolled-back');
    expect(failureType(error)).toBe('VerificationFailed');
    expect(status.outcome).toBe('rolled-back');
    expect(status.compensation.map((c) => `${c.step}:${c.result}`)).toEqual([
      'pause-task app (before moving back):done',
      'move VIP vip.example back to old.example:done',
      'resume-task app:done',
    ]);
    expect(w.holder()).toBe('old.example');
    expect(w.tasks[0]!.stage).toBe('Running');
  });

  it('given the VIP cannot move back (scripted fault), should stop in needs-operator with the commands to run, not swallow it', async () => {
    const w = fakeWorld({ resumeLeavesError: true, moveBackFails: true });
    const { error, status } = await runSwitch(w, input(), undefined, 'vip-switch-needs-operator');
    expect(failureType(error)).toBe('CompensationFailed');
    expect(status.outcome).toBe('needs-operator');
    expect(status.compensation.map((c) => c.result)).toEqual(['done', 'failed', 'skipped']);
    expect(status.operatorActions.join('\n')).toMatch(
      /move the VIP vip.example back to old.example[\s\S]*resume-task -s src/,
    );
  });

  it('given cancellation while waiting for catch-up, should undo in a non-cancellable scope', async () => {
    const w = fakeWorld({ newLagsForever: true });
    w.activities.mysqlWaitForGtids = async (req: { timeoutSeconds: number; instance?: { host: string } }) => {
      w.calls.push('waitForGtids');
      // the rollback check asks the old instance, which holds all DM applied
      if (req.instance?.host === 'old.example') return { caughtUp: true, missing: '', waitedSeconds: 0 };
      await new Promise((r) => setTimeout(r, 4000));
      return { caughtUp: false, missing: `${U}:91-100`, waitedSeconds: 4 };
    };
    const { error, status } = await runSwitch(
      w,
      input({ options: { catchUpTimeoutSeconds: 30, verifyTimeoutSeconds: 20 } }),
      async (h) => {
        for (let i = 0; i < 50 && !w.calls.includes('waitForGtids'); i++) await new Promise((r) => setTimeout(r, 100));
        await h.cancel();
      },
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(status.outcome).toBe('rolled-back');
    expect(w.calls.filter((c) => c === 'pause' || c === 'resume' || c.startsWith('vipMove')).at(-1)).toBe('resume');
    expect(w.tasks[0]!.stage).toBe('Running');
  });

  it(
    'given a task whose checkpoint flush interval leaves verifyTimeoutSeconds too little margin, should refuse ' +
      'before any change, naming the task, its interval, where it is set and what to do',
    async () => {
      // DM shows only the flushed checkpoint: under writes, verification sees the resume's position only after one
      // flush interval, so 40 s of verification cannot wait for a task that flushes every 30 s
      const w = fakeWorld({ flushSeconds: 30 });
      const { error, status } = await runSwitch(
        w,
        input({ options: { catchUpTimeoutSeconds: 1, verifyTimeoutSeconds: 40 } }),
      );
      expect(failureType(error)).toBe('PreflightFailed');
      expect(status.outcome).toBe('refused');
      const reason = status.decisions.at(-1)?.reason ?? '';
      expect(reason).toMatch(/^switch refused, nothing was changed: task app flushes its checkpoint every 30 s/);
      expect(reason).toContain('syncers.sync-01.checkpoint-flush-interval');
      expect(reason).toContain('options.verifyTimeoutSeconds is 40 s');
      expect(reason).toContain('Raise options.verifyTimeoutSeconds to at least 45');
      expect(reason).toContain("lower the task's checkpoint-flush-interval");
      expect(w.calls).toContain('flushIntervals');
      expect(w.calls.filter((c) => c === 'pause' || c === 'resume' || c.startsWith('vipMove'))).toEqual([]);
      expect(w.holder()).toBe('old.example');
      expect(w.tasks.map((t) => t.stage)).toEqual(['Running']);
    },
  );

  it("given verifyTimeoutSeconds comfortably above the tasks' flush interval, should say how long verification may wait for the flush, and switch", async () => {
    const w = fakeWorld({ flushSeconds: 30 });
    const { result, status } = await runSwitch(
      w,
      input({ options: { catchUpTimeoutSeconds: 1, verifyTimeoutSeconds: 45 } }),
    );
    expect(result?.outcome).toBe('switched');
    const said = status.decisions.filter((d) => d.verdict === 'info' && /flushed checkpoint/.test(d.reason));
    expect(said.map((d) => d.reason)).toEqual([
      expect.stringMatching(
        /^under writes, verification may wait up to 30 s after the pause for DM's flushed checkpoint \(task app flushes its checkpoint every 30 s \(syncers\.sync-01\.checkpoint-flush-interval in its configuration, as `dmctl config task app` shows\)/,
      ),
    ]);
    // said at preflight, before the pause
    expect(said[0]!.phase).toBe('preflight');
  });
});

describe('VIP switch: DM asked to flush its checkpoint at the resume point (scripted DM answers)', () => {
  const opts = { options: { catchUpTimeoutSeconds: 1, verifyTimeoutSeconds: 45 } };
  const at = (status: { gtids: Array<{ label: string; set: string }> }) =>
    status.gtids.find((g) => g.label === 'gtid-E new instance (at resume)')?.set ?? '';
  const verifying = (status: { decisions: Array<{ phase: string; verdict: string; reason: string }> }) =>
    status.decisions.filter((d) => d.phase === 'verifying' && d.verdict === 'info').map((d) => d.reason);

  it('given a task with a validator, should ask DM for the flush at what the new instance had at resume, after the resume', async () => {
    const w = fakeWorld({ flushSeconds: 30, cutover: 'set' });
    const { result, status } = await runSwitch(w, input(opts));
    expect(result?.outcome).toBe('switched');
    expect(at(status)).not.toBe('');
    expect(w.calls).toContain(`flushAt ${at(status)}`);
    expect(w.calls.indexOf(`flushAt ${at(status)}`)).toBeGreaterThan(w.calls.lastIndexOf('resume'));
    expect(verifying(status)).toContainEqual(
      expect.stringMatching(
        new RegExp(
          `^asked DM to flush the checkpoint of task\\(s\\) app as soon as they have applied what the new instance ` +
            `had at resume \\(${at(status).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\)`,
        ),
      ),
    );
  });

  it("given a task without a validator, should say so with DM's words and how long verification may wait, and switch", async () => {
    const w = fakeWorld({ flushSeconds: 30 });
    const { result, status } = await runSwitch(w, input(opts));
    expect(result?.outcome).toBe('switched');
    expect(verifying(status)).toContain(
      'task(s) app run no continuous validation (DM: validator not found for task app with source src), so DM ' +
        "cannot be asked to flush their checkpoint early; verification waits for DM's checkpoint flush as it always " +
        'did: under writes it may wait up to 30 s after the pause',
    );
  });

  it('given DM refusing the flush for another reason, should record its words and switch as before', async () => {
    const w = fakeWorld({ flushSeconds: 30, cutover: 'refused' });
    const { result, status } = await runSwitch(w, input(opts));
    expect(result?.outcome).toBe('switched');
    expect(verifying(status)).toContainEqual(
      expect.stringMatching(
        /^DM did not take the early checkpoint flush for task app \(DM: source src relevant worker-client not found\); .*up to 30 s after the pause$/,
      ),
    );
  });

  it('given the request failing as an activity, should not fail the switch: recorded, and verification waits as before', async () => {
    const w = fakeWorld({ flushSeconds: 30, cutover: 'fails' });
    const { result, status } = await runSwitch(w, input(opts));
    expect(result?.outcome).toBe('switched');
    expect(w.calls.filter((c) => c.startsWith('flushAt'))).toHaveLength(1);
    expect(verifying(status)).toContainEqual(
      expect.stringMatching(
        /^DM could not be asked to flush early \(dmctl validation update timed out \(scripted\)\); /,
      ),
    );
  });
});

describe("VIP switch of a task whose DM validator runs (scripted query-status with DM's validation part)", () => {
  const effects = (calls: string[]) => calls.filter((c) => c === 'pause' || c === 'resume' || c.startsWith('vipMove'));

  it('given a task whose validator is Running, should refuse before any change, naming the task, the stage, why and what to do', async () => {
    const w = fakeWorld({ validator: { stage: 'Running', mode: 'fast' } });
    const { error, status } = await runSwitch(w, input());
    expect(failureType(error)).toBe('ValidatorReads');
    expect(status.outcome).toBe('refused');
    expect(effects(w.calls)).toEqual([]);
    expect(w.holder()).toBe('old.example');
    expect(w.tasks.map((t) => t.stage)).toEqual(['Running']);
    const reason = status.decisions.at(-1)?.reason ?? '';
    expect(status.decisions.at(-1)?.verdict).toBe('refuse');
    expect(reason).toMatch(
      /^switch refused, nothing was changed: task app of source src runs DM's continuous validation \(validator Running, mode fast; query-status -s src, dm-worker w1\)/,
    );
    expect(reason).toContain('over a binlog connection of its own, which pause-task leaves open');
    expect(reason).toContain(
      'once the VIP vip.example moves, the validator would go on reading the old instance old.example:3306 while',
    );
    expect(reason).toContain('dm-switch start address');
    expect(reason).toContain('without `vip`, with `taskCredentials`');
    expect(reason).toContain('`dmctl --master-addr=<dm-master> validation stop app`');
    expect(reason).toContain('`dmctl --master-addr=<dm-master> validation start app`');
  });

  it('given a dry run (as a readiness drill runs it) of a task whose validator is Running, should refuse it typed', async () => {
    const w = fakeWorld({ twoTasks: true, validator: { stage: 'Running', mode: 'full' } });
    const { error, status } = await runSwitch(w, input({ options: { dryRun: true } }));
    expect(failureType(error)).toBe('ValidatorReads');
    expect(status.decisions.at(-1)?.reason).toMatch(
      /^switch refused, nothing was changed: tasks app, app2 of source src run DM's continuous validation \(validator Running, mode full; /,
    );
    expect(effects(w.calls)).toEqual([]);
  });

  it("given another source reading the VIP (named in sharedWith) whose task's validator runs, should refuse before any change", async () => {
    const w = fakeWorld({ sharerValidator: true });
    const { error, status } = await runSwitch(w, input({ sharedWith: [{ dmCluster: 'default', sourceId: 'src2' }] }));
    expect(failureType(error)).toBe('ValidatorReads');
    expect(status.outcome).toBe('refused');
    expect(status.decisions.at(-1)?.reason).toMatch(
      /^switch refused, nothing was changed: task app-s2 of source default\/src2 runs DM's continuous validation \(validator Running, mode fast; query-status -s src2, dm-worker w2\)/,
    );
    expect(effects(w.calls)).toEqual([]);
    expect(w.holder()).toBe('old.example');
  });

  it('given a task whose validator is Stopped (validation stop), should switch: a stopped validator reads nothing', async () => {
    const w = fakeWorld({ validator: { stage: 'Stopped', mode: 'fast' } });
    const { result, status } = await runSwitch(w, input());
    expect(result?.outcome).toBe('switched');
    expect(effects(w.calls)).toEqual(['pause', 'vipMove new.example', 'resume']);
    expect(status.decisions.map((d) => d.reason)).toContainEqual(
      expect.stringMatching(/^task app of source src has a validator, Stopped \(mode fast\): it reads nothing/),
    );
  });
});
