/**
 * DM through dmctl: argument arrays through execa, never a shell;
 * `--master-addr` from the worker's configuration. dmctl exits 0 when an
 * operation fails, so every answer is checked at the top level, per source
 * and per task (activities/dmctl-output.ts).
 *
 * Every activity here is idempotent: it reads the state first, and asking
 * again for what is already true ("pause a paused task") is success.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { mariadbPosition } from '../common/switch/mariadb-position.js';
import { parseGtidSet } from '../common/gtid/index.js';
import { SwitchErrorType } from '../common/switch/errors.js';
import { scopeOfTaskConfig, taskScope, type TaskScope } from '../common/switch/filters.js';
import { yamlSecretPaths } from '../common/switch/input.js';
import { childEnv } from './child-env.js';
import { dmctlFailures, parseDmctlOutput, type DmctlJson } from './dmctl-output.js';
import type { CredentialResolver, Destination } from './mysql.js';
import { pollUntil } from './poll.js';

export interface DmClusterConfig {
  /** dm-master address(es), comma-separated, as dmctl's --master-addr takes them. */
  masterAddr: string;
  /** Path of the dmctl binary. */
  dmctl: string;
  /** Timeout of one dmctl call (default 60 s). */
  commandTimeoutMs?: number;
  /**
   * Per dm-worker name, the addresses MySQL sees its connections come from,
   * when that is not the host of its advertised address (NAT, several
   * interfaces). Verification matches DM's binlog dump connections by them.
   */
  workerHosts?: Record<string, string[]>;
}

export interface SourceTask {
  name: string;
  /** New, Running, Paused, Stopped, Finished… as query-status says. */
  stage: string;
  /** Dump, Load, Sync. */
  unit: string;
  syncerBinlogGtid: string;
  masterBinlogGtid: string;
  /** The subtask's errors, in DM's words. */
  errors: string[];
  /**
   * The subtask's last result was a requested pause or stop (DM's
   * `result.isCanceled`), not an error: a task Paused with this false was
   * paused by DM because of an error, and DM's task checker may resume it.
   * Absent when the task has no result yet.
   */
  canceled?: boolean;
}

export interface RelayState {
  stage: string;
  relaySubDir: string;
  relayBinlogGtid: string;
  masterBinlogGtid: string;
  relayCatchUpMaster: boolean;
}

/** DM's binlog readers as an upstream lists them among its replicas: dm-worker names and sources' server ids. */
export interface DmBinlogReaders {
  workerNames: string[];
  serverIds: Array<{ sourceId: string; serverId: number }>;
}

export interface SourceState {
  sourceId: string;
  worker: string | null;
  enableGtid: boolean;
  enableRelay: boolean;
  flavor: 'mysql' | 'mariadb';
  from: { host: string; port: number; user: string };
  relay: RelayState | null;
  tasks: SourceTask[];
}

/**
 * A configuration as DM shows it (`config task`, `config source`): YAML with
 * every password masked, so it may be kept in workflow history. Passwords
 * are put back from credential references on the worker when it is used.
 */
export interface SavedTaskConfig {
  name: string;
  yaml: string;
  /** The task's downstream, read from the config. */
  target: { host: string; port: number; user: string };
  /** The schema holding DM's checkpoints in the downstream (`meta-schema`). */
  metaSchema: string;
}

export interface SavedConfigs {
  /** The source config, masked; null when DM no longer knows the source. */
  source: string | null;
  tasks: SavedTaskConfig[];
}

/** Where a source should read from, with the credential reference for its `from` user. */
export interface SourceEndpoint {
  host: string;
  port: number;
  credentials: string;
}

/** A shard DDL lock as dm-master keeps it: the DDL, and which sources have reached it. */
export interface ShardDdlLock {
  id: string;
  task: string;
  mode: string;
  owner: string;
  ddls: string[];
  synced: string[];
  unsynced: string[];
}

/** One subtask of a task (the part on one source). */
export interface TaskSubtask {
  source: string;
  stage: string;
  unit: string;
  syncerBinlogGtid: string;
  errors: string[];
  /** Pessimistic shard groups it has not resolved: a DDL it reached while other tables of the group have not. */
  unresolvedGroups: Array<{ target: string; ddls: string[]; synced: string[]; unsynced: string[] }>;
}

export interface TasksRequest {
  dmCluster: string;
  sourceId: string;
  tasks: string[];
  timeoutSeconds?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** For this long a wait for task stages polls every 0.1 s (a pause or resume usually shows within it), then every 0.5 s. */
const FAST_POLL_MS = 5000;

/**
 * DM's words for a broken, refused or not yet reachable upstream connection:
 * worth another resume, not a failed switch. "no route to host" is what a
 * dm-worker meets when its neighbour entry for a VIP that just moved has not
 * yet taken the gratuitous ARP (seen in CI right after a move away from an
 * instance cut off from the network).
 */
export function isUpstreamConnectionError(text: string): boolean {
  return /invalid connection|bad connection|connection refused|broken pipe|connection reset|i\/o timeout|no route to host|host is unreachable|network is unreachable|ErrScope:\\?"upstream\\?"/i.test(text);
}

/**
 * DM's words for a request that did not get through in time (dm-master to
 * dm-worker over gRPC, an etcd leader change): the operation may succeed if
 * asked again, so it is retried rather than failing the switch.
 */
export function isTransientDmError(text: string): boolean {
  return /grpc request error|DeadlineExceeded|context deadline exceeded|code = Unavailable|etcdserver: (leader changed|request timed out)|not leader|fail to get leader|master is not leader/i.test(text);
}

/**
 * dmctl could not get an answer from DM (dm-master unreachable or being
 * re-elected, a dm-worker busy or restarting, a timeout): the answers DM
 * documents as transient. Retried by the activity's policy; every other
 * dmctl failure is DmOperationFailed and not retried.
 */
/** The tasks whose syncerBinlogGtid lacks some of `want`, and what they lack (the verification's "moves forward"). */
export function tasksBehind(state: SourceState, tasks: string[], want: string): Array<{ task: string; lacks: string }> {
  const w = parseGtidSet(state.flavor, want);
  return tasks
    .map((task) => ({ task, lacks: w.subtract(parseGtidSet(state.flavor, state.tasks.find((x) => x.name === task)?.syncerBinlogGtid ?? '')) }))
    .filter((x) => !x.lacks.isEmpty())
    .map((x) => ({ task: x.task, lacks: x.lacks.toCompactString() }));
}

/** Relay reads a sub-directory other than `oldRelayDir` and has caught up with its upstream. */
export function relaySwitched(relay: RelayState | null, oldRelayDir: string | null): boolean {
  return relay !== null && relay.relaySubDir !== oldRelayDir && relay.relayCatchUpMaster;
}

/** DM shows the source as before a switch: it exists, reads `from` (when given), every task Running without errors, relay Running when `relay`. */
export function sourceRestored(s: SourceState | null, want: { tasks: string[]; relay: boolean; from?: { host: string; port: number } | null }): boolean {
  return (
    s !== null &&
    (!want.from || (s.from.host === want.from.host && s.from.port === want.from.port)) &&
    want.tasks.every((name) => s.tasks.some((x) => x.name === name && x.stage === 'Running' && x.errors.length === 0)) &&
    (!want.relay || s.relay?.stage === 'Running')
  );
}

/**
 * What the upstream of `tasks` has executed, as DM last read it: the union of
 * their masterBinlogGtid and relay's. A task that runs reaches it in seconds.
 */
export function upstreamGtids(state: SourceState, tasks: string[]): string {
  const seen = [...state.tasks.filter((x) => tasks.includes(x.name)).map((x) => x.masterBinlogGtid), state.relay?.masterBinlogGtid ?? ''].filter(Boolean);
  return seen.reduce((acc, g) => acc.union(parseGtidSet(state.flavor, g)), parseGtidSet(state.flavor, '')).toCompactString();
}

/** How long a running task may take to show a new position: DM shows flushed checkpoints (30 s, or a heartbeat when idle). */
export const CATCH_UP_SECONDS = 90;

export const DM_UNAVAILABLE = 'DmUnavailable';
const unavailable = (message: string) => ApplicationFailure.retryable(message, DM_UNAVAILABLE);

function failure(message: string, type: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ message, type, nonRetryable: true, details: details === undefined ? undefined : [details] });
}

