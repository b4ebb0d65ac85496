/**
 * `npm run chaos`: switches on the real stack with the worker killed
 * (SIGKILL) at uniformly random moments, sometimes twice, and every outcome
 * checked against the real state afterwards. The figure that matters: how
 * many switches ended with an outcome that differs from what DM, MySQL and
 * the VIP show (must be 0).
 *
 *   DM_SWITCH_CHAOS_RUNS   switches (default 20)
 *   DM_SWITCH_CHAOS_SEED   the random seed (default: the time; printed)
 *
 * The stack: a MySQL primary and two replicas in a VIP lab, DM's source
 * reading through the VIP with relay on, TiDB downstream, rows written
 * throughout. Each run is a VIP switch to the replica that does not hold the
 * VIP, or an address switch (VIP → that replica, or back to the VIP); with
 * probability 0.4 it waits at `before-resume` and is rejected there, forcing
 * compensation after the change. The worker is killed at a uniform moment
 * within the mean length of the switches so far (15 s before the first), and
 * with probability 0.3 again after it came back.
 *
 * Outcomes are checked as a DBA would: `switched` — DM's dump connections on
 * the new instance only, every task Running, the VIP (or the source config)
 * on the new instance; `rolled-back` / `refused` — the same on the old one;
 * `needs-operator` — reported with what was observed (it claims nothing).
 * Exit code 1 when any outcome differs from the state, or cannot be read
 * (then the switch's history is saved beside the system's temp files).
 */
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rejectUpdate, statusQuery } from '../common/switch/messages.js';
import type { DbInstance } from '../test/sandbox/db.js';
import { startStack } from '../test/sandbox/stack.js';
import {
  binlogDumps,
  downstreamMatches,
  sourceReads,
  startRelay,
  startSwitch,
  taskState,
  waitForStatus,
  writeUntil,
} from '../test/sandbox/switch-harness.js';
import { waitCaughtUp, writeRows } from '../test/sandbox/topology.js';
import { startWorkerProcess } from '../test/sandbox/worker-process.js';

const RUNS = Number(process.env.DM_SWITCH_CHAOS_RUNS ?? 20);
const SEED = Number(process.env.DM_SWITCH_CHAOS_SEED ?? Date.now() % 2 ** 31);
let state = SEED >>> 0 || 1;
/** xorshift32: reproducible with the printed seed. */
const random = () => {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 2 ** 32;
};

