/**
 * A scripted (fake) world for the switch workflows on a real Temporal dev
 * server: DM tasks, two instances and a VIP, with every call recorded and
 * faults on demand. For the branches whose faults real components cannot
 * produce cheaply; the real-stack tests (test/integration) cover the rest.
 */
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, inject } from 'vitest';
import { relaySwitched, sourceRestored, tasksBehind, upstreamGtids } from '../../activities/dm/positions.js';
import { dumpsMoved, type LoginCheck } from '../../activities/mysql.js';
import type { TaskCheck } from '../../activities/dm/tasks.js';
import type {
  BinlogDumpClient,
  InstanceFacts,
  NotifyEvent,
  NotifyResult,
  RelayState,
  SourceState,
  SourceTask,
} from '../../common/switch/types.js';
import { createTemporalActivities } from '../../activities/temporal.js';
import { switchWorkflowId } from '../../common/switch/ids.js';
import { statusQuery } from '../../common/switch/messages.js';
import type { Gate, SwitchStatus } from '../../common/switch/status.js';
import type { VipSwitchRequest } from '../../common/switch/input.js';
import { startTemporal, type TemporalDevServer } from '../sandbox/temporal.js';
import { workflowInterceptorModules, workflowsPath } from '../../worker/workflows-path.js';
import { workerTracing } from '../../worker/tracing.js';

export const U = '3e11fa47-71ca-11e1-9e33-c80aa9429562';

/** A scripted world: DM tasks, two instances and a VIP, with the calls recorded and faults on demand. */
export interface ScriptedFaults {
  /** Another source (src2) reads the VIP too, its task left Paused (a half-done switch's pause). */
  pausedSharer?: boolean;
  moveBackFails?: boolean;
  resumeLeavesError?: boolean;
  newLagsForever?: boolean;
  oldDown?: boolean;
  vipOnNew?: boolean;
  purgedBeyond?: boolean;
  /** A second task, `app2`, on the source. */
  twoTasks?: boolean;
  /** pause-task of this task fails (DM refuses it) after the tasks before it were paused. */
  pauseFailsOn?: string;
  /** resume-task of this task fails while the VIP is on the new instance, after the tasks before it were resumed. */
  resumeFailsOn?: string;
  /** The first VIP move takes effect, but its answer is lost (the worker died before completing it). */
  moveAnswerLost?: boolean;
  /** The tasks' checkpoint-flush-interval in their configuration (`config task`); 3 s (the sandbox's) when unset. */
  flushSeconds?: number;
  /**
   * DM's answer to the early checkpoint flush verification asks for (`validation update --cutover-binlog-gtid`):
   * 'no-validator' (a task without continuous validation, as DM answers the sandbox's tasks) unless set; 'fails':
   * the activity itself fails.
   */
  cutover?: 'set' | 'no-validator' | 'refused' | 'fails';
  /** Every task has a validator (continuous validation), as query-status reports it: its stage and mode. */
  validator?: { stage: 'Running' | 'Stopped'; mode: 'fast' | 'full' };
  /** Another source (src2) reads the VIP too, its task Running with a validator Running (mode fast). */
  sharerValidator?: boolean;
}

type Reads = {
  dmFindSource(req?: { sourceId: string }): Promise<SourceState | null>;
  mysqlBinlogDumpClientsIfUp(ref: { host: string }): Promise<BinlogDumpClient[] | null>;
};
/**
 * The waiting activities (dmAwait…, mysqlAwaitDumpClients), judged by the
 * real activities' own rules on one reading of the scripted world: nothing
 * in it changes with time, so waiting longer would see the same.
 */
/** DM's answer, per task, to an early checkpoint flush at a GTID set; `calls` records the set asked for. */
function cutoverOf(answer: ScriptedFaults['cutover'], calls?: string[]) {
  return {
    async dmRequestCheckpointFlushAt(req: { sourceId: string; tasks: string[]; gtidSet: string }) {
      calls?.push(`flushAt ${req.gtidSet}`);
      if (answer === 'fails') {
        const message = 'dmctl validation update timed out (scripted)';
        throw ApplicationFailure.create({ message, type: 'DmUnavailable', nonRetryable: true });
      }
      return req.tasks.map((task) =>
        answer === 'set'
          ? { task, outcome: 'set' as const, words: '' }
          : answer === 'refused'
            ? { task, outcome: 'refused' as const, words: `source ${req.sourceId} relevant worker-client not found` }
            : {
                task,
                outcome: 'no-validator' as const,
                words: `validator not found for task ${task} with source ${req.sourceId}`,
              },
      );
    },
  };
}

