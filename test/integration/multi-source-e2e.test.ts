/**
 * A task that reads two sources, one of which is switched: DM's sharded and
 * merged tasks span several sources, and a switch of one must leave the
 * others' subtasks alone. Real components: MySQL 9.7 (a primary with
 * replicas A and B behind source 1, a standalone instance behind source 2),
 * two dm-workers, TiDB downstream, the Temporal dev server and the worker.
 *
 * Source 1 carries `app.rows`, source 2 `app.other_rows`; the task
 * `two-sources` replicates both into one downstream schema.
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { AddressSwitchRequest } from '../../common/switch/input.js';
import { startDb, type DbInstance } from '../sandbox/db.js';
import type { DmCluster } from '../sandbox/dm.js';
import { createSource, expectOk, taskConfig } from '../sandbox/dm-setup.js';
import { startStack, type Stack } from '../sandbox/stack.js';
import {
  addressSwitchSteps,
  downstreamMatches,
  runSwitch,
  sourceReads,
  taskState,
  writeUntil,
  startInProcessWorker,
} from '../sandbox/switch-harness.js';
import type { TidbInstance } from '../sandbox/tidb.js';
import { load, snapshot, waitCaughtUp, withoutReplicationStatements, writeRows } from '../sandbox/topology.js';

const QUEUE = 'e2e-multi-source';
const OTHER = 'mysql-other-01';
const TASK = 'two-sources';
const OTHER_TABLE = 'other_rows';
let stack: Stack;
let SOURCE: string;
let primary: DbInstance;
let a: DbInstance;
let b: DbInstance;
let other: DbInstance;
let dm: DmCluster;
let tidb: TidbInstance;
let client: Client;
let stopWorker: (() => Promise<void>) | undefined;

beforeAll(async () => {
  // two dm-workers: one per source
  stack = await startStack({ temporal: true, mysql: { replicas: 2 }, dm: true, dmWorkers: 2 });
  [primary, a, b] = stack.topology!.all() as [DbInstance, DbInstance, DbInstance];
  ({ dm, downstream: tidb } = stack as Required<Stack>);
  SOURCE = stack.sourceId!;
  other = await startDb({ name: 'other' });
  await writeRows(other, 5, OTHER_TABLE);
  await createSource(dm, OTHER, other);

  // replace the stack's one-source task by one over both sources, each from a snapshot of its upstream
  expectOk('stop-task', await dm.ctl(['stop-task', stack.taskName!]));
  await tidb.query('DROP DATABASE IF EXISTS app');
  await writeRows(primary, 10);
  await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
  const instances = [];
  for (const [id, db, table] of [
    [SOURCE, a, 'rows'],
    [OTHER, other, OTHER_TABLE],
  ] as const) {
    const snap = await snapshot(db);
    await load(tidb, withoutReplicationStatements(snap.sql), false);
    instances.push({
      'source-id': id,
      'block-allow-list': `only-${table}`,
      meta: { 'binlog-name': snap.binlogFile, 'binlog-pos': snap.binlogPos, 'binlog-gtid': snap.gtidExecuted },
    });
  }
  const task = {
    ...taskConfig(TASK, [], tidb),
    'mysql-instances': instances,
    'block-allow-list': Object.fromEntries(
      ['rows', OTHER_TABLE].map((t) => [`only-${t}`, { 'do-tables': [{ 'db-name': 'app', 'tbl-name': t }] }]),
    ),
  };
  expectOk('start-task', await dm.ctl(['start-task', await dm.file(`task-${TASK}.yaml`, stringify(task))]));

  ({ client, stop: stopWorker } = await startInProcessWorker(stack.temporal!.address, stack.workerConfigYaml(QUEUE)));
}, 300_000);

afterAll(async () => {
  await stopWorker?.();
  await other?.destroy();
  await stack?.stop();
});

const ref = (db: DbInstance) => ({ host: db.host, port: db.port, credentials: 'sandbox-root' });
const bothMatch = () =>
  Promise.all([downstreamMatches(primary, tidb, 90_000), downstreamMatches(other, tidb, 90_000, OTHER_TABLE)]);

describe('a task over two sources on the real stack', { timeout: 300_000 }, () => {
  it('given one of its sources re-pointed, should stop and start only that subtask while the other keeps running, every row exactly once', async () => {
    await bothMatch();
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
    expect(await taskState(dm, OTHER, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });

    // both upstreams keep writing; the other source's subtask is watched the whole time
    const otherStages = new Set<string>();
    const req: AddressSwitchRequest = {
      sourceId: SOURCE,
      newInstance: ref(b),
      oldInstance: ref(a),
      taskCredentials: 'sandbox-root',
      options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 },
    };
    const { status, error } = await runSwitch(client, 'addressSwitch', QUEUE, req, (ended) =>
      Promise.all([
        writeUntil(ended, () => writeRows(primary, 1)),
        writeUntil(ended, () => writeRows(other, 1, OTHER_TABLE)),
        writeUntil(ended, async () => otherStages.add(JSON.stringify(await taskState(dm, OTHER, TASK))), 200),
      ]),
    );
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.steps.map((s) => s.step)).toEqual(addressSwitchSteps(SOURCE, TASK, b));
    // the saved configuration is the whole task, both sources
    expect(status.savedConfigs?.tasks[TASK]).toContain(OTHER);

    // the other subtask never stopped, never read anything else
    expect([...otherStages]).toEqual([JSON.stringify({ stage: 'Running', unit: 'Sync' })]);
    expect(await sourceReads(dm, OTHER)).toEqual({ host: other.host, port: other.port });
    expect(await sourceReads(dm, SOURCE)).toEqual({ host: b.host, port: b.port });
    await writeRows(primary, 3);
    await writeRows(other, 3, OTHER_TABLE);
    await bothMatch();
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
    expect(await taskState(dm, OTHER, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });
});
