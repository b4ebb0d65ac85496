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
import { parse as parseYaml } from 'yaml';
import { SwitchErrorType } from '../common/switch/errors.js';
import { dmctlFailures, parseDmctlOutput, type DmctlJson } from './dmctl-output.js';

export interface DmClusterConfig {
  /** dm-master address(es), comma-separated, as dmctl's --master-addr takes them. */
  masterAddr: string;
  /** Path of the dmctl binary. */
  dmctl: string;
  /** Timeout of one dmctl call (default 60 s). */
  commandTimeoutMs?: number;
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
}

export interface RelayState {
  stage: string;
  relaySubDir: string;
  relayBinlogGtid: string;
  masterBinlogGtid: string;
  relayCatchUpMaster: boolean;
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

export interface TasksRequest {
  dmCluster: string;
  sourceId: string;
  tasks: string[];
  timeoutSeconds?: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** DM's words for a broken or refused upstream connection: worth another resume, not a failed switch. */
export function isUpstreamConnectionError(text: string): boolean {
  return /invalid connection|bad connection|connection refused|broken pipe|connection reset|i\/o timeout|ErrScope:\\?"upstream\\?"/i.test(text);
}

function failure(message: string, type: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ message, type, nonRetryable: true, details: details === undefined ? undefined : [details] });
}

export function createDmActivities(clusters: Record<string, DmClusterConfig>) {
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
    const r = await execa(c.dmctl, [`--master-addr=${c.masterAddr}`, ...args], { reject: false, timeout: c.commandTimeoutMs ?? 60_000, stdin: 'ignore' });
    const answer = parseDmctlOutput(r.stdout, r.stderr, r.exitCode);
    if (r.timedOut) throw new Error(`dmctl ${args.join(' ')} timed out after ${c.commandTimeoutMs ?? 60_000} ms`);
    if (r.exitCode !== 0 && answer.result !== true) {
      // dmctl itself failed (e.g. cannot reach dm-master): worth retrying
      throw new Error(`dmctl ${args[0]} against ${c.masterAddr} failed: ${answer.msg}`);
    }
    return answer;
  }

  function checked(op: string, answer: DmctlJson): DmctlJson {
    const failures = dmctlFailures(answer);
    if (failures.length > 0) {
      throw failure(`dmctl ${op} failed: ${failures.map((f) => `${f.name ? `${f.name}: ` : ''}${f.msg}`).join('; ')}`, SwitchErrorType.DmOperationFailed, answer);
    }
    return answer;
  }

  async function sourceState(dmCluster: string, sourceId: string): Promise<SourceState> {
    const config = await dmctl(dmCluster, ['config', 'source', sourceId]);
    if (config.result !== true || typeof config.cfg !== 'string') {
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
    type RawSub = { name: string; stage: string; unit: string; result: null | { errors?: Array<{ Message?: string; RawCause?: string; message?: string }> }; sync?: { syncerBinlogGtid?: string; masterBinlogGtid?: string } };
    type RawSource = { sourceStatus?: { worker?: string; relayStatus?: null | RelayState & { stage: string } }; subTaskStatus?: RawSub[] };
    const src = ((status.sources as RawSource[] | undefined) ?? [])[0];
    const relay = src?.sourceStatus?.relayStatus ?? null;
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
            relayBinlogGtid: relay.relayBinlogGtid,
            masterBinlogGtid: relay.masterBinlogGtid,
            relayCatchUpMaster: relay.relayCatchUpMaster,
          }
        : null,
      tasks: (src?.subTaskStatus ?? []).map((t) => ({
        name: t.name,
        stage: t.stage,
        unit: t.unit,
        syncerBinlogGtid: t.sync?.syncerBinlogGtid ?? '',
        masterBinlogGtid: t.sync?.masterBinlogGtid ?? '',
        errors: (t.result?.errors ?? []).map((e) => [e.Message ?? e.message, e.RawCause].filter(Boolean).join(': ')),
      })),
    };
  }

  /**
   * Polls until every named task satisfies `ok`, heartbeating the stages seen;
   * throws `type` on timeout. `heal` may act on the tasks still pending.
   */
  async function waitFor(req: TasksRequest, what: string, ok: (t: SourceTask) => boolean, type: string, heal?: (pending: SourceTask[]) => Promise<void>): Promise<SourceTask[]> {
    const deadline = Date.now() + (req.timeoutSeconds ?? 60) * 1000;
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
      await sleep(500);
      Context.current().cancellationSignal.throwIfAborted();
    }
  }

  return {
    /** The source's configuration and status: GTID mode, relay, every task with its stage and syncerBinlogGtid. */
    async dmSourceState(req: { dmCluster: string; sourceId: string }): Promise<SourceState> {
      return sourceState(req.dmCluster, req.sourceId);
    },

    /** `pause-task` each task not already paused, then waits until every one is Paused. Idempotent. */
    async dmPauseTasks(req: TasksRequest): Promise<SourceTask[]> {
      const before = await sourceState(req.dmCluster, req.sourceId);
      for (const name of req.tasks) {
        const t = before.tasks.find((x) => x.name === name);
        if (t?.stage === 'Paused') continue;
        checked(`pause-task ${name}`, await dmctl(req.dmCluster, ['pause-task', '-s', req.sourceId, name]));
      }
      return waitFor(req, 'Paused', (t) => t.stage === 'Paused', SwitchErrorType.DmOperationFailed);
    },

    /**
     * `resume-task` each task not already running. Idempotent; does not wait
     * for Running (see dmAwaitSyncing). Right after a VIP move DM may still
     * hold pooled connections the move broke ("invalid connection"): such
     * upstream connection errors are retried within `timeoutSeconds`.
     */
    async dmResumeTasks(req: TasksRequest): Promise<SourceTask[]> {
      const deadline = Date.now() + (req.timeoutSeconds ?? 60) * 1000;
      for (const name of req.tasks) {
        for (let attempt = 1; ; attempt++) {
          const now = await sourceState(req.dmCluster, req.sourceId);
          const t = now.tasks.find((x) => x.name === name);
          if (t?.stage === 'Running' && t.errors.length === 0) break;
          const answer = await dmctl(req.dmCluster, ['resume-task', '-s', req.sourceId, name]);
          const failures = dmctlFailures(answer);
          if (failures.length === 0) break;
          const text = failures.map((f) => f.msg).join('; ');
          Context.current().heartbeat({ resuming: name, attempt, lastError: text });
          if (!isUpstreamConnectionError(text) || Date.now() > deadline) checked(`resume-task ${name}`, answer);
          await sleep(Math.min(5000, 500 * attempt));
          Context.current().cancellationSignal.throwIfAborted();
        }
      }
      return (await sourceState(req.dmCluster, req.sourceId)).tasks.filter((t) => req.tasks.includes(t.name));
    },

    /**
     * `stop-relay` for the source, so its relay unit does not read through the
     * VIP while it moves. Idempotent: a source with no running relay is left
     * as it is. Returns whether relay was running.
     */
    async dmStopRelay(req: { dmCluster: string; sourceId: string }): Promise<boolean> {
      const state = await sourceState(req.dmCluster, req.sourceId);
      if (state.relay === null) return false;
      checked('stop-relay', await dmctl(req.dmCluster, ['stop-relay', '-s', req.sourceId]));
      return true;
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
  };
}

export type DmActivities = ReturnType<typeof createDmActivities>;