/** Reads a task config's downstream and meta schema; throws a readable error for YAML that is not a task. */
export function describeTaskConfig(name: string, yaml: string): SavedTaskConfig {
  let doc: { name?: unknown; 'target-database'?: { host?: unknown; port?: unknown; user?: unknown }; 'meta-schema'?: unknown };
  try {
    doc = parseYaml(yaml) as typeof doc;
  } catch (e) {
    throw failure(`the configuration of task ${name} is not valid YAML: ${(e as Error).message}`, SwitchErrorType.InvalidInput);
  }
  const target = doc?.['target-database'];
  if (!doc || typeof doc !== 'object' || typeof target?.host !== 'string') {
    throw failure(`the configuration of task ${name} has no target-database.host: give the task's YAML as for \`dmctl start-task\``, SwitchErrorType.InvalidInput);
  }
  if (doc.name !== undefined && doc.name !== name) {
    throw failure(`the configuration given for task ${name} names task ${String(doc.name)}`, SwitchErrorType.InvalidInput);
  }
  return {
    name,
    yaml,
    target: { host: target.host, port: Number(target.port ?? 4000), user: String(target.user ?? 'root') },
    metaSchema: typeof doc['meta-schema'] === 'string' && doc['meta-schema'] ? doc['meta-schema'] : 'dm_meta',
  };
}

/**
 * A task configuration as DM exports it (`config task`) turned into one DM
 * accepts again: DM writes the deprecated `is-sharding` beside `shard-mode`
 * (`is-sharding: false` for a shard-merge task), and start-task then refuses
 * with "The behaviour of `is-sharding` and `shard-mode` is conflicting".
 * `shard-mode` wins; a lone `is-sharding: true` means pessimistic, as in DM.
 */
export function normalizeTaskConfig(doc: Record<string, unknown>): Record<string, unknown> {
  const out = { ...doc };
  if ('is-sharding' in out) {
    const legacy = out['is-sharding'] === true;
    delete out['is-sharding'];
    if (!out['shard-mode'] && legacy) out['shard-mode'] = 'pessimistic';
  }
  return out;
}

/** The shard-merge mode of a task configuration: '' for a task that merges nothing. */
export function shardModeOf(doc: Record<string, unknown>): '' | 'pessimistic' | 'optimistic' {
  const mode = doc['shard-mode'];
  if (mode === 'pessimistic' || mode === 'optimistic') return mode;
  return doc['is-sharding'] === true ? 'pessimistic' : '';
}

/** Writes `content` to an owner-only file in a fresh private directory, runs `use`, and removes both. */
/**
 * Writes `content` (it may carry a password) to an owner-only file in a
 * fresh directory under `root` (the worker's private directory,
 * worker/private-dir.ts), hands its path to `use`, and removes it after.
 */