function awaitsOf(a: Reads) {
  return {
    ...cutoverOf(undefined),
    async dmAwaitPositions(req: {
      sourceId: string;
      tasks: string[];
      want: string;
      relaySwitchedFrom?: string | null;
    }) {
      const s = (await a.dmFindSource(req))!;
      const behind = tasksBehind(s, req.tasks, req.want);
      const relayOk = req.relaySwitchedFrom !== undefined && relaySwitched(s.relay, req.relaySwitchedFrom);
      const ok = behind.length === 0 && (req.relaySwitchedFrom === undefined || relayOk);
      return {
        ok,
        tasks: s.tasks.filter((t) => req.tasks.includes(t.name)),
        behind,
        held: [],
        relay: s.relay,
        relayOk,
        flavor: s.flavor,
        waitedSeconds: 0,
      };
    },
    async dmAwaitRelaySwitched(req: { sourceId: string; oldRelayDir: string | null }) {
      const relay = (await a.dmFindSource(req))?.relay ?? null;
      return { ok: relaySwitched(relay, req.oldRelayDir), relay, waitedSeconds: 0 };
    },
    async dmAwaitTasksCaughtUp(req: { sourceId: string; tasks: string[] }) {
      const s = (await a.dmFindSource(req))!;
      const want = upstreamGtids(s, req.tasks);
      const behind = tasksBehind(s, req.tasks, want);
      return { ok: behind.length === 0, want, behind, reopened: [], waitedSeconds: 0 };
    },
    async dmAwaitSourceRestored(req: {
      sourceId: string;
      tasks: string[];
      relay: boolean;
      from?: { host: string; port: number } | null;
    }) {
      const s = await a.dmFindSource(req);
      const restored = sourceRestored(s, req);
      const want = restored ? upstreamGtids(s!, req.tasks) : '';
      const behind = restored ? tasksBehind(s!, req.tasks, want) : [];
      return { ok: restored && behind.length === 0, restored, want, behind, waitedSeconds: 0 };
    },
    async mysqlAwaitDumpClients(req: {
      reads: { host: string } | null;
      notReads: { host: string } | null;
      owners: string[];
      ownerHosts?: string[];
    }) {
      const owners = [...req.owners, ...(req.ownerHosts ?? [])];
      const onReads = req.reads ? await a.mysqlBinlogDumpClientsIfUp(req.reads) : null;
      const onNotReads = req.notReads ? await a.mysqlBinlogDumpClientsIfUp(req.notReads) : null;
      return {
        ok: dumpsMoved({ reads: req.reads, owners }, onReads, onNotReads),
        onReads,
        onNotReads,
        owners,
        waitedSeconds: 0,
      };
    },
  };
}

const primaryChannel = {
  ioRunning: true,
  sqlRunning: true,
  sourceHost: 'primary',
  sourcePort: 3306,
  sourceUuid: U,
  sourceServerId: 9,
  lastError: '',
};

/** A scripted failure DM or MySQL would answer with (not retried). */
const fail = (message: string, type = 'DmOperationFailed') =>
  ApplicationFailure.create({ message, type, nonRetryable: true });

/** DM's binlog dump connection as MySQL lists it, from a dm-worker at `address`. */
const dumpFrom = (address: string, id = 7) => ({
  id,
  user: 'dm',
  host: `${address}:1234`,
  clientAddress: address,
  clientAddresses: [address],
  command: 'Binlog Dump GTID',
  seconds: 1,
});

/** What mysqlInspect reads of a host that does not answer. */
const unreachable = (host: string): InstanceFacts => ({
  reachable: false,
  address: `${host}:3306`,
  error: 'connect ECONNREFUSED (scripted)',
});

/** Relay running on `subDir`, caught up at U:1-100. */
const relayOn = (subDir: string): RelayState => ({
  stage: 'Running',
  relaySubDir: subDir,
  relayBinlogGtid: `${U}:1-100`,
  masterBinlogGtid: `${U}:1-100`,
  relayCatchUpMaster: true,
});

/** A MySQL 9.7 replica of `primary` (server_uuid U) as mysqlInspect reads it; `sourceGtids`: what its source has. */
export function instanceFacts(i: {
  host: string;
  uuid: string;
  executed: string;
  purged: string;
  sourceGtids?: string;
  over?: Partial<InstanceFacts>;
}): InstanceFacts {
  return {
    reachable: true,
    address: `${i.host}:3306`,
    flavor: 'mysql',
    version: '9.7.4',
    serverUuid: i.uuid,
    serverId: 1,
    gtidMode: 'ON',
    binlogFormat: 'ROW',
    binlogRowImage: 'FULL',
    binlogRowEventMaxSize: 8192,
    logBin: true,
    gtidExecuted: i.executed,
    gtidPurged: i.purged,
    replica: primaryChannel,
    channels: [primaryChannel],
    readOnly: true,
    logReplicaUpdates: true,
    gtidBinlogState: null,
    gtidStrictMode: null,
    sources: [
      { reachable: true, address: 'primary:3306', serverUuid: U, serverId: 9, gtids: i.sourceGtids ?? i.executed },
    ],
    ...i.over,
  } as InstanceFacts;
}

type ResumeParts = Record<'dmResumeTasks' | 'dmAwaitSyncing', () => Promise<SourceTask[]>>;

