/**
 * A finished `task-mode: full` task does not block a switch of its source
 * (real stack: MySQL 9.7 behind a VIP, DM, TiDB, Temporal, the real worker).
 * DM shows such a task Finished, with no sync position: it reads nothing more
 * from the upstream, so the GTID rules have nothing to hold it to, and it is
 * neither paused nor resumed.
 */
import type { Client } from '@temporalio/client';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DbInstance } from '../sandbox/db.js';
import type { DmCluster } from '../sandbox/dm.js';
import { expectOk, taskConfig } from '../sandbox/dm-setup.js';
import { startStack, type Stack } from '../sandbox/stack.js';
import { downstreamMatches, runSwitch, startInProcessWorker, taskState, writeUntil } from '../sandbox/switch-harness.js';
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

describe('a finished full-mode task', { timeout: 300_000 }, () => {
  it('given a task-mode full task that has finished its load, should switch the source and leave that task as it is', async () => {
    const SOURCE = stack.sourceId!;
    await primary.query('CREATE DATABASE IF NOT EXISTS once; CREATE TABLE IF NOT EXISTS once.t (id INT PRIMARY KEY, v VARCHAR(20)); INSERT INTO once.t VALUES (1, "a"), (2, "b"), (3, "c")');
    await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
    const cfg = taskConfig('load-once', [SOURCE], tidb, undefined);
    const full = { ...cfg, 'task-mode': 'full', 'block-allow-list': { 'app-only': { 'do-dbs': ['once'] } } };
    expectOk('start-task', await dm.ctl(['start-task', await dm.file('task-load-once.yaml', stringify(full))]));
    const deadline = Date.now() + 120_000;
    while ((await taskState(dm, SOURCE, 'load-once'))?.stage !== 'Finished') {
      if (Date.now() > deadline) throw new Error(`load-once did not finish: ${JSON.stringify(await taskState(dm, SOURCE, 'load-once'))}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const [loaded] = await tidb.query<{ n: number | string }>('SELECT COUNT(*) AS n FROM once.t');
    expect(Number(loaded!.n)).toBe(3);

    const req = { sourceId: SOURCE, oldInstance: { host: a.host, port: 3306, credentials: 'sandbox-root' }, newInstance: { host: b.host, port: 3306, credentials: 'sandbox-root' }, vip: { address: lab.vip }, options: { verifyTimeoutSeconds: 90 } };
    const { status, error } = await runSwitch(client, 'vipSwitch', QUEUE, req, (ended) => writeUntil(ended, () => writeRows(primary, 1)));
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.decisions.map((d) => d.reason).join('\n')).toMatch(/task\(s\) load-once of source \S+ finished their full load \(task-mode full, stage Finished\): they read nothing more/);
    expect(status.steps.map((s) => s.step).join('\n')).not.toContain('load-once');
    expect(await taskState(dm, SOURCE, 'load-once')).toEqual({ stage: 'Finished', unit: 'Load' });
    expect(await taskState(dm, SOURCE, stack.taskName!)).toEqual({ stage: 'Running', unit: 'Sync' });
    expect(await lab.provider().locate(lab.vip, [])).toBe(b.host);
    await writeRows(primary, 3);
    await downstreamMatches(primary, tidb, 90_000);
  });
});
