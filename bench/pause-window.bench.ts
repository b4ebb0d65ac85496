/**
 * The replication pause window of a VIP switch with no approvals: from
 * pause-task issued to every task Running again. It is measured for:
 *
 *   workflow: the vipSwitch workflow on the real stack (Temporal dev server,
 *             worker, DM, MySQL in a VIP lab, TiDB); the window is read from
 *             the workflow history: dmPauseTasks scheduled → dmAwaitSyncing
 *             completed.
 *   script:   the same dmctl commands and the same VIP move run back to back
 *             by a plain script, with no checks: pause-task, poll until
 *             Paused, move the VIP, resume-task, poll until Running.
 *
 * Both run in the same process against the same stack, alternating the
 * direction (replica1 ⇄ replica2), while a writer keeps rows flowing.
 *
 * For the workflow it also prints, per round, the whole switch (start →
 * closed) split into preflight (start → pause issued), the pause window and
 * verification (Running again → closed), and the number of events in its
 * history (at most 150, whatever the waits: every wait polls inside one
 * heartbeating activity, so a long catch-up does not grow the history).
 *
 *   npm run bench:pause-window            (BENCH_ROUNDS=5 by default; needs root for the VIP lab)
 *   BENCH_IDLE=1 npm run bench:pause-window   (the same with no writer: an idle upstream)
 *   BENCH_RATES=idle,1,3,20 BENCH_FLUSH=default,3 npm run bench:pause-window
 *       (sweep mode, rate-sweep.ts: the whole switch per write rate and per checkpoint flush interval, no script)
 */
import { execa } from 'execa';
import { switchWorkflowId } from '../common/switch/ids.js';
import type { VipSwitchRequest } from '../common/switch/input.js';
import { startStack } from '../test/sandbox/stack.js';
import type { DbInstance } from '../test/sandbox/db.js';
import { startInProcessWorker } from '../test/sandbox/switch-harness.js';
import { writeRows } from '../test/sandbox/topology.js';
import { createRateTable, restartTaskWithFlush, startRateWriter } from '../test/sandbox/write-rate.js';
import { loadAverage, parseFlushes, parseRates, printSweep } from './rate-sweep.js';
import type { SweepResult } from './rate-sweep.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const stack = await startStack({
  temporal: true,
  mysql: { replicas: 2 },
  dm: true,
  vip: true,
  log: (l) => console.error(l),
});
const { client, stop: stopWorker } = await startInProcessWorker(
  stack.temporal!.address,
  stack.workerConfigYaml('bench'),
);
const [primary, r1, r2] = stack.topology!.all() as [DbInstance, DbInstance, DbInstance];
const lab = stack.vipLab!;
const dm = stack.dm!;
const task = stack.taskName!;
const source = stack.sourceId!;

// BENCH_IDLE=1: no writer, for the duration of a switch on an idle upstream, where DM reports a new position only
// at the next replication heartbeat
const sweepRates = process.env.BENCH_RATES ? parseRates(process.env.BENCH_RATES) : null;
const idle = process.env.BENCH_IDLE === '1' || sweepRates !== null;
let writing = !idle;
const writer = (async () => {
  while (writing) {
    await writeRows(primary, 1);
    await new Promise((r) => setTimeout(r, 50));
  }
})();

const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
  Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

/** Per activity type inside the pause window, one entry a round (an activity run twice in a round adds two). */
const steps = new Map<string, { before: number[]; queued: number[]; ran: number[] }>();
/** The script's steps, per round. */
const scriptSteps = new Map<string, number[]>();
const lap = (name: string, since: number) => {
  const now = performance.now();
  scriptSteps.set(name, [...(scriptSteps.get(name) ?? []), now - since]);
  return now;
};

const breakdown: Array<{ total: number; preflight: number; verify: number; events: number }> = [];

