/**
 * Verification under writes for a task that runs continuous validation, on the real stack with DM's default
 * checkpoint flush interval (30 s).
 *
 * query-status shows a task's position as of its last FLUSHED checkpoint: the pause flushes it, and with plain
 * INSERTs flowing DM flushes again only once the interval has passed. DM's syncer also flushes at once when a job
 * reaches the "cutover" location (dm/syncer/syncer.go, handleJob's defer) that `dmctl validation update
 * --cutover-binlog-gtid` stores on a task's validator and its syncer; a task without a validator refuses it. A
 * switch asks for that flush at the new instance's gtid_executed as of resume, which is what verification waits for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlGtidSet } from '../../common/gtid/index.js';
import type { SwitchStatus } from '../../common/switch/status.js';
import type { AddressSwitchRequest, VipSwitchRequest } from '../../common/switch/input.js';
import type { DbInstance } from '../sandbox/db.js';
import { expectOk } from '../sandbox/dm-setup.js';
import { binlogDumps, downstreamMatches, failureType, runSwitch, taskState } from '../sandbox/switch-harness.js';
import { startVipSwitchStack, type VipSwitchStack } from '../sandbox/vip-switch-stack.js';
import {
  createRateTable,
  RATE_TABLE,
  restartTaskWithValidation,
  startRateWriter,
  verifyTimes,
} from '../sandbox/write-rate.js';

let vs: VipSwitchStack;
const DM_DEFAULT_FLUSH_SECONDS = 30;

beforeAll(async () => {
  vs = await startVipSwitchStack('e2e-cutover');
  await createRateTable(vs.primary);
  expect(await restartTaskWithValidation(vs.dm, vs.taskName, vs.sourceId, vs.tidb, 'fast')).toBe('fast');
}, 300_000);

afterAll(async () => {
  await vs?.stop();
});

const ref = (db: DbInstance) => ({ host: db.host, port: 3306, credentials: 'sandbox-root' });

/** The task's flushed position as query-status shows it. */
async function shownGtid(): Promise<MysqlGtidSet> {
  const r = expectOk('query-status', await vs.dm.ctl(['query-status', '-s', vs.sourceId]));
  type Sub = { name: string; sync?: { syncerBinlogGtid?: string } };
  const subs = (r.sources as Array<{ subTaskStatus?: Sub[] }>)[0]?.subTaskStatus ?? [];
  return MysqlGtidSet.parse(subs.find((x) => x.name === vs.taskName)?.sync?.syncerBinlogGtid ?? '');
}

/** Milliseconds until query-status shows `want`, polled every 200 ms; -1 after `limitMs`. */
async function msUntilShown(want: MysqlGtidSet, limitMs: number): Promise<number> {
  const began = Date.now();
  while (Date.now() - began < limitMs) {
    if (want.isSubsetOf(await shownGtid())) return Date.now() - began;
    await new Promise((r) => setTimeout(r, 200));
  }
  return -1;
}

/** Pauses and resumes the task (DM flushes at the pause), then returns what the instance DM reads has 2 s later. */
async function afterFreshFlush(reads: DbInstance): Promise<MysqlGtidSet> {
  expectOk('pause-task', await vs.dm.ctl(['pause-task', vs.taskName]));
  expectOk('resume-task', await vs.dm.ctl(['resume-task', vs.taskName]));
  await new Promise((r) => setTimeout(r, 2000));
  return MysqlGtidSet.parse(await reads.variable('gtid_executed'));
}

const cutover = (gtid: string) =>
  vs.dm.ctl(['validation', 'update', vs.taskName, '-s', vs.sourceId, '--cutover-binlog-gtid', gtid]);

/**
 * An address switch from `from` to `to` at 2 rows/s of plain INSERTs; what verification proved and how long it
 * waited. An address switch, not a VIP switch: a task's validator reads the binlog over a connection of its own,
 * which pause-task and resume-task leave open (DM's SubTask.Pause does not stop the validator), so after a VIP move
 * it still reads the old instance and verification rightly refuses the switch; stop-task + start-task make a new one.
 */
