/**
 * Switches of many sources at once (issue 16, item 6): what one switch costs
 * when 1, 5 or 10 run together on two worker processes sharing one task
 * queue, on one DM cluster with a dm-worker per source.
 *
 * One small MySQL 9.7 primary, which the application writes, and for each
 * source its own two replicas of it (A and B) on loopback: DM recognises
 * "its" binlog dump connection by the dm-worker's address, and every
 * dm-worker (and every replica) here connects from 127.0.0.1, so an
 * instance that two sources, or a replica, read would show connections that
 * are not this source's. Each source's task replicates its own table to one
 * TiDB; a writer per source keeps rows flowing throughout (a row a second
 * each). Every round
 * runs N address switches at once (A → B, then B → A), each asserted
 * `switched`, and reads from each switch's history:
 *
 *   total:        start → closed
 *   pause window: stop-task issued (dmStopTasks scheduled) → every task started again (dmStartTasks completed)
 *   events:       history length
 *   worker:       which of the two processes ran its activities
 *
 *   npm run bench:concurrent     (BENCH_ROUNDS=2 per level by default; BENCH_LEVELS=1,5,10)
 */
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { stringify } from 'yaml';
import { switchWorkflowId } from '../common/switch/ids.js';
import type { AddressSwitchRequest } from '../common/switch/input.js';
import { startDb, type DbInstance } from '../test/sandbox/db.js';
import { createSource, expectOk, taskConfig } from '../test/sandbox/dm-setup.js';
import { startStack } from '../test/sandbox/stack.js';
import { load, replicateFrom, snapshot, waitCaughtUp, withoutReplicationStatements, writeRows } from '../test/sandbox/topology.js';
import { startWorkerProcess } from '../test/sandbox/worker-process.js';

const levels = (process.env.BENCH_LEVELS ?? '1,5,10').split(',').map(Number);
const rounds = Number(process.env.BENCH_ROUNDS ?? 2);
const sources = Math.max(...levels);
const QUEUE = 'bench-concurrent';
const log = (l: string) => console.error(`[bench] ${l}`);

const t0 = Date.now();
const stack = await startStack({ temporal: true, dm: true, dmWorkers: sources, log });
const dm = stack.dm!;
const tidb = stack.downstream!;
interface Source {
  id: string;
  table: string;
  /** The source's two replicas of the primary. */
  a: DbInstance;
  b: DbInstance;
  /** Where DM reads now. */
  on: 'a' | 'b';
}
const primary = await startDb({ name: 'primary', serverId: 1 });
const all: Source[] = await Promise.all(
  Array.from({ length: sources }, async (_, i) => {
    const n = i + 1;
    const [a, b] = await Promise.all([startDb({ name: `a${n}`, serverId: 100 + n }), startDb({ name: `b${n}`, serverId: 200 + n })]);
    await Promise.all([replicateFrom(a, primary), replicateFrom(b, primary)]);
    return { id: `src-${String(n).padStart(2, '0')}`, table: `rows_${n}`, a, b, on: 'a' as const };
  }),
);
for (const s of all) await writeRows(primary, 3, s.table);
for (const s of all) {
  await Promise.all([waitCaughtUp(s.a, primary), waitCaughtUp(s.b, primary)]);
  await createSource(dm, s.id, s.a);
  const snap = await snapshot(s.a);
  await load(tidb, withoutReplicationStatements(snap.sql), false);
  const task = {
    ...taskConfig(`task-${s.id}`, [s.id], tidb, { 'binlog-name': snap.binlogFile, 'binlog-pos': snap.binlogPos, 'binlog-gtid': snap.gtidExecuted }),
    'block-allow-list': { 'app-only': { 'do-tables': [{ 'db-name': 'app', 'tbl-name': s.table }] } },
  };
  expectOk('start-task', await dm.ctl(['start-task', await dm.file(`task-${s.id}.yaml`, stringify(task))]));
}
const workers = await Promise.all([0, 1].map(() => startWorkerProcess({ configYaml: stack.workerConfigYaml(QUEUE), temporalAddress: stack.temporal!.address })));
const connection = await Connection.connect({ address: stack.temporal!.address });
const client = new Client({ connection });
log(`ready in ${Math.round((Date.now() - t0) / 1000)} s: ${sources} sources, ${sources} dm-workers, ${sources * 2 + 1} MySQL instances, 2 worker processes`);

let writing = true;
const writers = all.map(async (s) => {
  while (writing) {
    await writeRows(primary, 1, s.table);
    await new Promise((r) => setTimeout(r, 1000));
  }
});

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
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
  runs.push({ level, total: ms(events.at(-1)?.eventTime) - ms(events[0]?.eventTime), pause: started - stopIssued, events: events.length, worker });
}

const ref = (db: DbInstance) => ({ host: db.host, port: db.port, credentials: 'sandbox-root' });
for (const level of levels) {
  for (let round = 0; round < rounds; round++) {
    const batch = all.slice(0, level);
    const started = await Promise.all(
      batch.map(async (s) => {
        const [from, to] = s.on === 'a' ? [s.a, s.b] : [s.b, s.a];
        const req: AddressSwitchRequest = { sourceId: s.id, newInstance: ref(to), oldInstance: ref(from), taskCredentials: 'sandbox-root', options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 } };
        const handle = await client.workflow.start('addressSwitch', { taskQueue: QUEUE, workflowId: switchWorkflowId('default', s.id), args: [req], workflowIdConflictPolicy: 'FAIL', workflowIdReusePolicy: 'ALLOW_DUPLICATE' });
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
          failures.push(`${level} at once, round ${round + 1}, ${s.id}: ${(e as { cause?: Error }).cause?.message ?? String(e)}`);
        }
      }),
    );
    log(`${level} at once, round ${round + 1}/${rounds}: ${started.length - (failures.length - failedBefore)} of ${started.length} switched`);
    if (failures.length) break;
  }
  if (failures.length) break;
}

writing = false;
await Promise.all(writers);
await connection.close();
await Promise.all(workers.map((w) => w.stop()));
for (const s of all) await Promise.all([s.a.destroy(), s.b.destroy()]);
await primary.destroy();
await stack.stop();

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