export function fakeWorld(faults: ScriptedFaults = {}) {
  const calls: string[] = [];
  /** What the notify activity was asked to send (outside `calls`: it is no change to the world). */
  const notices: NotifyEvent[] = [];
  const task = (name: string): SourceTask => ({
    name,
    stage: 'Running',
    unit: 'Sync',
    syncerBinlogGtid: `${U}:1-100`,
    masterBinlogGtid: `${U}:1-100`,
    errors: [],
    ...(faults.validator ? { validation: { ...faults.validator } } : {}),
  });
  const tasks: SourceTask[] = faults.twoTasks ? [task('app'), task('app2')] : [task('app')];
  let answerLost = false;
  let holder = faults.vipOnNew ? 'new.example' : 'old.example';
  const facts = (host: string, uuid: string, executed: string, purged: string) =>
    instanceFacts({ host, uuid, executed, purged });
  // DM's worker reads the VIP's holder while a task runs
  const dumps = (host: string) =>
    holder === host && tasks.some((t) => t.stage === 'Running')
      ? [
          {
            id: 7,
            user: 'dm',
            host: '192.0.2.7:1234',
            clientAddress: '192.0.2.7',
            clientAddresses: ['192.0.2.7'],
            command: 'Binlog Dump GTID',
            seconds: 1,
          },
        ]
      : [];
  const state = (): SourceState => ({
    sourceId: 'src',
    worker: 'w1',
    enableGtid: true,
    enableRelay: false,
    flavor: 'mysql',
    from: { host: 'vip.example', port: 3306, user: 'dm' },
    relay: null,
    tasks: tasks.map((t) => ({ ...t })),
  });
  const activities = {
    // no notifier configured, as a worker without `notify` answers
    async notifySend(e: NotifyEvent): Promise<NotifyResult> {
      notices.push(e);
      return { sent: false, reason: 'no notifier configured' };
    },
    async dmSourceState(req: { sourceId: string }) {
      calls.push('dmSourceState');
      if (faults.pausedSharer && req.sourceId === 'src2')
        return { ...state(), sourceId: 'src2', tasks: [{ ...task('app-s2'), stage: 'Paused' }] };
      if (faults.sharerValidator && req.sourceId === 'src2') {
        const validation = { stage: 'Running', mode: 'fast' };
        return { ...state(), sourceId: 'src2', worker: 'w2', tasks: [{ ...task('app-s2'), validation }] };
      }
      return state();
    },
    async dmFindSource() {
      calls.push('dmFindSource');
      return state();
    },
    async dmPauseTasks() {
      calls.push('pause');
      for (const t of tasks) {
        if (t.name === faults.pauseFailsOn)
          throw ApplicationFailure.create({
            message: `dmctl pause-task ${t.name} failed: scripted`,
            type: 'DmOperationFailed',
            nonRetryable: true,
          });
        t.stage = 'Paused';
      }
      return state().tasks;
    },
    async dmResumeTasks() {
      calls.push('resume');
      for (const t of tasks) {
        if (t.name === faults.resumeFailsOn && holder === 'new.example')
          throw ApplicationFailure.create({
            message: `dmctl resume-task ${t.name} failed: scripted`,
            type: 'DmOperationFailed',
            nonRetryable: true,
          });
        t.stage = faults.resumeLeavesError && holder === 'new.example' ? 'Paused' : 'Running';
        t.errors = faults.resumeLeavesError && holder === 'new.example' ? ['binlog checksum mismatch (scripted)'] : [];
      }
      return state().tasks;
    },
    async dmAwaitSyncing() {
      calls.push('awaitSyncing');
      if (tasks.some((t) => t.errors.length))
        throw ApplicationFailure.create({
          message: `tasks did not become Running: ${tasks.map((t) => t.errors.join()).join()}`,
          type: 'VerificationFailed',
          nonRetryable: true,
        });
      return state().tasks;
    },
    /**
     * The real one resumes and waits for Running/Sync in one activity: this world's resume, then its wait. Called on
     * the world by the file's dispatcher (so a test's replacement of either is used); a worker given these
     * activities directly calls it with no `this`, and it then uses this world's own.
     */
    async dmResumeTasksSyncing(this: ResumeParts | undefined) {
      const w = this ?? (activities as unknown as ResumeParts);
      await w.dmResumeTasks();
      return w.dmAwaitSyncing();
    },
    async mysqlInspect(ref: { host: string }): Promise<InstanceFacts> {
      calls.push(`inspect ${ref.host}`);
      if (ref.host === 'old.example')
        return faults.oldDown
          ? { reachable: false, address: 'old.example:3306', error: 'connect ECONNREFUSED (scripted)' }
          : facts('old.example', 'aaaaaaaa-0000-0000-0000-000000000001', `${U}:1-100`, '');
      return facts(
        'new.example',
        'aaaaaaaa-0000-0000-0000-000000000002',
        faults.newLagsForever ? `${U}:1-90` : `${U}:1-100`,
        faults.purgedBeyond ? `${U}:1-120` : `${U}:1-10`,
      );
    },
    async mysqlWaitForGtids(req: { timeoutSeconds: number; instance?: { host: string } }) {
      calls.push('waitForGtids');
      // the old instance holds U:1-100, all that DM ever applied here (the rollback check asks it)
      if (req.instance?.host === 'old.example' && !faults.oldDown)
        return { caughtUp: true, missing: '', waitedSeconds: 0 };
      return { caughtUp: false, missing: `${U}:91-100`, waitedSeconds: req.timeoutSeconds };
    },
    async mysqlBinlogDumpClients(ref: { host: string }) {
      calls.push('dumpClients');
      return dumps(ref.host);
    },
    async mysqlBinlogDumpClientsIfUp(ref: { host: string }) {
      calls.push('dumpClientsOld');
      return faults.oldDown && ref.host === 'old.example' ? null : dumps(ref.host);
    },
    async mysqlCloseIdleConnections() {
      calls.push('closeIdle');
      return { closed: [], refused: [] };
    },
    async dmTaskShardModes() {
      calls.push('shardModes');
      return {};
    },
    async dmTaskFlushIntervals(req: { tasks: string[] }) {
      calls.push('flushIntervals');
      const seconds = faults.flushSeconds ?? 3;
      return Object.fromEntries(
        req.tasks.map((t) => [t, { seconds, setIn: 'syncers.sync-01.checkpoint-flush-interval' }]),
      );
    },
    async dmSourceWorker() {
      calls.push('sourceWorker');
      return { name: 'w1', addr: '192.0.2.7:8262', hosts: ['192.0.2.7'] };
    },
    async netResolveHosts(req: { hosts: string[] }) {
      return Object.fromEntries(req.hosts.map((h) => [h, h === 'vip.example' ? ['192.0.2.14'] : [h]]));
    },
    // one DM cluster, whose only source is the one switched (its id varies by test), so no other reads the VIP;
    // no host under drain (reads: not in `calls`)
    async dmClusters() {
      return ['default'];
    },
    async dmListSources(): Promise<Array<{ sourceId: string; from: { host: string; port: number }; flavor: 'mysql' }>> {
      return faults.pausedSharer || faults.sharerValidator
        ? [{ sourceId: 'src2', from: { host: 'vip.example', port: 3306 }, flavor: 'mysql' }]
        : [];
    },
    async hostMarksOf(req: { targets: unknown[] }) {
      return req.targets.map(() => null);
    },
    async vipLocate() {
      calls.push('vipLocate');
      return holder;
    },
    async vipMove(req: { to: { host: string } }) {
      calls.push(`vipMove ${req.to.host}`);
      if (holder === req.to.host) return { alreadyThere: true, holder };
      if (faults.moveBackFails && req.to.host === 'old.example')
        throw ApplicationFailure.create({
          message: 'VIP provider: old host unreachable (scripted)',
          type: 'VipMoveFailed',
          nonRetryable: true,
        });
      holder = req.to.host;
      if (faults.moveAnswerLost && !answerLost) {
        answerLost = true;
        throw ApplicationFailure.create({
          message: 'worker lost before the move completed (scripted)',
          nonRetryable: false,
        });
      }
      return { alreadyThere: false, holder };
    },
  };
  Object.assign(activities, awaitsOf(activities));
  if (faults.cutover) Object.assign(activities, cutoverOf(faults.cutover, calls));
  return {
    calls,
    notices,
    activities: activities as typeof activities & ReturnType<typeof awaitsOf>,
    holder: () => holder,
    tasks,
  };
}

