/**
 * Switching one source of a shard-merge task on the real stack:
 * source 1 reads a primary/replica topology through a VIP, source 2 a
 * standalone MySQL, and one task (`task-mode: all`) merges `db_shard.tb` of
 * both into one downstream table (test/sandbox/shard-merge.ts). Rows are
 * written on both shards throughout; DDLs (ADD COLUMN, DROP COLUMN) run
 * before, during and after each switch, and each case ends with the next
 * DDL coordinated: downstream equal to the union of the shards (an ordered
 * hash over every column) and every subtask Running without errors.
 *
 * Each case first failed on the plain runbook procedure: the pessimistic
 * VIP switch lost DM's sharding groups on resume (the next DDL of the source
 * was skipped), the address switch could not start the exported task config
 * again, and a DDL another shard ran while this source was stopped reached
 * downstream without it.
 */
import type { Client } from '@temporalio/client';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressSwitchRequest, VipSwitchRequest } from '../../common/switch/input.js';
import type { SwitchStatus } from '../../common/switch/status.js';
import type { SourceEndpoint } from '../../common/switch/types.js';
import type { DbInstance } from '../sandbox/db.js';
import { startShardMerge, type ShardMerge, type ShardMode } from '../sandbox/shard-merge.js';
import {
  failureType,
  runSwitch,
  sourceReads,
  startInProcessWorker,
  startSwitch,
  waitForStatus,
  writeUntil,
} from '../sandbox/switch-harness.js';
import { waitCaughtUp } from '../sandbox/topology.js';

function shardSuite(mode: ShardMode, cases: (ctx: Ctx) => void): void {
  const ctx = {} as Ctx;
  beforeAll(async () => {
    ctx.sm = await startShardMerge({ mode, vip: true });
    [, ctx.a, ctx.b] = ctx.sm.stack.topology!.all() as [DbInstance, DbInstance, DbInstance];
    const w = await startInProcessWorker(
      ctx.sm.stack.temporal!.address,
      ctx.sm.stack.workerConfigYaml(`e2e-shard-${mode}`),
    );
    ctx.client = w.client;
    ctx.stopWorker = w.stop;
    ctx.queue = `e2e-shard-${mode}`;
    ctx.col = 0;
  }, 300_000);
  afterAll(async () => {
    await ctx.stopWorker?.();
    await ctx.sm?.stop();
  });
  cases(ctx);
}

interface Ctx {
  sm: ShardMerge;
  a: DbInstance;
  b: DbInstance;
  client: Client;
  stopWorker: () => Promise<void>;
  queue: string;
  col: number;
}

const ref = (db: DbInstance) => ({ host: db.host, port: 3306, credentials: 'sandbox-root' });
const decisions = (s: SwitchStatus) => s.decisions.map((d) => d.reason).join('\n');
const writing = (c: Ctx) => (ended: Promise<unknown>) =>
  Promise.all([writeUntil(ended, () => c.sm.write(1, 1)), writeUntil(ended, () => c.sm.write(2, 1))]);

/** The VIP's holder now, and the other replica. */
async function vipEnds(c: Ctx): Promise<{ here: DbInstance; there: DbInstance }> {
  const holder = await c.sm.stack.vipLab!.provider().locate(c.sm.stack.vipLab!.vip, []);
  return holder === c.a.host ? { here: c.a, there: c.b } : { here: c.b, there: c.a };
}
const vipReq = (c: Ctx, to: DbInstance, from: DbInstance, extra: Partial<VipSwitchRequest> = {}): VipSwitchRequest => ({
  sourceId: c.sm.sources[0],
  newInstance: ref(to),
  oldInstance: ref(from),
  vip: { address: c.sm.stack.vipLab!.vip },
  options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 },
  ...extra,
});
const addressReq = (
  c: Ctx,
  to: DbInstance,
  from: SourceEndpoint,
  extra: Partial<AddressSwitchRequest> = {},
): AddressSwitchRequest => ({
  sourceId: c.sm.sources[0],
  newInstance: ref(to),
  oldInstance: from,
  taskCredentials: 'sandbox-root',
  options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 },
  ...extra,
});

/** Rows on both shards, a new column on both, more rows: the next DDL coordinated, and the merge exact. */
async function nextDdlCoordinated(c: Ctx): Promise<void> {
  await c.sm.write(1, 5);
  await c.sm.write(2, 5);
  await c.sm.addColumn(`c${++c.col}`);
  await c.sm.write(1, 5);
  await c.sm.write(2, 5);
  await c.sm.downstreamEqualsUnion();
  for (const s of await c.sm.subtasks())
    expect({ source: s.source, stage: s.stage, errors: s.errors }).toEqual({
      source: s.source,
      stage: 'Running',
      errors: [],
    });
  expect(await c.sm.ddlLocks()).toEqual([]);
}

