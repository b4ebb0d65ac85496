/**
 * dm-switch: the operator's command line.
 *
 *   dm-switch start vip|address [--file switch.yaml] [flags] [--dry-run] [--wait]
 *   dm-switch approve|reject <switch> [--gate G] [--comment C] [--by NAME]
 *   dm-switch status|watch|cancel <switch>
 *   dm-switch list [--source S] [--all]
 *   dm-switch drain <host[:port]> [--vip V] [--candidates …|--discover [H]] [--approve] [--dry-run] [--wait]
 *   dm-switch undrain <host[:port]> [--wait]
 *
 * <switch> is a workflow ID (dm-switch/<cluster>/<source>), "<cluster>/<source>"
 * or just a source id (cluster "default"); status, watch, approve, reject and
 * cancel also take a drain's ID (dm-switch-drain/<host>:<port>). Temporal is reached through
 * @temporalio/envconfig (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TLS, profiles in temporal.toml). `--output json` prints
 * machine-readable results everywhere. Exit codes: see EXIT.
 */
import { printable } from '../common/text.js';
import { sentDecisions, withIdentities } from './approval-identity.js';
import { Client, Connection, WorkflowFailedError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import proto from '@temporalio/proto';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { Command, CommanderError, Option } from 'commander';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { describeMark, markOf } from '../activities/host-marks.js';
import { DEFAULT_TASK_QUEUE, switchWorkflowId } from '../common/switch/ids.js';
import { approveUpdate, rejectUpdate, statusQuery } from '../common/switch/messages.js';
import { GATES, type Gate, type Outcome, type SwitchStatus } from '../common/switch/status.js';
import type { Endpoint } from '../common/switch/types.js';
import { dataConverterFromEnv } from './codec.js';
import { renderDecision, renderStatus } from './render.js';
import { startSwitch, SwitchRequestError, validateRequest, type SwitchKind } from './switches.js';
import { renderHostStatus, returnRequestFrom, startHost, validateHostRequest, type HostKind } from './drain.js';
import { drainWorkflowId, type HostStatus } from '../common/switch/drain.js';

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

class CliError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}

interface Globals {
  output: 'text' | 'json';
  taskQueue: string;
}

function switchId(ref: string): string {
  if (ref.startsWith('dm-switch/') || ref.startsWith('dm-switch-drain/') || ref.startsWith('dm-switch-return/')) return ref;
  const parts = ref.split('/');
  if (parts.length === 2) return switchWorkflowId(parts[0]!, parts[1]!);
  if (parts.length === 1 && parts[0]) return switchWorkflowId('default', parts[0]);
  throw new CliError(`"${ref}" is not a switch: give its workflow ID (dm-switch/<cluster>/<source>), <cluster>/<source>, or a source id`, EXIT.usage);
}

async function connect(): Promise<Client> {
  const config = loadClientConnectConfig();
  try {
    const connection = await Connection.connect({ ...config.connectionOptions, connectTimeout: 5_000 });
    return new Client({ connection, namespace: config.namespace ?? 'default', dataConverter: dataConverterFromEnv() });
  } catch (e) {
    throw new CliError(
      `cannot reach Temporal at ${String(config.connectionOptions.address ?? 'localhost:7233')}: ${(e as Error).message}; set TEMPORAL_ADDRESS (or a profile in temporal.toml) and check the server runs`,
      EXIT.unreachable,
    );
  }
}

const isHost = (s: SwitchStatus | HostStatus): s is HostStatus => s.kind === 'drain' || s.kind === 'return';
const exitForHost = (s: HostStatus): number => (s.outcome === 'drained' || s.outcome === 'returned' || s.outcome === 'planned' ? EXIT.ok : s.outcome === 'refused' ? EXIT.switchFailed : s.sources.some((x) => x.outcome === 'needs-operator') ? EXIT.needsOperator : EXIT.switchFailed);

const exitFor = (outcome: Outcome | undefined): number =>
  outcome === 'switched' || outcome === 'dry-run' ? EXIT.ok : outcome === 'needs-operator' ? EXIT.needsOperator : EXIT.switchFailed;