export const input = (over: Partial<VipSwitchRequest> = {}): VipSwitchRequest => ({
  sourceId: 'src',
  newInstance: { host: 'new.example', credentials: 'upstream' },
  oldInstance: { host: 'old.example', credentials: 'upstream' },
  vip: { address: 'vip.example' },
  options: { catchUpTimeoutSeconds: 1, verifyTimeoutSeconds: 20 },
  ...over,
});

let temporal: TemporalDevServer | undefined;
let address: string;
let namespace = 'default';
let client: Client;
let bundle: WorkflowBundleWithSourceMap;

/**
 * The calling test file's Temporal: in the fast tier, the shared dev server
 * and bundle of its global setup (test/workflow/shared-temporal.ts), in this
 * worker slot's own namespace; otherwise a dev server and a bundle of its own.
 * Returns the client once ready.
 */
export function useScriptedTemporal(): { client: () => Client } {
  beforeAll(async () => {
    const shared = inject('scriptedTemporal');
    const slot = Number(process.env.VITEST_POOL_ID ?? 1);
    if (shared && slot <= shared.namespaces) {
      address = shared.address;
      namespace = `${shared.namespacePrefix}${slot}`;
      bundle = shared.bundle;
    } else {
      [temporal, bundle] = await Promise.all([
        startTemporal(),
        bundleWorkflowCode({ workflowsPath, workflowInterceptorModules }),
      ]);
      address = temporal.address;
    }
    client = new Client({ connection: await Connection.connect({ address }), namespace });
  }, 120_000);
  afterAll(async () => {
    if (fileWorker) {
      const { worker, running, connection } = await fileWorker;
      fileWorker = undefined;
      worker.shutdown();
      await running;
      await connection.close();
    }
    await client?.connection.close();
    await temporal?.destroy();
  });
  return { client: () => client };
}

/**
 * One worker for the whole test file (creating one loads the workflow bundle,
 * 0.5 s on an idle machine and seconds on a busy one): every workflow a test
 * runs goes to its task queue, and each activity is the one of the world the
 * running test set (`current`). Tests in a file run one after the other.
 */
type FileWorker = { worker: Worker; running: Promise<void>; connection: NativeConnection; taskQueue: string };
let fileWorker: Promise<FileWorker> | undefined;
let current: { activities: object } | undefined;

function worldWorker() {
  fileWorker ??= (async () => {
    // every activity any scripted world has; one the running world lacks fails as an unregistered one would
    const worlds = [fakeWorld(), fakeAddressWorld(), fakeDrainWorld([]), fakeCandidateWorld({})];
    const names = new Set(worlds.flatMap((w) => Object.keys(w.activities)));
    const activities = Object.fromEntries(
      [...names].map((name) => [
        name,
        (...args: unknown[]) => {
          const world = current?.activities as Record<string, ((...a: unknown[]) => unknown) | undefined> | undefined;
          const fn = world?.[name];
          const message = `activity ${name} is not in this test's scripted world`;
          if (!fn) throw ApplicationFailure.create({ message, type: 'NotFoundError' });
          // called on the world, so that an activity made of others calls the ones a test replaced
          return fn.apply(world, args);
        },
      ]),
    );
    const taskQueue = `scripted-${process.pid}-${Date.now()}`;
    const connection = await NativeConnection.connect({ address });
    // the bundle's trace interceptors send their spans to this sink; a worker that traces nothing drops them
    const { sinks } = workerTracing(undefined);
    const worker = await Worker.create({ connection, namespace, taskQueue, workflowBundle: bundle, activities, sinks });
    return { worker, running: worker.run(), connection, taskQueue };
  })();
  return fileWorker;
}

/** Runs `fn` with the file's worker serving `world`'s activities on its task queue. */
async function withWorld<T>(world: { activities: object }, fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const { taskQueue } = await worldWorker();
  current = world;
  try {
    return await fn(taskQueue);
  } finally {
    current = undefined;
  }
}

