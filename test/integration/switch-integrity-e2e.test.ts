/**
 * What a switch reads and what it leaves, on the real stack: MySQL 9.7 hosts
 * (primary, replicas A and B) in network namespaces behind a real VIP, two
 * dm-workers on ONE machine (both connect to MySQL from the lab's gateway),
 * TiDB downstream, the Temporal dev server and the real worker.
 *
 *   - source 1 (the stack's) reads the VIP; its tasks: `app-to-downstream`
 *     (schema app) and `maint` (schema maint), which an operator has paused;
 *   - source 2 reads A directly, on the other dm-worker, with task `direct-a`
 *     (schema da): A serves a binlog dump from the same address as source 1's.
 *
 * The cases run in order, each from where the previous one left the source.
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { MysqlGtidSet } from '../../common/gtid/index.js';
import type { AddressSwitchRequest, VipSwitchRequest } from '../../common/switch/input.js';
import type { SwitchStatus } from '../../common/switch/status.js';
import { startDb, type DbInstance } from '../sandbox/db.js';
import type { DmCluster } from '../sandbox/dm.js';
import { createSource, expectOk, taskConfig } from '../sandbox/dm-setup.js';
import { startStack, type Stack } from '../sandbox/stack.js';
import {
  downstreamMatches,
  failureType,
  runSwitch,
  startInProcessWorker,
  startSwitch,
  taskState,
  waitForStatus,
  writeUntil,
} from '../sandbox/switch-harness.js';
import type { TidbInstance } from '../sandbox/tidb.js';
import { injectEmptyTransactions, replicateFrom, waitCaughtUp, writeRows } from '../sandbox/topology.js';
import type { VipLab } from '../sandbox/vip-lab.js';

const QUEUE = 'e2e-integrity';
const DIRECT = 'mysql-direct-a';
const DIRECT_TASK = 'direct-a';
const MAINT = 'maint';
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

/** A task of one schema (`<schema>.t`) on `sourceId`, from `upstream`'s current position, its table created downstream. */
async function startSchemaTask(name: string, sourceId: string, schema: string, upstream: DbInstance): Promise<void> {
  await tidb.query(`CREATE DATABASE IF NOT EXISTS ${schema}`);
  await tidb.query(
    `CREATE TABLE IF NOT EXISTS ${schema}.t (id BIGINT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(32) NOT NULL)`,
  );
  const [pos] = await upstream.query<{ File: string; Position: number; Executed_Gtid_Set: string }>(
    'SHOW BINARY LOG STATUS',
  );
  const meta = {
    'binlog-name': pos!.File,
    'binlog-pos': Number(pos!.Position),
    'binlog-gtid': pos!.Executed_Gtid_Set.replace(/\s/g, ''),
  };
  const cfg = {
    ...taskConfig(name, [sourceId], tidb, meta),
    'block-allow-list': { 'app-only': { 'do-dbs': [schema] } },
  };
  expectOk(`start-task ${name}`, await dm.ctl(['start-task', await dm.file(`task-${name}.yaml`, stringify(cfg))]));
}