function print(g: Globals, json: unknown, text: string): void {
  // JSON escapes what it carries; text from alerts and servers is made printable (common/text.ts)
  process.stdout.write(`${g.output === 'json' ? JSON.stringify(json, null, 2) : printable(text)}\n`);
}

async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connect();
  try {
    return await fn(client);
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) throw new CliError(`no such switch: ${e.workflowId ?? e.message}; list them with \`dm-switch list\``, EXIT.refused);
    throw e;
  } finally {
    await client.connection.close();
  }
}

/** `host[:port]` as typed (port 3306 by default); `what` names the flag or argument in the error. */
function hostPort(spec: string, what: string): Endpoint {
  const m = /^(.+?)(?::(\d+))?$/.exec(spec);
  if (!m) throw new CliError(`${what} "${spec}" is not host[:port]`, EXIT.usage);
  return { host: m[1]!, port: m[2] ? Number(m[2]) : 3306 };
}

/** Starts a drain or a return of a host from the command line; with --wait, follows it. */
async function hostAction(kind: HostKind, hostArg: string, o: Record<string, string | boolean | undefined>, g: Globals): Promise<number> {
  const { host, port } = hostPort(hostArg, '<host>');
  let req: Record<string, unknown> = typeof o.file === 'string' ? await readRequestFile(o.file) : {};
  req.host = host;
  req.port = port;
  const list = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);
  const instance = (spec: string, what: string) => ({ ...hostPort(spec, what), credentials: o.credentials ?? req.credentials });
  if (typeof o.credentials === 'string') req.credentials = o.credentials;
  if (typeof o.taskCredentials === 'string') req.taskCredentials = o.taskCredentials;
  if (typeof o.sourceCredentials === 'string') req.sourceCredentials = o.sourceCredentials;
  if (o.approve === true) req.approve = true;
  if (typeof o.concurrency === 'string') req.concurrency = Number(o.concurrency);
  if (o.stopOnFailure === true) req.stopOnFailure = true;
  if (o.dryRun === true) req.options = { ...((req.options ?? {}) as object), dryRun: true };
  if (typeof o.reason === 'string') req.reason = o.reason;
  req.requestedBy ??= typeof o.by === 'string' ? o.by : userInfo().username;
  if (kind === 'drain') {
    if (typeof o.cluster === 'string') req.dmClusters = list(o.cluster);
    if (typeof o.vip === 'string') req.vips = list(o.vip).map((v) => (v.includes('@') ? { address: v.split('@')[0], provider: v.split('@')[1] } : { address: v }));
    if (typeof o.candidates === 'string') req.candidates = list(o.candidates).map((x) => instance(x, '--candidates'));
    if (o.discover !== undefined) req.discover = typeof o.discover === 'string' ? { replicasOf: instance(o.discover, '--discover') } : {};
  }
  // bad input is named before connecting (a return's sources come from the drain, read through Temporal)
  if (kind === 'drain' || Array.isArray(req.sources)) {
    try {
      validateHostRequest(kind, req);
    } catch (e) {
      if (e instanceof SwitchRequestError) throw new CliError(e.message, EXIT.usage);
      throw e;
    }
  }
  return withClient(async (client) => {
    if (kind === 'return' && !Array.isArray(req.sources)) {
      // what the last drain of the host moved, from its own record
      const drainId = drainWorkflowId('drain', host, port);
      const last = (await client.workflow.getHandle(drainId).query(statusQuery)) as unknown as HostStatus;
      if (last.phase !== 'done') throw new CliError(`the drain ${drainId} has not ended (${last.phase}): wait for it, or cancel it, before moving its sources back`, EXIT.refused);
      const { sources, options } = returnRequestFrom(last);
      req = { ...req, sources, options: { ...options, ...((req.options ?? {}) as object) }, credentials: req.credentials ?? last.input?.credentials, taskCredentials: req.taskCredentials ?? last.input?.taskCredentials, sourceCredentials: req.sourceCredentials ?? last.input?.sourceCredentials };
      for (const k of ['taskCredentials', 'sourceCredentials'] as const) if (req[k] === undefined) delete req[k];
    }
    try {
      // startHost validates (again, for a drain; first, for a return built from the drain's record)
      const started = await startHost(client, kind, req, { taskQueue: g.taskQueue });
      print(g, started, `started ${started.workflowId} (run ${started.runId})\n  watch: dm-switch status ${started.workflowId}${o.approve ? `\n  approve the plan: dm-switch approve ${started.workflowId}` : ''}`);
      if (!o.wait) return EXIT.ok;
      const handle = client.workflow.getHandle(started.workflowId);
      await handle.result().catch(() => undefined);
      const s = (await handle.query(statusQuery)) as unknown as HostStatus;
      print(g, s, renderHostStatus(started.workflowId, s));
      return exitForHost(s);
    } catch (e) {
      if (e instanceof SwitchRequestError) throw new CliError(e.message, e.code === 'invalid-input' ? EXIT.usage : EXIT.refused);
      throw e;
    }
  });
}