/** Polls the status until `gate` (any gate when left out) is pending, up to `attempts` × 100 ms; that status. */
export async function pendingGate(h: WorkflowHandle, gate?: Gate, attempts = 200): Promise<SwitchStatus> {
  for (let i = 0; i < attempts; i++) {
    const s = await h.query(statusQuery);
    if (s.approvals.some((a) => (gate === undefined || a.gate === gate) && a.state === 'pending')) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`gate ${gate ?? '(any)'} never became pending`);
}

/** The dev server's address and the bundled workflows, for a test that runs its own workers. */
export function scriptedServer(): { address: string; namespace: string; bundle: WorkflowBundleWithSourceMap } {
  return { address, namespace, bundle };
}

let queueN = 0;
/**
 * Runs one switch. With DM_SWITCH_SAVE_HISTORIES=1, its history is saved as
 * test/fixtures/histories/<save>.json for the replay test (which catches
 * non-deterministic changes to the workflow code before users do).
 */
export async function runSwitch(
  world: { activities: object },
  req: unknown,
  during?: (h: Awaited<ReturnType<Client['workflow']['start']>>) => Promise<void>,
  save?: string,
  workflowId?: string,
  workflowType: 'vipSwitch' | 'addressSwitch' = 'vipSwitch',
) {
  return withWorld(world, async (taskQueue) => {
    const r = req as { dmCluster?: string; sourceId?: string };
    const sourceId = typeof r.sourceId === 'string' ? r.sourceId : `invalid-${++queueN}`;
    const id = workflowId ?? switchWorkflowId(r.dmCluster ?? 'default', sourceId);
    const handle = await client.workflow.start(workflowType, { taskQueue, workflowId: id, args: [req] });
    if (during) await during(handle);
    let error: unknown;
    let result: SwitchStatus | undefined;
    try {
      result = (await handle.result()) as SwitchStatus;
    } catch (e) {
      error = e;
    }
    const status = await handle.query(statusQuery);
    if (save && process.env.DM_SWITCH_SAVE_HISTORIES) {
      await writeFile(
        join(import.meta.dirname, '../fixtures/histories', `${save}.json`),
        historyToJSON(await handle.fetchHistory()),
      );
    }
    return { result, error, status, workflowId: handle.workflowId };
  });
}
export const failureType = (e: unknown) =>
  e instanceof WorkflowFailedError && e.cause instanceof ApplicationFailure ? e.cause.type : undefined;

/** Faults of the address switch's scripted world. */
export interface AddressFaults {
  /** stop-task of this task refused (on the old source) after the tasks before it were stopped. */
  stopFailsOn?: string;
  /** The new instance purged transactions past DM's position (gtid_purged U:1-120): a GTID refusal. */
  purgedBeyond?: boolean;
  /** start-task of this task refused on the new source, after the tasks before it were started. */
  startFailsOnNew?: string;
  /** Tasks started on the new source come up Paused with an error (verification sees them fail). */
  errorOnNew?: boolean;
  /** The verification's binlog-dump wait (mysqlAwaitDumpClients) crashes this many times (a lost connection). */
  verifyCrashes?: number;
  /** The source has relay on (enable-relay: true), reading sub-directory old-uuid.000001. */
  relay?: boolean;
  /** The tasks' checkpoint-flush-interval in their configuration (`config task`); 3 s (the sandbox's) when unset. */
  flushSeconds?: number;
}

const OLD_UUID = 'aaaaaaaa-0000-0000-0000-000000000001';
const at100 = { syncerBinlogGtid: `${U}:1-100`, masterBinlogGtid: `${U}:1-100` };
const NEW_UUID = 'aaaaaaaa-0000-0000-0000-000000000002';

/**
 * A scripted world for the address switch: a source reading old.example with
 * two tasks (app, app2), re-pointed to new.example. Calls record the host the
 * source reads where it matters (`startTasks new.example`).
 */