async function withPrivateFile<T>(root: string, name: string, content: string, use: (path: string) => Promise<T>): Promise<T> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(root, 'cfg-'));
  try {
    const path = join(dir, name);
    await writeFile(path, content, { mode: 0o600 });
    return await use(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Where a saved task configuration sends its rows: its target-database's host and port. */
export function targetDatabase(task: SavedTaskConfig): { host: string; port: number } {
  const t = ((parseYaml(task.yaml) as Record<string, unknown> | null)?.['target-database'] ?? {}) as { host?: unknown; port?: unknown };
  return { host: String(t.host ?? ''), port: Number(t.port ?? 0) };
}

/** The file start-task (or check-task) gets: the saved configuration, normalised, with the downstream login filled in. */
function taskFile(task: SavedTaskConfig, creds: { user: string; password: string }): string {
  const doc = normalizeTaskConfig(parseYaml(task.yaml) as Record<string, unknown>) as Record<string, unknown> & { 'target-database': Record<string, unknown> };
  doc.name = task.name;
  doc['target-database'] = { ...doc['target-database'], user: creds.user, password: creds.password };
  return stringifyYaml(doc);
}

export function createDmActivities(clusters: Record<string, DmClusterConfig>, resolveCredentials?: CredentialResolver, options: { privateDir?: string } = {}) {
  // without the worker's private directory (worker/private-dir.ts checks its owner and mode): a fresh one of our
  // own, made exclusively, never a predictable name in the shared temporary directory that another user could own
  let fallback: Promise<string> | undefined;
  const privateDir = async (): Promise<string> => options.privateDir ?? (fallback ??= mkdtemp(join(tmpdir(), 'dm-switch-private-')).then((dir) => {
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
      return dir;
    }));
  const credentials = async (reference: string, to: Destination) => {
    if (!resolveCredentials) throw failure('this worker resolves no credentials for DM configurations', SwitchErrorType.InvalidInput);
    return resolveCredentials(reference, to);
  };
  /** The downstream login of a task goes only where its credential belongs: the task's target-database. */
  const downstreamCredentials = (reference: string, task: SavedTaskConfig) => {
    const target = targetDatabase(task);
    return credentials(reference, { host: target.host, port: target.port, purpose: `target-database of DM task ${task.name}` });
  };
  const cluster = (name: string): DmClusterConfig => {
    const c = clusters[name];
    if (!c) {
      throw failure(
        `unknown DM cluster "${name}": the worker knows ${Object.keys(clusters).map((k) => `"${k}"`).join(', ') || 'none'} (dm.clusters in its configuration)`,
        SwitchErrorType.InvalidInput,
      );
    }
    return c;
  };

  /** Runs dmctl; returns its parsed answer. Transport problems (dm-master unreachable) throw a retryable error. */
  async function dmctl(dmCluster: string, args: string[]): Promise<DmctlJson> {
    const c = cluster(dmCluster);
    // dmctl gets PATH and the locale, none of the worker's secrets
    const r = await execa(c.dmctl, [`--master-addr=${c.masterAddr}`, ...args], { reject: false, timeout: c.commandTimeoutMs ?? 60_000, stdin: 'ignore', extendEnv: false, env: childEnv() });
    if (r.exitCode === undefined && !r.timedOut && (r.code === 'ENOENT' || r.code === 'EACCES')) {
      // retried: a worker restarted with the right path carries the switch on
      throw unavailable(`dmctl cannot be run: ${c.dmctl} ${r.code === 'ENOENT' ? 'is not found' : 'is not executable'} (dm.clusters.${dmCluster}.dmctl in the worker's configuration); fix the path and restart the worker`);
    }
    const answer = parseDmctlOutput(r.stdout, r.stderr, r.exitCode);
    if (r.timedOut) throw unavailable(`dmctl ${args.join(' ')} timed out after ${c.commandTimeoutMs ?? 60_000} ms`);
    if (r.exitCode !== 0 && answer.result !== true) {
      // dmctl itself failed (e.g. cannot reach dm-master): worth retrying
      throw unavailable(`dmctl ${args[0]} against ${c.masterAddr} failed: ${answer.msg}`);
    }
    return answer;
  }

  function checked(op: string, answer: DmctlJson): DmctlJson {
    const failures = dmctlFailures(answer);
    if (failures.length > 0 && failures.every((f) => isTransientDmError(f.msg))) {
      // dm-master could not reach a dm-worker in time (it is busy, restarting, or being re-elected): worth another attempt
      throw unavailable(`dmctl ${op}: ${failures.map((f) => `${f.name ? `${f.name}: ` : ''}${f.msg}`).join('; ')}`);
    }
    if (failures.length > 0) {
      throw failure(`dmctl ${op} failed: ${failures.map((f) => `${f.name ? `${f.name}: ` : ''}${f.msg}`).join('; ')}`, SwitchErrorType.DmOperationFailed, answer);
    }
    return answer;
  }

  async function sourceState(dmCluster: string, sourceId: string): Promise<SourceState>;
  async function sourceState(dmCluster: string, sourceId: string, allowMissing: true): Promise<SourceState | null>;
  async function sourceState(dmCluster: string, sourceId: string, allowMissing = false): Promise<SourceState | null> {
    const config = await dmctl(dmCluster, ['config', 'source', sourceId]);
    if (config.result !== true || typeof config.cfg !== 'string') {
      if (allowMissing && /not (exist|found)/i.test(config.msg ?? '')) return null;
      throw failure(
        `DM source "${sourceId}" not found in cluster "${dmCluster}": ${config.msg || 'config source returned nothing'}. Check the source id with \`dmctl operate-source show\`.`,
        SwitchErrorType.PreflightFailed,
      );
    }
    const cfg = parseYaml(config.cfg) as {
      'enable-gtid'?: boolean;
      'enable-relay'?: boolean;
      flavor?: string;
      from?: { host?: string; port?: number; user?: string };
    };
    const status = checked('query-status', await dmctl(dmCluster, ['query-status', '-s', sourceId]));
    type RawSub = { name: string; stage: string; unit: string; result: null | { isCanceled?: boolean; errors?: Array<{ Message?: string; RawCause?: string; message?: string }> }; sync?: { syncerBinlogGtid?: string; masterBinlogGtid?: string } };
    type RawSource = { sourceStatus?: { worker?: string; relayStatus?: null | RelayState & { stage: string } }; subTaskStatus?: RawSub[] };
    const src = ((status.sources as RawSource[] | undefined) ?? [])[0];
    const relay = src?.sourceStatus?.relayStatus ?? null;
    // DM keeps a MariaDB set per domain and server id: one position per domain for the checks
    const pos = (text: string) => (cfg.flavor === 'mariadb' ? mariadbPosition(text) : text);
    return {
      sourceId,
      worker: src?.sourceStatus?.worker || null,
      enableGtid: cfg['enable-gtid'] === true,
      enableRelay: cfg['enable-relay'] === true,
      flavor: cfg.flavor === 'mariadb' ? 'mariadb' : 'mysql',
      from: { host: cfg.from?.host ?? '', port: Number(cfg.from?.port ?? 3306), user: cfg.from?.user ?? '' },
      relay: relay
        ? {
            stage: relay.stage,
            relaySubDir: relay.relaySubDir,
            relayBinlogGtid: pos(relay.relayBinlogGtid),
            masterBinlogGtid: pos(relay.masterBinlogGtid),
            relayCatchUpMaster: relay.relayCatchUpMaster,
          }
        : null,
      tasks: (src?.subTaskStatus ?? []).map((t) => ({
        name: t.name,
        stage: t.stage,
        unit: t.unit,
        syncerBinlogGtid: pos(t.sync?.syncerBinlogGtid ?? ''),
        masterBinlogGtid: pos(t.sync?.masterBinlogGtid ?? ''),
        errors: (t.result?.errors ?? []).map((e) => [e.Message ?? e.message, e.RawCause].filter(Boolean).join(': ')),
        ...(typeof t.result?.isCanceled === 'boolean' ? { canceled: t.result.isCanceled } : {}),
      })),
    };
  }

  /**
   * Polls until every named task satisfies `ok`, heartbeating the stages seen;
   * throws `type` on timeout. `heal` may act on the tasks still pending.
   */
  async function waitFor(req: TasksRequest, what: string, ok: (t: SourceTask) => boolean, type: string, heal?: (pending: SourceTask[]) => Promise<void>): Promise<SourceTask[]> {
    const began = Date.now();
    const deadline = began + (req.timeoutSeconds ?? 60) * 1000;
    for (;;) {
      const state = await sourceState(req.dmCluster, req.sourceId);
      const tasks = state.tasks.filter((t) => req.tasks.includes(t.name));
      const missing = req.tasks.filter((n) => !tasks.some((t) => t.name === n));
      const pending = tasks.filter((t) => !ok(t));
      if (heal && pending.length > 0 && Date.now() < deadline) await heal(pending);
      Context.current().heartbeat({ waitingFor: what, tasks: tasks.map((t) => ({ name: t.name, stage: t.stage, unit: t.unit })) });
      if (missing.length === 0 && pending.length === 0) return tasks;
      if (Date.now() > deadline) {
        const detail = [...missing.map((n) => `${n}: not found on source ${req.sourceId}`), ...pending.map((t) => `${t.name}: ${t.stage}/${t.unit}${t.errors.length ? ` (${t.errors.join('; ')})` : ''}`)].join('; ');
        throw failure(`tasks did not become ${what} within ${req.timeoutSeconds ?? 60} s: ${detail}`, type, tasks);
      }
      // replication is paused while the switch waits for Paused or Running: look again soon, then every 0.5 s
      await sleep(Date.now() - began < FAST_POLL_MS ? 100 : 500);
      Context.current().cancellationSignal.throwIfAborted();
    }
  }

  /** pause-task each task, and again every 3 s for one not yet Paused by request (DM may lose a pause to its task checker). */
  async function pauseTasks(req: TasksRequest): Promise<SourceTask[]> {
    const pause = async (name: string) => {
      checked(`pause-task ${name}`, await dmctl(req.dmCluster, ['pause-task', '-s', req.sourceId, name]));
      Context.current().heartbeat({ paused: name });
    };
    for (const name of req.tasks) await pause(name);
    let lastPause = Date.now();
    return waitFor(
      req,
      'Paused',
      (t) => t.stage === 'Paused' && t.canceled !== false,
      SwitchErrorType.DmOperationFailed,
      async (pending) => {
        if (Date.now() - lastPause < 3000) return;
        lastPause = Date.now();
        for (const t of pending) {
          Context.current().heartbeat({ pausingAgain: t.name, seen: `${t.stage}/${t.unit}` });
          await pause(t.name);
        }
      },
    );
  }

  /** resume-task each task not Running, again while DM answers with a broken upstream connection. */
  async function resumeTasks(req: TasksRequest): Promise<SourceTask[]> {
    const deadline = Date.now() + (req.timeoutSeconds ?? 60) * 1000;
    for (const name of req.tasks) {
      for (let attempt = 1; ; attempt++) {
        const now = await sourceState(req.dmCluster, req.sourceId);
        const t = now.tasks.find((x) => x.name === name);
        if (t?.stage === 'Running' && t.errors.length === 0) break;
        const answer = await dmctl(req.dmCluster, ['resume-task', '-s', req.sourceId, name]);
        const failures = dmctlFailures(answer);
        if (failures.length === 0) break;
        // DM may answer a resume with the error that had paused the task while the task runs again without it
        const after = (await sourceState(req.dmCluster, req.sourceId)).tasks.find((x) => x.name === name);
        if (after?.stage === 'Running' && after.errors.length === 0) break;
        // what the task shows now counts too: a broken upstream connection there is worth another resume
        const text = [...failures.map((f) => f.msg), ...(after?.errors ?? [])].join('; ');
        Context.current().heartbeat({ resuming: name, attempt, lastError: text });
        if (!isUpstreamConnectionError(text) || Date.now() > deadline) checked(`resume-task ${name}`, answer);
        await sleep(Math.min(5000, 500 * attempt));
        Context.current().cancellationSignal.throwIfAborted();
      }
    }
    return (await sourceState(req.dmCluster, req.sourceId)).tasks.filter((t) => req.tasks.includes(t.name));
  }

  /** Every subtask of a task, on every source it reads (`query-status <task>`). */
  async function taskSubtasks(dmCluster: string, task: string): Promise<TaskSubtask[]> {
    const answer = checked(`query-status ${task}`, await dmctl(dmCluster, ['query-status', task]));
    type RawSub = { name: string; stage: string; unit: string; result: null | { errors?: Array<{ Message?: string; RawCause?: string; message?: string }> }; sync?: { syncerBinlogGtid?: string; unresolvedGroups?: Array<{ target?: string; DDLs?: string[]; synced?: string[]; unsynced?: string[] }>; blockingDDLs?: string[] } };
    type RawSource = { sourceStatus?: { source?: string; worker?: string }; subTaskStatus?: RawSub[] };
    return ((answer.sources as RawSource[] | undefined) ?? []).flatMap((src) =>
      (src.subTaskStatus ?? [])
        .filter((t) => t.name === task)
        .map((t) => ({
          source: src.sourceStatus?.source ?? '',
          stage: t.stage,
          unit: t.unit,
          syncerBinlogGtid: t.sync?.syncerBinlogGtid ?? '',
          errors: (t.result?.errors ?? []).map((e) => [e.Message ?? e.message, e.RawCause].filter(Boolean).join(': ')),
          unresolvedGroups: (t.sync?.unresolvedGroups ?? []).map((g) => ({ target: g.target ?? '', ddls: g.DDLs ?? [], synced: g.synced ?? [], unsynced: g.unsynced ?? [] })),
        })),
    );
  }

  return {
    /** The source's configuration and status: GTID mode, relay, every task with its stage and syncerBinlogGtid. */
    async dmSourceState(req: { dmCluster: string; sourceId: string }): Promise<SourceState> {
      return sourceState(req.dmCluster, req.sourceId);
    },

    /** The DM clusters this worker is configured for. */
    async dmClusters(): Promise<string[]> {
      return Object.keys(clusters);
    },

    /** Every source of a cluster and what its source config reads (for draining a host). */
    async dmListSources(req: { dmCluster: string }): Promise<Array<{ sourceId: string; from: { host: string; port: number }; flavor: 'mysql' | 'mariadb' }>> {
      const shown = checked('operate-source show', await dmctl(req.dmCluster, ['operate-source', 'show']));
      const ids = ((shown.sources as Array<{ source?: string }> | undefined) ?? []).map((x) => x.source ?? '').filter(Boolean);
      const out: Array<{ sourceId: string; from: { host: string; port: number }; flavor: 'mysql' | 'mariadb' }> = [];
      for (const sourceId of ids) {
        const config = await dmctl(req.dmCluster, ['config', 'source', sourceId]);
        // removed between the two calls: not a reader
        if (config.result !== true || typeof config.cfg !== 'string') continue;
        const cfg = parseYaml(config.cfg) as { flavor?: string; from?: { host?: string; port?: number } };
        out.push({ sourceId, from: { host: cfg.from?.host ?? '', port: Number(cfg.from?.port ?? 3306) }, flavor: cfg.flavor === 'mariadb' ? 'mariadb' : 'mysql' });
      }
      return out;
    },

    /**
     * How DM's own binlog readers show in an upstream's SHOW REPLICAS: each
     * registers as a replica with its dm-worker's name as host (cut at 60
     * characters) and its source's `server-id`. Discovery passes those over.
     */
    async dmBinlogReaders(req: { dmCluster: string }): Promise<DmBinlogReaders> {
      const members = checked('list-member --worker', await dmctl(req.dmCluster, ['list-member', '--worker']));
      type RawWorker = { name: string };
      const raw = (members.members as Array<{ worker?: { workers?: RawWorker[] } }> | undefined) ?? [];
      const workers = raw.flatMap((m) => m.worker?.workers ?? []);
      const shown = checked('operate-source show', await dmctl(req.dmCluster, ['operate-source', 'show']));
      const sources = (shown.sources as Array<{ source?: string }> | undefined) ?? [];
      const ids = sources.map((x) => x.source ?? '').filter(Boolean);
      const serverIds: Array<{ sourceId: string; serverId: number }> = [];
      for (const sourceId of ids) {
        const config = await dmctl(req.dmCluster, ['config', 'source', sourceId]);
        if (config.result !== true || typeof config.cfg !== 'string') continue;
        const id = Number((parseYaml(config.cfg) as { 'server-id'?: number })['server-id'] ?? 0);
        if (id > 0) serverIds.push({ sourceId, serverId: id });
      }
      return { workerNames: workers.map((w) => w.name).filter(Boolean), serverIds };
    },

    /** As dmSourceState, but null when DM does not know the source (it was removed, e.g. by hand halfway through a switch). */
    async dmFindSource(req: { dmCluster: string; sourceId: string }): Promise<SourceState | null> {
      return sourceState(req.dmCluster, req.sourceId, true);
    },

    /**
     * `pause-task -s <source>` every task, then waits until every one is
     * Paused by that request. Also the tasks that already look Paused: one
     * that DM paused because of an error is not paused by a person, and DM's
     * task checker may resume it on its own during the freeze; pause-task
     * makes the pause ours (DM answers success for a paused task).
     *
     * DM's answer only means the master recorded the wish: the dm-worker
     * applies it later, and can lose it. Its task checker reads a task
     * Paused by an error, decides to auto-resume it, and resumes it after
     * our pause marked it as requested; DM then expects Paused and runs the
     * task. So a task that is not Paused by request (`canceled`) 3 s after
     * the last pause-task gets pause-task again (the master puts the stage
     * again, the worker applies it again), until the timeout. Idempotent.
     */
    async dmPauseTasks(req: TasksRequest): Promise<SourceTask[]> {
      return pauseTasks(req);
    },

    /**
     * The dm-worker the source is bound to and the address it advertises
     * (`list-member --worker`): the host whose binlog dump connections are
     * DM's. Null when no worker is bound.
     */
    async dmSourceWorker(req: { dmCluster: string; sourceId: string }): Promise<{ name: string; addr: string; hosts: string[] } | null> {
      const members = checked('list-member --worker', await dmctl(req.dmCluster, ['list-member', '--worker']));
      type RawWorker = { name: string; addr: string; stage: string; source: string };
      const workers = ((members.members as Array<{ worker?: { workers?: RawWorker[] } }> | undefined) ?? []).flatMap((m) => m.worker?.workers ?? []);
      const w = workers.find((x) => x.source === req.sourceId);
      if (!w) return null;
      const configured = cluster(req.dmCluster).workerHosts?.[w.name];
      return { name: w.name, addr: w.addr, hosts: configured ?? [w.addr.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1')] };
    },

    /**
     * `resume-task` each task not already running. Idempotent; does not wait
     * for Running (see dmAwaitSyncing). Right after a VIP move DM may still
     * hold pooled connections the move broke ("invalid connection"): such
     * upstream connection errors are retried within `timeoutSeconds`.
     */
    async dmResumeTasks(req: TasksRequest): Promise<SourceTask[]> {
      return resumeTasks(req);
    },

    /**
     * `stop-relay` for the source, so its relay unit does not read through the
     * VIP while it moves (or the old source while it is replaced). The relay
     * is paused first (`pause-relay`) so that its position, relayBinlogGtid,
     * stops moving and can be read: that is what it would ask the new
     * instance for if it kept its relay log, so the switch holds it to the
     * GTID rules. Idempotent; the frozen status is kept in the heartbeat, so a
     * retry after a crash between the stop and the answer still returns it.
     * `frozen` is null when relay was not running (or its status was lost).
     */
    async dmStopRelay(req: { dmCluster: string; sourceId: string }): Promise<{ wasRunning: boolean; frozen: RelayState | null }> {
      const ctx = Context.current();
      const earlier = (ctx.info.heartbeatDetails as { frozen?: RelayState } | undefined)?.frozen ?? null;
      const state = await sourceState(req.dmCluster, req.sourceId);
      if (state.relay === null) return { wasRunning: earlier !== null, frozen: earlier };
      if (state.relay.stage !== 'Paused') checked('pause-relay', await dmctl(req.dmCluster, ['pause-relay', '-s', req.sourceId]));
      let frozen: RelayState | null = null;
      for (let i = 0; i < 60; i++) {
        frozen = (await sourceState(req.dmCluster, req.sourceId)).relay;
        if (frozen === null || frozen.stage === 'Paused') break;
        ctx.heartbeat({ waitingFor: 'relay Paused', stage: frozen.stage });
        await sleep(250);
      }
      if (frozen !== null && frozen.stage !== 'Paused') throw unavailable(`relay of source ${req.sourceId} did not become Paused after pause-relay (stage ${frozen.stage})`);
      ctx.heartbeat({ frozen });
      checked('stop-relay', await dmctl(req.dmCluster, ['stop-relay', '-s', req.sourceId]));
      return { wasRunning: true, frozen: frozen ?? earlier };
    },

    /** `start-relay` for the source. Idempotent: a running relay is left as it is. */
    async dmStartRelay(req: { dmCluster: string; sourceId: string }): Promise<RelayState | null> {
      const state = await sourceState(req.dmCluster, req.sourceId);
      if (state.relay !== null && state.relay.stage === 'Running') return state.relay;
      checked('start-relay', await dmctl(req.dmCluster, ['start-relay', '-s', req.sourceId]));
      return (await sourceState(req.dmCluster, req.sourceId)).relay;
    },

    /**
     * Waits until every task is Running in the Sync unit with no error. A task
     * that paused on an upstream connection error (a connection the VIP move
     * broke, used after resume) is resumed again, as DM's own workaround for
     * that error says; at most every 3 s. Other errors are left for the
     * timeout to report.
     */
    async dmAwaitSyncing(req: TasksRequest): Promise<SourceTask[]> {
      let lastHeal = 0;
      return waitFor(
        req,
        'Running/Sync without errors',
        (t) => t.stage === 'Running' && t.unit === 'Sync' && t.errors.length === 0,
        SwitchErrorType.VerificationFailed,
        async (pending) => {
          if (Date.now() - lastHeal < 3000) return;
          for (const t of pending) {
            if (t.stage === 'Paused' && t.errors.some(isUpstreamConnectionError)) {
              lastHeal = Date.now();
              Context.current().heartbeat({ resumingAgain: t.name, after: t.errors.join('; ') });
              await dmctl(req.dmCluster, ['resume-task', '-s', req.sourceId, t.name]);
            }
          }
        },
      );
    },

    /**
     * What the address switch needs to go back: the source config and each
     * task's config, as DM shows them (passwords masked), plus the task
     * configs given by hand (`given`, for tasks already stopped), checked. A
     * source DM no longer knows gives `source: null`; tasks DM no longer
     * knows are left out.
     */
    async dmSaveConfigs(req: { dmCluster: string; sourceId: string; tasks: string[]; given?: Record<string, string> }): Promise<SavedConfigs> {
      const src = await dmctl(req.dmCluster, ['config', 'source', req.sourceId]);
      const tasks: SavedTaskConfig[] = Object.entries(req.given ?? {}).map(([name, yaml]) => describeTaskConfig(name, yaml));
      for (const name of req.tasks) {
        const answer = await dmctl(req.dmCluster, ['config', 'task', name]);
        if (answer.result === true && typeof answer.cfg === 'string') tasks.push(describeTaskConfig(name, answer.cfg));
        else if (!/task not found/i.test(answer.msg ?? '')) checked(`config task ${name}`, answer);
      }
      const source = src.result === true && typeof src.cfg === 'string' ? src.cfg : null;
      // what is returned is kept in workflow history: DM masks passwords, not every secret
      const secrets = [
        ...(source ? yamlSecretPaths(source).map((p) => `source ${req.sourceId}: ${p}`) : []),
        ...tasks.flatMap((t) => yamlSecretPaths(t.yaml).map((p) => `task ${t.name}: ${p}`)),
      ];
      if (secrets.length) {
        throw failure(
          `DM's configuration carries secrets it does not mask (${secrets.join('; ')}); the switch keeps these configurations ` +
            'in its history, so it stops here and changes nothing. Take them out of the configuration (TLS keys as files with ' +
            'ssl-key/ssl-cert/ssl-ca rather than ssl-*-base64; storage credentials from the dm-worker\'s environment), then start it again',
          SwitchErrorType.PreflightFailed,
        );
      }
      return { source, tasks };
    },

    /**
     * `stop-task -s <source>` each task still on the source, keeping its
     * checkpoint (never --remove-meta), and waits until DM no longer lists it.
     * Idempotent: a task already gone is success.
     */
    async dmStopTasks(req: TasksRequest): Promise<string[]> {
      const deadline = Date.now() + (req.timeoutSeconds ?? 60) * 1000;
      const before = await sourceState(req.dmCluster, req.sourceId);
      const stopped: string[] = [];
      for (const name of req.tasks) {
        if (!before.tasks.some((t) => t.name === name)) continue;
        const answer = await dmctl(req.dmCluster, ['stop-task', '-s', req.sourceId, name]);
        if (!dmctlFailures(answer).every((f) => /task not found|not exist/i.test(f.msg))) checked(`stop-task ${name}`, answer);
        stopped.push(name);
      }
      for (;;) {
        const left = (await sourceState(req.dmCluster, req.sourceId)).tasks.filter((t) => req.tasks.includes(t.name));
        Context.current().heartbeat({ waitingFor: 'tasks stopped', left: left.map((t) => t.name) });
        if (left.length === 0) return stopped;
        if (Date.now() > deadline) throw failure(`tasks still listed on source ${req.sourceId} ${req.timeoutSeconds ?? 60} s after stop-task: ${left.map((t) => `${t.name} ${t.stage}`).join(', ')}`, SwitchErrorType.DmOperationFailed);
        await sleep(500);
      }
    },

    /** `operate-source stop`. Idempotent: a source DM does not know is success (returns false). */
    async dmStopSource(req: { dmCluster: string; sourceId: string }): Promise<boolean> {
      const answer = await dmctl(req.dmCluster, ['operate-source', 'stop', req.sourceId]);
      const failures = dmctlFailures(answer);
      if (failures.length > 0 && failures.every((f) => /not exist/i.test(f.msg))) return false;
      checked(`operate-source stop ${req.sourceId}`, answer);
      return true;
    },

    /**
     * `operate-source create` the source reading from `from`: the saved
     * config (or a minimal one) with the new host and port, `enable-gtid:
     * true` and the `from` user and password resolved here from a credential
     * reference. The file is owner-only and removed after use. Idempotent: a
     * source that already reads from `from` is success; one that reads from
     * elsewhere is an error. `enableRelay` overrides the saved config's
     * `enable-relay`: a source created with relay on starts its relay at once,
     * with no task to take a position from, so at the new instance's current
     * binlog file, past what the stopped tasks still need.
     */
    async dmCreateSource(req: { dmCluster: string; sourceId: string; flavor: 'mysql' | 'mariadb'; baseConfig: string | null; from: SourceEndpoint; enableRelay?: boolean }): Promise<'created' | 'already'> {
      const existing = await dmctl(req.dmCluster, ['config', 'source', req.sourceId]);
      if (existing.result === true && typeof existing.cfg === 'string') {
        const from = (parseYaml(existing.cfg) as { from?: { host?: string; port?: number } }).from;
        if (from?.host === req.from.host && Number(from?.port) === req.from.port) return 'already';
        throw failure(
          `source ${req.sourceId} already exists and reads ${from?.host}:${from?.port}, not ${req.from.host}:${req.from.port}: remove it first (dmctl operate-source stop ${req.sourceId}) if it should be replaced`,
          SwitchErrorType.DmOperationFailed,
        );
      }
      const creds = await credentials(req.from.credentials, { host: req.from.host, port: req.from.port, purpose: `from of DM source ${req.sourceId}` });
      const base = (req.baseConfig ? parseYaml(req.baseConfig) : {}) as Record<string, unknown> & { from?: Record<string, unknown> };
      const config = {
        ...base,
        'source-id': req.sourceId,
        'enable-gtid': true,
        // relay is started later, once the tasks exist, so that DM starts it from their checkpoints
        ...(req.enableRelay === undefined ? {} : { 'enable-relay': req.enableRelay }),
        flavor: req.flavor,
        from: { ...(base.from ?? {}), host: req.from.host, port: req.from.port, user: creds.user, password: creds.password },
      };
      return withPrivateFile(await privateDir(), `source-${req.sourceId}.yaml`, stringifyYaml(config), async (path) => {
        checked(`operate-source create ${req.sourceId}`, await dmctl(req.dmCluster, ['operate-source', 'create', path]));
        return 'created' as const;
      });
    },

    /**
     * `check-task` each saved configuration, normalised as start-task will
     * get it (normalizeTaskConfig) and with the downstream password from
     * `credentials`, while nothing is stopped yet: what DM would refuse at
     * start-task is found before the tasks are stopped. Returns each task's
     * precheck summary; a configuration DM refuses throws DmOperationFailed
     * with DM's words.
     */
    async dmCheckTasks(req: { dmCluster: string; tasks: SavedTaskConfig[]; credentials: string }): Promise<Record<string, string>> {
      const out: Record<string, string> = {};
      for (const task of req.tasks) {
        const creds = await downstreamCredentials(req.credentials, task);
        await withPrivateFile(await privateDir(), `task-${task.name}.yaml`, taskFile(task, creds), async (path) => {
          const answer = await dmctl(req.dmCluster, ['check-task', path]);
          const text = `${answer.msg ?? ''} ${typeof answer.checkResult === 'string' ? answer.checkResult : ''}`;
          // check-task also connects to the upstream DM reads now: one that is down (a reason to switch) says nothing about the config
          if (answer.result !== true && /scope=upstream|failed to open DSN/i.test(text)) {
            out[task.name] = `not checked: DM could not reach the upstream it reads now (${text.trim().split('\n')[0]!.slice(0, 300)})`;
            return;
          }
          if (answer.result !== true && !/no errors but some warnings/i.test(text)) {
            throw failure(`DM refuses the configuration of task ${task.name} as it would be started again (check-task): ${text.trim().slice(0, 2000)}`, SwitchErrorType.DmOperationFailed);
          }
          out[task.name] = /warnings/i.test(text) ? 'passed with warnings' : 'passed';
        });
        Context.current().heartbeat({ checked: task.name });
      }
      return out;
    },

    /**
     * Per task: its shard-merge mode ('' when it merges nothing) and the
     * sources it reads, from `config task`. A task DM no longer knows is left out.
     */
    async dmTaskShardModes(req: { dmCluster: string; tasks: string[] }): Promise<Record<string, { shardMode: '' | 'pessimistic' | 'optimistic'; sources: string[] }>> {
      const out: Record<string, { shardMode: '' | 'pessimistic' | 'optimistic'; sources: string[] }> = {};
      for (const name of req.tasks) {
        const answer = await dmctl(req.dmCluster, ['config', 'task', name]);
        if (answer.result !== true || typeof answer.cfg !== 'string') {
          if (/task not found/i.test(answer.msg ?? '')) continue;
          checked(`config task ${name}`, answer);
        }
        const doc = parseYaml(String(answer.cfg)) as Record<string, unknown> & { 'mysql-instances'?: Array<{ 'source-id'?: string }> };
        out[name] = { shardMode: shardModeOf(doc), sources: (doc['mysql-instances'] ?? []).map((x) => String(x['source-id'] ?? '')).filter(Boolean) };
      }
      return out;
    },

    /**
     * The schemas each task replicates from the source (its block-allow list,
     * from `config task`), for judging replication filters. A task DM no
     * longer knows is left out; one whose list cannot be read counts as
     * replicating every schema.
     */
    async dmTaskScopes(req: { dmCluster: string; sourceId: string; tasks: string[] }): Promise<TaskScope[]> {
      const out: TaskScope[] = [];
      for (const name of req.tasks) {
        const answer = await dmctl(req.dmCluster, ['config', 'task', name]);
        if (answer.result !== true || typeof answer.cfg !== 'string') {
          if (/task not found/i.test(answer.msg ?? '')) continue;
          checked(`config task ${name}`, answer);
        }
        const doc = parseYaml(String(answer.cfg)) as Record<string, unknown>;
        out.push(scopeOfTaskConfig(name, doc, req.sourceId) ?? taskScope(name, null));
      }
      return out;
    },

    /** The shard DDL locks of the tasks (`shard-ddl-lock <task>`): which sources reached the DDL and which have not. */
    async dmShardDdlLocks(req: { dmCluster: string; tasks: string[] }): Promise<ShardDdlLock[]> {
      const out: ShardDdlLock[] = [];
      for (const name of req.tasks) {
        const answer = checked(`shard-ddl-lock ${name}`, await dmctl(req.dmCluster, ['shard-ddl-lock', name]));
        type Raw = { ID?: string; task?: string; mode?: string; owner?: string; DDLs?: string[]; synced?: string[]; unsynced?: string[] };
        for (const l of (answer.locks as Raw[] | undefined) ?? []) {
          out.push({ id: l.ID ?? '', task: l.task ?? name, mode: l.mode ?? '', owner: l.owner ?? '', ddls: l.DDLs ?? [], synced: l.synced ?? [], unsynced: l.unsynced ?? [] });
        }
      }
      return out;
    },

    /** Every subtask of a task, on every source it reads (`query-status <task>`), with its stage, errors and unresolved shard groups. */
    async dmTaskSubtasks(req: { dmCluster: string; task: string }): Promise<TaskSubtask[]> {
      return taskSubtasks(req.dmCluster, req.task);
    },

    /**
     * Waits, inside this one activity, until every task's syncerBinlogGtid
     * includes `want` (what the new instance had executed at resume): DM
     * replicates from it. A task of `held` (a shard-merge task whose accepted
     * DDL lock holds this source) also counts when its subtask here is
     * Running without errors and waits at the lock (an unresolved group, or
     * the source had reached the DDL). With `relaySwitchedFrom`, relay must
     * also read a new sub-directory and have caught up. At most
     * `timeoutSeconds` from the first attempt; returns what it saw last
     * either way.
     */
    async dmAwaitPositions(req: {
      dmCluster: string;
      sourceId: string;
      tasks: string[];
      want: string;
      timeoutSeconds: number;
      held?: Array<{ task: string; sourceSynced: boolean }>;
      /** Given: relay must also have switched from this sub-directory (null: any) and caught up. */
      relaySwitchedFrom?: string | null;
    }): Promise<{ ok: boolean; tasks: SourceTask[]; behind: Array<{ task: string; lacks: string }>; held: string[]; relay: RelayState | null; relayOk: boolean; flavor: 'mysql' | 'mariadb'; waitedSeconds: number }> {
      const relayWanted = req.relaySwitchedFrom !== undefined;
      const r = await pollUntil(
        req.timeoutSeconds,
        async () => {
          const state = await sourceState(req.dmCluster, req.sourceId);
          const behind = tasksBehind(state, req.tasks, req.want);
          const held: string[] = [];
          for (const b of behind) {
            const h = req.held?.find((x) => x.task === b.task);
            if (!h) continue;
            const sub = (await taskSubtasks(req.dmCluster, b.task)).find((x) => x.source === req.sourceId);
            if (sub && sub.stage === 'Running' && sub.errors.length === 0 && (sub.unresolvedGroups.length > 0 || h.sourceSynced)) held.push(b.task);
          }
          return { state, behind: behind.filter((b) => !held.includes(b.task)), held };
        },
        (v) => v.behind.length === 0 && (!relayWanted || relaySwitched(v.state.relay, req.relaySwitchedFrom ?? null)),
        (v) => ({ behind: v.behind, relay: v.state.relay?.relaySubDir ?? null }),
      );
      const { state, behind, held } = r.last;
      const relayOk = relayWanted && relaySwitched(state.relay, req.relaySwitchedFrom ?? null);
      return { ok: r.ok, tasks: state.tasks.filter((t) => req.tasks.includes(t.name)), behind, held, relay: state.relay, relayOk, flavor: state.flavor, waitedSeconds: r.waitedSeconds };
    },

    /** Waits, inside this one activity, until relay reads a sub-directory other than `oldRelayDir` and has caught up with the upstream. */
    async dmAwaitRelaySwitched(req: { dmCluster: string; sourceId: string; oldRelayDir: string | null; timeoutSeconds: number }): Promise<{ ok: boolean; relay: RelayState | null; waitedSeconds: number }> {
      const r = await pollUntil(
        req.timeoutSeconds,
        async () => (await sourceState(req.dmCluster, req.sourceId)).relay,
        (relay) => relaySwitched(relay, req.oldRelayDir),
        (relay) => relay,
      );
      return { ok: r.ok, relay: r.last, waitedSeconds: r.waitedSeconds };
    },

    /** Waits, inside this one activity, until every subtask of `tasks` (task → the sources it must read) is listed and Running without errors. */
    async dmAwaitSubtasksHealthy(req: { dmCluster: string; tasks: Record<string, string[]>; timeoutSeconds: number }): Promise<{ ok: boolean; subtasks: Array<TaskSubtask & { task: string }>; missing: string[]; waitedSeconds: number }> {
      const r = await pollUntil(
        req.timeoutSeconds,
        async () => {
          const subtasks: Array<TaskSubtask & { task: string }> = [];
          for (const task of Object.keys(req.tasks)) for (const s of await taskSubtasks(req.dmCluster, task)) subtasks.push({ ...s, task });
          const missing = Object.entries(req.tasks).flatMap(([task, sources]) => sources.filter((src) => !subtasks.some((s) => s.task === task && s.source === src)).map((src) => `${task} on ${src}: not listed`));
          return { subtasks, missing };
        },
        (v) => v.missing.length === 0 && v.subtasks.every((s) => s.stage === 'Running' && s.errors.length === 0),
        (v) => v.subtasks.map((s) => `${s.task}@${s.source} ${s.stage}`),
      );
      return { ok: r.ok, ...r.last, waitedSeconds: r.waitedSeconds };
    },

    /**
     * Waits, inside this one activity, until DM shows the source as it was
     * before a switch: it exists, reads `from` (when given), every task of
     * `tasks` Running without errors, relay Running when `relay`; and then
     * until every task has caught up with what its upstream had when that was
     * first seen (`upstreamGtids`) or at least moved (DM shows flushed
     * checkpoints), within CATCH_UP_SECONDS at least, so that a task DM shows
     * Running whose binlog reader delivers nothing is not taken for restored.
     * The rollback check's DM part; it then reads everything once to report.
     */
    async dmAwaitSourceRestored(req: { dmCluster: string; sourceId: string; tasks: string[]; relay: boolean; from?: { host: string; port: number } | null; timeoutSeconds: number }): Promise<{
      ok: boolean;
      /** DM shows the source as before (ok may still be false: a task did not catch up). */
      restored: boolean;
      /** What the upstream had when the source was first seen restored: what every task had to reach. */
      want: string;
      behind: Array<{ task: string; lacks: string }>;
      waitedSeconds: number;
    }> {
      // the positions DM shows are its last flushed checkpoint: every 30 s while events come, on a heartbeat when idle.
      // A task that runs shows a new one within a minute; a task that shows none reads nothing.
      const began = Date.now();
      let want: string | null = null;
      const first = new Map<string, string>();
      const r = await pollUntil(
        Math.max(req.timeoutSeconds, CATCH_UP_SECONDS),
        async () => {
          const state = await sourceState(req.dmCluster, req.sourceId, true);
          const restored = sourceRestored(state, req);
          if (restored && want === null) {
            want = upstreamGtids(state!, req.tasks);
            for (const x of state!.tasks) first.set(x.name, x.syncerBinlogGtid);
          }
          const moved = (task: string) => state!.tasks.find((x) => x.name === task)?.syncerBinlogGtid !== first.get(task);
          return { state, restored, behind: restored && want !== null ? tasksBehind(state!, req.tasks, want).filter((b) => !moved(b.task)) : [] };
        },
        (v) => (v.restored && v.behind.length === 0) || (!v.restored && Date.now() - began >= req.timeoutSeconds * 1000),
        (v) => v.state && { tasks: v.state.tasks.map((x) => `${x.name} ${x.stage}`), relay: v.state.relay?.stage ?? null, behind: v.behind },
      );
      return { ok: r.last.restored && r.last.behind.length === 0, restored: r.last.restored, want: want ?? '', behind: r.last.behind, waitedSeconds: r.waitedSeconds };
    },

    /**
     * After relay started on a source whose tasks run: waits until every task
     * has caught up with what the upstream had when all ran (`want`), and
     * re-opens the binlog reader of a task that DM shows Running while it
     * reads nothing: behind, its position unchanged for `stallSeconds` (75 by
     * default: DM shows flushed checkpoints, up to a minute old), it is
     * paused and resumed (at most twice), so that DM reads its relay log
     * again from the checkpoint. Seen on the real stack: after start-relay
     * re-created the relay sub-directory a task stayed Running/Sync with its
     * position frozen while the upstream moved on. Pausing and resuming
     * moves nothing a checkpoint does not already hold, so a retry after a
     * crash does no harm. `ok` false: a task is not Running or did not catch
     * up in `timeoutSeconds`; the caller's check reports it.
     */
    async dmAwaitTasksCaughtUp(req: { dmCluster: string; sourceId: string; tasks: string[]; timeoutSeconds: number; stallSeconds?: number }): Promise<{ ok: boolean; want: string; behind: Array<{ task: string; lacks: string }>; reopened: Array<{ task: string; lacked: string }>; waitedSeconds: number }> {
      const stallMs = (req.stallSeconds ?? CATCH_UP_SECONDS - 15) * 1000;
      let want: string | null = null;
      const moved = new Map<string, { gtid: string; at: number }>();
      const reopened: Array<{ task: string; lacked: string }> = [];
      const reopen = async (task: string) => {
        const one = { dmCluster: req.dmCluster, sourceId: req.sourceId, tasks: [task], timeoutSeconds: 30 };
        await pauseTasks(one);
        await resumeTasks(one);
      };
      const r = await pollUntil(
        req.timeoutSeconds,
        async () => {
          const state = await sourceState(req.dmCluster, req.sourceId);
          const running = req.tasks.every((name) => state.tasks.some((x) => x.name === name && x.stage === 'Running' && x.errors.length === 0));
          if (!running) return { running, behind: [] as Array<{ task: string; lacks: string }> };
          if (want === null) want = upstreamGtids(state, req.tasks);
          const behind = tasksBehind(state, req.tasks, want);
          for (const b of behind) {
            const gtid = state.tasks.find((x) => x.name === b.task)?.syncerBinlogGtid ?? '';
            const last = moved.get(b.task);
            if (!last || last.gtid !== gtid) moved.set(b.task, { gtid, at: Date.now() });
            else if (Date.now() - last.at >= stallMs && reopened.filter((x) => x.task === b.task).length < 2) {
              reopened.push({ task: b.task, lacked: b.lacks });
              await reopen(b.task);
              moved.delete(b.task);
            }
          }
          return { running, behind };
        },
        (v) => v.running && v.behind.length === 0,
        (v) => ({ behind: v.behind, reopened }),
      );
      return { ok: r.ok, want: want ?? '', behind: r.last.behind, reopened, waitedSeconds: r.waitedSeconds };
    },

    /**
     * `start-task -s <source>` each saved task not already on the source, with
     * the downstream password (masked by DM) resolved from `credentials`; the
     * task resumes from its checkpoint. Idempotent. Does not wait for Running
     * (see dmAwaitSyncing).
     */
    async dmStartTasks(req: { dmCluster: string; sourceId: string; tasks: SavedTaskConfig[]; credentials: string }): Promise<SourceTask[]> {
      const now = await sourceState(req.dmCluster, req.sourceId);
      for (const task of req.tasks) {
        if (now.tasks.some((t) => t.name === task.name)) continue;
        const creds = await downstreamCredentials(req.credentials, task);
        await withPrivateFile(await privateDir(), `task-${task.name}.yaml`, taskFile(task, creds), async (path) => {
          const answer = await dmctl(req.dmCluster, ['start-task', '-s', req.sourceId, path]);
          const failures = dmctlFailures(answer);
          // started by an earlier attempt whose answer was lost: fine
          if (failures.length > 0 && !failures.every((f) => /already exist/i.test(f.msg))) checked(`start-task ${task.name}`, answer);
        });
      }
      return (await sourceState(req.dmCluster, req.sourceId)).tasks.filter((t) => req.tasks.some((x) => x.name === t.name));
    },
  };
}

export type DmActivities = ReturnType<typeof createDmActivities>;
