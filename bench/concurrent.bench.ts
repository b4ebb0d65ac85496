/**
 * Switches of many sources at once (a host drain moves several): what one switch costs
 * when 1, 5 or 10 run together on two worker processes sharing one task
 * queue, on one DM cluster with a dm-worker per source.
 *
 * Kept small: three MySQL 9.7 instances (a primary P, which the application
 * writes, and its replicas A and B) in a VIP lab's network namespaces, and
 * every source reads A (each its own table) until its switch moves it to B,
 * and back. Each dm-worker runs in a namespace of its own (the tenth in P's,
 * which no source reads), so MySQL sees each connect from its own address,
 * as dm-workers on separate machines do, and each switch's verification
 * tells its own binlog dump connections from the other sources'. One TiDB;
 * a writer per source keeps rows flowing throughout (a row a second each).
 * Every round runs N address switches at once, each asserted `switched`,
 * and reads from each switch's history:
 *
 *   total:        start → closed
 *   pause window: stop-task issued (dmStopTasks scheduled) → every task started again (dmStartTasks completed)
 *   events:       history length
 *   worker:       which of the two processes ran its activities
 *
 *   npm run bench:concurrent     (BENCH_ROUNDS=2 per level by default; BENCH_LEVELS=1,5,10; needs root for the lab)
 */
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { stringify } from 'yaml';
import { switchWorkflowId } from '../common/switch/ids.js';
import type { AddressSwitchRequest } from '../common/switch/input.js';
import type { DbInstance } from '../test/sandbox/db.js';
import { startDm } from '../test/sandbox/dm.js';
import { createSource, expectOk, taskConfig } from '../test/sandbox/dm-setup.js';
import { startTemporal } from '../test/sandbox/temporal.js';
import { startTidb } from '../test/sandbox/tidb.js';
import {
  load,
  snapshot,
  startTopology,
  waitCaughtUp,
  withoutReplicationStatements,
  writeRows,
} from '../test/sandbox/topology.js';
import { startVipLab } from '../test/sandbox/vip-lab.js';
import { startWorkerProcess } from '../test/sandbox/worker-process.js';
import { eventMs } from '../test/sandbox/switch-harness.js';

const levels = (process.env.BENCH_LEVELS ?? '1,5,10').split(',').map(Number);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const sources = Math.max(...levels);
const QUEUE = 'bench-concurrent';
const log = (l: string) => console.error(`[bench] ${l}`);
if (sources > 10) throw new Error('at most 10 sources: a VIP lab has 12 hosts, three of them MySQL');

const t0 = Date.now();
// P, A, B, then a host per dm-worker (the tenth shares P's: no source reads P)
const lab = await startVipLab({ hosts: Math.min(12, 3 + sources) });
const workerHosts = [...lab.hosts.slice(3), lab.hosts[0]!]
  .slice(0, sources)
  .map((h) => ({ netns: h.netns, address: h.address }));
const [topo, temporal, tidb, dm] = await Promise.all([
  startTopology({ replicas: 2, placement: lab.hosts.slice(0, 3) }),
  startTemporal(),
  startTidb({ host: lab.gateway }),
  startDm({ workers: sources, masterHost: lab.gateway, netns: workerHosts }),
]);
const [primary, a, b] = topo.all() as [DbInstance, DbInstance, DbInstance];
interface Source {
  id: string;
  table: string;
  /** Where DM reads now. */
  on: 'a' | 'b';
}
const all: Source[] = Array.from({ length: sources }, (_, i) => ({
  id: `src-${String(i + 1).padStart(2, '0')}`,
  table: `rows_${i + 1}`,
  on: 'a' as const,
}));
for (const s of all) await writeRows(primary, 3, s.table);
await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
const snap = await snapshot(a);
await load(tidb, withoutReplicationStatements(snap.sql), false);
for (const s of all) {
  await createSource(dm, s.id, { host: a.host, port: 3306, flavor: 'mysql' });
  const task = {
    ...taskConfig(`task-${s.id}`, [s.id], tidb, {
      'binlog-name': snap.binlogFile,
      'binlog-pos': snap.binlogPos,
      'binlog-gtid': snap.gtidExecuted,
    }),
    'block-allow-list': { 'app-only': { 'do-tables': [{ 'db-name': 'app', 'tbl-name': s.table }] } },
  };
  expectOk('start-task', await dm.ctl(['start-task', await dm.file(`task-${s.id}.yaml`, stringify(task))]));
}
const config = [
  'taskQueue: ' + QUEUE,
  'dm:',
  '  clusters:',
  `    default: { masterAddr: "${dm.masterAddr}", dmctl: ${JSON.stringify(dm.dmctlPath)} }`,
  'credentials:',
  '  sandbox-root: { user: root }',
  '',
].join('\n');
const workers = await Promise.all(
  [0, 1].map(() => startWorkerProcess({ configYaml: config, temporalAddress: temporal.address })),
);
const connection = await Connection.connect({ address: temporal.address });
const client = new Client({ connection });
log(
  `ready in ${Math.round((Date.now() - t0) / 1000)} s: ${sources} sources reading ` +
    `one replica, ${sources} dm-workers (each its own address), 3 MySQL instances, 2 worker processes`,
);

