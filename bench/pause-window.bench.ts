/**
 * The replication pause window of a VIP switch with no approvals: from
 * pause-task issued to every task Running again. It is measured for:
 *
 *   workflow: the vipSwitch workflow on the real stack (Temporal dev server,
 *             worker, DM, MySQL in a VIP lab, TiDB); the window is read from
 *             the workflow history: dmPauseTasks scheduled → the first
 *             dmResumeTasksSyncing (or dmAwaitSyncing) completed.
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
 * The workflow runs on two workers in this process, each round once on each: the worker as it is (no workflow
 * cache: every workflow task replays the history) and the same with Temporal's workflow cache, so that what the
 * cache would save is measured under the same load. Per switch it prints the process's CPU time
 * (process.cpuUsage around the switch: the worker, with the writer and the client, whose share is small), and the
 * overhead each side spends beyond the VIP provider's move, which both run (window − move), as quartiles.
 *
 *   npm run bench:pause-window            (BENCH_ROUNDS=5 by default; needs root for the VIP lab)
 *   BENCH_IDLE=1 npm run bench:pause-window   (the same with no writer: an idle upstream)
 *   BENCH_RATES=idle,1,3,20 BENCH_FLUSH=default,3 npm run bench:pause-window
 *       (sweep mode, rate-sweep.ts: the whole switch per write rate and per checkpoint flush interval, no script;
 *       BENCH_FLUSH=validation: DM's default interval with continuous validation on the task, switched by address:
 *       a VIP switch of a task whose validator runs is refused, see workflows/validator-reads.ts)
 */
import { Client, Connection } from '@temporalio/client';
import { execa } from 'execa';
import { switchWorkflowId } from '../common/switch/ids.js';
import type { AddressSwitchRequest, VipSwitchRequest } from '../common/switch/input.js';
import { startStack } from '../test/sandbox/stack.js';
import type { DbInstance } from '../test/sandbox/db.js';
import { writeRows } from '../test/sandbox/topology.js';
import {
  createRateTable,
  restartTaskWithFlush,
  restartTaskWithValidation,
  startRateWriter,
} from '../test/sandbox/write-rate.js';
import { parseWorkerConfig } from '../worker/config.js';
import { createWorker } from '../worker/worker.js';
import { loadAverage, parseFlushes, parseRates, printSweep } from './rate-sweep.js';
import type { SweepResult } from './rate-sweep.js';
import { eventMs } from '../test/sandbox/switch-harness.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const stack = await startStack({
  temporal: true,
  mysql: { replicas: 2 },
  dm: true,
  vip: true,
  log: (l) => console.error(l),
});
const address = stack.temporal!.address;
/** The two workers the workflow runs on: as the product runs it (no cache), and with the workflow cache. */
type Mode = 'no cache' | 'cache';
const MODES: Mode[] = ['no cache', 'cache'];
const queueOf: Record<Mode, string> = { 'no cache': 'bench', cache: 'bench-cached' };
const workers = await Promise.all(
  MODES.map(async (mode) => {
    const config = parseWorkerConfig(stack.workerConfigYaml(queueOf[mode]));
    const extras = { maxCachedWorkflows: mode === 'cache' ? 100 : 0 };
    const { worker, connection } = await createWorker(config, { address }, 'default', process.env, extras);
    const running = worker.run();
    return async () => {
      // the SDK may have begun shutting a worker down already (a failed round): only a running one is asked to
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await connection.close();
    };
  }),
);
const client = new Client({ connection: await Connection.connect({ address }) });
const stopWorker = async () => {
  for (const stop of workers) await stop();
  await client.connection.close();
};
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

const ms = eventMs;

type Steps = Map<string, { before: number[]; queued: number[]; ran: number[] }>;
/** Per worker, per activity type inside the pause window, one entry a round (an activity run twice adds two). */
const stepsOf: Record<Mode, Steps> = { 'no cache': new Map(), cache: new Map() };
/** The script's steps, per round. */
const scriptSteps = new Map<string, number[]>();
const lap = (name: string, since: number) => {
  const now = performance.now();
  scriptSteps.set(name, [...(scriptSteps.get(name) ?? []), now - since]);
  return now;
};

