/**
 * The address switch (workflows/address-switch.ts) on a real Temporal dev
 * server with scripted activities (scripted-world.ts, fakeAddressWorld): DM
 * re-pointed from old.example to new.example, a GTID refusal before any
 * change, a failure after the source was re-pointed (compensation points it
 * back), the verification failing or crashing, and a source with relay on.
 * The same switch on the real stack is test/integration/address-switch-e2e.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { addressInput, failureType, fakeAddressWorld, runSwitch, U, useScriptedTemporal } from './scripted-world.js';

useScriptedTemporal();

/** What changed DM, in order (reads left out). */
const changes = (calls: string[]) =>
  calls.filter((c) => /^(stopTasks|startTasks|stopSource|createSource|stopRelay|startRelay)/.test(c));
const run = (w: ReturnType<typeof fakeAddressWorld>, req = addressInput()) =>
  runSwitch(w, req, undefined, undefined, undefined, 'addressSwitch');
const SWITCHED = ['stopTasks', 'stopSource old.example', 'createSource new.example', 'startTasks new.example'];
const UNDONE = ['stopTasks', 'stopSource new.example', 'createSource old.example', 'startTasks old.example'];
const stages = (w: ReturnType<typeof fakeAddressWorld>) =>
  w
    .tasks()
    .map((t) => `${t.name} ${t.stage}`)
    .sort();