export function fakeAddressWorld(faults: AddressFaults = {}) {
  const base = fakeWorld({ twoTasks: true, purgedBeyond: faults.purgedBeyond, flushSeconds: faults.flushSeconds });
  const calls = base.calls;
  let source: { host: string; relay: boolean } | null = { host: 'old.example', relay: !!faults.relay };
  let relay: RelayState | null = faults.relay ? relayOn(`${OLD_UUID}.000001`) : null;
  let tasks: SourceTask[] = base.tasks.map((t) => ({ ...t }));
  let crashes = faults.verifyCrashes ?? 0;
  const state = (): SourceState | null =>
    source && {
      ...{ sourceId: 'src', worker: 'w1', enableGtid: true, enableRelay: source.relay, flavor: 'mysql' as const },
      ...{ from: { host: source.host, port: 3306, user: 'dm' }, relay, tasks: tasks.map((t) => ({ ...t })) },
    };
  const saved = ['app', 'app2'].map((name) => ({
    name,
    yaml: `name: ${name}\n`,
    target: { host: 'tidb.example', port: 4000, user: 'root' },
    metaSchema: 'dm_meta',
  }));
  const reading = () => relay?.stage === 'Running' || tasks.some((t) => t.stage === 'Running');
  const dumps = (host: string) => (source?.host === host && reading() ? [dumpFrom('192.0.2.7')] : []);
  const activities = {
    ...base.activities,
    async dmFindSource() {
      calls.push('dmFindSource');
      return state();
    },
    async dmSourceState() {
      calls.push('dmSourceState');
      const s = state();
      if (!s)
        throw ApplicationFailure.create({
          message: 'source not found (scripted)',
          type: 'PreflightFailed',
          nonRetryable: true,
        });
      return s;
    },
    async dmSaveConfigs() {
      calls.push('saveConfigs');
      return { source: 'source-id: src\n', tasks: saved };
    },
    async mysqlCheckLogin(_ref: { host: string }): Promise<LoginCheck> {
      return { ok: true, version: '9.7.4' };
    },
    async dmCheckTasks(): Promise<Record<string, TaskCheck>> {
      return Object.fromEntries(saved.map((t) => [t.name, { checked: true, summary: 'passed' }]));
    },
    async mysqlReadCheckpoint() {
      return { binlogGtid: `${U}:1-100`, binlogName: 'binlog.000001', binlogPos: 4 };
    },
    async dmStopTasks(req: { tasks: string[] }) {
      calls.push('stopTasks');
      for (const name of req.tasks) {
        if (name === faults.stopFailsOn && source?.host === 'old.example')
          throw ApplicationFailure.create({
            message: `dmctl stop-task ${name} failed: scripted`,
            type: 'DmOperationFailed',
            nonRetryable: true,
          });
        tasks = tasks.filter((t) => t.name !== name);
      }
      return req.tasks;
    },
    async dmStopRelay() {
      calls.push(`stopRelay ${source?.host}`);
      const frozen = relay && { ...relay };
      if (relay) relay = { ...relay, stage: 'Stopped' };
      return { wasRunning: frozen?.stage === 'Running', frozen };
    },
    async dmStartRelay() {
      calls.push(`startRelay ${source?.host}`);
      if (!source) throw fail('no source (scripted)');
      // DM starts relay on a new sub-directory named by the upstream's server_uuid
      const uuid = source.host === 'new.example' ? NEW_UUID : OLD_UUID;
      if (relay?.stage !== 'Running') relay = relayOn(`${uuid}.${relay ? '000002' : '000001'}`);
      source.relay = true;
      return relay;
    },
    async dmStopSource() {
      calls.push(`stopSource ${source?.host}`);
      const had = source !== null;
      source = null;
      relay = null;
      return had;
    },
    async dmCreateSource(req: { from: { host: string }; enableRelay?: boolean }) {
      calls.push(`createSource ${req.from.host}${req.enableRelay === false ? ' relay-off' : ''}`);
      if (source)
        return source.host === req.from.host
          ? 'already'
          : Promise.reject(
              ApplicationFailure.create({
                message: 'source exists (scripted)',
                type: 'DmOperationFailed',
                nonRetryable: true,
              }),
            );
      source = { host: req.from.host, relay: req.enableRelay ?? !!faults.relay };
      if (source.relay) relay = relayOn(`${req.from.host === 'new.example' ? NEW_UUID : OLD_UUID}.000001`);
      return 'created';
    },
    async dmStartTasks(req: { tasks: Array<{ name: string }> }) {
      calls.push(`startTasks ${source?.host}`);
      const onNew = source?.host === 'new.example';
      for (const t of req.tasks) {
        if (t.name === faults.startFailsOnNew && onNew) throw fail(`dmctl start-task ${t.name} failed: scripted`);
        const bad = faults.errorOnNew && onNew;
        if (tasks.some((x) => x.name === t.name)) continue;
        const errors = bad ? ['binlog checksum mismatch (scripted)'] : [];
        tasks.push({ name: t.name, stage: bad ? 'Paused' : 'Running', unit: 'Sync', ...at100, errors });
      }
      return tasks.map((t) => ({ ...t }));
    },
    async dmAwaitSyncing(req: { tasks: string[] }) {
      calls.push('awaitSyncing');
      const bad = tasks.filter((t) => req.tasks.includes(t.name) && (t.stage !== 'Running' || t.errors.length));
      if (bad.length) {
        const what = bad.map((t) => `${t.name} ${t.errors.join()}`).join(', ');
        throw fail(`tasks did not become Running: ${what}`, 'VerificationFailed');
      }
      return tasks.filter((t) => req.tasks.includes(t.name)).map((t) => ({ ...t }));
    },
    async mysqlBinlogDumpClients(ref: { host: string }) {
      return dumps(ref.host);
    },
    async mysqlBinlogDumpClientsIfUp(ref: { host: string }) {
      return dumps(ref.host);
    },
  };
  const awaits = awaitsOf(activities);
  const awaitDumps = awaits.mysqlAwaitDumpClients;
  Object.assign(activities, awaits, {
    async mysqlAwaitDumpClients(req: Parameters<typeof awaitDumps>[0]) {
      calls.push(`awaitDumpClients ${source?.host}`);
      // a crash, as a lost connection to MySQL ends the activity: Temporal retries it
      if (crashes > 0 && source?.host === 'new.example') {
        crashes--;
        throw new Error('connection to new.example:3306 lost (scripted crash)');
      }
      return awaitDumps(req);
    },
  });
  return {
    calls,
    notices: base.notices,
    activities: activities as typeof activities & typeof awaits,
    source: () => source && { host: source.host },
    relay: () => relay,
    tasks: () => tasks,
  };
}

/** An address switch request from old.example to new.example. */
export const addressInput = (over: Record<string, unknown> = {}) => ({
  sourceId: 'src',
  newInstance: { host: 'new.example', credentials: 'upstream' },
  oldInstance: { host: 'old.example', credentials: 'upstream' },
  taskCredentials: 'downstream',
  options: { catchUpTimeoutSeconds: 1, verifyTimeoutSeconds: 20 },
  ...over,
});

/** One DM source of the drain's scripted world: its id, and its task's position (gtid-S). */
export interface DrainSource {
  id: string;
  /** syncerBinlogGtid of its task; default U:1-100. */
  gtidS?: string;
}