interface WorkflowRound {
  window: number;
  /** The vipMove activity inside the window: started → completed. */
  move: number;
  /** CPU time of this process (user + system) from start to result, ms. */
  cpu: number;
  total: number;
  preflight: number;
  verify: number;
  events: number;
}
const roundsOf: Record<Mode, WorkflowRound[]> = { 'no cache': [], cache: [] };

/** The activities whose completion ends the pause window: every task seen Running in Sync again. */
const RUNNING_AGAIN = ['dmResumeTasksSyncing', 'dmAwaitSyncing'];

/**
 * One switch from `from` to `to`: a VIP switch, or (kind 'address') an address switch, whose window runs from the
 * first pause-task or stop-task to every task Running again (no VIP move in it).
 */
async function workflowWindow(
  from: DbInstance,
  to: DbInstance,
  n: number,
  mode: Mode,
  kind: 'vip' | 'address' = 'vip',
): Promise<WorkflowRound> {
  const steps = stepsOf[mode];
  const cpuBefore = process.cpuUsage();
  const common = {
    sourceId: source,
    newInstance: { host: to.host, port: 3306, credentials: 'sandbox-root' },
    oldInstance: { host: from.host, port: 3306, credentials: 'sandbox-root' },
    options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 60 },
  };
  const req: VipSwitchRequest | AddressSwitchRequest =
    kind === 'vip' ? { ...common, vip: { address: lab.vip } } : { ...common, taskCredentials: 'sandbox-root' };
  const handle = await client.workflow.start(kind === 'vip' ? 'vipSwitch' : 'addressSwitch', {
    taskQueue: queueOf[mode],
    workflowId: switchWorkflowId('default', source),
    args: [req],
  });
  try {
    await handle.result();
  } catch (e) {
    failures.push(`round ${n + 1} (${mode}): ${(e as { cause?: Error }).cause?.message ?? String(e)}`);
    throw e;
  }
  const used = process.cpuUsage(cpuBefore);
  const cpu = (used.user + used.system) / 1000;
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Map<string, { type: string; at: number }>();
  let pauseIssued = 0;
  let runningAgain = 0;
  for (const e of events) {
    const sa = e.activityTaskScheduledEventAttributes;
    if (sa) {
      scheduled.set(String(e.eventId), { type: sa.activityType?.name ?? '', at: ms(e.eventTime) });
      // replication stops at the first pause-task, or stop-task (an address switch may stop without pausing)
      const stops = ['dmPauseTasks', 'dmStopTasks'].includes(sa.activityType?.name ?? '');
      if (stops && !pauseIssued) pauseIssued = ms(e.eventTime);
    }
    const ca = e.activityTaskCompletedEventAttributes;
    // every task Running in Sync again: the resume's own wait (dmResumeTasksSyncing) or, in a history of the
    // workflow as it was, verification's first wait
    if (ca && !runningAgain && RUNNING_AGAIN.includes(scheduled.get(String(ca.scheduledEventId))?.type ?? ''))
      runningAgain = ms(e.eventTime);
  }
  if (!pauseIssued || !runningAgain) throw new Error('history lacks the pause or the wait for Running');
  // each activity inside the window: time in the queue (scheduled → started), its run (started → completed), and
  // the workflow's own time before it (previous completion, or the pause, → scheduled)
  const started = new Map<string, number>();
  let previousEnd = pauseIssued;
  let move = 0;
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
    if (sched.type === 'vipMove') move += t - s0;
    // activities run side by side: the workflow's own time is counted from the latest completion only
    previousEnd = Math.max(previousEnd, t);
  }
  const opened = ms(events[0]?.eventTime);
  const closed = ms(events.at(-1)?.eventTime);
  const round = {
    window: runningAgain - pauseIssued,
    move,
    cpu,
    total: closed - opened,
    preflight: pauseIssued - opened,
    verify: closed - runningAgain,
    events: events.length,
  };
  roundsOf[mode].push(round);
  return round;
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
async function scriptWindow(from: DbInstance, to: DbInstance): Promise<{ window: number; move: number }> {
  const t0 = performance.now();
  let t = t0;
  await ctl(['pause-task', '-s', source, task]);
  t = lap('pause-task', t);
  while ((await stage()).stage !== 'Paused') await new Promise((r) => setTimeout(r, 50));
  t = lap('poll until Paused', t);
  const [cmd, ...args] = lab.moveCommand;
  await execa(cmd!, [...args, lab.vip, from.host, to.host], { env: lab.env });
  const move = performance.now() - t;
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
  return { window: performance.now() - t0, move };
}

