/**
 * One VIP read by several DM sources, and hosts under drain, on the real
 * stack: MySQL 9.7 hosts in network namespaces (primary P, replicas A, B, C,
 * D) with a real VIP on A; two DM clusters whose dm-workers run each in a
 * namespace of its own; TiDB downstream; the Temporal dev server; the real
 * worker as its own process.
 *
 *   default/src-shared  reads the VIP (task-s1, schema app)
 *   second/src-shared2  reads the same VIP (task-s2, schema app2)
 *   default/src-b       reads B by its address (task-b, schema app3)
 *
 * A VIP switch of one of the two sharing sources is refused before any
 * change, naming the other; a drain of the VIP's holder moves the VIP once
 * with both sources paused, checked and verified; its undrain moves them
 * back the same way. Two drains (A and B) started together with candidates
 * [A, B, C, D] never move a source onto each other's host, both end
 * `drained`, the hosts stay marked (status, `dm-switch list`), a switch
 * naming a marked host is refused, and an undrain lifts the mark.
 */
import type { Client } from '@temporalio/client';
import { Client as TemporalClient, Connection } from '@temporalio/client';
import { execa } from 'execa';
import mysql from 'mysql2/promise';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { renderHostStatus, returnRequestFrom, startHost } from '../../client/drain.js';
import type { DrainRequest, HostStatus } from '../../common/switch/drain.js';
import type { AddressSwitchRequest, VipSwitchRequest } from '../../common/switch/input.js';
import { statusQuery } from '../../common/switch/messages.js';
import type { Gate, SwitchStatus } from '../../common/switch/status.js';
import type { DbInstance } from '../sandbox/db.js';
import { startDm, type DmCluster } from '../sandbox/dm.js';
import {
  CHECKPOINT_FLUSH_SECONDS,
  createSource,
  expectOk,
  startIncrementalTask,
  taskConfig,
} from '../sandbox/dm-setup.js';
import {
  downstreamMatches,
  failureType,
  runSwitch,
  sourceReads,
  startSwitch,
  taskState,
  waitForStatus,
} from '../sandbox/switch-harness.js';
import { startTemporal, type TemporalDevServer } from '../sandbox/temporal.js';
import { startTidb, type TidbInstance } from '../sandbox/tidb.js';
import { startTopology, waitCaughtUp, writeRows, type Topology } from '../sandbox/topology.js';
import { startVipLab, type VipLab } from '../sandbox/vip-lab.js';
import { startWorkerProcess, type WorkerProcess } from '../sandbox/worker-process.js';

const QUEUE = 'e2e-shared-vip';
let lab: VipLab;
let topo: Topology;
let primary: DbInstance;
let a: DbInstance;
let b: DbInstance;
let c: DbInstance;
let d: DbInstance;
let dm1: DmCluster;
let dm2: DmCluster;
let tidb: TidbInstance;
let temporal: TemporalDevServer;
let worker: WorkerProcess;
let client: Client;
const stops: Array<() => Promise<void>> = [];

async function taskFromNow(dm: DmCluster, name: string, sourceId: string, schema: string, upstream: DbInstance) {
  type Status = { File: string; Position: number; Executed_Gtid_Set: string };
  const [st] = await upstream.query<Status>('SHOW BINARY LOG STATUS');
  const gtid = st!.Executed_Gtid_Set.replace(/\s+/g, '');
  const cfg = taskConfig(name, [sourceId], tidb, {
    'binlog-name': st!.File,
    'binlog-pos': Number(st!.Position),
    'binlog-gtid': gtid,
  });
  cfg['block-allow-list'] = { 'app-only': { 'do-dbs': [schema] } };
  const file = await dm.file(`task-${name}.yaml`, stringify(cfg));
  expectOk('start-task', await dm.ctl(['start-task', file]));
}