async function switchUnderWrites(from: DbInstance, to: DbInstance) {
  const writer = startRateWriter(vs.primary, 2);
  try {
    await new Promise((r) => setTimeout(r, 3000));
    const req: AddressSwitchRequest = {
      sourceId: vs.sourceId,
      newInstance: ref(to),
      oldInstance: ref(from),
      taskCredentials: 'sandbox-root',
      options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 120 },
    };
    const { status, error, handle } = await runSwitch(vs.client, 'addressSwitch', 'e2e-cutover', req);
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    proofHolds(status);
    return { status, ...(await verifyTimes(handle)) };
  } finally {
    expect(await writer.stop()).toBeGreaterThan(10);
  }
}

/** Verification ended on DM's flushed position holding what the new instance had at resume, which it had to wait for. */
function proofHolds(status: SwitchStatus): void {
  const set = (label: string) => {
    const g = status.gtids.filter((x) => x.label === label).at(-1);
    expect(g, `status records ${label}`).toBeDefined();
    return MysqlGtidSet.parse(g!.set);
  };
  const frozen = set(`gtid-S task ${vs.taskName} (frozen)`);
  const atResume = set('gtid-E new instance (at resume)');
  const caughtUp = set(`gtid-S task ${vs.taskName} (caught up with the new instance)`);
  expect(atResume.isSubsetOf(frozen), `${atResume.toString()} ⊄ ${frozen.toString()}`).toBe(false);
  expect(atResume.isSubsetOf(caughtUp), `${atResume.toString()} ⊆ ${caughtUp.toString()}`).toBe(true);
}

describe('a VIP switch of a task whose validator runs (real stack)', { timeout: 300_000 }, () => {
  it('given a task with continuous validation Running, should refuse before any change: no pause, VIP and tasks as they were', async () => {
    const validation = async () => {
      const r = expectOk('validation status', await vs.dm.ctl(['validation', 'status', vs.taskName]));
      return (r.validators as Array<{ stage: string; mode: string }>).map((v) => `${v.stage}/${v.mode}`);
    };
    expect(await validation()).toEqual(['Running/fast']);
    // the premise: the validator reads the instance behind the VIP over a binlog dump connection of its own, beside
    // the syncer's (both from the dm-worker: nothing else reads replica a)
    let dumps = 0;
    for (let i = 0; i < 60 && dumps < 2; i++) {
      dumps = await binlogDumps(vs.a);
      if (dumps < 2) await new Promise((r) => setTimeout(r, 500));
    }
    console.log('binlog dumps on the VIP holder before the switch', dumps);
    expect(dumps).toBe(2);
    const holder = await vs.lab.provider().locate(vs.lab.vip, []);
    expect(holder).toBe(vs.a.host);
    const before = await shownGtid();

    const req: VipSwitchRequest = {
      sourceId: vs.sourceId,
      newInstance: ref(vs.b),
      oldInstance: ref(vs.a),
      vip: { address: vs.lab.vip },
      options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 120 },
    };
    const { status, error, handle } = await runSwitch(vs.client, 'vipSwitch', 'e2e-cutover', req);
    expect(failureType(error)).toBe('ValidatorReads');
    expect(status.outcome).toBe('refused');
    const reason = status.decisions.at(-1)?.reason ?? '';
    console.log('refusal', reason);
    expect(reason).toMatch(
      new RegExp(
        `^switch refused, nothing was changed: task ${vs.taskName} of source ${vs.sourceId} runs DM's continuous ` +
          `validation \\(validator Running, mode fast; query-status -s ${vs.sourceId}, dm-worker worker1\\)`,
      ),
    );
    expect(reason).toContain(`would go on reading the old instance ${vs.a.host}:3306 while`);
    expect(reason).toContain('dm-switch start address');
    expect(reason).toContain(`validation stop ${vs.taskName}`);
    expect(reason).toContain(`validation start ${vs.taskName}`);

    // nothing was changed: no pause, stop, VIP move or resume was even scheduled
    const scheduled = ((await handle.fetchHistory()).events ?? []).flatMap((e) => {
      const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
      return name ? [name] : [];
    });
    expect(scheduled).toContain('dmSourceState');
    for (const change of ['dmPauseTasks', 'dmStopTasks', 'vipMove', 'dmResumeTasks'])
      expect(scheduled, change).not.toContain(change);
    expect(await vs.lab.provider().locate(vs.lab.vip, [])).toBe(vs.a.host);
    expect(await taskState(vs.dm, vs.sourceId, vs.taskName)).toEqual({ stage: 'Running', unit: 'Sync' });
    expect(await validation()).toEqual(['Running/fast']);
    expect(await binlogDumps(vs.a)).toBe(2);
    expect(await binlogDumps(vs.b)).toBe(0);
    // DM's flushed position did not move back
    expect(before.isSubsetOf(await shownGtid())).toBe(true);
  });
});