async function readRequestFile(file: string): Promise<Record<string, unknown>> {
  const text = await readFile(file, 'utf8').catch((e: Error) => {
    throw new CliError(`cannot read ${file}: ${e.message}`, EXIT.usage);
  });
  try {
    return (parseYaml(text) ?? {}) as Record<string, unknown>;
  } catch (e) {
    throw new CliError(`${file} is neither JSON nor YAML: ${(e as Error).message}`, EXIT.usage);
  }
}

/** Reads a request from a JSON or YAML file, then lets flags override its fields. */
async function buildRequest(kind: SwitchKind, o: Record<string, string | boolean | undefined>): Promise<Record<string, unknown>> {
  const req: Record<string, unknown> = typeof o.file === 'string' ? await readRequestFile(o.file) : {};
  const instance = (spec: string, what: string) => {
    return { ...hostPort(spec, what), credentials: o.credentials ?? (req[what === '--old' ? 'oldInstance' : 'newInstance'] as { credentials?: string } | undefined)?.credentials ?? (req.oldInstance as { credentials?: string } | undefined)?.credentials };
  };
  if (typeof o.source === 'string') req.sourceId = o.source;
  if (typeof o.cluster === 'string') req.dmCluster = o.cluster;
  // --old first: --candidates and --discover default to its credentials
  if (typeof o.old === 'string') req.oldInstance = instance(o.old, '--old');
  if (typeof o.new === 'string') req.newInstance = instance(o.new, '--new');
  if (typeof o.candidates === 'string') req.candidates = o.candidates.split(',').map((x) => x.trim()).filter(Boolean).map((x) => instance(x, '--candidates'));
  if (o.discover !== undefined) req.discover = typeof o.discover === 'string' ? { replicasOf: instance(o.discover, '--discover') } : {};
  if (kind === 'vip' && (typeof o.vip === 'string' || typeof o.vipProvider === 'string')) {
    const cur = (req.vip ?? {}) as Record<string, unknown>;
    req.vip = { ...cur, ...(typeof o.vip === 'string' ? { address: o.vip } : {}), ...(typeof o.vipProvider === 'string' ? { provider: o.vipProvider } : {}) };
  }
  if (typeof o.taskCredentials === 'string') req.taskCredentials = o.taskCredentials;
  if (typeof o.sourceCredentials === 'string') req.sourceCredentials = o.sourceCredentials;
  if (typeof o.gates === 'string' || typeof o.approvalTimeout === 'string') {
    const cur = (req.approvals ?? {}) as Record<string, unknown>;
    req.approvals = {
      ...cur,
      ...(typeof o.gates === 'string' ? { gates: o.gates.split(',').map((x) => x.trim()).filter(Boolean) } : {}),
      ...(typeof o.approvalTimeout === 'string' ? { timeoutSeconds: Number(o.approvalTimeout) } : {}),
    };
  }
  if (o.dryRun === true) req.options = { ...((req.options ?? {}) as object), dryRun: true };
  if (typeof o.reason === 'string') req.reason = o.reason;
  req.requestedBy ??= typeof o.by === 'string' ? o.by : userInfo().username;
  return req;
}

