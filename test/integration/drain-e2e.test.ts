/**
 * Draining a host and moving its sources back (host maintenance), on
 * the real stack: MySQL 9.7 hosts in network namespaces (primary P,
 * replicas A, B, C) with a real VIP on A; two DM clusters whose dm-workers
 * run each in a namespace of its own (so MySQL sees each connect from its
 * own address, as dm-workers on separate machines do); TiDB downstream; the
 * Temporal dev server; the real worker as its own process.
 *
 * Host A is read by three sources: `default/src-vip` through the VIP A
 * holds, `default/src-direct` by A's address, and `second/src-nogtid` by
 * A's address without GTIDs, which no switch may move (the runbook's first
 * precondition). A switch of src-direct is already waiting at its gate when
 * the drain starts: the drain joins it. The drain plans, waits for
 * approval, switches the one it can and waits for the one it joined, with
 * the worker killed (SIGKILL) in the middle, and says the host is still
 * read by the third. The return moves the two back; a cancelled drain has
 * its switches undo what they did.
 */
import type { Client } from '@temporalio/client';
import { execa } from 'execa';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { renderHostStatus, returnRequestFrom, startHost } from '../../client/drain.js';
import type { DrainRequest, HostStatus } from '../../common/switch/drain.js';
import type { AddressSwitchRequest } from '../../common/switch/input.js';
import { approveUpdate, statusQuery } from '../../common/switch/messages.js';
import type { DbInstance } from '../sandbox/db.js';
import { startDm, type DmCluster } from '../sandbox/dm.js';
import { createSource, expectOk, startIncrementalTask, taskConfig } from '../sandbox/dm-setup.js';
import { downstreamMatches, saveHistory, sourceReads, taskState } from '../sandbox/switch-harness.js';
import { startTemporal, type TemporalDevServer } from '../sandbox/temporal.js';
import { startTidb, type TidbInstance } from '../sandbox/tidb.js';
import { startTopology, waitCaughtUp, writeRows, type Topology } from '../sandbox/topology.js';
import { startVipLab, type VipLab } from '../sandbox/vip-lab.js';
import { startWorkerProcess, type WorkerProcess } from '../sandbox/worker-process.js';
import { Client as TemporalClient, Connection } from '@temporalio/client';

const QUEUE = 'e2e-drain';
let lab: VipLab;
let topo: Topology;
let primary: DbInstance;
let a: DbInstance;
let b: DbInstance;
let c: DbInstance;
let dm1: DmCluster;
let dm2: DmCluster;
let tidb: TidbInstance;
let temporal: TemporalDevServer;
let worker: WorkerProcess;
let client: Client;
const stops: Array<() => Promise<void>> = [];