describe(
  "early checkpoint flush for a task with a validator (real stack, DM's default flush)",
  { timeout: 600_000 },
  () => {
    it('given writes at 2 rows/s and a cutover at what the instance has, should show it in query-status within 3 s', async () => {
      const writer = startRateWriter(vs.primary, 2);
      try {
        const want = await afterFreshFlush(vs.a);
        expect(want.isSubsetOf(await shownGtid()), 'the flushed position lacks what was written since').toBe(false);
        const answer = await cutover(want.toString());
        console.log('validation update answer', JSON.stringify(answer));
        expect(answer.result).toBe(true);
        const took = await msUntilShown(want, 40_000);
        console.log('cutover shown after ms', took);
        expect(took).toBeGreaterThanOrEqual(0);
        expect(took).toBeLessThan(3000);

        // without a cutover, the same wait lasts until DM's next flush by interval
        const plain = await msUntilShown(await afterFreshFlush(vs.a), 40_000);
        console.log('without cutover shown after ms', plain);
        expect(plain).toBeGreaterThan(10_000);

        // a location the task already flushed: DM takes it, flushes on its next job and forgets it (the next wait
        // is the interval's again, nothing lingers)
        const passed = await cutover((await shownGtid()).toString());
        console.log('validation update (passed) answer', JSON.stringify(passed));
        expect(passed.result).toBe(true);
        const next = await msUntilShown(await afterFreshFlush(vs.a), 40_000);
        console.log('after a passed cutover, next shown after ms', next);
        expect(next).toBeGreaterThan(10_000);
      } finally {
        await writer.stop();
      }
    });

    it('given an address switch at 2 rows/s, should end verification well within the flush interval, on the same proof', async () => {
      const { status, waited, pauseToCaughtUp } = await switchUnderWrites(vs.a, vs.b);
      console.log('with validation: dmAwaitPositions ms', waited, 'pause → caught up ms', pauseToCaughtUp);
      expect(
        status.decisions.some((d) => d.reason.startsWith(`asked DM to flush the checkpoint of task(s) ${vs.taskName}`)),
      ).toBe(true);
      expect(waited).toBeLessThan(15_000);
      expect(pauseToCaughtUp).toBeLessThan(DM_DEFAULT_FLUSH_SECONDS * 1000);
      await downstreamMatches(vs.primary, vs.tidb, 90_000, RATE_TABLE);
    });

    it("given a task without a validator, should record DM's refusal and wait for the flush interval as before", async () => {
      expect(await restartTaskWithValidation(vs.dm, vs.taskName, vs.sourceId, vs.tidb, null)).toBe('none');
      const answer = await cutover(await vs.b.variable('gtid_executed'));
      console.log('validation update (no validator) answer', JSON.stringify(answer));
      // dmctl's own result is true; the source's answer carries DM's refusal
      const bySource = answer.sources as Array<{ result: boolean; msg: string }>;
      expect(bySource.map((x) => x.result)).toEqual([false]);
      expect(JSON.stringify(answer)).toContain(
        `validator not found for task ${vs.taskName} with source ${vs.sourceId}`,
      );

      const { status, waited, pauseToCaughtUp } = await switchUnderWrites(vs.b, vs.a);
      console.log('without validation: dmAwaitPositions ms', waited, 'pause → caught up ms', pauseToCaughtUp);
      const none = status.decisions.find((d) => d.reason.includes('run no continuous validation'));
      expect(none?.reason).toContain(`validator not found for task ${vs.taskName}`);
      expect(none?.reason).toContain(`may wait up to ${DM_DEFAULT_FLUSH_SECONDS} s after the pause`);
      expect(waited).toBeLessThanOrEqual((DM_DEFAULT_FLUSH_SECONDS + 10) * 1000);
      expect(pauseToCaughtUp).toBeGreaterThanOrEqual(DM_DEFAULT_FLUSH_SECONDS * 1000);
      await downstreamMatches(vs.primary, vs.tidb, 90_000, RATE_TABLE);
    });
  },
);