/**
 * A scripted world for drains: several DM sources reading old.example:3306 by
 * address, each with one task `<id>-app`, and new.example:3306, a replica
 * with gtid_purged U:1-10, where they may go. Calls that change DM name the
 * source (`stopTasks s1`, `createSource s1 new.example`). The drain's own
 * Temporal reads (switchAwaitStatus) are the real activity, through the
 * worker's client.
 */
export function fakeDrainWorld(list: DrainSource[]) {
  const calls: string[] = [];
  const notices: NotifyEvent[] = [];
  const task = (id: string, gtidS: string): SourceTask => ({
    name: `${id}-app`,
    stage: 'Running',
    unit: 'Sync',
    ...at100,
    syncerBinlogGtid: gtidS,
    errors: [],
  });
  const sources = new Map(
    list.map((s) => {
      const gtidS = s.gtidS ?? `${U}:1-100`;
      return [s.id, { host: 'old.example' as string | null, gtidS, tasks: [task(s.id, gtidS)] }];
    }),
  );
  const the = (id: string) => {
    const s = sources.get(id);
    if (!s) throw fail(`no source ${id} (scripted)`, 'InvalidInput');
    return s;
  };
  const state = (id: string): SourceState | null => {
    const s = sources.get(id);
    if (!s?.host) return null;
    const from = { host: s.host, port: 3306, user: 'dm' };
    const tasks = s.tasks.map((t) => ({ ...t }));
    const flavor = 'mysql' as const;
    return { sourceId: id, worker: `w-${id}`, enableGtid: true, enableRelay: false, flavor, from, relay: null, tasks };
  };
  const facts: Record<string, InstanceFacts> = {
    'old.example': instanceFacts({ host: 'old.example', uuid: OLD_UUID, executed: `${U}:1-100`, purged: '' }),
    'new.example': instanceFacts({ host: 'new.example', uuid: NEW_UUID, executed: `${U}:1-100`, purged: `${U}:1-10` }),
  };
  // each source has its own dm-worker (a worker serves one source), at its own address
  const workerAddress = (id: string) => `192.0.2.${10 + list.findIndex((s) => s.id === id)}`;
  const dumps = (host: string) =>
    [...sources.entries()]
      .filter(([, s]) => s.host === host && s.tasks.some((t) => t.stage === 'Running'))
      .map(([id], i) => dumpFrom(workerAddress(id), 7 + i));
  const target = { host: 'tidb.example', port: 4000, user: 'root' };
  const saved = (names: string[]) =>
    names.map((name) => ({ name, yaml: `name: ${name}\n`, target, metaSchema: 'dm_meta' }));
  const activities = {
    ...createTemporalActivities(),
    async notifySend(e: NotifyEvent): Promise<NotifyResult> {
      notices.push(e);
      return { sent: false, reason: 'no notifier configured' };
    },
    async dmClusters() {
      return ['default'];
    },
    async dmListSources() {
      return [...sources.entries()]
        .filter(([, s]) => s.host)
        .map(([sourceId, s]) => ({ sourceId, from: { host: s.host!, port: 3306 }, flavor: 'mysql' as const }));
    },
    async netResolveHosts(req: { hosts: string[] }) {
      return Object.fromEntries(req.hosts.map((h) => [h, [h]]));
    },
    async hostMarksOf(req: { targets: unknown[] }) {
      return req.targets.map(() => null);
    },
    async dmFindSource(req: { sourceId: string }) {
      return state(req.sourceId);
    },
    async dmSourceState(req: { sourceId: string }) {
      const s = state(req.sourceId);
      if (!s) throw fail('source not found (scripted)', 'PreflightFailed');
      return s;
    },
    async dmSaveConfigs(req: { sourceId: string; tasks: string[] }) {
      return { source: `source-id: ${req.sourceId}\n`, tasks: saved(req.tasks) };
    },
    async dmCheckTasks(req: { tasks: Array<{ name: string }> }) {
      return Object.fromEntries(req.tasks.map((t) => [t.name, { checked: true, summary: 'passed' }]));
    },
    async dmTaskShardModes() {
      return {};
    },
    async dmTaskFlushIntervals(req: { tasks: string[] }) {
      const at = { seconds: 3, setIn: 'syncers.sync-01.checkpoint-flush-interval' };
      return Object.fromEntries(req.tasks.map((t) => [t, at]));
    },
    async dmSourceWorker(req: { sourceId: string }) {
      const at = workerAddress(req.sourceId);
      return { name: `w-${req.sourceId}`, addr: `${at}:8262`, hosts: [at] };
    },
    async mysqlCheckLogin() {
      return { ok: true as const, version: '9.7.4' };
    },
    async mysqlReadCheckpoint(req: { sourceId: string }) {
      return { binlogGtid: the(req.sourceId).gtidS, binlogName: 'binlog.000001', binlogPos: 4 };
    },
    async mysqlInspect(ref: { host: string }): Promise<InstanceFacts> {
      return facts[ref.host] ?? unreachable(ref.host);
    },
    async mysqlWaitForGtids() {
      return { caughtUp: true, missing: '', waitedSeconds: 0 };
    },
    async mysqlBinlogDumpClients(ref: { host: string }) {
      return dumps(ref.host);
    },
    async mysqlBinlogDumpClientsIfUp(ref: { host: string }) {
      return dumps(ref.host);
    },
    async mysqlCloseIdleConnections() {
      return { closed: [], refused: [] };
    },
    async dmStopTasks(req: { sourceId: string; tasks: string[] }) {
      calls.push(`stopTasks ${req.sourceId}`);
      const s = the(req.sourceId);
      s.tasks = s.tasks.filter((t) => !req.tasks.includes(t.name));
      return req.tasks;
    },
    async dmStopSource(req: { sourceId: string }) {
      calls.push(`stopSource ${req.sourceId}`);
      const s = the(req.sourceId);
      const had = s.host !== null;
      s.host = null;
      return had;
    },
    async dmCreateSource(req: { sourceId: string; from: { host: string } }) {
      calls.push(`createSource ${req.sourceId} ${req.from.host}`);
      const s = the(req.sourceId);
      if (s.host) return s.host === req.from.host ? 'already' : Promise.reject(fail('source exists (scripted)'));
      s.host = req.from.host;
      return 'created';
    },
    async dmStartTasks(req: { sourceId: string; tasks: Array<{ name: string }> }) {
      const s = the(req.sourceId);
      calls.push(`startTasks ${req.sourceId} ${s.host}`);
      for (const t of req.tasks) {
        if (!s.tasks.some((x) => x.name === t.name)) s.tasks.push({ ...task(req.sourceId, s.gtidS), name: t.name });
      }
      return s.tasks.map((t) => ({ ...t }));
    },
    async dmAwaitSyncing(req: { sourceId: string; tasks: string[] }) {
      return the(req.sourceId)
        .tasks.filter((t) => req.tasks.includes(t.name))
        .map((t) => ({ ...t }));
    },
  };
  Object.assign(activities, awaitsOf(activities));
  const reads = (id: string) => sources.get(id)?.host ?? null;
  const stages = (id: string) => sources.get(id)?.tasks.map((t) => `${t.name} ${t.stage}`) ?? [];
  return { calls, notices, activities: activities as typeof activities & ReturnType<typeof awaitsOf>, reads, stages };
}

