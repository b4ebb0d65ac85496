/**
 * A finished `task-mode: full` task does not block a switch of its source
 * (real stack: MySQL 9.7 behind a VIP, DM, TiDB, Temporal, the real worker).
 * DM shows such a task Finished, with no sync position: it reads nothing more
 * from the upstream, so the GTID rules have nothing to hold it to, and it is
 * neither paused nor resumed. An address switch must stop it with the others
 * (DM replaces a source only once it has no task) and does not start it
 * again: that would load its tables again.
 */
import type { Client } from '@temporalio/client';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbInstance } from '../sandbox/db.js';
import type { DmCluster } from '../sandbox/dm.js';
import { expectOk, taskConfig } from '../sandbox/dm-setup.js';
import { startStack, type Stack } from '../sandbox/stack.js';
import type { AddressSwitchRequest } from '../../common/switch/input.js';
import {
  binlogDumps,
  downstreamMatches,
  runSwitch,
  sourceReads,
  startInProcessWorker,
  taskState,
  writeUntil,
} from '../sandbox/switch-harness.js';
import type { TidbInstance } from '../sandbox/tidb.js';
import { waitCaughtUp, writeRows } from '../sandbox/topology.js';
import type { VipLab } from '../sandbox/vip-lab.js';

const QUEUE = 'e2e-full-task';
let stack: Stack;
let primary: DbInstance;
let a: DbInstance;
let b: DbInstance;
let dm: DmCluster;
let tidb: TidbInstance;
let lab: VipLab;
let client: Client;
let stopWorker: () => Promise<void>;

beforeAll(async () => {
  stack = await startStack({ temporal: true, mysql: { replicas: 2 }, dm: true, vip: true });
  [primary, a, b] = stack.topology!.all() as [DbInstance, DbInstance, DbInstance];
  ({ dm, downstream: tidb, vipLab: lab } = stack as Required<Stack>);
  ({ client, stop: stopWorker } = await startInProcessWorker(stack.temporal!.address, stack.workerConfigYaml(QUEUE)));
}, 300_000);
afterAll(async () => {
  await stopWorker?.();
  await stack?.stop();
});