describe('address switch (scripted activities)', () => {
  it(
    'given a healthy world, should stop the tasks, re-point the source to the new instance, start the tasks there ' +
      'and verify',
    async () => {
      const w = fakeAddressWorld();
      const { result, status } = await run(w);
      expect(result?.outcome).toBe('switched');
      expect(status.outcome).toBe('switched');
      expect(w.source()).toEqual({ host: 'new.example' });
      expect(stages(w)).toEqual(['app Running', 'app2 Running']);
      expect(changes(w.calls)).toEqual(SWITCHED);
      // verified: DM's dump connection on the new instance, none left on the old one
      expect(w.calls).toContain('awaitDumpClients new.example');
      expect(status.decisions.at(-1)?.reason).toBe('switched: DM reads source src from new.example:3306');
      expect(status.compensation).toEqual([]);
    },
  );

  it(
    "given the new instance purged past the tasks' gtid-S, should refuse before any change, naming the " + 'GTIDs',
    async () => {
      const w = fakeAddressWorld({ purgedBeyond: true });
      const { error, status } = await run(w);
      expect(failureType(error)).toBe('GtidRefused');
      expect(status.outcome).toBe('refused');
      expect(status.decisions.at(-1)?.reason).toMatch(/^switch refused, nothing was changed: /);
      expect(status.decisions.at(-1)?.reason).toContain(`${U}:101-120`);
      expect(changes(w.calls)).toEqual([]);
      expect(w.source()).toEqual({ host: 'old.example' });
      expect(stages(w)).toEqual(['app Running', 'app2 Running']);
    },
  );

  it(
    'given start-task refused on the re-pointed source, should stop the new source, re-create the old one and start ' +
      'the tasks there, checked',
    async () => {
      const w = fakeAddressWorld({ startFailsOnNew: 'app2' });
      const { error, status } = await run(w);
      expect(failureType(error)).toBe('DmOperationFailed');
      expect(status.outcome).toBe('rolled-back');
      expect(w.source()).toEqual({ host: 'old.example' });
      expect(stages(w)).toEqual(['app Running', 'app2 Running']);
      // undo, newest first: the tasks on the new source, the new source, the old source again, its tasks
      expect(changes(w.calls)).toEqual([...SWITCHED, ...UNDONE]);
      expect(status.compensation.map((c) => c.result)).toEqual(['done', 'done', 'done', 'done']);
      const undone = /^every change was undone, and checked: source src reads old.example:3306/;
      expect(status.decisions.at(-1)?.reason).toMatch(undone);
    },
  );

  it(
    'given tasks in error on the new source, should fail the verification and point the source back to the old ' +
      'instance',
    async () => {
      const w = fakeAddressWorld({ errorOnNew: true });
      const { error, status } = await run(w);
      expect(failureType(error)).toBe('VerificationFailed');
      expect(status.outcome).toBe('rolled-back');
      const why = /tasks did not become Running: app binlog checksum mismatch/;
      expect(status.decisions.some((d) => why.test(d.reason))).toBe(true);
      expect(w.source()).toEqual({ host: 'old.example' });
      expect(stages(w)).toEqual(['app Running', 'app2 Running']);
      expect(changes(w.calls)).toEqual([...SWITCHED, ...UNDONE]);
    },
  );

  it('given the verification crashing once (a lost connection), should retry it and switch', async () => {
    const w = fakeAddressWorld({ verifyCrashes: 1 });
    const { result } = await run(w);
    expect(result?.outcome).toBe('switched');
    expect(w.calls.filter((c) => c === 'awaitDumpClients new.example')).toHaveLength(2);
    expect(changes(w.calls)).toEqual(SWITCHED);
  });

  it('given the verification crashing on every attempt, should not report switched: it undoes the switch', async () => {
    const w = fakeAddressWorld({ verifyCrashes: 99 });
    const { error, status } = await run(w);
    expect(error).toBeDefined();
    expect(status.outcome).toBe('rolled-back');
    // the activity's retry policy (3 attempts), then compensation
    expect(w.calls.filter((c) => c === 'awaitDumpClients new.example')).toHaveLength(3);
    expect(w.source()).toEqual({ host: 'old.example' });
    expect(stages(w)).toEqual(['app Running', 'app2 Running']);
  });

  it(
    'given relay on, should stop relay after the tasks, create the new source with relay off, start the tasks, then ' +
      'start relay on a new sub-directory',
    async () => {
      const w = fakeAddressWorld({ relay: true });
      const { result, status } = await run(w);
      expect(result?.outcome).toBe('switched');
      expect(changes(w.calls)).toEqual([
        'stopTasks',
        'stopRelay old.example',
        'stopSource old.example',
        'createSource new.example relay-off',
        'startTasks new.example',
        'startRelay new.example',
      ]);
      // relay waited for the started tasks (DM starts relay from their checkpoints)
      const i = w.calls.indexOf('startTasks new.example');
      expect(w.calls.slice(i, w.calls.indexOf('startRelay new.example'))).toContain('awaitSyncing');
      expect(w.relay()).toMatchObject({ stage: 'Running', relaySubDir: 'aaaaaaaa-0000-0000-0000-000000000002.000001' });
      const stopRelay = status.steps.find((s) => s.step.startsWith('stop-relay'));
      expect(stopRelay?.detail).toBe(`paused first, frozen at relayBinlogGtid ${U}:1-100`);
      const relayMoved = /relay switched to sub-directory aaaaaaaa-0000-0000-0000-000000000002\.000001/;
      expect(status.decisions.some((d) => relayMoved.test(d.reason))).toBe(true);
    },
  );

  it(
    'given the downstream refusing the task credential, should refuse before any change in the words of the ' +
      'server, which say what to fix, without a second advice',
    async () => {
      const w = fakeAddressWorld();
      const denied = 'tidb.example:4000 refused the login (scripted): check its grants';
      w.activities.mysqlCheckLogin = async (ref: { host: string }) =>
        ref.host === 'tidb.example'
          ? { ok: false as const, error: denied, denied: true }
          : { ok: true as const, version: '9.7.4' };
      const { error, status } = await run(w);
      expect(failureType(error)).toBe('InvalidInput');
      expect(status.decisions.at(-1)?.reason).toBe(
        `cannot log in, nothing was changed: downstream tidb.example:4000 (reference "downstream"): ${denied}`,
      );
      expect(changes(w.calls)).toEqual([]);
    },
  );

  it('given a credential the worker did not send, should refuse before any change, saying to fix the reference', async () => {
    const w = fakeAddressWorld();
    const withheld = 'credential "downstream" may not be sent to tidb.example:4000 (scripted)';
    w.activities.mysqlCheckLogin = async (ref: { host: string }) =>
      ref.host === 'tidb.example'
        ? { ok: false as const, error: withheld, denied: false }
        : { ok: true as const, version: '9.7.4' };
    const { error, status } = await run(w);
    expect(failureType(error)).toBe('InvalidInput');
    expect(status.decisions.at(-1)?.reason).toMatch(
      /: credential "downstream" may not be sent .*; fix the credential reference in the worker's configuration$/,
    );
    expect(changes(w.calls)).toEqual([]);
  });

  it(
    'given check-task unable to judge one configuration (the upstream DM reads is down), should warn for it, ' +
      'report the other as accepted, and switch',
    async () => {
      const w = fakeAddressWorld();
      w.activities.dmCheckTasks = async () => ({
        app: { checked: false, summary: 'upstream down (scripted)' },
        app2: { checked: true, summary: 'passed with warnings' },
      });
      const { result, status } = await run(w);
      expect(result?.outcome).toBe('switched');
      const said = status.decisions.map((d) => `${d.verdict} ${d.reason}`);
      expect(said).toContain(
        'warn check-task could not check task app (upstream down (scripted)): start-task checks them on the new source',
      );
      expect(said).toContain(
        'go DM accepts the saved configuration of task app2 (check-task passed with warnings), normalised as ' +
          'start-task will get it',
      );
    },
  );

  it(
    'given a task whose checkpoint flush interval leaves verifyTimeoutSeconds too little margin, should refuse ' +
      'before any change',
    async () => {
      const w = fakeAddressWorld({ flushSeconds: 30 });
      const { error, status } = await run(
        w,
        addressInput({ options: { catchUpTimeoutSeconds: 1, verifyTimeoutSeconds: 40 } }),
      );
      expect(failureType(error)).toBe('PreflightFailed');
      expect(status.outcome).toBe('refused');
      const reason = status.decisions.at(-1)?.reason ?? '';
      expect(reason).toMatch(/^switch refused, nothing was changed: task app flushes its checkpoint every 30 s/);
      expect(reason).toContain('syncers.sync-01.checkpoint-flush-interval');
      expect(reason).toContain('Raise options.verifyTimeoutSeconds to at least 45');
      expect(changes(w.calls)).toEqual([]);
      expect(w.source()).toEqual({ host: 'old.example' });
      expect(stages(w)).toEqual(['app Running', 'app2 Running']);
    },
  );

  it("given verifyTimeoutSeconds above the tasks' flush interval, should say how long verification may wait, and switch", async () => {
    const w = fakeAddressWorld({ flushSeconds: 30 });
    const { status } = await run(w, addressInput({ options: { catchUpTimeoutSeconds: 1, verifyTimeoutSeconds: 45 } }));
    expect(status.outcome).toBe('switched');
    expect(
      status.decisions.some(
        (d) => d.verdict === 'info' && /^under writes, verification may wait up to 30 s after the pause/.test(d.reason),
      ),
    ).toBe(true);
    expect(changes(w.calls)).toEqual(SWITCHED);
  });
});