let writing = true;
const writers = all.map(async (s) => {
  while (writing) {
    await writeRows(primary, 1, s.table);
    await new Promise((r) => setTimeout(r, 1000));
  }
});

const ms = eventMs;
interface Run {
  level: number;
  total: number;
  pause: number;
  events: number;
  worker: string;
}
const runs: Run[] = [];
const failures: string[] = [];

async function measure(level: number, handle: WorkflowHandle): Promise<void> {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Map<string, string>();
  let stopIssued = 0;
  let started = 0;
  const identities = new Map<string, number>();
  for (const e of events) {
    const sa = e.activityTaskScheduledEventAttributes;
    if (sa) {
      scheduled.set(String(e.eventId), sa.activityType?.name ?? '');
      if (sa.activityType?.name === 'dmStopTasks' && !stopIssued) stopIssued = ms(e.eventTime);
    }
    const st = e.activityTaskStartedEventAttributes;
    if (st?.identity) identities.set(st.identity, (identities.get(st.identity) ?? 0) + 1);
    const ca = e.activityTaskCompletedEventAttributes;
    if (ca && scheduled.get(String(ca.scheduledEventId)) === 'dmStartTasks') started = ms(e.eventTime);
  }
  if (!stopIssued || !started) throw new Error(`${handle.workflowId}: the history lacks stop-task or start-task`);
  const worker = [...identities.entries()].sort((x, y) => y[1] - x[1])[0]?.[0] ?? '?';
  runs.push({
    level,
    total: ms(events.at(-1)?.eventTime) - ms(events[0]?.eventTime),
    pause: started - stopIssued,
    events: events.length,
    worker,
  });
}

const ref = (db: DbInstance) => ({ host: db.host, port: 3306, credentials: 'sandbox-root' });
for (const level of levels) {
  for (let round = 0; round < rounds; round++) {
    const batch = all.slice(0, level);
    const started = await Promise.all(
      batch.map(async (s) => {
        const [from, to] = s.on === 'a' ? [a, b] : [b, a];
        const req: AddressSwitchRequest = {
          sourceId: s.id,
          newInstance: ref(to),
          oldInstance: ref(from),
          taskCredentials: 'sandbox-root',
          options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 },
        };
        const handle = await client.workflow.start('addressSwitch', {
          taskQueue: QUEUE,
          workflowId: switchWorkflowId('default', s.id),
          args: [req],
          workflowIdConflictPolicy: 'FAIL',
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
        });
        return { s, handle };
      }),
    );
    const failedBefore = failures.length;
    await Promise.all(
      started.map(async ({ s, handle }) => {
        try {
          await handle.result();
          s.on = s.on === 'a' ? 'b' : 'a';
          await measure(level, handle);
        } catch (e) {
          failures.push(
            `${level} at once, round ${round + 1}, ${s.id}: ${(e as { cause?: Error }).cause?.message ?? String(e)}`,
          );
        }
      }),
    );
    log(
      `${level} at once, round ${round + 1}/${rounds}: ` +
        `${started.length - (failures.length - failedBefore)} of ${started.length} switched`,
    );
    if (failures.length) break;
  }
  if (failures.length) break;
}

writing = false;
await Promise.all(writers);
await connection.close();
await Promise.all(workers.map((w) => w.stop()));
await dm.destroy();
await Promise.all([tidb.destroy(), topo.destroy(), temporal.destroy()]);
await lab.destroy();

function stats(xs: number[]): { min: number; median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0] ?? NaN, median: s[Math.floor(s.length / 2)] ?? NaN, max: s.at(-1) ?? NaN };
}
const base = stats(runs.filter((r) => r.level === levels[0]).map((r) => r.total)).median;
console.log(`\naddress switches at once, two worker processes on one task queue (${rounds} round(s) per level; ms)`);
console.table(
  levels.map((level) => {
    const of = runs.filter((r) => r.level === level);
    const total = stats(of.map((r) => r.total));
    const pause = stats(of.map((r) => r.pause));
    const byWorker = new Map<string, number>();
    for (const r of of) byWorker.set(r.worker, (byWorker.get(r.worker) ?? 0) + 1);
    return {
      'at once': level,
      switches: of.length,
      'total min': Math.round(total.min),
      'total median': Math.round(total.median),
      'total max': Math.round(total.max),
      [`median / ${levels[0]} at once`]: (total.median / base).toFixed(2),
      'pause min': Math.round(pause.min),
      'pause median': Math.round(pause.median),
      'pause max': Math.round(pause.max),
      'events max': Math.max(...of.map((r) => r.events)),
      'per worker': (([x = 0, y = 0]) => `${x}/${y}`)([...byWorker.values()].sort((a, b) => b - a)),
    };
  }),
);
if (failures.length) {
  console.error(`\n${failures.length} switch(es) did not switch:\n${failures.join('\n')}`);
  process.exit(1);
}