async function until<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(v)} after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const count = async (db: { query: DbInstance['query'] }, table: string) =>
  Number((await db.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`))[0]!.n);
const writeTo = async (db: DbInstance, table: string, n: number) => {
  for (let i = 0; i < n; i++) await db.query(`INSERT INTO ${table} (v) VALUES (?)`, [`v${i}`]);
};
/** The hosts the replicas registered on an instance gave (SHOW REPLICAS): DM's readers give their dm-worker's name. */
const registered = async (db: DbInstance) => (await db.query<{ Host: string }>('SHOW REPLICAS')).map((r) => r.Host);
/** The dm-worker a source is bound to (list-member). */
const workerOf = async (sourceId: string) => {
  const r = expectOk('list-member', await dm.ctl(['list-member', '--worker']));
  type W = { name: string; source: string };
  const all = (r.members as Array<{ worker?: { workers?: W[] } }>).flatMap((m) => m.worker?.workers ?? []);
  return all.find((w) => w.source === sourceId)!.name;
};

beforeAll(async () => {
  // two dm-workers on one machine: both advertise (and connect to MySQL from) the lab's gateway
  stack = await startStack({ temporal: true, mysql: { replicas: 2 }, dm: true, dmWorkers: 2, vip: true });
  [primary, a, b] = stack.topology!.all() as [DbInstance, DbInstance, DbInstance];
  ({ vipLab: lab, dm, downstream: tidb } = stack as Required<Stack>);
  SOURCE = stack.sourceId!;
  TASK = stack.taskName!;
  for (const schema of [MAINT, 'da']) {
    await primary.query(`CREATE DATABASE IF NOT EXISTS ${schema}`);
    await primary.query(
      `CREATE TABLE IF NOT EXISTS ${schema}.t (id BIGINT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(32) NOT NULL)`,
    );
  }
  await writeRows(primary, 10);
  await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
  // source 2 reads A itself, on the other dm-worker (the first one holds source 1)
  await createSource(dm, DIRECT, a);
  await startSchemaTask(DIRECT_TASK, DIRECT, 'da', a);
  await startSchemaTask(MAINT, SOURCE, MAINT, a);
  await until(
    'tasks syncing',
    async () => [await taskState(dm, SOURCE, MAINT), await taskState(dm, DIRECT, DIRECT_TASK)],
    (v) => v.every((x) => x?.stage === 'Running' && x.unit === 'Sync'),
  );
  // downstream maintenance: an operator pauses task maint
  expectOk('pause-task maint', await dm.ctl(['pause-task', '-s', SOURCE, MAINT]));
  const w = await startInProcessWorker(stack.temporal!.address, stack.workerConfigYaml(QUEUE));
  client = w.client;
  stops.push(w.stop);
}, 400_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop().catch(() => undefined);
  await stack?.stop();
});

const ref = (db: DbInstance, port = 3306) => ({ host: db.host, port, credentials: 'sandbox-root' });
const req = (to: DbInstance, from: DbInstance, extra: Partial<VipSwitchRequest> = {}): VipSwitchRequest => ({
  sourceId: SOURCE,
  newInstance: ref(to),
  oldInstance: ref(from),
  vip: { address: lab.vip },
  options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 60 },
  ...extra,
});
const run = (r: VipSwitchRequest, during?: (ended: Promise<unknown>) => Promise<unknown>) =>
  runSwitch(client, 'vipSwitch', QUEUE, r, during);
const writing = (ended: Promise<unknown>) => writeUntil(ended, () => writeRows(primary, 1));
const vipHolder = () => lab.provider().locate(lab.vip, []);
const decisions = (s: SwitchStatus, verdict?: string) =>
  s.decisions
    .filter((d) => !verdict || d.verdict === verdict)
    .map((d) => d.reason)
    .join('\n');
const stage = async (sourceId: string, task: string) => (await taskState(dm, sourceId, task))?.stage;

describe('what DM reaches, what it reads and what a switch leaves (real stack)', { timeout: 400_000 }, () => {
  it('given a new instance named at a port DM does not reach through the VIP, should refuse naming both before anything changes', async () => {
    // B:3307, a clean replica, beside B:3306, the server DM would reach through the VIP, which carries an errant row
    const b3307 = await startDb({
      netns: b.netns!,
      host: b.host,
      bindAddress: '0.0.0.0',
      port: 3307,
      serverId: 23,
      name: 'replica2-3307',
    });
    stops.push(() => b3307.destroy());
    await replicateFrom(b3307, primary);
    await waitCaughtUp(b3307, primary);
    const before = await b.variable('gtid_executed');
    await b.query('CREATE TABLE app.errant_b (id INT PRIMARY KEY)');
    await b.query('INSERT INTO app.errant_b VALUES (1)');
    const errant = MysqlGtidSet.parse(await b.variable('gtid_executed'))
      .subtract(MysqlGtidSet.parse(before))
      .toCompactString();
    try {
      const named = await run(req(b, a, { newInstance: ref(b, 3307) }));
      expect(failureType(named.error)).toBe('PreflightFailed');
      expect(named.status.outcome).toBe('refused');
      const why = decisions(named.status, 'refuse');
      expect(why).toContain(`the new instance is given at ${b.host}:3307`);
      expect(why).toContain(`DM would read ${b.host}:3306, which nobody checked`);
      expect(named.status.steps).toEqual([]);

      const listed = await run({
        ...req(b, a),
        newInstance: undefined,
        candidates: [ref(b, 3307)],
      } as VipSwitchRequest);
      expect(failureType(listed.error)).toBe('NoCandidate');
      expect(listed.status.steps).toEqual([]);
      expect(listed.status.candidates?.[0]?.reasons.join()).toContain(
        `through the VIP it would reach ${b.host}:3306, not this server on port 3307`,
      );

      expect(await vipHolder()).toBe(a.host);
      expect(await stage(SOURCE, TASK)).toBe('Running');
      expect(
        await tidb.query(
          `SELECT * FROM information_schema.tables WHERE table_schema = 'app' AND table_name = 'errant_b'`,
        ),
      ).toEqual([]);
    } finally {
      // the documented fix for an errant transaction (docs/how-it-works.md, rule 3): the same GTIDs, empty,
      // on the primary
      await injectEmptyTransactions(primary, errant);
      await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
    }
  });

  it('given two dm-workers on one machine reading the old instance, should switch one source, leave the other on it, and leave the paused task paused', async () => {
    const [mine, theirs] = [await workerOf(SOURCE), await workerOf(DIRECT)];
    expect(mine).not.toBe(theirs);
    expect(await registered(a)).toEqual(expect.arrayContaining([mine, theirs]));
    await writeTo(primary, `${MAINT}.t`, 2);
    await writeTo(primary, 'da.t', 2);

    const { status, error } = await run(req(b, a), writing);
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(decisions(status, 'go')).toContain(`registered as replica ${mine}`);
    expect(await stage(SOURCE, MAINT)).toBe('Paused');
    expect(status.leftPaused).toEqual([MAINT]);
    expect(decisions(status)).toMatch(
      new RegExp(`task\\(s\\) ${MAINT} of source ${SOURCE} were paused by an operator`),
    );
    expect(await vipHolder()).toBe(b.host);
    // source 2 still reads A, from the same address; source 1 only B
    expect(await registered(a)).toContain(theirs);
    expect(await registered(a)).not.toContain(mine);
    expect(await registered(b)).toContain(mine);
    expect(await stage(SOURCE, TASK)).toBe('Running');
    expect(await stage(SOURCE, MAINT)).toBe('Paused');
    await writeRows(primary, 3);
    await downstreamMatches(primary, tidb, 90_000);
    const want = await count(primary, 'da.t');
    await until(
      'da.t downstream',
      () => count(tidb, 'da.t'),
      (n) => n === want,
    );
    // the paused task wrote nothing of what its upstream has
    expect(await count(tidb, `${MAINT}.t`)).toBe(0);
    expect(await count(primary, `${MAINT}.t`)).toBe(2);
  });

  it('given a switch rejected after the VIP moved, should undo it and still leave the paused task paused', async () => {
    const sw = await startSwitch(client, 'vipSwitch', QUEUE, req(a, b, { approvals: { gates: ['before-resume'] } }));
    await waitForStatus(sw.handle, (s) => s.approvals.some((x) => x.gate === 'before-resume' && x.state === 'pending'));
    await sw.handle.signal('reject', { gate: 'before-resume', by: 'dba', comment: 'not now' });
    const { status, error } = await sw.end();
    expect(failureType(error)).toBe('Rejected');
    expect(status.outcome).toBe('rolled-back');
    expect(await stage(SOURCE, MAINT)).toBe('Paused');
    expect(status.leftPaused).toEqual([MAINT]);
    expect(await vipHolder()).toBe(b.host);
    expect(await stage(SOURCE, TASK)).toBe('Running');
    await writeRows(primary, 2);
    await downstreamMatches(primary, tidb, 90_000);
    expect(await count(tidb, `${MAINT}.t`)).toBe(0);
  });

  it('given a verification that fails after DM applied what the old instance lacks, should not claim rolled-back but name the GTIDs', async () => {
    // the old instance (B) stops replicating: what the primary writes now reaches A (the new instance) only
    await primary.query('CREATE TABLE IF NOT EXISTS app.fail_here (id INT PRIMARY KEY)');
    await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
    await until(
      'app.fail_here downstream',
      () => count(tidb, `information_schema.tables WHERE table_schema = 'app' AND table_name = 'fail_here'`),
      (n) => n === 1,
    );
    await b.query('STOP REPLICA');
    const bHad = await b.variable('gtid_executed');
    await writeRows(primary, 5);
    // a DDL the downstream cannot apply (its table was dropped there): DM applies the rows before it, then stops on it
    await tidb.query('DROP TABLE app.fail_here');
    await primary.query('ALTER TABLE app.fail_here ADD COLUMN c INT');
    await waitCaughtUp(a, primary);
    const lacks = MysqlGtidSet.parse(await a.variable('gtid_executed')).subtract(MysqlGtidSet.parse(bHad));
    try {
      const { status, error } = await run(
        req(a, b, { options: { catchUpTimeoutSeconds: 30, verifyTimeoutSeconds: 30 } }),
      );
      expect(failureType(error)).toBe('CompensationFailed');
      expect(status.outcome).toBe('needs-operator');
      const why = decisions(status, 'refuse');
      // every undo ran and the check found B lacking; or (DM sometimes answers the resume on B with the task's last
      // error) an undo failed, and what was observed then says the same
      const checked = `DM reads the old instance ${b.host}:3306 again, but downstream already has transactions it lacks: `;
      const observed = `the old instance ${b.host}:3306 lacks `;
      expect(why.includes(checked) || why.includes(observed), why).toBe(true);
      // what it names are transactions DM applied from A that B never had
      const named = MysqlGtidSet.parse(why.split(why.includes(checked) ? checked : observed)[1]!.split(/[ ;]/)[0]!);
      expect(named.isEmpty()).toBe(false);
      expect(named.isSubsetOf(lacks)).toBe(true);
      if (why.includes(checked))
        expect(status.operatorActions.join('\n')).toContain(`let ${b.host}:3306 replicate what it lacks`);
      expect(await vipHolder()).toBe(b.host);
    } finally {
      // what the operator does: the downstream table back, the old instance replicating again
      await tidb.query('CREATE TABLE IF NOT EXISTS app.fail_here (id INT PRIMARY KEY)');
      await b.query('START REPLICA');
      await waitCaughtUp(b, primary);
    }
    await writeRows(primary, 2);
    await downstreamMatches(primary, tidb, 120_000);
    expect(await stage(SOURCE, MAINT)).toBe('Paused');
  });

  it('given an address switch of a source with a paused task, should start only the tasks that ran and say so', async () => {
    // source 1 reads B through the VIP; re-pointed to A's own address, where source 2's dm-worker reads too
    const request: AddressSwitchRequest = {
      sourceId: SOURCE,
      newInstance: ref(a),
      oldInstance: ref(b),
      taskCredentials: 'sandbox-root',
      options: { verifyTimeoutSeconds: 60 },
    };
    const r = await runSwitch(client, 'addressSwitch', QUEUE, request, writing);
    expect(r.error).toBeUndefined();
    expect(r.status.outcome).toBe('switched');
    expect(await stage(SOURCE, TASK)).toBe('Running');
    // stopped with the others to re-create the source, and not started again: DM lists it no more
    expect(await stage(SOURCE, MAINT)).toBeUndefined();
    expect(r.status.leftPaused).toEqual([MAINT]);
    expect(decisions(r.status)).toContain('not started again; start it when its maintenance is over');
    expect(r.status.savedConfigs?.tasks[MAINT]).toBeTruthy();
    await writeRows(primary, 2);
    await downstreamMatches(primary, tidb, 90_000);
    expect(await count(tidb, `${MAINT}.t`)).toBe(0);
  });
});
