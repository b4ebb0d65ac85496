/**
 * What the end-to-end switch tests share: starting a switch workflow and
 * collecting its end, and reading the end state of DM and the downstream
 * (the things a switch test asserts beyond the workflow's own result).
 */
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { switchWorkflowId } from '../../common/switch/ids.js';
import { statusQuery } from '../../common/switch/messages.js';
import type { SwitchStatus } from '../../common/switch/status.js';
import type { Endpoint } from '../../common/switch/types.js';
import { parseWorkerConfig } from '../../worker/config.js';
import { createWorker } from '../../worker/worker.js';
import type { DbInstance } from './db.js';
import type { DmCluster } from './dm.js';
import { expectOk } from './dm-setup.js';
import { tableChecksum, type SqlTarget } from './topology.js';

export interface SwitchRun {
  handle: WorkflowHandle;
  /** The switch's end: its status, and the failure if it failed. */
  end(): Promise<{ status: SwitchStatus; error?: unknown }>;
}

/**
 * The real worker (worker/worker.ts, every activity) in this process on the
 * given configuration, and a client of the same Temporal; `stop()` ends both.
 */
export async function startInProcessWorker(
  temporalAddress: string,
  configYaml: string,
): Promise<{ client: Client; stop(): Promise<void> }> {
  const { worker, connection } = await createWorker(parseWorkerConfig(configYaml), { address: temporalAddress });
  const running = worker.run();
  const client = new Client({ connection: await Connection.connect({ address: temporalAddress }) });
  return {
    client,
    async stop() {
      worker.shutdown();
      await running.catch(() => undefined);
      await connection.close();
      await client.connection.close();
    },
  };
}

/**
 * Starts `workflow` for a source under its business-key workflow ID (the
 * workflow refuses any other), as a handle bound to this run: tests run many
 * switches of one source, one after the other.
 */
export async function startSwitch(
  client: Client,
  workflow: 'vipSwitch' | 'addressSwitch',
  taskQueue: string,
  req: { sourceId: string; dmCluster?: string },
): Promise<SwitchRun> {
  const id = switchWorkflowId(req.dmCluster ?? 'default', req.sourceId);
  const started = await client.workflow.start(workflow, {
    taskQueue,
    workflowId: id,
    args: [req],
    workflowIdConflictPolicy: 'FAIL',
    workflowIdReusePolicy: 'ALLOW_DUPLICATE',
  });
  const handle = client.workflow.getHandle(id, started.firstExecutionRunId);
  return {
    handle,
    async end() {
      let error: unknown;
      try {
        await handle.result();
      } catch (e) {
        error = e;
      }
      return { status: await handle.query(statusQuery), error };
    },
  };
}

/**
 * An application writing to `primary` until `stop` resolves, one row every
 * `everyMs`. Besides being realistic, it keeps verification short: on an idle
 * upstream DM reports a new syncerBinlogGtid only at the upstream's next
 * heartbeat event (every 30 s).
 */
export async function writeUntil(
  stop: Promise<unknown>,
  write: () => Promise<unknown>,
  everyMs = 300,
): Promise<number> {
  let done = false;
  void stop.finally(() => (done = true));
  let n = 0;
  while (!done) {
    await write();
    n++;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return n;
}

/** Runs a switch to its end, with `during` running beside it. */
export async function runSwitch(
  client: Client,
  workflow: 'vipSwitch' | 'addressSwitch',
  taskQueue: string,
  req: { sourceId: string },
  during?: (ended: Promise<unknown>) => Promise<unknown>,
): Promise<{ status: SwitchStatus; error?: unknown; handle: WorkflowHandle }> {
  const run = await startSwitch(client, workflow, taskQueue, req);
  const ended = run.handle.result().catch(() => undefined);
  const duringDone = during?.(ended);
  const end = await run.end();
  await duringDone;
  return { ...end, handle: run.handle };
}

/**
 * With DM_SWITCH_SAVE_HISTORIES=1, saves the history of a real switch as
 * test/fixtures/histories/<name>.json for the replay test, which then keeps
 * later workflow changes from breaking switches of that shape in flight.
 */
export async function saveHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (!process.env.DM_SWITCH_SAVE_HISTORIES) return;
  await writeFile(
    join(import.meta.dirname, '../fixtures/histories', `${name}.json`),
    historyToJSON(await handle.fetchHistory()),
  );
}

/**
 * How many events the switch's history holds (at most 150, whatever its waits: they poll inside activities), and
 * what they are, for the reader.
 */