/** The full-mode task `load-once` (schema `once`) started if DM does not list it, and waited for until Finished. */
async function finishedLoadOnce(sourceId: string): Promise<void> {
  if ((await taskState(dm, sourceId, 'load-once')) === null) {
    const cfg = taskConfig('load-once', [sourceId], tidb, undefined);
    const full = { ...cfg, 'task-mode': 'full', 'block-allow-list': { 'app-only': { 'do-dbs': ['once'] } } };
    expectOk('start-task', await dm.ctl(['start-task', await dm.file('task-load-once.yaml', stringify(full))]));
  }
  const deadline = Date.now() + 120_000;
  while ((await taskState(dm, sourceId, 'load-once'))?.stage !== 'Finished') {
    if (Date.now() > deadline)
      throw new Error(`load-once did not finish: ${JSON.stringify(await taskState(dm, sourceId, 'load-once'))}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const onceRows = async (db: { query<T>(sql: string): Promise<T[]> }) =>
  db.query<{ id: number; v: string }>('SELECT id, v FROM once.t ORDER BY id');

describe('a finished full-mode task', { timeout: 300_000 }, () => {
  it('given a task-mode full task that has finished its load, should switch the source and leave that task as it is', async () => {
    const SOURCE = stack.sourceId!;
    await primary.query(
      'CREATE DATABASE IF NOT EXISTS once; CREATE TABLE IF NOT EXISTS once.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO once.t VALUES (1, "a"), (2, "b"), (3, "c")',
    );
    await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
    const cfg = taskConfig('load-once', [SOURCE], tidb, undefined);
    const full = { ...cfg, 'task-mode': 'full', 'block-allow-list': { 'app-only': { 'do-dbs': ['once'] } } };
    expectOk('start-task', await dm.ctl(['start-task', await dm.file('task-load-once.yaml', stringify(full))]));
    const deadline = Date.now() + 120_000;
    while ((await taskState(dm, SOURCE, 'load-once'))?.stage !== 'Finished') {
      if (Date.now() > deadline)
        throw new Error(`load-once did not finish: ${JSON.stringify(await taskState(dm, SOURCE, 'load-once'))}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const [loaded] = await tidb.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM once.t');
    expect(Number(loaded!.n)).toBe(3);

    const req = {
      sourceId: SOURCE,
      oldInstance: { host: a.host, port: 3306, credentials: 'sandbox-root' },
      newInstance: { host: b.host, port: 3306, credentials: 'sandbox-root' },
      vip: { address: lab.vip },
      options: { verifyTimeoutSeconds: 90 },
    };
    const { status, error } = await runSwitch(client, 'vipSwitch', QUEUE, req, (ended) =>
      writeUntil(ended, () => writeRows(primary, 1)),
    );
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.decisions.map((d) => d.reason).join('\n')).toMatch(
      /task\(s\) load-once of source \S+ finished their full load \(task-mode full, stage Finished\): they read nothing more/,
    );
    expect(status.steps.map((s) => s.step).join('\n')).not.toContain('load-once');
    expect(await taskState(dm, SOURCE, 'load-once')).toEqual({ stage: 'Finished', unit: 'Load' });
    expect(await taskState(dm, SOURCE, stack.taskName!)).toEqual({ stage: 'Running', unit: 'Sync' });
    expect(await lab.provider().locate(lab.vip, [])).toBe(b.host);
    await writeRows(primary, 3);
    await downstreamMatches(primary, tidb, 90_000);
  });

  it('given a source with an incremental task and a finished full-mode task, an address switch to a replica should stop the full task with the others and not load it again', async () => {
    const SOURCE = stack.sourceId!;
    const TASK = stack.taskName!;
    await primary.query(
      'CREATE DATABASE IF NOT EXISTS once; CREATE TABLE IF NOT EXISTS once.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT IGNORE INTO once.t VALUES (1, "a"), (2, "b"), (3, "c")',
    );
    await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
    await finishedLoadOnce(SOURCE);
    const loaded = await onceRows(tidb);
    expect(loaded.map((r) => r.id)).toEqual([1, 2, 3]);
    // a row the load never saw: a second load would bring it downstream
    await primary.query('INSERT INTO once.t VALUES (4, "d")');
    await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);

    // DM reads the VIP (the previous case moved it); the address switch re-points the source at the other replica itself
    const from = (await lab.provider().locate(lab.vip, [])) === b.host ? b : a;
    const to = from === b ? a : b;
    const ref = (db: DbInstance) => ({ host: db.host, port: 3306, credentials: 'sandbox-root' });
    const options = { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 };
    const req: AddressSwitchRequest = {
      sourceId: SOURCE,
      oldInstance: ref(from),
      newInstance: ref(to),
      taskCredentials: 'sandbox-root',
      options,
    };
    const { status, error } = await runSwitch(client, 'addressSwitch', QUEUE, req, (ended) =>
      writeUntil(ended, () => writeRows(primary, 1)),
    );
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    // the status says what became of it: stopped with the others, not started again
    const stopped =
      'they read nothing more from the upstream: stopped with the others so that DM can replace the source, and not started again (that would load everything again)';
    const said = `task(s) load-once of source ${SOURCE} finished their full load (task-mode full, stage Finished): ${stopped}`;
    expect(status.decisions.map((d) => d.reason)).toContain(said);
    const steps = status.steps.map((s) => s.step);
    expect(steps.find((s) => s.startsWith('stop-task'))).toMatch(/\bload-once\b/);
    expect(steps.filter((s) => s.startsWith('start-task'))).toEqual([`start-task -s ${SOURCE} ${TASK}`]);
    expect(Object.keys(status.savedConfigs?.tasks ?? {})).toContain('load-once');

    // the incremental task reads the new address; the full task is gone from the source and was not run again
    expect(await sourceReads(dm, SOURCE)).toEqual({ host: to.host, port: 3306 });
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
    expect(await binlogDumps(to)).toBeGreaterThan(0);
    await writeRows(primary, 3);
    await downstreamMatches(primary, tidb, 90_000);
    expect(await taskState(dm, SOURCE, 'load-once')).toBeNull();
    expect(await onceRows(tidb)).toEqual(loaded);
  });
});