const QUEUE = 'chaos';
const started = Date.now();
console.log(`random-kill: ${RUNS} switches, seed ${SEED}`);
const stack = await startStack({ temporal: true, mysql: { replicas: 2 }, dm: true, vip: true, log: () => undefined });
const dir = await mkdtemp(join(tmpdir(), 'dsw-chaos-'));
const moveLog = join(dir, 'vip-moves.log');
const [primary, a, b] = stack.topology!.all() as [DbInstance, DbInstance, DbInstance];
const { vipLab: lab, dm, downstream: tidb } = stack as Required<typeof stack>;
const SOURCE = stack.sourceId!;
const TASK = stack.taskName!;
await startRelay(dm, SOURCE);
const worker = await startWorkerProcess({
  configYaml: stack.workerConfigYaml(QUEUE, { vipMoveLog: moveLog }),
  temporalAddress: stack.temporal!.address,
});
const client = new Client({ connection: await Connection.connect({ address: stack.temporal!.address }) });
const ref = (host: string) => ({ host, port: 3306, credentials: 'sandbox-root' });
const byHost = (host: string) => [a, b].find((x) => x.host === host);
const moves = async () => (await readFile(moveLog, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Observed {
  vip: string | null;
  reads: string;
  /** The instance DM's dump connections are on (host), or why not one. */
  dumpsOn: string;
  task: string;
}
async function observe(): Promise<Observed> {
  const [vip, from, task, onA, onB] = await Promise.all([
    lab.provider().locate(lab.vip, []),
    sourceReads(dm, SOURCE),
    taskState(dm, SOURCE, TASK),
    binlogDumps(a),
    binlogDumps(b),
  ]);
  return {
    vip,
    reads: from ? from.host : '(no source)',
    dumpsOn: onA > 0 && onB === 0 ? a.host : onB > 0 && onA === 0 ? b.host : `A ${onA}, B ${onB}`,
    task: task ? `${task.stage}/${task.unit}` : '(none)',
  };
}
/** The instance DM reads, as the state shows it: through the VIP, or the source's own address. */
const readsInstance = (o: Observed) => (o.reads === lab.vip ? o.vip : o.reads);

/** Waits until DM settles (the task runs and dumps are on one instance), up to 60 s; the last observation. */
async function settled(): Promise<Observed> {
  let o = await observe();
  for (let i = 0; i < 60 && !(o.task === 'Running/Sync' && o.dumpsOn === readsInstance(o)); i++) {
    await sleep(1000);
    o = await observe();
  }
  return o;
}

const rows: string[] = [];
// kill moments are uniform over how long a switch has taken so far (a kill after the end hits nothing)
const durations: number[] = [];
const horizon = () => (durations.length ? durations.reduce((a, b) => a + b, 0) / durations.length : 15_000);
let mismatches = 0;
let kills = 0;
const outcomes: Record<string, number> = {};
for (let run = 1; run <= RUNS; run++) {
  const before = await settled();
  const from = readsInstance(before)!;
  const target = from === a.host ? b : a;
  await Promise.all([waitCaughtUp(a, primary, 60_000), waitCaughtUp(b, primary, 60_000)]);
  const throughVip = before.reads === lab.vip;
  const kind = throughVip && random() < 0.6 ? 'vip' : 'address';
  const reject = random() < 0.4;
  const approvals = { gates: reject ? ['before-resume'] : [], timeoutSeconds: 600 };
  const options = { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 120 };
  const req =
    kind === 'vip'
      ? {
          sourceId: SOURCE,
          newInstance: ref(target.host),
          oldInstance: ref(from),
          vip: { address: lab.vip },
          approvals,
          options,
        }
      : throughVip
        ? {
            sourceId: SOURCE,
            newInstance: ref(target.host),
            oldInstance: ref(lab.vip),
            taskCredentials: 'sandbox-root',
            approvals,
            options,
          }
        : // back to the VIP, which is on the other replica
          {
            sourceId: SOURCE,
            newInstance: ref(lab.vip),
            oldInstance: ref(from),
            taskCredentials: 'sandbox-root',
            approvals,
            options,
          };
  const newReads = kind === 'vip' ? target.host : throughVip ? target.host : before.vip!;
  const movesBefore = await moves();
  const t0 = Date.now();
  const sw = await startSwitch(client, kind === 'vip' ? 'vipSwitch' : 'addressSwitch', QUEUE, req);
  const ended = sw.handle.result().catch(() => undefined);
  const writer = writeUntil(ended, () => writeRows(primary, 1), 400);
  let done = false;
  void ended.then(() => (done = true));
  const killAt = [random() * horizon(), ...(random() < 0.3 ? [random() * horizon() * 0.5] : [])];
  const killed: number[] = [];
  const chaos = (async () => {
    for (const wait of killAt) {
      const until = Date.now() + wait;
      while (!done && Date.now() < until) await sleep(50);
      if (done) return;
      await worker.kill9();
      killed.push(Math.round((Date.now() - t0) / 100) / 10);
      kills++;
      await sleep(random() * 3000);
      await worker.start();
    }
  })();
  const rejecter = reject
    ? waitForStatus(
        sw.handle,
        (s) => s.approvals.some((x) => x.gate === 'before-resume' && x.state === 'pending') || s.outcome !== undefined,
        300_000,
      )
        .then(async (s) => {
          // as a person would: a refusal that says "send it again" is sent again
          for (let i = 0; !s.outcome && i < 20; i++) {
            try {
              return await sw.handle.executeUpdate(rejectUpdate, { args: [{ by: 'chaos' }] });
            } catch (e) {
              if (!/send it again/.test(String((e as { cause?: Error }).cause?.message ?? e))) throw e;
              await sleep(500);
              s = await sw.handle.query(statusQuery);
            }
          }
          return undefined;
        })
        .catch(() => undefined)
    : Promise.resolve();
  let status: Awaited<ReturnType<typeof sw.end>>['status'];
  try {
    ({ status } = await sw.end());
  } catch (e) {
    // the outcome cannot even be read (e.g. the status query fails on replay): a mismatch, and the history to study
    await Promise.allSettled([chaos, rejecter, writer]);
    mismatches++;
    const saved = join(tmpdir(), `dsw-chaos-${SEED}-run-${run}.json`);
    await writeFile(saved, historyToJSON(await sw.handle.fetchHistory()));
    rows.push(
      `${String(run).padStart(2)}  ${kind.padEnd(7)} ${reject ? 'reject ' : 'approve'} ` +
        `MISMATCH: the status cannot be read: ${(e as Error).message}; history saved as ${saved}`,
    );
    console.log(rows.at(-1));
    break;
  }
  await Promise.all([chaos, rejecter, writer]);
  const seconds = Math.round((Date.now() - t0) / 1000);
  // the switch's own length, without the time the kills added, sets the next horizon
  if (killed.length === 0) durations.push(Date.now() - t0);
  const after = await settled();
  const moved = (await moves()) - movesBefore;
  const outcome = status.outcome ?? '(none)';
  outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  const now = readsInstance(after);
  const problems: string[] = [];
  const expectReads = outcome === 'switched' ? newReads : from;
  if (outcome !== 'needs-operator') {
    if (now !== expectReads) problems.push(`DM reads ${now}, not ${expectReads}`);
    if (after.dumpsOn !== expectReads) problems.push(`dump connections: ${after.dumpsOn}`);
    if (after.task !== 'Running/Sync') problems.push(`task ${after.task}`);
    // at most once more than intended: a switch moves the VIP once, a rollback at most there and back
    const maxMoves = kind === 'vip' ? (outcome === 'switched' ? 1 : outcome === 'rolled-back' ? 2 : 0) : 0;
    if (moved > maxMoves) problems.push(`${moved} VIP moves (at most ${maxMoves})`);
  }
  if (problems.length) mismatches++;
  rows.push(
    `${String(run).padStart(2)}  ${kind.padEnd(7)} ${reject ? 'reject ' : 'approve'} ` +
      `kills at ${(killed.map((k) => `${k}s`).join(', ') || '-').padEnd(14)} ` +
      `${outcome.padEnd(14)} ${String(seconds).padStart(3)} s  reads ` +
      `${byHost(now ?? '') ? (now === a.host ? 'A' : 'B') : now}  ` +
      `${problems.length ? `MISMATCH: ${problems.join('; ')}` : 'ok'}` +
      (outcome === 'needs-operator'
        ? `\n      observed: ${JSON.stringify(after)}; ${status.decisions.at(-1)?.reason}`
        : ''),
  );
  console.log(rows.at(-1));
  if (outcome === 'needs-operator') break;
}
await downstreamMatches(primary, tidb, 120_000).then(
  () => console.log('downstream: every row exactly once'),
  (e: Error) => {
    mismatches++;
    console.log(`downstream: ${e.message}`);
  },
);
console.log(
  `\n${rows.length} switches, ${kills} kills, outcomes ` +
    `${JSON.stringify(outcomes)}, ${mismatches} outcome(s) differing from the real ` +
    `state; ${Math.round((Date.now() - started) / 1000)} s (seed ${SEED})`,
);
await worker.stop();
await client.connection.close();
await stack.stop();
await rm(dir, { recursive: true, force: true });
process.exit(mismatches ? 1 : 0);