export async function historyEvents(handle: WorkflowHandle): Promise<{ count: number; what: string }> {
  const events = (await handle.fetchHistory()).events ?? [];
  const kinds = new Map<string, number>();
  for (const e of events) {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    const kind = name ? `activity ${name}` : String(e.eventType);
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  return { count: events.length, what: [...kinds].map(([k, n]) => `${k} ×${n}`).join(', ') };
}

/** Polls the status query until `ok` holds (e.g. a gate is pending). */
export async function waitForStatus(
  handle: WorkflowHandle,
  ok: (s: SwitchStatus) => boolean,
  timeoutMs = 120_000,
): Promise<SwitchStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await handle.query(statusQuery).catch(() => null);
    if (s && ok(s)) return s;
    if (Date.now() > deadline)
      throw new Error(
        `status did not reach the expected state within ${timeoutMs / 1000} s: ${JSON.stringify(s?.phase)} ${JSON.stringify(s?.decisions.at(-1))}`,
      );
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** A history event's time in ms since the epoch (its eventTime). */
export const eventMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number =>
  Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;

export const failureType = (e: unknown) =>
  e instanceof WorkflowFailedError && e.cause instanceof ApplicationFailure ? e.cause.type : undefined;

/**
 * Waits until the downstream's app table (`rows` unless named) equals the
 * primary's (rows and checksum): every row exactly once. A table DM has not
 * created downstream yet counts as not yet matching.
 */
export async function downstreamMatches(
  primary: SqlTarget,
  downstream: SqlTarget,
  timeoutMs = 60_000,
  table = 'rows',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [want, got] = await Promise.all([
      tableChecksum(primary, table),
      tableChecksum(downstream, table).catch((e: Error) => e.message),
    ]);
    if (typeof got !== 'string' && want.rows === got.rows && want.checksum === got.checksum) return;
    if (Date.now() > deadline)
      throw new Error(`downstream app.${table} ${JSON.stringify(got)} != upstream ${JSON.stringify(want)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** The stage and unit of a task's subtask on a source, or null when DM does not list it. */
export async function taskState(
  dm: DmCluster,
  sourceId: string,
  task: string,
): Promise<{ stage: string; unit: string } | null> {
  const r = expectOk('query-status', await dm.ctl(['query-status', '-s', sourceId]));
  const subs =
    (r.sources as Array<{ subTaskStatus?: Array<{ name: string; stage: string; unit: string }> }>)[0]?.subTaskStatus ??
    [];
  const sub = subs.find((x) => x.name === task);
  return sub ? { stage: sub.stage, unit: sub.unit } : null;
}

/** Where DM's source config says the source reads from; null when DM does not know the source. */
export async function sourceReads(dm: DmCluster, sourceId: string): Promise<Endpoint | null> {
  const r = await dm.ctl(['config', 'source', sourceId]);
  if (r.result !== true) return null;
  const from = (parseYaml(String(r.cfg)) as { from: Endpoint }).from;
  return { host: from.host, port: Number(from.port) };
}

/** Every source DM knows (operate-source show). */
export async function sourceIds(dm: DmCluster): Promise<string[]> {
  const r = expectOk('operate-source show', await dm.ctl(['operate-source', 'show']));
  return (r.sources as Array<{ source: string }>).map((x) => x.source).filter(Boolean);
}

/** The steps an address switch records, in order, when it stops and starts `task` with relay off. */
export function addressSwitchSteps(sourceId: string, task: string, to: Endpoint): string[] {
  return [
    `stop-task -s ${sourceId} ${task}`,
    `operate-source stop ${sourceId}`,
    `operate-source create ${sourceId} reading ${to.host}:${to.port}`,
    `start-task -s ${sourceId} ${task}`,
  ];
}

/** The relay unit of a source as query-status shows it; null when relay is off. */
export async function relayStatus(
  dm: DmCluster,
  sourceId: string,
): Promise<{ relaySubDir: string; stage: string; relayCatchUpMaster: boolean; relayBinlogGtid: string } | null> {
  const r = expectOk('query-status', await dm.ctl(['query-status', '-s', sourceId]));
  return (
    r.sources as Array<{
      sourceStatus: {
        relayStatus: null | {
          relaySubDir: string;
          stage: string;
          relayCatchUpMaster: boolean;
          relayBinlogGtid: string;
        };
      };
    }>
  )[0]!.sourceStatus.relayStatus;
}

/** `start-relay` for a source, then waits (up to 30 s) until its relay unit is Running; returns its status. */
export async function startRelay(dm: DmCluster, sourceId: string): Promise<Awaited<ReturnType<typeof relayStatus>>> {
  expectOk('start-relay', await dm.ctl(['start-relay', '-s', sourceId]));
  for (let i = 0; i < 60 && (await relayStatus(dm, sourceId))?.stage !== 'Running'; i++)
    await new Promise((r) => setTimeout(r, 500));
  return relayStatus(dm, sourceId);
}

/** How many binlog dump connections an instance serves (DM reading from it). */
export async function binlogDumps(db: DbInstance): Promise<number> {
  const rows = await db.query<{ n: number }>(
    `SELECT COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'`,
  );
  return Number(rows[0]!.n);
}

/**
 * The GTID sets a dm-worker's relay unit said it starts from (`adjusted meta
 * to start pos` in its log: what it asks the upstream for), oldest first.
 */
export async function relayStartGtids(dm: DmCluster, worker = 0): Promise<string[]> {
  const log = await readFile(dm.workers[worker]!.logFile, 'utf8').catch(() => '');
  const out: string[] = [];
  for (const line of log.split('\n')) {
    if (!line.includes('adjusted meta to start pos')) continue;
    const m = /\["start pos's binlog gtid"=("(?:[^"\\]|\\.)*"|[^\]]*)\]/.exec(line);
    if (m) out.push(m[1]!.startsWith('"') ? (JSON.parse(m[1]!) as string) : m[1]!);
  }
  return out;
}

/** How many times a dm-worker's log says it purged the whole relay directory. */
export async function relayPurges(dm: DmCluster, worker = 0): Promise<number> {
  const log = await readFile(dm.workers[worker]!.logFile, 'utf8').catch(() => '');
  return log.split('\n').filter((l) => l.includes('relay dir is purged to be ready for new relay log')).length;
}

/**
 * Polls a visibility list query until it finds the run (visibility is
 * eventually consistent, SQL and Elasticsearch alike) and returns the run's
 * search attributes as listed there, name → first value.
 */
export async function listedSwitch(
  client: Client,
  query: string,
  runId: string,
  timeoutMs = 30_000,
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for await (const w of client.workflow.list({ query })) {
      if (w.runId === runId)
        return Object.fromEntries(Object.entries(w.searchAttributes).map(([k, v]) => [k, Array.isArray(v) ? v[0] : v]));
    }
    if (Date.now() > deadline) throw new Error(`no run ${runId} listed by ${query} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** A pending activity as describe() shows it. */
export type PendingActivity = {
  activityType?: { name?: string | null } | null;
  attempt?: number | null;
  lastWorkerIdentity?: string | null;
  lastStartedTime?: { seconds?: unknown; nanos?: number | null } | null;
};

/**
 * Of several worker processes on one task queue, kills (SIGKILL) the one
 * running `activity` for this switch (the SDK's identity is pid@host), then
 * waits until another worker started its retry. Returns when the retry
 * started, relative to the kill, and both attempts.
 */
export async function killWorkerRunning(
  handle: WorkflowHandle,
  activity: string,
  workers: Array<{ pid: number | undefined; kill9(): Promise<void> }>,
  timeoutMs = 120_000,
): Promise<{ first: PendingActivity; retry: PendingActivity; takeoverMs: number; victim: number }> {
  const startedMs = (p: PendingActivity) =>
    Number(p.lastStartedTime?.seconds ?? 0) * 1000 + (p.lastStartedTime?.nanos ?? 0) / 1e6;
  const pending = async (): Promise<PendingActivity | undefined> =>
    ((await handle.describe()).raw.pendingActivities as PendingActivity[] | undefined)?.find(
      (p) => p.activityType?.name === activity && p.lastWorkerIdentity,
    );
  let first: PendingActivity | undefined;
  for (const deadline = Date.now() + timeoutMs; !(first = await pending());) {
    if (Date.now() > deadline) throw new Error(`the switch never ran ${activity}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const pid = Number(first.lastWorkerIdentity!.split('@')[0]);
  const victim = workers.findIndex((w) => w.pid === pid);
  if (victim < 0)
    throw new Error(
      `${activity} runs on ${first.lastWorkerIdentity}, none of the workers given (${workers.map((w) => w.pid).join(', ')})`,
    );
  const killedAt = Date.now();
  await workers[victim]!.kill9();
  for (const deadline = Date.now() + 60_000; ;) {
    const retry = await pending();
    // the retry scheduled is not enough (its worker identity is still the dead one's): started again, after the kill
    if (retry && (retry.attempt ?? 1) > (first.attempt ?? 1) && startedMs(retry) > killedAt)
      return { first, retry, takeoverMs: startedMs(retry) - killedAt, victim };
    if (Date.now() > deadline) throw new Error(`no other worker took ${activity} over: ${JSON.stringify(retry)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