async function workflowWindow(from: DbInstance, to: DbInstance, n: number): Promise<number> {
  const req: VipSwitchRequest = {
    sourceId: source,
    newInstance: { host: to.host, port: 3306, credentials: 'sandbox-root' },
    oldInstance: { host: from.host, port: 3306, credentials: 'sandbox-root' },
    vip: { address: lab.vip },
    options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 60 },
  };
  const handle = await client.workflow.start('vipSwitch', {
    taskQueue: 'bench',
    workflowId: switchWorkflowId('default', source),
    args: [req],
  });
  try {
    await handle.result();
  } catch (e) {
    failures.push(`round ${n + 1}: ${(e as { cause?: Error }).cause?.message ?? String(e)}`);
    throw e;
  }
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Map<string, { type: string; at: number }>();
  let pauseIssued = 0;
  let runningAgain = 0;
  for (const e of events) {
    const sa = e.activityTaskScheduledEventAttributes;
    if (sa) {
      scheduled.set(String(e.eventId), { type: sa.activityType?.name ?? '', at: ms(e.eventTime) });
      if (sa.activityType?.name === 'dmPauseTasks' && !pauseIssued) pauseIssued = ms(e.eventTime);
    }
    const ca = e.activityTaskCompletedEventAttributes;
    if (ca && scheduled.get(String(ca.scheduledEventId))?.type === 'dmAwaitSyncing') runningAgain = ms(e.eventTime);
  }
  if (!pauseIssued || !runningAgain) throw new Error('history lacks the pause or the await-syncing activity');
  // each activity inside the window: time in the queue (scheduled → started), its run (started → completed), and
  // the workflow's own time before it (previous completion, or the pause, → scheduled)
  const started = new Map<string, number>();
  let previousEnd = pauseIssued;
  for (const e of events) {
    const t = ms(e.eventTime);
    if (t < pauseIssued || t > runningAgain) continue;
    const st = e.activityTaskStartedEventAttributes;
    if (st) started.set(String(st.scheduledEventId), t);
    const ca = e.activityTaskCompletedEventAttributes;
    if (!ca) continue;
    const sched = scheduled.get(String(ca.scheduledEventId));
    if (!sched) continue;
    const s0 = started.get(String(ca.scheduledEventId)) ?? sched.at;
    const step = steps.get(sched.type) ?? { before: [], queued: [], ran: [] };
    step.before.push(Math.max(0, sched.at - previousEnd));
    step.queued.push(s0 - sched.at);
    step.ran.push(t - s0);
    steps.set(sched.type, step);
    previousEnd = t;
  }
  const opened = ms(events[0]?.eventTime);
  const closed = ms(events.at(-1)?.eventTime);
  breakdown.push({
    total: closed - opened,
    preflight: pauseIssued - opened,
    verify: closed - runningAgain,
    events: events.length,
  });
  return runningAgain - pauseIssued;
}