/**
 * Runs one workflow of any type under `workflowId` on the file's worker (its
 * child workflows run there too); its result or failure, and its `status`
 * query's answer at the end.
 */
export async function runWorkflow<S>(
  world: { activities: object },
  workflowType: string,
  req: unknown,
  workflowId: string,
  during?: (h: WorkflowHandle) => Promise<void>,
) {
  return withWorld(world, async (taskQueue) => {
    const handle = await client.workflow.start(workflowType, { taskQueue, workflowId, args: [req] });
    if (during) await during(handle);
    let error: unknown;
    let result: S | undefined;
    try {
      result = (await handle.result()) as S;
    } catch (e) {
      error = e;
    }
    const status = (await handle.query('status')) as S;
    return { result, error, status };
  });
}

/** A candidate of the target-choice world, as mysqlInspect reads it. */
export interface CandidateSpec {
  /** gtid_executed; default U:1-100 (what DM applied). */
  executed?: string;
  /** gtid_purged; default U:1-10. */
  purged?: string;
  /** server_uuid; default one of its own. */
  uuid?: string;
  /** What its source (the primary) has; default its own gtid_executed. */
  sourceGtids?: string;
  over?: Partial<InstanceFacts>;
}

/**
 * A scripted world for target choice: the VIP switch's world (fakeWorld),
 * with the candidates given here (any other host does not answer) and
 * `discovered`, the replicas SHOW REPLICAS lists on the old instance, or
 * 'unanswered': the asked instance does not answer discovery (said in other
 * words than the real activity's, so that only the typed field can tell).
 */
export function fakeCandidateWorld(
  candidates: Record<string, CandidateSpec>,
  discovered: string[] | 'unanswered' = [],
) {
  const base = fakeWorld();
  const { calls } = base;
  const hosts = Object.keys(candidates);
  const activities = {
    ...base.activities,
    async mysqlInspect(ref: { host: string }): Promise<InstanceFacts> {
      if (ref.host === 'old.example') return base.activities.mysqlInspect(ref);
      calls.push(`inspect ${ref.host}`);
      const c = candidates[ref.host];
      if (!c) return unreachable(ref.host);
      const uuid = c.uuid ?? `cccccccc-0000-0000-0000-${String(hosts.indexOf(ref.host) + 1).padStart(12, '0')}`;
      const executed = c.executed ?? `${U}:1-100`;
      const purged = c.purged ?? `${U}:1-10`;
      return instanceFacts({ host: ref.host, uuid, executed, purged, sourceGtids: c.sourceGtids, over: c.over });
    },
    // DM, resumed on the VIP's new holder, replicates what that instance has
    async dmResumeTasks() {
      const r = await base.activities.dmResumeTasks();
      const executed = candidates[base.holder()]?.executed;
      const now = { syncerBinlogGtid: executed, masterBinlogGtid: executed };
      for (const t of executed ? base.tasks : []) Object.assign(t, now);
      return executed ? base.tasks.map((t) => ({ ...t })) : r;
    },
    async vipCanHold(req: { to: { host: string } }) {
      return { ok: true, checked: true, reason: `VIP provider "default" can move vip.example to ${req.to.host}` };
    },
    async dmBinlogReaders() {
      return { workerNames: ['w1'], serverIds: [] };
    },
    async mysqlDiscoverReplicas(req: { ask: { host: string } }) {
      calls.push(`discover ${req.ask.host}`);
      const at = `${req.ask.host}:3306`;
      if (discovered === 'unanswered')
        return { asked: [`${at}: connection refused (scripted)`], found: [], unanswered: [at] };
      const found = discovered.map((host) => ({ host, port: 3306, via: `replica of ${at}` }));
      return { asked: [`${at}: ${discovered.length} replica(s) listed`], found, unanswered: [] };
    },
  };
  return { ...base, activities };
}
