/**
 * A switch to where DM already reads, on real components (MySQL 9.7 hosts in
 * a VIP lab, DM, TiDB, Temporal, the real worker activities): a completed
 * switch run again changes nothing — no pause, no VIP move, no stop — and
 * ends at once `switched` with `alreadyDone`, saying "nothing to do"; a
 * switch really half done (a task paused with the VIP on the target) still
 * carries on. "Nothing paused" is read three ways while the rerun runs: the
 * task's stage sampled from DM, the binlog dump connection DM holds on the
 * target (a pause closes it, so its PROCESSLIST id would change), and the
 * task's position, which only grows.
 */
import type { Client } from '@temporalio/client';
import { execa } from 'execa';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlGtidSet } from '../../common/gtid/index.js';
import type { AddressSwitchRequest, VipSwitchRequest } from '../../common/switch/input.js';
import type { DbInstance } from '../sandbox/db.js';
import type { DmCluster } from '../sandbox/dm.js';
import { expectOk } from '../sandbox/dm-setup.js';
import type { Stack } from '../sandbox/stack.js';
import { startVipSwitchStack, type VipSwitchStack } from '../sandbox/vip-switch-stack.js';
import { downstreamMatches, failureType, runSwitch, sourceReads, writeUntil } from '../sandbox/switch-harness.js';
import type { TidbInstance } from '../sandbox/tidb.js';
import { writeRows } from '../sandbox/topology.js';
import type { VipLab } from '../sandbox/vip-lab.js';

const QUEUE = 'e2e-nothing-to-do';
let vs: VipSwitchStack;
let stack: Stack;
let SOURCE: string;
let TASK: string;
let lab: VipLab;
let primary: DbInstance;
let a: DbInstance;
let b: DbInstance;
let dm: DmCluster;
let tidb: TidbInstance;
let client: Client;

beforeAll(async () => {
  vs = await startVipSwitchStack(QUEUE);
  ({ stack, sourceId: SOURCE, taskName: TASK, lab, primary, a, b, dm, tidb, client } = vs);
}, 300_000);

afterAll(async () => {
  await vs?.stop();
});

const viaVip = (db: DbInstance) => ({ host: db.host, port: 3306, credentials: 'sandbox-root' });
const direct = (db: DbInstance) => ({ host: db.host, port: db.port, credentials: 'sandbox-root' });
const vipReq = (to: DbInstance, from: DbInstance): VipSwitchRequest => ({
  sourceId: SOURCE,
  newInstance: viaVip(to),
  oldInstance: viaVip(from),
  vip: { address: lab.vip },
  options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 120 },
});
const addressReq = (to: DbInstance, from: DbInstance): AddressSwitchRequest => ({
  sourceId: SOURCE,
  newInstance: direct(to),
  oldInstance: direct(from),
  taskCredentials: 'sandbox-root',
  options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 120 },
});
const matches = (timeoutMs?: number) => downstreamMatches(primary, tidb, timeoutMs);

/** The task as DM shows it: stage and position. */
async function task(): Promise<{ stage: string; gtid: string }> {
  const r = expectOk('query-status', await dm.ctl(['query-status', '-s', SOURCE]));
  type Sub = { name: string; stage: string; sync?: { syncerBinlogGtid?: string } };
  const subs = (r.sources as Array<{ subTaskStatus?: Sub[] }>)[0]?.subTaskStatus ?? [];
  const sub = subs.find((x) => x.name === TASK);
  return { stage: sub?.stage ?? 'missing', gtid: sub?.sync?.syncerBinlogGtid ?? '' };
}

/** The ids of the binlog dump connections `db` serves: a pause or stop of the task closes DM's. */
async function dumpIds(db: DbInstance): Promise<number[]> {
  const rows = await db.query<{ id: number }>(
    `SELECT ID AS id FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%' ORDER BY ID`,
  );
  return rows.map((x) => Number(x.id));
}

/** While a switch runs: the application writes, and DM's task stage is sampled every ~100 ms. */
function watching(stages: string[]) {
  return async (ended: Promise<unknown>) => {
    let done = false;
    void ended.finally(() => (done = true));
    const writes = writeUntil(ended, () => writeRows(primary, 1));
    while (!done) {
      stages.push((await task()).stage);
      await new Promise((r) => setTimeout(r, 100));
    }
    stages.push((await task()).stage);
    await writes;
  };
}

/**
 * A rerun changed nothing: the task Running at every sample, the same binlog dump connection of DM on `on`, its
 * position kept (read first: what a DBA sees); then the outcome and the words.
 */