/** The workflow types `list` shows (workflows/index.ts): the switches, and the drains and returns of hosts. */
const SWITCH_TYPES = ['vipSwitch', 'addressSwitch', 'drainHost', 'returnToHost'];

/**
 * A switch's status. Only a worker can answer (it replays the switch), and
 * Temporal would hold the query ~30 s before failing it when none polls; so
 * the switch's task queue is asked first, and no poller is said at once.
 */
async function queryStatus(client: Client, workflowId: string): Promise<SwitchStatus | HostStatus> {
  const handle = client.workflow.getHandle(workflowId);
  const d = await handle.describe();
  const q = await client.workflowService.describeTaskQueue({ namespace: client.options.namespace, taskQueue: { name: d.taskQueue }, taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW });
  if (!q.pollers?.length) {
    throw new CliError(
      `no worker polls task queue "${d.taskQueue}", and only a worker can read switch ${workflowId} (${d.status.name.toLowerCase()}); start one (DM_SWITCH_CONFIG=<its configuration> npm run worker) and ask again`,
      EXIT.unreachable,
    );
  }
  return handle.query(statusQuery) as Promise<SwitchStatus | HostStatus>;
}

/** Follows a switch until it ends, printing each new decision; returns its final status. */
async function follow(client: Client, workflowId: string, g: Globals, quiet = false): Promise<SwitchStatus> {
  const handle = client.workflow.getHandle(workflowId);
  let seen = 0;
  let phase = '';
  let ended = false;
  const result = handle.result().then(
    () => undefined,
    () => undefined,
  ).finally(() => (ended = true));
  for (;;) {
    const s = await handle.query(statusQuery).catch(() => null);
    if (s && !quiet && g.output === 'text') {
      for (const d of s.decisions.slice(seen)) process.stdout.write(`${renderDecision(d).trimStart()}\n`);
      seen = s.decisions.length;
      if (s.phase !== phase) {
        phase = s.phase;
        const pending = s.approvals.find((a) => a.state === 'pending');
        process.stdout.write(`${s.updatedAt.slice(11, 19)} == ${s.outcome ? `finished: ${s.outcome}` : s.phase}${pending ? ` (gate ${pending.gate}: dm-switch approve ${workflowId} --gate ${pending.gate})` : ''}\n`);
      }
    }
    if (ended) {
      const last = await handle.query(statusQuery);
      if (!quiet && g.output === 'text') for (const d of last.decisions.slice(seen)) process.stdout.write(`${renderDecision(d).trimStart()}\n`);
      return last;
    }
    await Promise.race([result, new Promise((r) => setTimeout(r, 1000))]);
  }
}

async function decide(decision: 'approve' | 'reject', ref: string, o: { gate?: string; comment?: string; by?: string }, g: Globals): Promise<number> {
  if (o.gate !== undefined && !(GATES as readonly string[]).includes(o.gate)) throw new CliError(`unknown gate "${o.gate}": the gates are ${GATES.join(', ')}`, EXIT.usage);
  const workflowId = switchId(ref);
  return withClient(async (client) => {
    const req = { by: o.by ?? userInfo().username, ...(o.gate ? { gate: o.gate as Gate } : {}), ...(o.comment ? { comment: o.comment } : {}) };
    try {
      const record = await client.workflow.getHandle(workflowId).executeUpdate(decision === 'approve' ? approveUpdate : rejectUpdate, { args: [req] });
      print(g, record, `${workflowId}: gate ${record.gate} ${record.state} by ${record.by}${record.comment ? ` (${record.comment})` : ''}`);
      return EXIT.ok;
    } catch (e) {
      if (e instanceof WorkflowUpdateFailedError) throw new CliError(`${decision} refused: ${e.cause?.message ?? e.message}`, EXIT.refused);
      throw e;
    }
  });
}