/** A switch that waits at before-switch, a DROP COLUMN on the other shard while DM is frozen, then the same on this shard. */
async function dropOnOtherShardWhileFrozen(
  c: Ctx,
  start: () => Promise<Awaited<ReturnType<typeof startSwitch>>>,
): Promise<SwitchStatus> {
  const column = `c${c.col}`;
  const sw = await start();
  await waitForStatus(sw.handle, (s) => s.phase === 'awaiting-approval');
  await c.sm.shard2.query(`ALTER TABLE db_shard.tb DROP COLUMN ${column}`);
  await c.sm.write(2, 5);
  await new Promise((r) => setTimeout(r, 2000));
  await sw.handle.signal('approve', { by: 'dba' });
  const { status, error } = await sw.end();
  expect(error).toBeUndefined();
  expect(status.outcome).toBe('switched');
  await c.sm.write(1, 5);
  await c.sm.shard1.query(`ALTER TABLE db_shard.tb DROP COLUMN ${column}`);
  await c.sm.write(1, 5);
  await c.sm.write(2, 5);
  await c.sm.downstreamEqualsUnion();
  return status;
}

describe('a pessimistic shard-merge task through switches of one source', { timeout: 300_000 }, () => {
  shardSuite('pessimistic', (c) => {
    it('given an earlier DDL resolved, should VIP-switch the source and keep coordinating the next DDL', async () => {
      await nextDdlCoordinated(c);
      const { here, there } = await vipEnds(c);
      await waitCaughtUp(there, c.sm.shard1, 60_000);
      const { status, error } = await runSwitch(c.client, 'vipSwitch', c.queue, vipReq(c, there, here), writing(c));
      expect(error).toBeUndefined();
      expect(status.outcome).toBe('switched');
      // DM's pooled connections to the old instance closed before the move, so that its resume does not lose the sharding groups
      expect(status.steps.find((s) => s.step.startsWith('close the idle connections of dm-worker'))?.detail).toMatch(
        /^[1-9]\d* closed/,
      );
      expect(decisions(status)).toMatch(
        /every subtask of the shard-merge task\(s\) shard-pessimistic is Running without errors: shard-pessimistic@mysql-replica-01 Running\/Sync, shard-pessimistic@mysql-shard-02 Running\/Sync/,
      );
      await nextDdlCoordinated(c);
    });

    it('given a DDL on the other shard while this source is paused, should coordinate it once the source runs again', async () => {
      const { here, there } = await vipEnds(c);
      await waitCaughtUp(there, c.sm.shard1, 60_000);
      await dropOnOtherShardWhileFrozen(c, () =>
        startSwitch(
          c.client,
          'vipSwitch',
          c.queue,
          vipReq(c, there, here, { approvals: { gates: ['before-switch'], timeoutSeconds: 600 } }),
        ),
      );
      await nextDdlCoordinated(c);
    });

    it('given a shard DDL lock the source waits at, should refuse naming it; accepted, should switch and count the wait as healthy', async () => {
      // shard 1 runs the DDL first: the lock waits for shard 2, and source 1 is held at the DDL
      await c.sm.shard1.query(`ALTER TABLE db_shard.tb ADD COLUMN c${++c.col} INT NOT NULL DEFAULT 0`);
      await c.sm.write(1, 3);
      for (let i = 0; i < 60 && (await c.sm.ddlLocks()).length === 0; i++) await new Promise((r) => setTimeout(r, 250));
      const { here, there } = await vipEnds(c);
      await waitCaughtUp(there, c.sm.shard1, 60_000);
      const refused = await runSwitch(c.client, 'vipSwitch', c.queue, vipReq(c, there, here));
      expect(failureType(refused.error)).toBe('PreflightFailed');
      expect(refused.status.outcome).toBe('refused');
      expect(decisions(refused.status)).toMatch(
        new RegExp(
          `an unresolved shard DDL lock involves source ${c.sm.sources[0]}: lock shard-pessimistic-\`db_target\`\\.\`tb\` of task shard-pessimistic \\(pessimistic, DDL ALTER TABLE .*ADD COLUMN \`c${c.col}\`.*\\): source ${c.sm.sources[0]} has reached the DDL and waits for mysql-shard-02`,
        ),
      );
      expect(refused.status.steps).toEqual([]);

      const accepted = await runSwitch(
        c.client,
        'vipSwitch',
        c.queue,
        vipReq(c, there, here, {
          options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 60, acceptShardDdlLock: true },
        }),
        (ended) => writeUntil(ended, () => c.sm.write(2, 1)),
      );
      expect(accepted.error).toBeUndefined();
      expect(accepted.status.outcome).toBe('switched');
      expect(decisions(accepted.status)).toMatch(
        /task shard-pessimistic waits at the accepted shard DDL lock .* until mysql-shard-02 reach it: counted as healthy/,
      );
      // the other shard reaches the DDL: the lock resolves and everything flows again
      await c.sm.shard2.query(`ALTER TABLE db_shard.tb ADD COLUMN c${c.col} INT NOT NULL DEFAULT 0`);
      await c.sm.write(1, 3);
      await c.sm.write(2, 3);
      await c.sm.downstreamEqualsUnion();
      await nextDdlCoordinated(c);
    });

    it('given the old instance cut off from the network (no reset reaches DM), should wait out TCP keep-alive before resuming and keep the sharding groups', async () => {
      const { here, there } = await vipEnds(c);
      await waitCaughtUp(there, c.sm.shard1, 60_000);
      await nextDdlCoordinated(c);
      const host = c.sm.stack.vipLab!.hosts.find((h) => h.address === here.host)!;
      await execa('ip', ['-n', host.netns, 'link', 'set', 'eth0', 'down']);
      try {
        const { status, error } = await runSwitch(c.client, 'vipSwitch', c.queue, vipReq(c, there, here), writing(c));
        expect(error).toBeUndefined();
        expect(status.outcome).toBe('switched');
        expect(status.warnings.join()).toMatch(/old instance .* is unreachable/);
        expect(decisions(status)).toMatch(
          /waiting 35 s before resuming: DM's idle connections to the old instance could not be closed/,
        );
      } finally {
        await execa('ip', ['-n', host.netns, 'link', 'set', 'eth0', 'up']);
      }
      await nextDdlCoordinated(c);
      await waitCaughtUp(here, c.sm.shard1, 60_000);
    });

    it("given an address switch, should start DM's exported task config again (normalised, checked before anything stops)", async () => {
      const { there } = await vipEnds(c);
      await waitCaughtUp(there, c.sm.shard1, 60_000);
      const { status, error } = await runSwitch(
        c.client,
        'addressSwitch',
        c.queue,
        addressReq(c, there, { host: c.sm.stack.vipLab!.vip, port: 3306, credentials: 'sandbox-root' }),
        writing(c),
      );
      expect(error).toBeUndefined();
      expect(status.outcome).toBe('switched');
      // DM exports `is-sharding: false` beside `shard-mode`, which start-task refuses; the switch checked the normalised config first
      expect(status.savedConfigs?.tasks['shard-pessimistic']).toMatch(/is-sharding: false/);
      expect(decisions(status)).toMatch(
        /DM accepts the saved configuration of task app-to-downstream \(check-task passed.*\), task shard-pessimistic \(check-task passed/,
      );
      expect(status.steps.map((s) => s.step)).toEqual([
        'pause-task -s mysql-shard-02 shard-pessimistic (the other shards, while this source is stopped)',
        `stop-task -s ${c.sm.sources[0]} app-to-downstream, shard-pessimistic`,
        `operate-source stop ${c.sm.sources[0]}`,
        `operate-source create ${c.sm.sources[0]} reading ${there.host}:3306`,
        `start-task -s ${c.sm.sources[0]} app-to-downstream, shard-pessimistic`,
        'resume-task -s mysql-shard-02 shard-pessimistic (the other shards)',
      ]);
      await nextDdlCoordinated(c);
    });

    it('given a DDL on the other shard while this source is stopped, should hold the other shard meanwhile and coordinate the DDL after', async () => {
      const from = (await sourceReads(c.sm.stack.dm!, c.sm.sources[0]))!;
      const here = from.host === c.a.host ? c.a : c.b;
      const there = here === c.a ? c.b : c.a;
      await waitCaughtUp(there, c.sm.shard1, 60_000);
      await dropOnOtherShardWhileFrozen(c, () =>
        startSwitch(
          c.client,
          'addressSwitch',
          c.queue,
          addressReq(c, there, ref(here), { approvals: { gates: ['before-switch'], timeoutSeconds: 600 } }),
        ),
      );
      await nextDdlCoordinated(c);
    });
  });
});

