/**
 * The switch's safety rules beyond the runbook's GTID subsets, on the real stack: MySQL 9.7 hosts in
 * network namespaces (primary, replica A, replica B) behind a real VIP, DM
 * reading through it, TiDB downstream, the Temporal dev server and the real
 * worker. Each case builds the dangerous situation for real and asserts the
 * end state of DM, MySQL, the VIP and the downstream, and the words a user
 * reads in the decisions.
 *
 * The cases run in order, each from where the previous one left the source;
 * the last one (tagged GTIDs) leaves the topology unusable for switches.
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlGtidSet } from '../../common/gtid/index.js';
import type { VipSwitchRequest } from '../../common/switch/input.js';
import type { SwitchStatus } from '../../common/switch/status.js';
import type { DbInstance } from '../sandbox/db.js';
import type { DmCluster } from '../sandbox/dm.js';
import { expectOk } from '../sandbox/dm-setup.js';
import { startStack, type Stack } from '../sandbox/stack.js';
import {
  downstreamMatches,
  failureType,
  relayPurges,
  relayStartGtids,
  relayStatus,
  runSwitch,
  saveHistory,
  startInProcessWorker,
  startRelay,
  startSwitch,
  taskState as taskStateOf,
  waitForStatus,
  writeUntil,
} from '../sandbox/switch-harness.js';
import type { TidbInstance } from '../sandbox/tidb.js';
import { purgeBinaryLogs, waitCaughtUp, writeRows } from '../sandbox/topology.js';
import type { VipLab } from '../sandbox/vip-lab.js';

const QUEUE = 'e2e-safety';
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
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  stack = await startStack({ temporal: true, mysql: { replicas: 2 }, dm: true, vip: true });
  [primary, a, b] = stack.topology!.all() as [DbInstance, DbInstance, DbInstance];
  ({ vipLab: lab, dm, downstream: tidb } = stack as Required<Stack>);
  SOURCE = stack.sourceId!;
  TASK = stack.taskName!;
  await writeRows(primary, 10);
  await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
  // a reference that exists but that no server lets in
  const config = stack
    .workerConfigYaml(QUEUE)
    .replace(
      'credentials:\n',
      'credentials:\n  nobody: { user: no_such_user, hosts: [127.0.0.0/8, 198.51.100.0/24] }\n',
    );
  const w = await startInProcessWorker(stack.temporal!.address, config);
  client = w.client;
  stops.push(w.stop);
}, 300_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  await stack?.stop();
});

const ref = (db: DbInstance, credentials = 'sandbox-root') => ({ host: db.host, port: 3306, credentials });
const req = (to: DbInstance, from: DbInstance, extra: Partial<VipSwitchRequest> = {}): VipSwitchRequest => ({
  sourceId: SOURCE,
  newInstance: ref(to),
  oldInstance: ref(from),
  vip: { address: lab.vip },
  options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 },
  ...extra,
});
const run = (r: VipSwitchRequest, during?: (ended: Promise<unknown>) => Promise<unknown>) =>
  runSwitch(client, 'vipSwitch', QUEUE, r, during);
const writing = (ended: Promise<unknown>) => writeUntil(ended, () => writeRows(primary, 1));
const taskState = () => taskStateOf(dm, SOURCE, TASK);
const vipHolder = () => lab.provider().locate(lab.vip, []);
const decisions = (s: SwitchStatus, verdict?: string) =>
  s.decisions
    .filter((d) => !verdict || d.verdict === verdict)
    .map((d) => d.reason)
    .join('\n');
/** The GTIDs an instance wrote itself (under its own server_uuid). */
const ownGtids = async (db: DbInstance) =>
  MysqlGtidSet.parse(await db.variable('gtid_executed'))
    .ofUuid(await db.variable('server_uuid'))
    .toCompactString();
const rowsDownstream = async (payload: string) =>
  Number((await tidb.query<{ n: number }>('SELECT COUNT(*) AS n FROM app.rows WHERE payload = ?', [payload]))[0]!.n);