/** A task of one source on schema `schema`, from the upstream's position now (what DM then replicates includes the schema's creation). */
async function taskFromNow(
  dm: DmCluster,
  name: string,
  sourceId: string,
  schema: string,
  upstream: DbInstance,
): Promise<void> {
  const [st] = await upstream.query<{ File: string; Position: number; Executed_Gtid_Set: string }>(
    'SHOW BINARY LOG STATUS',
  );
  const cfg = taskConfig(name, [sourceId], tidb, {
    'binlog-name': st!.File,
    'binlog-pos': Number(st!.Position),
    'binlog-gtid': st!.Executed_Gtid_Set.replace(/\s+/g, ''),
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
  expect(await count(tidb, schema)).toBe(want);
}

beforeAll(async () => {
  // P, A, B, C, then one host per dm-worker
  lab = await startVipLab({ hosts: 7 });
  stops.push(() => lab.destroy());
  const workers = lab.hosts.slice(4).map((h) => ({ netns: h.netns, address: h.address }));
  const started = await Promise.all([
    startTopology({ replicas: 3, placement: lab.hosts.slice(0, 4) }),
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
    () => dm1.destroy(),
    () => dm2.destroy(),
  );
  [primary, a, b, c] = topo.all() as [DbInstance, DbInstance, DbInstance, DbInstance];
  await writeRows(primary, 3);
  await Promise.all([a, b, c].map((r) => waitCaughtUp(r, primary)));
  await lab.assign(1);
  const vipUpstream = { host: lab.vip, port: 3306, flavor: 'mysql' as const };
  const aUpstream = { host: a.host, port: 3306, flavor: 'mysql' as const };
  await createSource(dm1, 'src-vip', vipUpstream);
  await createSource(dm1, 'src-direct', aUpstream);
  await createSource(dm2, 'src-nogtid', aUpstream, { 'enable-gtid': false });
  await startIncrementalTask(dm1, 'task-vip', ['src-vip'], tidb, a);
  await taskFromNow(dm1, 'task-direct', 'src-direct', 'app2', a);
  await taskFromNow(dm2, 'task-nogtid', 'src-nogtid', 'app3', a);
  for (const schema of ['app2', 'app3'])
    await primary.query(
      `CREATE DATABASE ${schema}; CREATE TABLE ${schema}.rows (id BIGINT PRIMARY KEY AUTO_INCREMENT, payload VARCHAR(64) NOT NULL)`,
    );
  await Promise.all([write('app2', 3), write('app3', 3), writeRows(primary, 3)]);
  await Promise.all([sameRows('app2'), sameRows('app3'), downstreamMatches(primary, tidb, 90_000)]);

  const lines = [
    `taskQueue: ${QUEUE}`,
    'dm:',
    '  clusters:',
    `    default: { masterAddr: "${dm1.masterAddr}", dmctl: ${JSON.stringify(dm1.dmctlPath)} }`,
    `    second: { masterAddr: "${dm2.masterAddr}", dmctl: ${JSON.stringify(dm2.dmctlPath)} }`,
    'credentials:',
    '  sandbox-root: { user: root, hosts: [127.0.0.0/8, 198.51.100.0/24, localhost] }',
    'vip:',
    '  providers:',
    `    default: { type: command, locate: ${JSON.stringify(lab.locateCommand)}, move: ${JSON.stringify(lab.moveCommand)}, check: ${JSON.stringify(lab.checkCommand)}, env: ${JSON.stringify(lab.env)} }`,
  ];
  worker = await startWorkerProcess({ configYaml: `${lines.join('\n')}\n`, temporalAddress: temporal.address });
  stops.push(() => worker.stop());
  client = new TemporalClient({ connection: await Connection.connect({ address: temporal.address }) });
  stops.push(() => client.connection.close());
}, 400_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
});

const vipHolder = () => lab.provider().locate(lab.vip, []);
const hostStatus = (workflowId: string) =>
  client.workflow.getHandle(workflowId).query(statusQuery) as unknown as Promise<HostStatus>;
async function waitHost(workflowId: string, ok: (s: HostStatus) => boolean, timeoutMs = 180_000): Promise<HostStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await hostStatus(workflowId).catch(() => null);
    if (s && ok(s)) return s;
    if (Date.now() > deadline)
      throw new Error(`timed out; last status: ${s ? renderHostStatus(workflowId, s) : 'none'}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}
/** The addresses whose binlog dumps an instance serves. */
const dumpClients = async (db: DbInstance) =>
  (
    await db.query<{ host: string }>(
      `SELECT HOST AS host FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'`,
    )
  ).map((r) => r.host.replace(/:\d+$/, ''));

describe('draining a host and moving its sources back (real stack)', { timeout: 600_000 }, () => {
  let drained: HostStatus;

  it('given three sources on the host and one that no switch may move, should plan, wait for approval, switch two through a worker kill, and say the host is still read', async () => {
    const request: DrainRequest = {
      host: a.host,
      credentials: 'sandbox-root',
      taskCredentials: 'sandbox-root',
      vips: [{ address: lab.vip }],
      discover: {},
      approve: true,
      concurrency: 2,
      options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 },
      reason: 'host maintenance',
    };
    // a switch of src-direct already runs (waiting at its gate, nothing changed yet): the drain joins it, never doubles it
    const own: AddressSwitchRequest = {
      sourceId: 'src-direct',
      newInstance: { host: b.host, port: 3306, credentials: 'sandbox-root' },
      oldInstance: { host: a.host, port: 3306, credentials: 'sandbox-root' },
      taskCredentials: 'sandbox-root',
      approvals: { gates: ['before-freeze'] },
      options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 },
    };
    const joined = await client.workflow.start('addressSwitch', {
      taskQueue: QUEUE,
      workflowId: 'dm-switch/default/src-direct',
      args: [own],
    });
    for (let i = 0; i < 300 && (await joined.query(statusQuery).catch(() => null))?.phase !== 'awaiting-approval'; i++)
      await new Promise((r) => setTimeout(r, 200));
    const { workflowId } = await startHost(client, 'drain', request, { taskQueue: QUEUE });
    const planned = await waitHost(workflowId, (s) => s.phase === 'awaiting-approval');
    const plan = Object.fromEntries(planned.sources.map((s) => [`${s.dmCluster}/${s.sourceId}`, s]));
    expect(Object.keys(plan).sort()).toEqual(['default/src-direct', 'default/src-vip', 'second/src-nogtid']);
    expect(plan['default/src-vip']).toMatchObject({ procedure: 'vip', plan: 'switch' });
    expect(plan['default/src-direct']).toMatchObject({ procedure: 'address', plan: 'joined' });
    expect([`${b.host}:3306`, `${c.host}:3306`]).toContain(plan['default/src-vip']!.target);
    expect(plan['second/src-nogtid']).toMatchObject({ procedure: 'address', plan: 'refused', outcome: 'refused' });
    expect(plan['second/src-nogtid']!.reasons.join()).toMatch(/does not run in GTID mode/);
    // nothing moved while the plan waits
    expect(await vipHolder()).toBe(a.host);
    expect(await sourceReads(dm1, 'src-direct')).toEqual({ host: a.host, port: 3306 });

    await client.workflow
      .getHandle(workflowId)
      .executeUpdate(approveUpdate, { args: [{ by: 'dba', comment: 'maintenance window' }] });
    await joined.signal('approve', { by: 'dba' });
    // the worker dies while the switches run; a new one carries the drain and its switches on
    await waitHost(workflowId, (s) => s.phase === 'switching');
    await new Promise((r) => setTimeout(r, 2_000));
    await worker.kill9();
    await new Promise((r) => setTimeout(r, 1_000));
    await worker.start();
    const writing = (async () => {
      for (let i = 0; i < 40; i++)
        await Promise.all([write('app2', 1), writeRows(primary, 1), new Promise((r) => setTimeout(r, 250))]);
    })();
    await client.workflow.getHandle(workflowId).result();
    await writing;
    drained = await hostStatus(workflowId);
    await saveHistory(client.workflow.getHandle(workflowId), 'drain-host-joined-worker-killed');
    const text = renderHostStatus(workflowId, drained);
    expect(drained.outcome, text).toBe('not-drained');
    const outcome = Object.fromEntries(drained.sources.map((s) => [s.sourceId, s.outcome]));
    expect(outcome, text).toEqual({ 'src-vip': 'switched', 'src-direct': 'switched', 'src-nogtid': 'refused' });
    expect(drained.left).toEqual(['second/src-nogtid']);
    expect(text).toMatch(/still reading the host: second\/src-nogtid/);

    // the real state: the VIP and src-direct moved; only src-nogtid's dm-worker still reads A
    expect(await vipHolder()).not.toBe(a.host);
    expect((await sourceReads(dm1, 'src-direct'))?.host).not.toBe(a.host);
    expect(await sourceReads(dm2, 'src-nogtid')).toEqual({ host: a.host, port: 3306 });
    for (const [dm, source, task] of [
      [dm1, 'src-vip', 'task-vip'],
      [dm1, 'src-direct', 'task-direct'],
      [dm2, 'src-nogtid', 'task-nogtid'],
    ] as const) {
      expect(await taskState(dm, source, task)).toEqual({ stage: 'Running', unit: 'Sync' });
    }
    expect(new Set(await dumpClients(a))).toEqual(new Set([lab.hosts[6]!.address]));
    await Promise.all([sameRows('app2'), sameRows('app3'), downstreamMatches(primary, tidb, 90_000)]);
    // each switch ran once: src-vip its plan's dry run and its switch; src-direct only the switch the drain joined
    for (const [s, n] of [
      ['src-vip', 2],
      ['src-direct', 1],
    ] as const) {
      const runs = [];
      for await (const w of client.workflow.list({ query: `WorkflowId = "dm-switch/default/${s}"` }))
        runs.push(w.runId);
      expect(runs.length, s).toBe(n);
    }
    expect(drained.sources.find((x) => x.sourceId === 'src-direct')).toMatchObject({
      plan: 'joined',
      target: `${b.host}:3306`,
      runId: joined.firstExecutionRunId,
    });
  });

  it('given the drain done, should move the two sources back to the host with the same checks', async () => {
    const request = returnRequestFrom(drained);
    expect(request.sources.map((s) => s.sourceId).sort()).toEqual(['src-direct', 'src-vip']);
    const { workflowId } = await startHost(client, 'return', request, { taskQueue: QUEUE });
    await client.workflow.getHandle(workflowId).result();
    const back = await hostStatus(workflowId);
    await saveHistory(client.workflow.getHandle(workflowId), 'return-to-host');
    expect(back.outcome, renderHostStatus(workflowId, back)).toBe('returned');
    expect(back.sources.map((s) => s.outcome)).toEqual(['switched', 'switched']);
    expect(await vipHolder()).toBe(a.host);
    expect(await sourceReads(dm1, 'src-direct')).toEqual({ host: a.host, port: 3306 });
    await Promise.all([write('app2', 3), writeRows(primary, 3)]);
    await Promise.all([sameRows('app2'), downstreamMatches(primary, tidb, 90_000)]);
  });

  it('given a drain cancelled while its switches run, should have them undo what they did and say where each source stands', async () => {
    const { workflowId } = await startHost(
      client,
      'drain',
      {
        host: a.host,
        credentials: 'sandbox-root',
        taskCredentials: 'sandbox-root',
        vips: [{ address: lab.vip }],
        discover: {},
        options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 },
      },
      { taskQueue: QUEUE },
    );
    await waitHost(workflowId, (s) => s.phase === 'switching');
    // cancel once a switch has changed something
    const changed = async () => {
      for (const id of ['dm-switch/default/src-vip', 'dm-switch/default/src-direct']) {
        const s = await client.workflow
          .getHandle(id)
          .query(statusQuery)
          .catch(() => null);
        if (s && !s.dryRun && s.steps.length > 0 && !s.outcome) return true;
      }
      return false;
    };
    for (let i = 0; i < 200 && !(await changed()); i++) await new Promise((r) => setTimeout(r, 100));
    await client.workflow.getHandle(workflowId).cancel();
    await expect(client.workflow.getHandle(workflowId).result()).rejects.toThrow(/cancel/i);
    const s = await hostStatus(workflowId);
    const text = renderHostStatus(workflowId, s);
    const outcome = Object.fromEntries(s.sources.map((x) => [x.sourceId, x.outcome]));
    expect(outcome['src-nogtid'], text).toBe('refused');
    // a switch the cancellation reached before its first change ends refused (nothing to undo): the VIP switch's
    // preflight (every DM cluster's sources read for others sharing the VIP) may still run when the other changed
    expect(['rolled-back', 'switched', 'refused'], text).toContain(outcome['src-vip']);
    expect(['rolled-back', 'switched', 'refused'], text).toContain(outcome['src-direct']);
    expect([outcome['src-vip'], outcome['src-direct']], text).toContain('rolled-back');
    // what each outcome says is the real state
    expect((await vipHolder()) === a.host, text).toBe(outcome['src-vip'] !== 'switched');
    expect((await sourceReads(dm1, 'src-direct'))?.host === a.host, text).toBe(outcome['src-direct'] !== 'switched');
    const still = (id: string) => (outcome[id] !== 'switched' ? [`default/${id}`] : []);
    expect(s.left.sort(), text).toEqual(['second/src-nogtid', ...still('src-direct'), ...still('src-vip')].sort());
    for (const [dm, source, task] of [
      [dm1, 'src-vip', 'task-vip'],
      [dm1, 'src-direct', 'task-direct'],
    ] as const) {
      expect(await taskState(dm, source, task)).toEqual({ stage: 'Running', unit: 'Sync' });
    }
    await Promise.all([write('app2', 3), writeRows(primary, 3)]);
    await Promise.all([sameRows('app2'), downstreamMatches(primary, tidb, 90_000)]);
  });

  it('given the dm-switch command, should plan a drain without changing anything, show it, refuse an undrain with nothing to move back, and refuse a bad host before connecting', async () => {
    const cli = (args: string[]) =>
      execa(process.execPath, [join(import.meta.dirname, '../../bin/dm-switch.js'), '--task-queue', QUEUE, ...args], {
        reject: false,
        env: { TEMPORAL_ADDRESS: temporal.address, TEMPORAL_NAMESPACE: 'default' },
        stdin: 'ignore',
      });
    const before = { vip: await vipHolder(), direct: await sourceReads(dm1, 'src-direct') };
    const planned = await cli([
      'drain',
      `${a.host}:3306`,
      '--credentials',
      'sandbox-root',
      '--task-credentials',
      'sandbox-root',
      '--vip',
      lab.vip,
      '--discover',
      '--dry-run',
      '--wait',
    ]);
    expect(planned.exitCode, planned.stderr).toBe(0);
    expect(planned.stdout).toMatch(/finished: planned/);
    expect(planned.stdout).toMatch(/second\/src-nogtid +address +reads [^ ]+ +plan: refused/);
    expect({ vip: await vipHolder(), direct: await sourceReads(dm1, 'src-direct') }).toEqual(before);
    const shown = await cli(['status', `dm-switch-drain/${a.host}:3306`]);
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).toContain(`dm-switch-drain/${a.host}:3306: drain of ${a.host}:3306`);
    // undrain takes its sources from the last drain of the host: a plan-only drain moved none
    const nothing = await cli(['undrain', `${a.host}:3306`, '--credentials', 'sandbox-root']);
    expect(nothing.exitCode).toBe(2);
    expect(nothing.stderr).toMatch(
      new RegExp(
        `the drain of ${a.host.replace(/\./g, '\\.')}:3306 moved no source \\(.*src-nogtid: refused.*\\): nothing to move back`,
      ),
    );
    const bad = await cli(['drain', 'db a', '--credentials', 'sandbox-root']);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/invalid drain request, nothing was started:[\s\S]*host: a host name or address/);
  });
});