export function program(): Command {
  const g: Globals = { output: 'text', taskQueue: DEFAULT_TASK_QUEUE };
  const cmd = new Command('dm-switch')
    .description('Switch a TiDB DM source to another upstream MySQL instance, durably, on Temporal')
    .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
    .option('--task-queue <name>', 'task queue of the dm-switch workers', DEFAULT_TASK_QUEUE)
    .exitOverride()
    .hook('preAction', (root) => {
      const opts = root.opts<{ output: 'text' | 'json'; taskQueue: string }>();
      g.output = opts.output;
      g.taskQueue = opts.taskQueue;
    });
  let code: number = EXIT.ok;
  const done = (c: number) => {
    code = c;
  };

  cmd
    .command('start')
    .description('start a switch: vip (move the VIP DM reads through) or address (re-point the source config)')
    .addArgument(new Command().createArgument('<kind>', 'vip or address').choices(['vip', 'address']))
    .option('-f, --file <path>', 'the switch request, JSON or YAML (the workflow input); flags override its fields')
    .option('--source <id>', 'DM source id')
    .option('--cluster <name>', 'DM cluster of the worker configuration (default: default)')
    .option('--new <host[:port]>', 'the instance DM should read from afterwards')
    .option('--candidates <list>', 'instead of --new: host[:port],… in your order of preference; the switch chooses the best that passes every check')
    .option('--discover [host[:port]]', 'instead of --new: choose among the replicas of this instance (default: of --old and of its source)')
    .option('--old <host[:port]>', 'the instance DM reads from now (may be down)')
    .option('--credentials <ref>', 'credential reference (on the worker) for --new and --old')
    .option('--vip <address>', 'vip: the VIP address')
    .option('--vip-provider <name>', 'vip: the VIP provider of the worker configuration')
    .option('--task-credentials <ref>', "address: credential reference for the tasks' downstream")
    .option('--source-credentials <ref>', "address: credential reference for DM's replication user")
    .option('--gates <list>', `approval gates, comma-separated (${GATES.join(', ')})`)
    .option('--approval-timeout <seconds>', 'a gate nobody decides within this time rejects')
    .option('--dry-run', 'do every check and report the plan; change nothing')
    .option('--reason <text>', 'why (recorded)')
    .option('--by <name>', 'who asks (default: your user name)')
    .option('--wait', 'follow the switch until it ends; the exit code says how it ended')
    .action(async (kind: SwitchKind, o: Record<string, string | boolean | undefined>) => {
      const request = await buildRequest(kind, o);
      try {
        validateRequest(kind, request); // before connecting: bad input is named first
      } catch (e) {
        if (e instanceof SwitchRequestError) throw new CliError(e.message, EXIT.usage);
        throw e;
      }
      await withClient(async (client) => {
        let started;
        try {
          started = await startSwitch(client, kind, request, { taskQueue: g.taskQueue });
        } catch (e) {
          if (e instanceof SwitchRequestError) throw new CliError(e.message, e.code === 'invalid-input' ? EXIT.usage : EXIT.refused);
          throw e;
        }
        print(g, { workflowId: started.workflowId, runId: started.runId }, `started ${started.workflowId} (run ${started.runId})\n  watch: dm-switch watch ${started.workflowId}`);
        if (o.wait) {
          const s = await follow(client, started.workflowId, g);
          if (g.output === 'json') print(g, s, '');
          done(exitFor(s.outcome));
        }
      });
    });

  for (const decision of ['approve', 'reject'] as const) {
    cmd
      .command(decision)
      .description(`${decision} the gate a switch waits at (answers at once; refused with the reason if it does not fit)`)
      .argument('<switch>', 'workflow ID, <cluster>/<source> or source id')
      .option('--gate <gate>', `the gate (${GATES.join(', ')}); default: the one pending`)
      .option('--comment <text>', 'recorded with the decision')
      .option('--by <name>', 'who decides (default: your user name)')
      .action(async (ref: string, o: { gate?: string; comment?: string; by?: string }) => done(await decide(decision, ref, o, g)));
  }

  cmd
    .command('status')
    .description('phase, GTID sets, decisions, steps and what an operator must do')
    .argument('<switch>')
    .action(async (ref: string) => {
      const workflowId = switchId(ref);
      await withClient(async (client) => {
        const s = await queryStatus(client, workflowId);
        if (isHost(s)) {
          print(g, s, renderHostStatus(workflowId, s));
          done(s.outcome === undefined ? EXIT.ok : exitForHost(s));
          return;
        }
        // who decided each gate, as Temporal recorded the client that sent it (beside the name it gave)
        const sent = await sentDecisions(client.workflow.getHandle(workflowId), client.options.loadedDataConverter).catch(() => []);
        const shown = { ...s, approvals: withIdentities(s.approvals, sent) };
        print(g, shown, renderStatus(workflowId, shown));
        done(s.outcome === undefined ? EXIT.ok : exitFor(s.outcome));
      });
    });

  const hostCommand = (kind: HostKind) =>
    cmd
      .command(kind === 'drain' ? 'drain' : 'undrain')
      .description(
        kind === 'drain'
          ? 'switch every DM source that reads <host> (by address, or through a --vip it holds) elsewhere: plan, [approval], switches, then who still reads it'
          : 'move back to <host> the sources its last drain moved (with the same checks)',
      )
      .argument('<host>', 'host[:port] (port 3306 by default)')
      .option('-f, --file <path>', 'the request, JSON or YAML (the workflow input); flags override its fields')
      .option('--credentials <ref>', 'credential reference (on the worker) for the host and the instances the sources move to')
      .option('--task-credentials <ref>', "address switches: credential reference for the tasks' downstream")
      .option('--source-credentials <ref>', "address switches: credential reference for DM's replication user")
      .option('--approve', 'wait for one approval of the whole plan (dm-switch approve <drain>) before any switch')
      .option('--concurrency <n>', 'switches at once (default 2)')
      .option('--stop-on-failure', 'start no more switches after one that did not end switched')
      .option('--dry-run', 'plan only: every switch checked as a dry run, nothing changed')
      .option('--reason <text>', 'why (recorded)')
      .option('--by <name>', 'who asks (default: your user name)')
      .option('--wait', 'follow it until it ends; the exit code says whether the host is free (drain) or read again (undrain)');
  hostCommand('drain')
    .option('--cluster <list>', 'DM clusters to search, comma-separated (default: every one the worker knows)')
    .option('--vip <list>', 'VIPs sources may read through, address[@provider], comma-separated')
    .option('--candidates <list>', 'where the sources may go: host[:port],… in order of preference')
    .option('--discover [host[:port]]', 'where the sources may go: the replicas of this instance (default: of <host> and of its source)')
    .action(async (host: string, o: Record<string, string | boolean | undefined>) => done(await hostAction('drain', host, o, g)));
  hostCommand('return').action(async (host: string, o: Record<string, string | boolean | undefined>) => done(await hostAction('return', host, o, g)));

  cmd
    .command('watch')
    .description('follow a switch phase by phase until it ends; the exit code says how it ended')
    .argument('<switch>')
    .action(async (ref: string) => {
      const workflowId = switchId(ref);
      await withClient(async (client) => {
        if (!workflowId.startsWith('dm-switch/')) {
          // a drain or return: its own switches are watched one by one (dm-switch watch <source>); here, its end
          await client.workflow.getHandle(workflowId).result().catch(() => undefined);
          const h = (await queryStatus(client, workflowId)) as HostStatus;
          print(g, h, renderHostStatus(workflowId, h));
          done(exitForHost(h));
          return;
        }
        const s = await follow(client, workflowId, g);
        print(g, s, `${workflowId}: ${s.outcome ?? s.phase}${s.operatorActions.length ? `\nOPERATOR ACTION NEEDED:\n${s.operatorActions.map((a) => `  ${a}`).join('\n')}` : ''}`);
        done(exitFor(s.outcome));
      });
    });

  cmd
    .command('list')
    .description('switches running now and those of the last 7 days (search attributes)')
    .option('--source <id>', 'only this DM source')
    .option('--all', 'every switch the namespace still keeps')
    .option('--limit <n>', 'at most this many', '50')
    .action(async (o: { source?: string; all?: boolean; limit: string }) => {
      const since = new Date(Date.now() - 7 * 86_400_000).toISOString();
      // a switch started from the Temporal UI or CLI has no search attributes until a worker runs it: listed by its type
      const clauses = [`(DmSwitchSource IS NOT NULL OR WorkflowType IN (${SWITCH_TYPES.map((t) => JSON.stringify(t)).join(', ')}))`];
      if (o.source) clauses.push(`DmSwitchSource = ${JSON.stringify(o.source)}`);
      if (!o.all) clauses.push(`(ExecutionStatus = "Running" OR StartTime > "${since}")`);
      await withClient(async (client) => {
        type Row = { workflowId: string; runId: string; status: string; kind: string; source: string; phase: string };
        const rows: Array<Row & { outcome: string; started: string; maintenance?: string }> = [];
        for await (const w of client.workflow.list({ query: clauses.join(' AND '), pageSize: 100 })) {
          const sa = w.searchAttributes as Record<string, unknown[] | undefined>;
          rows.push({
            workflowId: w.workflowId,
            runId: w.runId,
            status: w.status.name,
            kind: String(sa.DmSwitchKind?.[0] ?? w.type),
            source: String(sa.DmSwitchSource?.[0] ?? ''),
            phase: String(sa.DmSwitchPhase?.[0] ?? (w.status.name === 'RUNNING' ? 'no worker has run it yet' : '')),
            outcome: String(sa.DmSwitchOutcome?.[0] ?? ''),
            started: w.startTime.toISOString(),
          });
          if (rows.length >= Number(o.limit)) break;
        }
        // the drains whose host is under maintenance (until an undrain): the run that marks it says so
        for (const r of rows) {
          const mark = await markOf(client, r.workflowId);
          if (mark && mark.runId === r.runId) r.maintenance = describeMark(mark);
        }
        const text = rows.length
          ? rows
              .map((r) => {
                const state = (r.outcome || r.phase).padEnd(18);
                const line = `${r.started.slice(0, 19)}  ${r.status.padEnd(10)} ${r.kind.padEnd(15)} ${state}`;
                return `${line} ${r.workflowId}${r.maintenance ? `\n    MAINTENANCE: ${r.maintenance}` : ''}`;
              })
              .join('\n')
          : 'no switches';
        print(g, rows, text);
      });
    });

  cmd
    .command('cancel')
    .description('cancel a switch: what it changed is undone (in a step cancellation cannot interrupt)')
    .argument('<switch>')
    .action(async (ref: string) => {
      const workflowId = switchId(ref);
      await withClient(async (client) => {
        await client.workflow.getHandle(workflowId).cancel();
        print(g, { workflowId, cancelRequested: true }, `cancellation requested for ${workflowId}; follow the undo with: dm-switch watch ${workflowId}`);
      });
    });

  cmd.hook('postAction', () => {
    process.exitCode = code;
  });
  return cmd;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (e instanceof CliError) {
      process.stderr.write(`dm-switch: ${printable(e.message)}\n`);
      return e.code;
    }
    if (e instanceof WorkflowFailedError) {
      const cause = e.cause instanceof ApplicationFailure ? `${e.cause.type}: ${e.cause.message}` : e.cause instanceof CancelledFailure ? 'cancelled' : e.message;
      process.stderr.write(`dm-switch: the switch failed: ${printable(cause)}\n`);
      return EXIT.switchFailed;
    }
    process.stderr.write(`dm-switch: ${printable((e as Error).message ?? String(e))}\n`);
    return EXIT.usage;
  }
}