/** The task's stage and errors, as query-status shows them. */
async function taskWithErrors(): Promise<{ stage: string; errors: string[] } | null> {
  const r = expectOk('query-status', await dm.ctl(['query-status', '-s', SOURCE]));
  type Sub = {
    name: string;
    stage: string;
    result: null | { errors?: Array<{ message?: string; Message?: string; RawCause?: string }> };
  };
  const sub = ((r.sources as Array<{ subTaskStatus?: Sub[] }>)[0]?.subTaskStatus ?? []).find((x) => x.name === TASK);
  return sub
    ? {
        stage: sub.stage,
        errors: (sub.result?.errors ?? []).map((e) => [e.Message ?? e.message, e.RawCause].filter(Boolean).join(': ')),
      }
    : null;
}

/** The task's syncer position as query-status shows it. */
async function querySyncer(): Promise<{ syncerBinlogGtid: string }> {
  const r = expectOk('query-status', await dm.ctl(['query-status', '-s', SOURCE]));
  type Sub = { name: string; sync?: { syncerBinlogGtid?: string } };
  const sub = ((r.sources as Array<{ subTaskStatus?: Sub[] }>)[0]?.subTaskStatus ?? []).find((x) => x.name === TASK);
  return { syncerBinlogGtid: sub?.sync?.syncerBinlogGtid ?? '' };
}

/** DM is where the previous case left it: on `on`, Running, downstream equal to the primary. */
async function settled(on: DbInstance): Promise<void> {
  expect(await vipHolder()).toBe(on.host);
  await writeRows(primary, 3);
  await downstreamMatches(primary, tidb, 90_000);
  expect(await taskState()).toEqual({ stage: 'Running', unit: 'Sync' });
}