/** Stops the writer, then the workers and the stack: the end of either mode. */
async function shutdown(): Promise<void> {
  writing = false;
  await writer;
  await stopWorker();
  await stack.stop();
}

const failures: string[] = [];
const plain: Array<{ window: number; move: number }> = [];
let at = r1;
let other = r2;
if (sweepRates) {
  const results: SweepResult[] = [];
  try {
    // a task with a validator is switched by address (a VIP switch of it is refused: its validator's own binlog
    // connection would stay on the old instance); that leaves the source reading an instance's own address, not the
    // VIP, so those rounds run last
    const flushes = parseFlushes(process.env.BENCH_FLUSH ?? 'default');
    for (const flush of [...flushes.filter((f) => f !== 'validation'), ...flushes.filter((f) => f === 'validation')]) {
      const kind = flush === 'validation' ? 'address' : 'vip';
      await createRateTable(primary);
      if (flush === 'validation') {
        const mode = await restartTaskWithValidation(dm, task, source, stack.downstream!, 'fast');
        console.error(`task ${task} started again: checkpoint-flush-interval 30 s, validation ${mode}`);
      } else {
        const shown = await restartTaskWithFlush(dm, task, source, stack.downstream!, flush);
        console.error(`task ${task} started again: checkpoint-flush-interval ${shown} s`);
      }
      for (const rate of sweepRates) {
        const w = startRateWriter(primary, rate);
        await new Promise((r) => setTimeout(r, 2000));
        const result: SweepResult = { flush, rate, runs: [], load: '' };
        results.push(result);
        try {
          for (let i = 0; i < rounds; i++) {
            // the worker as the product runs it
            const b = await workflowWindow(at, other, i, 'no cache', kind);
            [at, other] = [other, at];
            result.runs.push({ total: b.total, preflight: b.preflight, pause: b.window, verify: b.verify });
            console.error(
              `flush ${flush}, ${rate} rows/s, ${kind} switch, round ${i + 1}/${rounds}: ` +
                JSON.stringify(result.runs.at(-1)),
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
  await shutdown();
  printSweep(results);
  process.exit();
}
try {
  for (let i = 0; i < rounds; i++) {
    const line: string[] = [];
    // each round: both workers, each followed by the script; which worker goes first alternates
    for (const mode of i % 2 ? [...MODES].reverse() : MODES) {
      const w = await workflowWindow(at, other, i, mode);
      [at, other] = [other, at];
      const p = await scriptWindow(at, other);
      [at, other] = [other, at];
      plain.push(p);
      line.push(
        `workflow (${mode}) ${w.window.toFixed(0)} ms (move ${w.move.toFixed(0)}, cpu ${w.cpu.toFixed(0)}), ` +
          `script ${p.window.toFixed(0)} ms (move ${p.move.toFixed(0)})`,
      );
    }
    console.error(`round ${i + 1}/${rounds}: ${line.join('; ')}`);
  }
} catch (e) {
  console.error(`stopped early: ${failures.join('; ') || String(e)}`);
  process.exitCode = 1;
}

await shutdown();

/** Nearest-rank quartiles. */
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
  return { min: s[0]!, p25: q(0.25), median: q(0.5), p75: q(0.75), max: s.at(-1)! };
};
if (plain.length === 0 || MODES.some((m) => roundsOf[m].length === 0)) process.exit(1);
const spread = (label: string, xs: number[], unit = 'ms') => {
  const x = stats(xs);
  return {
    '': label,
    n: xs.length,
    [`min ${unit}`]: Math.round(x.min),
    [`p25 ${unit}`]: Math.round(x.p25),
    [`median ${unit}`]: Math.round(x.median),
    [`p75 ${unit}`]: Math.round(x.p75),
    [`max ${unit}`]: Math.round(x.max),
  };
};
const mode = idle ? 'idle' : 'taking a row every 50 ms';
console.log(`pause window (pause issued → Running), upstream ${mode}, ${rounds} rounds asked (n: done)`);
console.table([
  ...MODES.flatMap((m) => [
    spread(
      `vipSwitch workflow, ${m}: window`,
      roundsOf[m].map((r) => r.window),
    ),
    spread(
      `  its VIP move`,
      roundsOf[m].map((r) => r.move),
    ),
    spread(
      `  window − move`,
      roundsOf[m].map((r) => r.window - r.move),
    ),
  ]),
  spread(
    'plain dmctl script, same commands: window',
    plain.map((p) => p.window),
  ),
  spread(
    '  its VIP move',
    plain.map((p) => p.move),
  ),
  spread(
    '  window − move',
    plain.map((p) => p.window - p.move),
  ),
]);
const scriptOverhead = stats(plain.map((p) => p.window - p.move)).median;
for (const m of MODES) {
  const w = stats(roundsOf[m].map((r) => r.window)).median;
  const overhead = stats(roundsOf[m].map((r) => r.window - r.move)).median;
  console.log(
    `workflow (${m}) / script, medians: window ${(w / stats(plain.map((p) => p.window)).median).toFixed(2)}; ` +
      `beyond the move ${Math.round(overhead)} / ${Math.round(scriptOverhead)} ms = ` +
      `${(overhead / scriptOverhead).toFixed(2)} (target ≤ 0.50)`,
  );
}
console.table(
  MODES.flatMap((m) => [
    spread(
      `${m}: whole switch, start → switched`,
      roundsOf[m].map((r) => r.total),
    ),
    spread(
      `${m}:   preflight, start → pause issued`,
      roundsOf[m].map((r) => r.preflight),
    ),
    spread(
      `${m}:   pause window, pause → Running`,
      roundsOf[m].map((r) => r.window),
    ),
    spread(
      `${m}:   verification, Running → switched`,
      roundsOf[m].map((r) => r.verify),
    ),
    spread(
      `${m}: history events per switch`,
      roundsOf[m].map((r) => r.events),
      'events',
    ),
    spread(
      `${m}: CPU time of the process per switch`,
      roundsOf[m].map((r) => r.cpu),
    ),
  ]),
);
const med = (xs: number[]) => Math.round(stats(xs).median);
for (const m of MODES) {
  console.log(`pause window of the workflow (${m}), step by step (medians over the rounds, ms; ran: min–max too)`);
  console.table(
    [...stepsOf[m]].map(([type, x]) => ({
      'workflow step': type,
      'workflow time before it': med(x.before),
      'scheduled → started': med(x.queued),
      'started → completed': med(x.ran),
      'ran min–max': `${Math.round(stats(x.ran).min)}–${Math.round(stats(x.ran).max)}`,
      'times per round': x.ran.length / roundsOf[m].length,
    })),
  );
}
console.table(
  [...scriptSteps].map(([name, xs]) => ({
    'script step': name,
    'median ms': med(xs),
    'min ms': Math.round(stats(xs).min),
    'max ms': Math.round(stats(xs).max),
  })),
);