async function ctl(args: string[]): Promise<Record<string, unknown>> {
  const r = await dm.ctl(args);
  if (r.result !== true) throw new Error(`dmctl ${args.join(' ')}: ${r.msg}`);
  return r;
}
async function stage(): Promise<{ stage: string; unit: string }> {
  const r = await ctl(['query-status', '-s', source]);
  const sub = (r.sources as Array<{ subTaskStatus: Array<{ stage: string; unit: string }> }>)[0]!.subTaskStatus[0]!;
  return sub;
}
async function scriptWindow(from: DbInstance, to: DbInstance): Promise<number> {
  const t0 = performance.now();
  let t = t0;
  await ctl(['pause-task', '-s', source, task]);
  t = lap('pause-task', t);
  while ((await stage()).stage !== 'Paused') await new Promise((r) => setTimeout(r, 50));
  t = lap('poll until Paused', t);
  const [cmd, ...args] = lab.moveCommand;
  await execa(cmd!, [...args, lab.vip, from.host, to.host], { env: lab.env });
  t = lap('move the VIP', t);
  for (;;) {
    const r = await dm.ctl(['resume-task', '-s', source, task]);
    if (r.result === true) break; // a broken pooled connection right after the move: resume again
    await new Promise((res) => setTimeout(res, 200));
  }
  t = lap('resume-task', t);
  for (;;) {
    const s = await stage();
    if (s.stage === 'Running' && s.unit === 'Sync') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  lap('poll until Running/Sync', t);
  return performance.now() - t0;
}

const failures: string[] = [];
const wf: number[] = [];
const plain: number[] = [];
let at = r1;
let other = r2;
if (sweepRates) {
  const results: SweepResult[] = [];
  try {
    for (const flush of parseFlushes(process.env.BENCH_FLUSH ?? 'default')) {
      await createRateTable(primary);
      const shown = await restartTaskWithFlush(dm, task, source, stack.downstream!, flush);
      console.error(`task ${task} started again: checkpoint-flush-interval ${shown} s`);
      for (const rate of sweepRates) {
        const w = startRateWriter(primary, rate);
        await new Promise((r) => setTimeout(r, 2000));
        const result: SweepResult = { flush, rate, runs: [], load: '' };
        results.push(result);
        try {
          for (let i = 0; i < rounds; i++) {
            const pause = await workflowWindow(at, other, i);
            [at, other] = [other, at];
            const b = breakdown.at(-1)!;
            result.runs.push({ total: b.total, preflight: b.preflight, pause, verify: b.verify });
            console.error(
              `flush ${flush}, ${rate} rows/s, round ${i + 1}/${rounds}: ${JSON.stringify(result.runs.at(-1))}`,
            );
          }
        } finally {
          await w.stop();
          result.load = await loadAverage();
        }
      }
    }
  } catch (e) {
    console.error(`stopped early: ${failures.join('; ') || String(e)}`);
    process.exitCode = 1;
  }
  writing = false;
  await writer;
  await stopWorker();
  await stack.stop();
  printSweep(results);
  process.exit();
}
try {
  for (let i = 0; i < rounds; i++) {
    wf.push(await workflowWindow(at, other, i));
    [at, other] = [other, at];
    plain.push(await scriptWindow(at, other));
    [at, other] = [other, at];
    console.error(
      `round ${i + 1}/${rounds}: workflow ${wf.at(-1)!.toFixed(0)} ms, script ${plain.at(-1)!.toFixed(0)} ms`,
    );
  }
} catch (e) {
  console.error(`stopped early: ${failures.join('; ') || String(e)}`);
  process.exitCode = 1;
}

writing = false;
await writer;
await stopWorker();
await stack.stop();

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0]!, median: s[Math.floor(s.length / 2)]!, max: s.at(-1)! };
};
if (wf.length === 0 || plain.length === 0) process.exit(1);
const w = stats(wf);
const p = stats(plain);
console.table([
  {
    run: 'vipSwitch workflow (pause issued → Running)',
    'min ms': Math.round(w.min),
    'median ms': Math.round(w.median),
    'max ms': Math.round(w.max),
  },
  {
    run: 'plain dmctl script, same commands',
    'min ms': Math.round(p.min),
    'median ms': Math.round(p.median),
    'max ms': Math.round(p.max),
  },
]);
console.log(
  `pause window ratio workflow/script (medians, ${rounds} rounds each, upstream ` +
    `${idle ? 'idle' : 'taking a row every 50 ms'}): ${(w.median / p.median).toFixed(2)}`,
);
const row = (label: string, xs: number[], unit = 'ms') => {
  const x = stats(xs);
  return {
    'vipSwitch workflow': label,
    [`min ${unit}`]: Math.round(x.min),
    [`median ${unit}`]: Math.round(x.median),
    [`max ${unit}`]: Math.round(x.max),
  };
};
console.table([
  row(
    'whole switch: start → switched',
    breakdown.map((b) => b.total),
  ),
  row(
    '  preflight: start → pause issued',
    breakdown.map((b) => b.preflight),
  ),
  row('  pause window: pause → Running', wf),
  row(
    '  verification: Running → switched',
    breakdown.map((b) => b.verify),
  ),
]);
console.table([
  row(
    'history events per switch',
    breakdown.map((b) => b.events),
    'events',
  ),
]);
const med = (xs: number[]) => Math.round(stats(xs).median);
console.log('pause window, step by step (medians over the rounds, ms)');
console.table(
  [...steps].map(([type, x]) => ({
    'workflow step': type,
    'workflow before it': med(x.before),
    'in queue': med(x.queued),
    ran: med(x.ran),
    'times per round': x.ran.length / wf.length,
  })),
);
console.table(
  [...scriptSteps].map(([name, xs]) => ({
    'script step': name,
    'median ms': med(xs),
    'min ms': Math.round(stats(xs).min),
    'max ms': Math.round(stats(xs).max),
  })),
);