describe('an optimistic shard-merge task through switches of one source', { timeout: 300_000 }, () => {
  shardSuite('optimistic', (c) => {
    it('given DDLs before, on the other shard during the pause, and after, should VIP-switch the source and merge exactly', async () => {
      await nextDdlCoordinated(c);
      const { here, there } = await vipEnds(c);
      await waitCaughtUp(there, c.sm.shard1, 60_000);
      await dropOnOtherShardWhileFrozen(c, () =>
        startSwitch(
          c.client,
          'vipSwitch',
          c.queue,
          vipReq(c, there, here, { approvals: { gates: ['before-switch'], timeoutSeconds: 600 } }),
        ),
      );
      await nextDdlCoordinated(c);
    });

    it('given a DDL on the other shard while this source is stopped, should address-switch it and merge exactly', async () => {
      const { there } = await vipEnds(c);
      await waitCaughtUp(there, c.sm.shard1, 60_000);
      const status = await dropOnOtherShardWhileFrozen(c, () =>
        startSwitch(
          c.client,
          'addressSwitch',
          c.queue,
          addressReq(
            c,
            there,
            { host: c.sm.stack.vipLab!.vip, port: 3306, credentials: 'sandbox-root' },
            { approvals: { gates: ['before-switch'], timeoutSeconds: 600 } },
          ),
        ),
      );
      expect(status.steps[0]?.step).toBe(
        'pause-task -s mysql-shard-02 shard-optimistic (the other shards, while this source is stopped)',
      );
      await nextDdlCoordinated(c);
    });
  });
});
