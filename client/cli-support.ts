/**
 * What every dm-switch command shares: exit codes, the connection to
 * Temporal (through @temporalio/envconfig), reading a switch's status and
 * following it, and printing text or JSON.
 */
import type { Endpoint } from '../common/switch/types.js';
import { printable } from '../common/text.js';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import proto from '@temporalio/proto';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { switchWorkflowId } from '../common/switch/ids.js';
import { statusQuery } from '../common/switch/messages.js';
import { type Outcome, type SwitchStatus } from '../common/switch/status.js';
import { dataConverterFromEnv } from './codec.js';
import { clientTracingInterceptors, startTracing, stopTracing } from '../worker/tracing.js';
import { endedWords } from './ended.js';
import { renderDecision } from './render.js';
import { type HostStatus } from '../common/switch/drain.js';

/** What the exit code says, for scripts. */
export const EXIT = {
  ok: 0,
  /** The switch failed, was refused, rejected or rolled back. */
  switchFailed: 1,
  /** Bad usage or invalid input: nothing was changed. */
  usage: 2,
  /** The request did not fit: no such switch, already running, approval refused. */
  refused: 3,
  /** Temporal could not be reached. */
  unreachable: 4,
  /** The switch needs an operator (an undo failed). */
  needsOperator: 5,
} as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

export interface Globals {
  output: 'text' | 'json';
  taskQueue: string;
}

export function switchId(ref: string): string {
  if (ref.startsWith('dm-switch/') || ref.startsWith('dm-switch-drain/') || ref.startsWith('dm-switch-return/'))
    return ref;
  const parts = ref.split('/');
  if (parts.length === 2) return switchWorkflowId(parts[0]!, parts[1]!);
  if (parts.length === 1 && parts[0]) return switchWorkflowId('default', parts[0]);
  throw new CliError(
    `"${ref}" is not a switch: give its workflow ID (dm-switch/<cluster>/<source>), <cluster>/<source>, or a source id`,
    EXIT.usage,
  );
}

export async function connect(): Promise<Client> {
  const config = loadClientConnectConfig();
  try {
    const connection = await Connection.connect({ ...config.connectionOptions, connectTimeout: 5_000 });
    // the start of a switch as the root of its trace, when OTEL_EXPORTER_OTLP_ENDPOINT names a collector
    const workflow = clientTracingInterceptors(startTracing(process.env, 'dm-switch'));
    return new Client({
      connection,
      namespace: config.namespace ?? 'default',
      dataConverter: dataConverterFromEnv(),
      interceptors: { workflow },
    });
  } catch (e) {
    throw new CliError(
      `cannot reach Temporal at ` +
        `${String(config.connectionOptions.address ?? 'localhost:7233')}: ` +
        `${(e as Error).message}; set TEMPORAL_ADDRESS (or a profile in temporal.toml) ` +
        `and check the server runs`,
      EXIT.unreachable,
    );
  }
}

export const isHost = (s: SwitchStatus | HostStatus): s is HostStatus => s.kind === 'drain' || s.kind === 'return';
export const exitForHost = (s: HostStatus): number =>
  s.outcome === 'drained' || s.outcome === 'returned' || s.outcome === 'planned'
    ? EXIT.ok
    : s.outcome === 'refused'
      ? EXIT.switchFailed
      : s.sources.some((x) => x.outcome === 'needs-operator')
        ? EXIT.needsOperator
        : EXIT.switchFailed;

export const exitFor = (outcome: Outcome | undefined): number =>
  outcome === 'switched' || outcome === 'dry-run'
    ? EXIT.ok
    : outcome === 'needs-operator'
      ? EXIT.needsOperator
      : EXIT.switchFailed;

export function print(g: Globals, json: unknown, text: string): void {
  // JSON escapes what it carries; text from alerts and servers is made printable (common/text.ts)
  process.stdout.write(`${g.output === 'json' ? JSON.stringify(json, null, 2) : printable(text)}\n`);
}

export async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connect();
  try {
    return await fn(client);
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) {
      // Temporal says "not found" for a closed workflow too: one that ended is named as such, with how and when
      const ended = e.workflowId ? await endedWords(client, e.workflowId) : null;
      if (ended) throw new CliError(ended, EXIT.refused);
      throw new CliError(
        `no such switch: ${e.workflowId ?? e.message}; list them with \`dm-switch list\``,
        EXIT.refused,
      );
    }
    throw e;
  } finally {
    await client.connection.close();
    await stopTracing();
  }
}

/** `host[:port]` as typed (port 3306 by default); `what` names the flag or argument in the error. */
export function hostPort(spec: string, what: string): Endpoint {
  const m = /^(.+?)(?::(\d+))?$/.exec(spec);
  if (!m) throw new CliError(`${what} "${spec}" is not host[:port]`, EXIT.usage);
  return { host: m[1]!, port: m[2] ? Number(m[2]) : 3306 };
}

/** The workflow types `list` shows (workflows/index.ts): the switches, and the drains and returns of hosts. */
export const SWITCH_TYPES = ['vipSwitch', 'addressSwitch', 'drainHost', 'returnToHost'];

/**
 * A switch's status. Only a worker can answer (it replays the switch), and
 * Temporal would hold the query ~30 s before failing it when none polls; so
 * the switch's task queue is asked first, and no poller is said at once.
 */
export async function queryStatus(client: Client, workflowId: string): Promise<SwitchStatus | HostStatus> {
  const handle = client.workflow.getHandle(workflowId);
  const d = await handle.describe();
  const q = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: d.taskQueue },
    taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  if (!q.pollers?.length) {
    throw new CliError(
      `no worker polls task queue "${d.taskQueue}", and only a worker can read switch ` +
        `${workflowId} (${d.status.name.toLowerCase()}); start one ` +
        `(DM_SWITCH_CONFIG=<its configuration> npm run worker) and ask again`,
      EXIT.unreachable,
    );
  }
  return handle.query(statusQuery) as Promise<SwitchStatus | HostStatus>;
}

/** Follows a switch until it ends, printing each new decision; returns its final status. */
export async function follow(client: Client, workflowId: string, g: Globals, quiet = false): Promise<SwitchStatus> {
  const handle = client.workflow.getHandle(workflowId);
  let seen = 0;
  let phase = '';
  let ended = false;
  const result = handle
    .result()
    .then(
      () => undefined,
      () => undefined,
    )
    .finally(() => (ended = true));
  for (;;) {
    const s = await handle.query(statusQuery).catch(() => null);
    if (s && !quiet && g.output === 'text') {
      for (const d of s.decisions.slice(seen)) process.stdout.write(`${renderDecision(d).trimStart()}\n`);
      seen = s.decisions.length;
      if (s.phase !== phase) {
        phase = s.phase;
        const pending = s.approvals.find((a) => a.state === 'pending');
        process.stdout.write(
          `${s.updatedAt.slice(11, 19)} == ` +
            (`${s.outcome ? `finished: ${s.outcome}` : s.phase}` +
              `${pending ? ` (gate ${pending.gate}: dm-switch approve ${workflowId} --gate ${pending.gate})` : ''}\n`),
        );
      }
    }
    if (ended) {
      const last = await handle.query(statusQuery);
      if (!quiet && g.output === 'text')
        for (const d of last.decisions.slice(seen)) process.stdout.write(`${renderDecision(d).trimStart()}\n`);
      return last;
    }
    await Promise.race([result, new Promise((r) => setTimeout(r, 1000))]);
  }
}