describe('a switch never lets wrong data downstream (real stack)', { timeout: 300_000 }, () => {
  it('given a credential reference that does not exist, or one the old instance refuses, should refuse naming it and change nothing', async () => {
    const unknown = await run(req(b, a, { oldInstance: ref(a, 'no-such-reference') }));
    expect(failureType(unknown.error)).toBe('InvalidInput');
    expect(unknown.status.outcome).toBe('refused');
    expect(decisions(unknown.status, 'refuse')).toMatch(/unknown credential reference "no-such-reference"/);
    expect(unknown.status.warnings.join()).not.toMatch(/unreachable/);

    const denied = await run(req(b, a, { oldInstance: ref(a, 'nobody') }));
    expect(failureType(denied.error)).toBe('InvalidInput');
    expect(denied.status.outcome).toBe('refused');
    // MySQL asks a user it does not know for the password in full (so as not to tell that it does not exist); without
    // TLS or a pinned key the worker sends nothing: either way the reference is named and nothing changes
    expect(decisions(denied.status, 'refuse')).toMatch(
      new RegExp(
        `${a.host}:3306 (refused the login of credential reference "nobody" \\(user no_such_user\\): Access denied|asked for the password of credential "nobody" in full .*nothing was sent)`,
      ),
    );
    expect(denied.status.steps).toEqual([]);
    await settled(a);
  });

  it('given a VIP that is not what DM reads, should refuse naming both before anything changes', async () => {
    const { status, error } = await run(req(b, a, { vip: { address: b.host } }));
    expect(failureType(error)).toBe('PreflightFailed');
    expect(decisions(status, 'refuse')).toMatch(
      new RegExp(`source ${SOURCE} reads ${lab.vip}:3306, not the VIP ${b.host}`),
    );
    expect(status.steps).toEqual([]);
    await settled(a);
  });

  it('given a local write on the new (read-only) replica, should refuse naming the errant GTID; accepted, only through the before-freeze gate', async () => {
    await b.query('SET GLOBAL read_only = ON');
    try {
      // a DBA's UPDATE on the replica, binary logging on: written under B's own server_uuid
      await b.query(
        `INSERT INTO app.rows (id, payload, written_by) VALUES (900000001, 'local-write-on-b', @@server_id)`,
      );
      const errant = await ownGtids(b);
      expect(errant).not.toBe('');

      const refused = await run(req(b, a), writing);
      expect(failureType(refused.error)).toBe('GtidRefused');
      expect(refused.status.outcome).toBe('refused');
      const why = decisions(refused.status, 'refuse');
      expect(why).toContain(errant);
      expect(why).toMatch(
        /written on the new instance .* itself \(server_uuid .*\) while it is read-only: no other server of the topology has them/,
      );
      expect(why).toMatch(/acceptErrantTransactions/);
      expect(refused.status.steps).toEqual([]);
      await settled(a);
      expect(await rowsDownstream('local-write-on-b')).toBe(0);

      // accepted in the input: the switch must wait at before-freeze, with the GTIDs in what the approver reads, even though no gate was asked for
      const accepting = req(b, a, {
        options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90, acceptErrantTransactions: true },
      });
      const rejected = await startSwitch(client, 'vipSwitch', QUEUE, accepting);
      const atGate = await waitForStatus(rejected.handle, (s) => s.phase === 'awaiting-approval');
      expect(atGate.approvals[0]?.gate).toBe('before-freeze');
      expect(atGate.approvals[0]?.approving.summary).toMatch(/APPROVE ONLY IF THESE BELONG DOWNSTREAM/);
      expect(atGate.approvals[0]?.approving.summary).toContain(errant);
      await rejected.handle.signal('reject', { by: 'dba', comment: 'that row is a mistake' });
      const r = await rejected.end();
      expect(r.status.outcome).toBe('refused');
      expect(r.status.steps).toEqual([]);
      await settled(a);

      const approved = await startSwitch(client, 'vipSwitch', QUEUE, accepting);
      await waitForStatus(approved.handle, (s) => s.phase === 'awaiting-approval');
      await approved.handle.signal('approve', { by: 'dba', comment: 'the row belongs downstream' });
      const ok = await approved.end();
      await saveHistory(approved.handle, 'vip-switch-errant-accepted');
      expect(ok.error).toBeUndefined();
      expect(ok.status.outcome).toBe('switched');
      expect(ok.status.warnings.join()).toMatch(/accepted at the before-freeze gate/);
      expect(await vipHolder()).toBe(b.host);
      // what the approver accepted is what DM replicated
      for (let i = 0; i < 60 && (await rowsDownstream('local-write-on-b')) === 0; i++)
        await new Promise((res) => setTimeout(res, 500));
      expect(await rowsDownstream('local-write-on-b')).toBe(1);

      // make the topology whole again: the row goes, and the primary gets the GTID as an empty transaction
      await b.query(
        `SET SESSION sql_log_bin = 0; DELETE FROM app.rows WHERE payload = 'local-write-on-b'; SET SESSION sql_log_bin = 1`,
      );
      await tidb.query(`DELETE FROM app.rows WHERE payload = 'local-write-on-b'`);
      for (const gtid of errant
        .split(':')
        .slice(1)
        .flatMap((r) => {
          const [x, y = x] = r.split('-').map(Number);
          return Array.from({ length: y! - x! + 1 }, (_, k) => x! + k);
        })) {
        await primary.query(
          `SET GTID_NEXT = '${errant.split(':')[0]}:${gtid}'; BEGIN; COMMIT; SET GTID_NEXT = 'AUTOMATIC'`,
        );
      }
      await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
    } finally {
      await b.query('SET GLOBAL read_only = OFF');
    }
    await settled(b);
  });

  it('given a new instance simply ahead of the old one in the primary stream, should find nothing errant and switch', async () => {
    // DM reads B; B applies 10 s behind the primary, so A (the target) is ahead of B and of DM
    await b.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 10; START REPLICA SQL_THREAD');
    let outcome: Awaited<ReturnType<typeof run>>;
    try {
      await writeRows(primary, 10);
      await waitCaughtUp(a, primary);
      outcome = await run(req(a, b), writing);
    } finally {
      await b.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 0; START REPLICA SQL_THREAD');
    }
    expect(outcome.error).toBeUndefined();
    expect(outcome.status.outcome).toBe('switched');
    expect(decisions(outcome.status, 'go')).toMatch(
      new RegExp(
        `no errant transactions: every transaction ${a.host}:3306 has executed is in DM's position \\(gtid-S\\), the old instance ${b.host}:3306 or its replication source ${primary.host}:3306`,
      ),
    );
    await waitCaughtUp(b, primary, 60_000);
    await settled(a);
  });

  it('given a task DM paused on an error, should pause it itself so that DM does not resume it during the freeze', async () => {
    // the instance DM reads crashes for a moment: DM's task pauses on the connection error, and DM would resume it once the instance is back
    a.kill();
    await a.waitExit();
    let state: Awaited<ReturnType<typeof taskWithErrors>> = null;
    for (let i = 0; i < 120 && !(state?.stage === 'Paused' && state.errors.length > 0); i++) {
      await new Promise((r) => setTimeout(r, 250));
      state = await taskWithErrors().catch(() => null); // query-status may time out while the worker reconnects
    }
    expect(state).toMatchObject({ stage: 'Paused' });
    expect(state!.errors.join()).toMatch(/connection refused/);

    const sw = await startSwitch(client, 'vipSwitch', QUEUE, req(b, a, { approvals: { gates: ['before-switch'] } }));
    await waitForStatus(sw.handle, (s) => s.phase === 'awaiting-approval');
    // the instance is back: DM's task checker resumes an error-paused task within seconds; it must leave ours alone
    await a.start();
    for (let i = 0; i < 30; i++) {
      await new Promise((r) => setTimeout(r, 500));
      const now = await taskState().catch(() => null);
      if (now) expect(now.stage).toBe('Paused');
    }
    await sw.handle.signal('approve', { by: 'dba' });
    const { status, error } = await sw.end();
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.steps.map((x) => x.step)[0]).toBe(`pause-task ${TASK}`);
    expect(decisions(status, 'go')).toMatch(/after gate before-switch: every task still frozen at the same gtid-S/);
    await waitCaughtUp(a, primary, 60_000);
    await settled(b);
  });

  it('given binlog purged on the new instance while a person decides, should re-check after the gate and undo the switch', async () => {
    const sw = await startSwitch(client, 'vipSwitch', QUEUE, req(a, b, { approvals: { gates: ['before-switch'] } }));
    await waitForStatus(sw.handle, (s) => s.phase === 'awaiting-approval');
    // DM is frozen; the primary goes on, A receives it and purges its binlog past what DM needs
    await writeRows(primary, 5);
    await waitCaughtUp(a, primary);
    await purgeBinaryLogs(a);
    await sw.handle.signal('approve', { by: 'dba' });
    const { status, error } = await sw.end();
    expect(failureType(error)).toBe('GtidRefused');
    expect(status.outcome).toBe('rolled-back');
    expect(decisions(status, 'refuse')).toMatch(
      /gtid-P ⊄ gtid-S: the new instance has purged binlog that DM has not replicated yet/,
    );
    expect(status.gtids.some((g) => g.label === 'gtid-P new instance (after gate before-switch)')).toBe(true);
    expect(status.steps.map((x) => x.step)).toEqual([`pause-task ${TASK}`]);
    await settled(b);
  });

  it('given someone resuming a task while DM is frozen at a gate, should see it after the gate and undo instead of moving the VIP', async () => {
    const here = (await vipHolder()) === a.host ? a : b;
    const sw = await startSwitch(
      client,
      'vipSwitch',
      QUEUE,
      req(here === a ? b : a, here, { approvals: { gates: ['before-switch'] } }),
    );
    await waitForStatus(sw.handle, (s) => s.phase === 'awaiting-approval');
    expectOk('resume-task', await dm.ctl(['resume-task', '-s', SOURCE, TASK]));
    await writeRows(primary, 3);
    await sw.handle.signal('approve', { by: 'dba' });
    const { status, error } = await sw.end();
    expect(failureType(error)).toBe('FreezeBroken');
    expect(status.outcome).toBe('rolled-back');
    expect(decisions(status)).toMatch(
      /while DM was frozen \(at gate before-switch\), task app-to-downstream is Running, not Paused: someone else changed DM/,
    );
    expect(status.steps.map((x) => x.step)).toEqual([`pause-task ${TASK}`]);
    await settled(here);
  });

  it('given a gate nobody decides inside the freeze, should bound the freeze (maxFreezeSeconds) and undo the switch with the reason', async () => {
    const started = Date.now();
    const { status, error, handle } = await run(
      req(a, b, {
        approvals: { gates: ['before-switch'], timeoutSeconds: 3600 },
        options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90, maxFreezeSeconds: 30 },
      }),
    );
    await saveHistory(handle, 'vip-switch-freeze-timeout');
    expect(failureType(error)).toBe('FreezeTimeout');
    expect(status.outcome).toBe('rolled-back');
    expect(Date.now() - started).toBeLessThan(120_000);
    expect(status.approvals[0]).toMatchObject({
      gate: 'before-switch',
      state: 'timed-out',
      comment: expect.stringMatching(/maxFreezeSeconds \(30 s\) ran out while DM was frozen/),
    });
    expect(decisions(status)).toMatch(
      /DM has been frozen \d+ s, waiting at gate before-switch: options.maxFreezeSeconds \(30 s\) is over/,
    );
    await settled(b);
  });

  it('given relay on and a new instance that holds gtid-S but not the relay position R, should not wait for R: DM restarts relay from the checkpoint', async () => {
    // DM reads B with relay on; A, the target, applies 12 s behind the primary
    const before = await startRelay(dm, SOURCE);
    expect(before?.stage).toBe('Running');
    await a.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 12; START REPLICA SQL_THREAD');
    let outcome: Awaited<ReturnType<typeof run>>;
    let frozenS: string;
    const purgesBefore = await relayPurges(dm);
    try {
      // freeze gtid-S by hand, let the relay run ahead of it while the primary writes, then wait until A holds gtid-S (but not yet R)
      expectOk('pause-task', await dm.ctl(['pause-task', '-s', SOURCE, TASK]));
      const stopWriting = new Promise((r) => setTimeout(r, 20_000));
      const writes = writeUntil(stopWriting, () => writeRows(primary, 1), 200);
      frozenS = (await querySyncer()).syncerBinlogGtid;
      for (
        let i = 0;
        i < 120 && !MysqlGtidSet.parse(frozenS).isSubsetOf(MysqlGtidSet.parse(await a.variable('gtid_executed')));
        i++
      )
        await new Promise((r) => setTimeout(r, 250));
      const relay = await relayStatus(dm, SOURCE);
      expect(MysqlGtidSet.parse(frozenS).isSubsetOf(MysqlGtidSet.parse(await a.variable('gtid_executed')))).toBe(true);
      expect(
        MysqlGtidSet.parse(relay!.relayBinlogGtid).isSubsetOf(MysqlGtidSet.parse(await a.variable('gtid_executed'))),
      ).toBe(false);
      outcome = await run(req(a, b));
      await writes;
    } finally {
      await a.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 0; START REPLICA SQL_THREAD');
    }
    try {
      const { status, error } = outcome;
      await saveHistory(outcome.handle, 'vip-switch-relay-waits-for-r');
      expect(error).toBeUndefined();
      expect(status.outcome).toBe('switched');
      const R = status.gtids.find((g) => g.label === 'relay R (relayBinlogGtid) (frozen)')?.set;
      expect(R).toBeDefined();
      // R is read and reported, not waited for: A lacks part of it, and the switch goes on
      expect(decisions(status, 'info')).toMatch(
        /relay position R \(relayBinlogGtid\) is not required on the new instance: .*the new instance lacks .* of R/,
      );
      expect(status.decisions.some((d) => d.verdict === 'wait')).toBe(false);
      expect(status.steps.find((x) => x.step === `stop-relay -s ${SOURCE}`)?.detail).toMatch(
        /paused first, frozen at relayBinlogGtid/,
      );
      // what the relay asked A for: DM purged the relay log and restarted it from the task's checkpoint (inside gtid-S), not from R
      expect(await relayPurges(dm)).toBeGreaterThan(purgesBefore);
      const asked = (await relayStartGtids(dm)).at(-1)!;
      expect(MysqlGtidSet.parse(asked).isSubsetOf(MysqlGtidSet.parse(frozenS!))).toBe(true);
      const after = await relayStatus(dm, SOURCE);
      expect(after?.relaySubDir).toBe(`${await a.variable('server_uuid')}.000001`);
      // the task was paused by hand before the switch (an operator's pause): the switch left it paused; resume it
      expect(status.leftPaused).toEqual([TASK]);
      expect(await taskState()).toEqual({ stage: 'Paused', unit: 'Sync' });
      expectOk('resume-task', await dm.ctl(['resume-task', '-s', SOURCE, TASK]));
      await waitCaughtUp(a, primary, 60_000);
      await settled(a);
    } finally {
      await dm.ctl(['stop-relay', '-s', SOURCE]);
    }
  });

  it("given a binlog dump connection that is not from the source's dm-worker, should not count it as DM reading the new instance", async () => {
    // a worker that believes the dm-worker connects from elsewhere (as a wrong workerHosts would say): verification must fail, and undo
    const wrong = stack
      .workerConfigYaml('e2e-safety-wrong-host')
      .replace(/(masterAddr: [^,]+,)/, '$1 workerHosts: { worker1: ["192.0.2.1"] },');
    const w = await startInProcessWorker(stack.temporal!.address, wrong);
    stops.push(w.stop);
    const { status, error } = await runSwitch(
      w.client,
      'vipSwitch',
      'e2e-safety-wrong-host',
      req(b, a, { options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 20 } }),
      writing,
    );
    // and, undone, it cannot prove DM reads the old instance again either: it claims nothing (needs-operator), saying why
    expect(failureType(error)).toBe('CompensationFailed');
    expect(status.outcome).toBe('needs-operator');
    expect(decisions(status)).toMatch(
      new RegExp(
        `no binlog dump connection from dm-worker worker1 \\(192.0.2.1; registered as replica worker1\\) on the new instance ${b.host}:3306 \\(it serves root@${lab.gateway}:\\d+`,
      ),
    );
    expect(decisions(status)).toMatch(
      new RegExp(
        `every undo step ran, but the state is not the one before the switch: no binlog dump connection from dm-worker worker1 \\(192.0.2.1; registered as replica worker1\\) on ${a.host}:3306: DM does not read it`,
      ),
    );
    await settled(a);
  });

  it('given tagged GTIDs, which DM drops without an error, should refuse naming the tag (this leaves the topology unusable for switches)', async () => {
    await primary.query(
      `SET gtid_next = 'AUTOMATIC:dmswitch_tag'; INSERT INTO app.rows (payload, written_by) VALUES ('tagged-row', @@server_id); SET gtid_next = 'AUTOMATIC'`,
    );
    await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
    await writeRows(primary, 3);
    // what the refusal protects against: DM keeps running but never applies the tagged transaction
    await new Promise((r) => setTimeout(r, 3000));
    expect(await taskState()).toEqual({ stage: 'Running', unit: 'Sync' });
    expect(await rowsDownstream('tagged-row')).toBe(0);

    const { status, error } = await run(req(b, a));
    expect(failureType(error)).toBe('GtidRefused');
    expect(status.outcome).toBe('refused');
    expect(decisions(status, 'refuse')).toMatch(
      /tagged GTIDs found \(tag dmswitch_tag; gtid-E of the new instance .*:dmswitch_tag:1.*\): DM drops transactions written with a tagged GTID/,
    );
    expect(status.steps).toEqual([]);
    expect(await vipHolder()).toBe(a.host);
  });
});