const write = async (schema: string, n: number) => {
  for (let i = 0; i < n; i++) await primary.query(`INSERT INTO ${schema}.rows (payload) VALUES ('r')`);
};
const count = async (db: { query<T>(sql: string): Promise<T[]> }, schema: string) =>
  Number((await db.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${schema}.rows`))[0]!.n);
async function sameRows(schema: string): Promise<void> {
  const want = await count(primary, schema);
  for (let i = 0; i < 180; i++) {
    if ((await count(tidb, schema).catch(() => -1)) === want) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  expect(await count(tidb, schema), schema).toBe(want);
}
/** Every schema downstream equal to the primary (app by an ordered row hash, app2/app3 by count). */
const allEqual = async () => {
  await Promise.all([write('app2', 2), write('app3', 2), writeRows(primary, 2)]);
  await Promise.all([sameRows('app2'), sameRows('app3'), downstreamMatches(primary, tidb, 90_000)]);
};

beforeAll(async () => {
  // P, A, B, C, D, then one host per dm-worker
  lab = await startVipLab({ hosts: 8 });
  stops.push(() => lab.destroy());
  const workers = lab.hosts.slice(5).map((h) => ({ netns: h.netns, address: h.address }));
  const started = await Promise.all([
    startTopology({ replicas: 4, placement: lab.hosts.slice(0, 5) }),
    startTemporal(),
    startTidb({ host: lab.gateway }),
    startDm({ workers: 2, masterHost: lab.gateway, netns: workers.slice(0, 2) }),
    startDm({ workers: 1, masterHost: lab.gateway, netns: workers.slice(2) }),
  ]);
  [topo, temporal, tidb, dm1, dm2] = started;
  stops.push(
    () => topo.destroy(),
    () => temporal.destroy(),
    () => tidb.destroy(),
  );
  stops.push(
    () => dm1.destroy(),
    () => dm2.destroy(),
  );
  [primary, a, b, c, d] = topo.all() as [DbInstance, DbInstance, DbInstance, DbInstance, DbInstance];
  await writeRows(primary, 3);
  await Promise.all([a, b, c, d].map((r) => waitCaughtUp(r, primary)));
  await lab.assign(1);
  const vipUpstream = { host: lab.vip, port: 3306, flavor: 'mysql' as const };
  await createSource(dm1, 'src-shared', vipUpstream);
  await createSource(dm2, 'src-shared2', vipUpstream);
  await createSource(dm1, 'src-b', { host: b.host, port: 3306, flavor: 'mysql' });
  await startIncrementalTask(dm1, 'task-s1', ['src-shared'], tidb, a);
  await taskFromNow(dm2, 'task-s2', 'src-shared2', 'app2', a);
  await taskFromNow(dm1, 'task-b', 'src-b', 'app3', b);
  for (const schema of ['app2', 'app3']) {
    const table = `${schema}.rows (id BIGINT PRIMARY KEY AUTO_INCREMENT, payload VARCHAR(64) NOT NULL)`;
    await primary.query(`CREATE DATABASE ${schema}; CREATE TABLE ${table}`);
  }
  await allEqual();

  const flush = `checkpointFlushSeconds: ${CHECKPOINT_FLUSH_SECONDS}`;
  const lines = [
    `taskQueue: ${QUEUE}`,
    'dm:',
    '  clusters:',
    // every task here is the sandbox's (taskConfig), flushing its checkpoint every CHECKPOINT_FLUSH_SECONDS
    `    default: { masterAddr: "${dm1.masterAddr}", dmctl: ${JSON.stringify(dm1.dmctlPath)}, ${flush} }`,
    `    second: { masterAddr: "${dm2.masterAddr}", dmctl: ${JSON.stringify(dm2.dmctlPath)}, ${flush} }`,
    'credentials:',
    '  sandbox-root: { user: root, hosts: [127.0.0.0/8, 198.51.100.0/24, localhost] }',
    'vip:',
    '  providers:',
    `    default: { type: command, locate: ${JSON.stringify(lab.locateCommand)}, move: ${JSON.stringify(lab.moveCommand)}, ` +
      `check: ${JSON.stringify(lab.checkCommand)}, env: ${JSON.stringify(lab.env)} }`,
  ];
  worker = await startWorkerProcess({ configYaml: `${lines.join('\n')}\n`, temporalAddress: temporal.address });
  stops.push(() => worker.stop());
  client = new TemporalClient({ connection: await Connection.connect({ address: temporal.address }) });
  stops.push(() => client.connection.close());
}, 400_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
});

const ref = (db: DbInstance) => ({ host: db.host, port: 3306, credentials: 'sandbox-root' });
const options = { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 };
const vipHolder = () => lab.provider().locate(lab.vip, []);
const hostStatus = (workflowId: string) =>
  client.workflow.getHandle(workflowId).query(statusQuery) as unknown as Promise<HostStatus>;
const running = { stage: 'Running', unit: 'Sync' };
/** What DM reads and how its tasks stand: equal before and after a refusal. */
const world = async () => ({
  vip: await vipHolder(),
  srcB: await sourceReads(dm1, 'src-b'),
  s1: await taskState(dm1, 'src-shared', 'task-s1'),
  s2: await taskState(dm2, 'src-shared2', 'task-s2'),
  b: await taskState(dm1, 'src-b', 'task-b'),
});
const cli = (args: string[]) =>
  execa(process.execPath, [join(import.meta.dirname, '../../bin/dm-switch.js'), '--task-queue', QUEUE, ...args], {
    reject: false,
    env: { TEMPORAL_ADDRESS: temporal.address, TEMPORAL_NAMESPACE: 'default' },
    stdin: 'ignore',
  });
type HostRun = { workflowId: string; status: HostStatus; text: string };
async function runHost(kind: 'drain' | 'return', request: Parameters<typeof startHost>[2]): Promise<HostRun> {
  const { workflowId } = await startHost(client, kind, request as never, { taskQueue: QUEUE });
  await client.workflow.getHandle(workflowId).result();
  const status = await hostStatus(workflowId);
  return { workflowId, status, text: renderHostStatus(workflowId, status) };
}
/** The VIP switches of a source that changed something (not dry runs). */
async function realSwitches(dmCluster: string, sourceId: string): Promise<number> {
  let n = 0;
  for await (const w of client.workflow.list({ query: `WorkflowId = "dm-switch/${dmCluster}/${sourceId}"` })) {
    const s = await client.workflow
      .getHandle(w.workflowId, w.runId)
      .query(statusQuery)
      .catch(() => null);
    if (s && !s.dryRun) n++;
  }
  return n;
}

describe('one VIP read by several sources, and hosts under drain (real stack)', { timeout: 900_000 }, () => {
  let drainA: HostStatus;

  it("given the drain of the VIP's holder, should move the VIP once with both sources paused, checked and verified, and downstream equal; its undrain moves them back the same way", async () => {
    const vips = [{ address: lab.vip }];
    const request: DrainRequest = {
      host: a.host,
      credentials: 'sandbox-root',
      vips,
      candidates: [ref(b), ref(c)],
      options,
    };
    let back: Awaited<ReturnType<typeof runHost>>;
    const runs = { s1: await realSwitches('default', 'src-shared'), s2: await realSwitches('second', 'src-shared2') };
    const writing = (async () => {
      for (let i = 0; i < 30; i++) await Promise.all([write('app2', 1), writeRows(primary, 1), sleep(300)]);
    })();
    const drained = await runHost('drain', request);
    await writing;
    drainA = drained.status;
    try {
      expect(drained.status.outcome, drained.text).toBe('drained');
      const by = Object.fromEntries(drained.status.sources.map((s) => [`${s.dmCluster}/${s.sourceId}`, s]));
      const moved = { procedure: 'vip', plan: 'switch', outcome: 'switched', target: `${b.host}:3306` };
      expect(by['default/src-shared'], drained.text).toMatchObject(moved);
      expect(by['second/src-shared2'], drained.text).toMatchObject(moved);
      expect(by['second/src-shared2']!.reasons.join('\n')).toContain('moves with default/src-shared (the same VIP)');
      // one switch moved the VIP, and it paused, resumed and verified the other source too
      expect(await realSwitches('default', 'src-shared')).toBe(runs.s1 + 1);
      expect(await realSwitches('second', 'src-shared2')).toBe(runs.s2);
      const leader = await client.workflow.getHandle('dm-switch/default/src-shared').query(statusQuery);
      const steps = leader.steps.map((s) => s.step);
      expect(
        steps.filter((s) => s.startsWith('move VIP')),
        steps.join('\n'),
      ).toHaveLength(1);
      expect(steps).toContain('pause-task task-s2 of source second/src-shared2 (reads the same VIP)');
      expect(steps).toContain('resume-task task-s2 of source second/src-shared2');
      const verified = `source second/src-shared2 reads ${lab.vip}:3306 from ${b.host}:3306 too, verified`;
      expect(leader.decisions.map((x) => x.reason).join('\n')).toContain(verified);
      expect(await vipHolder()).toBe(b.host);
      expect(await world()).toMatchObject({ s1: running, s2: running });
      await allEqual();
    } finally {
      // back (whatever the assertions above said, so that the next cases find the sources on A): the return groups
      // them the same way (a second VIP switch would refuse, the other source unnamed)
      back = await runHost('return', returnRequestFrom(drainA));
    }
    expect(back.status.outcome, back.text).toBe('returned');
    expect(back.status.sources.map((s) => s.outcome)).toEqual(['switched', 'switched']);
    expect(await vipHolder()).toBe(a.host);
    expect(await world()).toMatchObject({ s1: running, s2: running });
    await allEqual();
  });

  it("given two drains (A and B) started together with candidates [A, B, C, D], should never move a source onto the other's host, end both drained, keep both marked until undrain, and refuse a switch naming a marked host", async () => {
    const candidates = [ref(a), ref(b), ref(c), ref(d)];
    const credentials = { credentials: 'sandbox-root', taskCredentials: 'sandbox-root' };
    const drainOf = (host: DbInstance): DrainRequest => ({
      host: host.host,
      ...credentials,
      vips: [{ address: lab.vip }],
      candidates,
      options,
    });
    const writing = (async () => {
      for (let i = 0; i < 30; i++) await Promise.all([write('app3', 1), writeRows(primary, 1), sleep(300)]);
    })();
    const [onA, onB] = await Promise.all([runHost('drain', drainOf(a)), runHost('drain', drainOf(b))]);
    await writing;
    expect(onA.status.outcome, onA.text).toBe('drained');
    expect(onB.status.outcome, onB.text).toBe('drained');
    const off = [`${a.host}:3306`, `${b.host}:3306`];
    for (const h of [onA, onB]) {
      for (const s of h.status.sources) {
        expect(s.outcome, h.text).toBe('switched');
        expect(off, h.text).not.toContain(s.target);
      }
    }
    // each drain's switch passed over the other's host, saying why
    const passed = (h: typeof onA, host: DbInstance) =>
      h.status.sources[0]!.candidates!.find((x) => x.address === `${host.host}:3306`)!;
    expect(passed(onA, b).qualifies, onA.text).toBe(false);
    expect(passed(onA, b).reasons.join()).toMatch(
      new RegExp(
        `host ${b.host.replace(/\./g, '\\.')}:3306 is being drained by dm-switch-drain/${b.host.replace(/\./g, '\\.')}:3306 .*under maintenance until \`dm-switch undrain`,
      ),
    );
    expect(passed(onB, a).qualifies, onB.text).toBe(false);
    expect(passed(onB, a).reasons.join()).toContain(`is being drained by dm-switch-drain/${a.host}:3306`);
    // the real state: nothing reads A or B
    expect(off).not.toContain(`${await vipHolder()}:3306`);
    const srcB = await sourceReads(dm1, 'src-b');
    expect(off).not.toContain(`${srcB!.host}:3306`);
    expect(await world()).toMatchObject({ s1: running, s2: running, b: running });
    await allEqual();

    // the hosts stay marked after their drains ended: status and dm-switch list show it
    expect(onA.text).toContain(`MAINTENANCE: ${a.host}:3306 is under maintenance`);
    const listed = await cli(['list']);
    expect(listed.exitCode, listed.stderr).toBe(0);
    for (const host of [a, b]) {
      expect(listed.stdout).toContain(
        `MAINTENANCE: host ${host.host}:3306 was drained (drained) by dm-switch-drain/${host.host}:3306`,
      );
    }
    // a switch naming a marked host is refused before any change
    const before = await world();
    const named: AddressSwitchRequest = {
      sourceId: 'src-b',
      newInstance: ref(a),
      oldInstance: { ...ref(d), host: srcB!.host },
      taskCredentials: 'sandbox-root',
      options,
    };
    const r = await runSwitch(client, 'addressSwitch', QUEUE, named);
    const refusal = r.status.decisions.filter((x) => x.verdict === 'refuse').at(-1)?.reason ?? '';
    expect(r.status.outcome, refusal).toBe('refused');
    const marked = `host ${a.host}:3306 was drained (drained) by dm-switch-drain/${a.host}:3306`;
    expect(refusal).toContain(`the target ${a.host}:3306 may not be one, nothing was changed: ${marked}`);
    expect(r.status.steps).toEqual([]);
    expect(await world()).toEqual(before);

    // undrain B lifts its mark (and moves src-b back); A stays marked
    const back = await runHost('return', returnRequestFrom(onB.status));
    expect(back.status.outcome, back.text).toBe('returned');
    expect(await sourceReads(dm1, 'src-b')).toEqual({ host: b.host, port: 3306 });
    const after = await cli(['list']);
    expect(after.stdout).toContain(`MAINTENANCE: host ${a.host}:3306 was drained`);
    expect(after.stdout).not.toContain(`MAINTENANCE: host ${b.host}:3306`);
    await allEqual();
  });
  it('given two sources of two DM clusters reading one VIP, should refuse a VIP switch of one before any change, naming the other and saying to drain the holder', async () => {
    // after the two drains: the VIP is on C or D (A is still under drain), B was undrained
    const before = await world();
    expect(before).toMatchObject({ s1: running, s2: running });
    const holder = [a, b, c, d].find((x) => x.host === before.vip)!;
    expect(holder, before.vip ?? 'nobody holds the VIP').toBeDefined();
    const target = [b, c, d].find((x) => x !== holder)!;
    const vip = { address: lab.vip };
    const req: VipSwitchRequest = {
      sourceId: 'src-shared',
      newInstance: ref(target),
      oldInstance: ref(holder),
      vip,
      options,
    };
    const r = await runSwitch(client, 'vipSwitch', QUEUE, req);
    const refusal = r.status.decisions.filter((x) => x.verdict === 'refuse').at(-1)?.reason ?? '';
    expect(r.status.outcome, refusal || JSON.stringify(r.status.decisions.slice(-3))).toBe('refused');
    expect(failureType(r.error)).toBe('PreflightFailed');
    expect(refusal).toContain(
      `the VIP ${lab.vip} is also read by DM source(s) second/src-shared2 (reads ${lab.vip}:3306)`,
    );
    expect(refusal).toMatch(/nothing was changed\. Drain the VIP's holder instead \(dm-switch drain <holder> --vip /);
    expect(r.status.steps).toEqual([]);
    expect(await world()).toEqual(before);
  });

  /**
   * A transaction downstream that holds a lock on one row of `schema`.rows (pessimistic, TiDB's default mode, as DM's
   * own writes are): DM's write of that row waits for it, its task Running without error while its position does not
   * move. What a long-running report or a forgotten session downstream does.
   */
  async function holdRowDownstream(schema: 'app' | 'app2') {
    const conn = await mysql.createConnection(tidb.connectionOptions);
    const [rows] = await conn.query(`SELECT MAX(id) AS id FROM ${schema}.rows`);
    const id = Number((rows as Array<{ id: number }>)[0]!.id);
    await conn.query('BEGIN PESSIMISTIC');
    await conn.query(`SELECT id FROM ${schema}.rows WHERE id = ? FOR UPDATE`, [id]);
    let released = false;
    return {
      id,
      async release() {
        if (released) return;
        released = true;
        await conn.query('ROLLBACK').catch(() => undefined);
        await conn.end().catch(() => undefined);
      },
    };
  }

  /**
   * A VIP switch of src-shared naming src-shared2 in sharedWith, from the VIP's holder now to another replica, with
   * gates inside the freeze. At before-resume (DM frozen, the VIP on the new instance) a row of `schema` is locked
   * downstream and updated upstream: once resumed, the task replicating that schema waits on the lock, and its
   * verification (replication moving forward from the new instance) fails after DM resumed there. `duringUndo`
   * runs once compensation began.
   */
  type Held = { release(): Promise<void> };
  async function sharedSwitchFailing(schema: 'app' | 'app2', duringUndo?: (held: Held) => Promise<void>) {
    const before = await world();
    expect(before).toMatchObject({ s1: running, s2: running });
    const holder = [a, b, c, d].find((x) => x.host === before.vip)!;
    expect(holder, before.vip ?? 'nobody holds the VIP').toBeDefined();
    const target = [b, c, d].find((x) => x !== holder)!;
    const req: VipSwitchRequest = {
      sourceId: 'src-shared',
      newInstance: ref(target),
      oldInstance: ref(holder),
      vip: { address: lab.vip },
      sharedWith: [{ dmCluster: 'second', sourceId: 'src-shared2' }],
      approvals: { gates: ['before-switch', 'before-resume'], timeoutSeconds: 600 },
      options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 30 },
    };
    const sw = await startSwitch(client, 'vipSwitch', QUEUE, req);
    const atGate = async (gate: Gate) => {
      const pending = (x: SwitchStatus) => x.approvals.some((y) => y.gate === gate && y.state === 'pending');
      const s = await waitForStatus(sw.handle, pending);
      return s.approvals.find((y) => y.gate === gate)!.approving.summary;
    };
    const summaries: Partial<Record<Gate, string>> = {};
    summaries['before-switch'] = await atGate('before-switch');
    await sw.handle.signal('approve', { gate: 'before-switch', by: 'dba' });
    summaries['before-resume'] = await atGate('before-resume');
    // the fault, while DM is frozen: a row locked downstream, and a change of it upstream (on the new instance too)
    const held = await holdRowDownstream(schema);
    try {
      await primary.query(`UPDATE ${schema}.rows SET payload = 'held downstream' WHERE id = ?`, [held.id]);
      await waitCaughtUp(target, primary);
      await sw.handle.signal('approve', { gate: 'before-resume', by: 'dba' });
      if (duringUndo) {
        await waitForStatus(sw.handle, (x) => x.phase === 'compensating', 300_000);
        await duringUndo(held);
      }
      const end = await sw.end();
      return { ...end, holder, target, summaries, held };
    } catch (e) {
      await held.release();
      throw e;
    }
  }
  const reasons = (s: SwitchStatus) => s.decisions.map((x) => x.reason).join('\n');
  const dm2Worker = async () => {
    const r = expectOk('list-member', await dm2.ctl(['list-member', '--worker']));
    type W = { name: string; source: string };
    const ws = (r.members as Array<{ worker?: { workers?: W[] } }>).flatMap((m) => m.worker?.workers ?? []);
    return ws.find((w) => w.source === 'src-shared2')!.name;
  };

  it(
    'given a shared-VIP switch whose verification fails after DM resumed on the new instance, should name every ' +
      'frozen task at the gates, undo both sources and check the co-reader back on the old instance before claiming ' +
      'rolled-back',
    async () => {
      // the downstream lock goes once the switch undoes itself: the switched source's task can run on the old
      // instance again, so the undo can succeed, and what it claims must then hold for both sources
      const r = await sharedSwitchFailing('app', (held) => held.release());
      try {
        const why = reasons(r.status);
        // the gates inside the freeze name every paused task, the co-reader's too
        for (const gate of ['before-switch', 'before-resume'] as const) {
          expect.soft(r.summaries[gate], gate).toContain('task-s1 of source src-shared');
          expect.soft(r.summaries[gate], gate).toContain('task-s2 of source second/src-shared2');
        }
        expect(failureType(r.error), why).toBe('VerificationFailed');
        expect(why).toContain(
          'replication did not move forward from the new instance within 30 s: task task-s1 still lacks',
        );
        expect(r.status.outcome, why).toBe('rolled-back');
        // the co-reader had been resumed on the new instance, and was paused before the VIP moved back
        const steps = r.status.steps.map((s) => s.step);
        expect(steps).toContain('resume-task task-s2 of source second/src-shared2');
        const undone = r.status.compensation.map((s) => `${s.step} ${s.result}`);
        expect(undone).toContain('pause-task task-s2 of source second/src-shared2 (before moving back) done');
        expect(undone).toContain('resume-task task-s2 of source second/src-shared2 done');
        // what the check before rolled-back read: the co-reader's task Running again, read by its own worker from
        // the old instance, and what it applied downstream held there
        const checked = r.status.decisions.find((x) => x.reason.startsWith('every change was undone, and checked:'));
        expect(checked, why).toBeDefined();
        const worker = await dm2Worker();
        const old = `${r.holder.host}:3306`;
        expect(checked!.reason).toContain(`VIP ${lab.vip} on ${r.holder.host}`);
        expect(checked!.reason).toMatch(/source second\/src-shared2: [^\n]*task task-s2 Running\/Sync/);
        const at = old.replace(/\./g, '\\.');
        const onOld = `[1-9]\\d* binlog dump connection\\(s\\) from dm-worker ${worker} .* on ${at}`;
        expect(checked!.reason).toMatch(new RegExp(`source second/src-shared2: [^\\n]*${onOld}`));
        const holds = /source second\/src-shared2: [^\n]*the old instance \S+ holds what the tasks applied/;
        expect(checked!.reason).toMatch(holds);
        expect(await vipHolder()).toBe(r.holder.host);
        expect(await world()).toMatchObject({ s1: running, s2: running });
        await allEqual();
      } finally {
        await r.held.release();
      }
    },
  );

  it(
    "given a shared-VIP switch undone while the co-reader's task cannot run again on the old instance, should end " +
      'needs-operator naming that source and its task',
    async () => {
      // the lock stays: the co-reader's task waits on it on the new instance (its verification fails) and again on the
      // old one after the undo
      const r = await sharedSwitchFailing('app2');
      try {
        const why = reasons(r.status);
        expect(r.status.outcome, why).toBe('needs-operator');
        expect(failureType(r.error)).toBe('CompensationFailed');
        // the switched source verified; the co-reader's verification failed, naming it (`switched` would be wrong)
        expect(why).toContain('tasks task-s1 Running in Sync without errors');
        expect(why).toContain(
          'source second/src-shared2 (reads the same VIP), verified after the switch: ' +
            'replication did not move forward from the new instance within 30 s: task task-s2 still lacks',
        );
        const refused = r.status.decisions
          .filter((x) => x.verdict === 'refuse')
          .map((x) => x.reason)
          .join('\n');
        // named by the check after the undo: as a problem when every undo ran, or in what was observed when an undo
        // failed
        const stuck = '(is Paused with errors: |shows Running but its position did not move)';
        const problem = new RegExp(`source second/src-shared2: task task-s2 ${stuck}`);
        const observed = /Observed: [^\n]*source second\/src-shared2: [^\n]*task task-s2 /;
        expect(problem.test(refused) || observed.test(refused), refused).toBe(true);
        if (problem.test(refused)) expect(r.status.operatorActions.join('\n')).toContain('<dm-master of second>');
        expect(await vipHolder()).toBe(r.holder.host);
        expect(await taskState(dm1, 'src-shared', 'task-s1')).toMatchObject(running);
      } finally {
        // what the operator does: the downstream transaction ends, the task runs again
        await r.held.release();
      }
      for (let i = 0; i < 60 && (await taskState(dm2, 'src-shared2', 'task-s2'))?.stage !== 'Running'; i++) {
        await dm2.ctl(['resume-task', '-s', 'src-shared2', 'task-s2']);
        await sleep(1000);
      }
      expect(await world()).toMatchObject({ s1: running, s2: running });
      await allEqual();
    },
  );

  it(
    "given a co-reader's task resumed by hand while the switch waits at a gate inside the freeze, should undo the " +
      'switch before moving the VIP, naming that task',
    async () => {
      const before = await world();
      expect(before).toMatchObject({ s1: running, s2: running });
      const holder = [a, b, c, d].find((x) => x.host === before.vip)!;
      const target = [b, c, d].find((x) => x !== holder)!;
      const req: VipSwitchRequest = {
        sourceId: 'src-shared',
        newInstance: ref(target),
        oldInstance: ref(holder),
        vip: { address: lab.vip },
        sharedWith: [{ dmCluster: 'second', sourceId: 'src-shared2' }],
        approvals: { gates: ['before-switch'], timeoutSeconds: 600 },
        options,
      };
      const sw = await startSwitch(client, 'vipSwitch', QUEUE, req);
      const pending = (x: SwitchStatus) => x.approvals.some((y) => y.gate === 'before-switch' && y.state === 'pending');
      await waitForStatus(sw.handle, pending);
      expect((await taskState(dm2, 'src-shared2', 'task-s2'))?.stage).toBe('Paused');
      // someone resumes the co-reader's task while the approver decides: moving the VIP now would move it under a
      // running task
      expectOk('resume-task', await dm2.ctl(['resume-task', '-s', 'src-shared2', 'task-s2']));
      const s2Stage = async () => (await taskState(dm2, 'src-shared2', 'task-s2'))?.stage;
      for (let i = 0; i < 30 && (await s2Stage()) !== 'Running'; i++) await sleep(500);
      await sw.handle.signal('approve', { gate: 'before-switch', by: 'dba' });
      const { status, error } = await sw.end();
      const why = reasons(status);
      expect(failureType(error), why).toBe('FreezeBroken');
      expect(why).toContain(
        'while DM was frozen (at gate before-switch), task second/src-shared2/task-s2 is Running, not Paused',
      );
      expect(status.steps.map((s) => s.step).filter((s) => s.startsWith('move VIP'))).toEqual([]);
      expect(status.outcome, why).toBe('rolled-back');
      expect(await vipHolder()).toBe(holder.host);
      expect(await world()).toMatchObject({ s1: running, s2: running });
      await allEqual();
    },
  );
});