async function expectNothingDone(
  on: DbInstance,
  rerun: (during: (ended: Promise<unknown>) => Promise<void>) => ReturnType<typeof runSwitch>,
) {
  await matches();
  const before = { dumps: await dumpIds(on), task: await task() };
  expect(before.dumps.length).toBeGreaterThan(0);
  const stages: string[] = [];
  const { status, error } = await rerun(watching(stages));
  expect(stages.length).toBeGreaterThan(0);
  expect(new Set(stages)).toEqual(new Set(['Running']));
  // the same binlog dump connection of DM: nothing paused or stopped the task
  expect(await dumpIds(on)).toEqual(before.dumps);
  await writeRows(primary, 5);
  await matches();
  const after = await task();
  expect(after.stage).toBe('Running');
  // the position was not reset: what DM had applied is still in its position
  expect(MysqlGtidSet.parse(before.task.gtid).isSubsetOf(MysqlGtidSet.parse(after.gtid))).toBe(true);
  expect(error).toBeUndefined();
  expect(status.outcome).toBe('switched');
  expect(status.steps).toEqual([]);
  expect(status.frozenSeconds).toBeUndefined();
  expect(status.alreadyDone).toBe(true);
  expect(status.decisions.at(-1)?.reason).toMatch(
    new RegExp(`^nothing to do: DM already reads source ${SOURCE} from ${on.host}:\\d+ .*task\\(s\\) ${TASK} Running`),
  );
  expect(status.decisions.at(-1)?.reason).toMatch(/nothing was paused, stopped or moved$/);
  expect(status.decisions.map((d) => d.reason).join('\n')).not.toMatch(/half done/);
  const seconds = (Date.parse(status.updatedAt) - Date.parse(status.startedAt)) / 1000;
  console.log(
    `nothing to do on ${on.host}: the switch took ${seconds.toFixed(1)} s (workflow time), ${stages.length} samples`,
  );
  return status;
}

describe('a switch to where DM already reads', { timeout: 400_000 }, () => {
  it('given a completed VIP switch run again, should change nothing and end switched at once, saying nothing to do', async () => {
    const first = await runSwitch(client, 'vipSwitch', QUEUE, vipReq(b, a));
    expect(first.error).toBeUndefined();
    expect(first.status.outcome).toBe('switched');
    expect(first.status.alreadyDone).toBeUndefined();
    expect(await lab.provider().locate(lab.vip, [])).toBe(b.host);

    const status = await expectNothingDone(b, (during) => runSwitch(client, 'vipSwitch', QUEUE, vipReq(b, a), during));
    expect(status.decisions.at(-1)?.reason).toContain(`through the VIP ${lab.vip}`);
    expect(await lab.provider().locate(lab.vip, [])).toBe(b.host);
  });

  it('given a VIP switch really half done (task paused, VIP on the target), should say what is half done and carry on', async () => {
    expectOk('pause-task', await dm.ctl(['pause-task', '-s', SOURCE, TASK]));
    const { status, error } = await runSwitch(client, 'vipSwitch', QUEUE, vipReq(b, a));
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.alreadyDone).toBeUndefined();
    expect(
      status.decisions.some((d) =>
        new RegExp(
          `already points at the new instance ${b.host}, but task ${TASK} is Paused: a switch was half done`,
        ).test(d.reason),
      ),
    ).toBe(true);
    expect(status.steps.map((x) => `${x.step}:${x.result}`)).toEqual([
      `pause-task ${TASK}:done`,
      `move VIP ${lab.vip} to ${b.host}:skipped`,
      `resume-task ${TASK}:done`,
    ]);
    await writeRows(primary, 5);
    await matches(90_000);
    expect((await task()).stage).toBe('Running');
  });

  it('given a completed address switch run again, should change nothing and end switched at once, saying nothing to do', async () => {
    // from the VIP (on B) to A's own address
    const first = await runSwitch(client, 'addressSwitch', QUEUE, addressReq(a, b));
    expect(first.error).toBeUndefined();
    expect(first.status.outcome).toBe('switched');
    expect(await sourceReads(dm, SOURCE)).toEqual({ host: a.host, port: a.port });

    await expectNothingDone(a, (during) => runSwitch(client, 'addressSwitch', QUEUE, addressReq(a, b), during));
    expect(await sourceReads(dm, SOURCE)).toEqual({ host: a.host, port: a.port });
  });

  it('given a source DM does not know, should refuse SourceNotFound and `dm-switch status` should not claim DM reads it', async () => {
    const { status, error } = await runSwitch(client, 'vipSwitch', QUEUE, {
      ...vipReq(a, b),
      sourceId: 'mysql-replica-99',
    });
    expect(failureType(error)).toBe('SourceNotFound');
    expect(status.outcome).toBe('refused');
    expect(status.failureType).toBe('SourceNotFound');
    const r = await execa(
      process.execPath,
      [join(import.meta.dirname, '../../bin/dm-switch.js'), 'status', 'mysql-replica-99'],
      {
        reject: false,
        env: { TEMPORAL_ADDRESS: stack.temporal!.address, TEMPORAL_NAMESPACE: 'default' },
        stdin: 'ignore',
      },
    );
    expect(r.exitCode, r.stderr).toBe(1);
    const next = r.stdout.split('\n').find((l) => l.includes('NEXT:')) ?? '';
    expect(next).toMatch(
      /NEXT: nothing was changed\. Refused because .*DM source "mysql-replica-99" not found in cluster "default".* DM has no source mysql-replica-99 in cluster default: check the id \(`dmctl --master-addr=<dm-master> operate-source show` lists the sources\)/,
    );
    expect(next).not.toMatch(/reads source mysql-replica-99|as before|as it was/);
  });
});
