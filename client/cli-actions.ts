/**
 * The dm-switch commands that act: a switch request built from a file and
 * flags, an approval or rejection, and a drain or return of a host.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { readFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { approveUpdate, rejectUpdate, statusQuery } from '../common/switch/messages.js';
import { GATES, type Gate } from '../common/switch/status.js';
import { SwitchRequestError, type SwitchKind } from './switches.js';
import { renderHostStatus, returnRequestFrom, startHost, validateHostRequest, type HostKind } from './drain.js';
import { drainWorkflowId, HOST_GATES, type HostStatus } from '../common/switch/drain.js';
import { CliError, EXIT, exitForHost, hostPort, print, switchId, withClient, type Globals } from './cli-support.js';

/** Starts a drain or a return of a host from the command line; with --wait, follows it. */
export async function hostAction(
  kind: HostKind,
  hostArg: string,
  o: Record<string, string | boolean | undefined>,
  g: Globals,
): Promise<number> {
  const { host, port } = hostPort(hostArg, '<host>');
  let req: Record<string, unknown> = typeof o.file === 'string' ? await readRequestFile(o.file) : {};
  req.host = host;
  req.port = port;
  const list = (v: string) =>
    v
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean);
  const instance = (spec: string, what: string) => ({
    ...hostPort(spec, what),
    credentials: o.credentials ?? req.credentials,
  });
  if (typeof o.credentials === 'string') req.credentials = o.credentials;
  if (typeof o.taskCredentials === 'string') req.taskCredentials = o.taskCredentials;
  if (typeof o.sourceCredentials === 'string') req.sourceCredentials = o.sourceCredentials;
  if (o.approve === true) req.approve = true;
  if (typeof o.concurrency === 'string') req.concurrency = Number(o.concurrency);
  if (o.stopOnFailure === true) req.stopOnFailure = true;
  if (o.dryRun === true) req.options = { ...((req.options ?? {}) as object), dryRun: true };
  if (typeof o.reason === 'string') req.reason = o.reason;
  recordRequester(req, o.by);
  if (kind === 'drain') {
    if (typeof o.cluster === 'string') req.dmClusters = list(o.cluster);
    if (typeof o.vip === 'string')
      req.vips = list(o.vip).map((v) =>
        v.includes('@') ? { address: v.split('@')[0], provider: v.split('@')[1] } : { address: v },
      );
    if (typeof o.candidates === 'string') req.candidates = list(o.candidates).map((x) => instance(x, '--candidates'));
    if (o.discover !== undefined)
      req.discover = typeof o.discover === 'string' ? { replicasOf: instance(o.discover, '--discover') } : {};
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
      if (last.phase !== 'done')
        throw new CliError(
          `the drain ${drainId} has not ended (${last.phase}): wait for it, or cancel it, ` +
            `before moving its sources back`,
          EXIT.refused,
        );
      const { sources, options } = returnRequestFrom(last);
      req = {
        ...req,
        sources,
        options: { ...options, ...((req.options ?? {}) as object) },
        credentials: req.credentials ?? last.input?.credentials,
        taskCredentials: req.taskCredentials ?? last.input?.taskCredentials,
        sourceCredentials: req.sourceCredentials ?? last.input?.sourceCredentials,
      };
      for (const k of ['taskCredentials', 'sourceCredentials'] as const) if (req[k] === undefined) delete req[k];
    }
    try {
      // startHost validates (again, for a drain; first, for a return built from the drain's record)
      const started = await startHost(client, kind, req, { taskQueue: g.taskQueue });
      print(
        g,
        started,
        `started ${started.workflowId} (run ${started.runId})\n  watch: dm-switch status ` +
          `${started.workflowId}${o.approve ? `\n  approve the plan: dm-switch approve ${started.workflowId}` : ''}`,
      );
      if (!o.wait) return EXIT.ok;
      const handle = client.workflow.getHandle(started.workflowId);
      await handle.result().catch(() => undefined);
      const s = (await handle.query(statusQuery)) as unknown as HostStatus;
      print(g, s, renderHostStatus(started.workflowId, s));
      return exitForHost(s);
    } catch (e) {
      if (e instanceof SwitchRequestError)
        throw new CliError(e.message, e.code === 'invalid-input' ? EXIT.usage : EXIT.refused);
      throw e;
    }
  });
}

export async function readRequestFile(file: string): Promise<Record<string, unknown>> {
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
export async function buildRequest(
  kind: SwitchKind,
  o: Record<string, string | boolean | undefined>,
): Promise<Record<string, unknown>> {
  const req: Record<string, unknown> = typeof o.file === 'string' ? await readRequestFile(o.file) : {};
  const instance = (spec: string, what: string) => {
    return {
      ...hostPort(spec, what),
      credentials:
        o.credentials ??
        (req[what === '--old' ? 'oldInstance' : 'newInstance'] as { credentials?: string } | undefined)?.credentials ??
        (req.oldInstance as { credentials?: string } | undefined)?.credentials,
    };
  };
  if (typeof o.source === 'string') req.sourceId = o.source;
  if (typeof o.cluster === 'string') req.dmCluster = o.cluster;
  // --old first: --candidates and --discover default to its credentials
  if (typeof o.old === 'string') req.oldInstance = instance(o.old, '--old');
  if (typeof o.new === 'string') req.newInstance = instance(o.new, '--new');
  if (typeof o.candidates === 'string')
    req.candidates = o.candidates
      .split(',')
      .map((x) => x.trim())
      .filter(Boolean)
      .map((x) => instance(x, '--candidates'));
  if (o.discover !== undefined)
    req.discover = typeof o.discover === 'string' ? { replicasOf: instance(o.discover, '--discover') } : {};
  if (kind === 'vip' && (typeof o.vip === 'string' || typeof o.vipProvider === 'string')) {
    const cur = (req.vip ?? {}) as Record<string, unknown>;
    req.vip = {
      ...cur,
      ...(typeof o.vip === 'string' ? { address: o.vip } : {}),
      ...(typeof o.vipProvider === 'string' ? { provider: o.vipProvider } : {}),
    };
  }
  if (typeof o.taskCredentials === 'string') req.taskCredentials = o.taskCredentials;
  if (typeof o.sourceCredentials === 'string') req.sourceCredentials = o.sourceCredentials;
  if (typeof o.gates === 'string' || typeof o.approvalTimeout === 'string') {
    const cur = (req.approvals ?? {}) as Record<string, unknown>;
    req.approvals = {
      ...cur,
      ...(typeof o.gates === 'string'
        ? {
            gates: o.gates
              .split(',')
              .map((x) => x.trim())
              .filter(Boolean),
          }
        : {}),
      ...(typeof o.approvalTimeout === 'string' ? { timeoutSeconds: Number(o.approvalTimeout) } : {}),
    };
  }
  if (o.dryRun === true) req.options = { ...((req.options ?? {}) as object), dryRun: true };
  if (typeof o.reason === 'string') req.reason = o.reason;
  recordRequester(req, o.by);
  return req;
}

/** The schemas' limits (common/switch/input.ts) on who asked and why. */
const MAX_REQUESTED_BY = 200;
const MAX_REASON = 2000;

/**
 * Who asks is who runs the command: --by, or the user the operating system says runs it. A request file is often
 * someone else's (a demo's, a colleague's, a template): its `requestedBy`, when it differs, is kept as a note in
 * the reason, never as the requester.
 */
export function recordRequester(req: Record<string, unknown>, by: unknown): void {
  const who = (typeof by === 'string' && by.trim() ? by : userInfo().username).slice(0, MAX_REQUESTED_BY);
  const inFile = req.requestedBy;
  req.requestedBy = who;
  if (inFile === undefined || inFile === null || inFile === who) return;
  const note = `(the request file said requestedBy: ${String(inFile).slice(0, MAX_REQUESTED_BY)})`;
  const reason = typeof req.reason === 'string' ? req.reason.slice(0, MAX_REASON - note.length - 1) : '';
  req.reason = reason ? `${reason} ${note}` : note;
}

export async function decide(
  decision: 'approve' | 'reject',
  ref: string,
  o: { gate?: string; comment?: string; by?: string },
  g: Globals,
): Promise<number> {
  // a switch's gates, and a drain's (its plan): the workflow refuses one it has not, with its own gates named
  const known: readonly string[] = [...GATES, ...HOST_GATES];
  if (o.gate !== undefined && !known.includes(o.gate)) {
    const gates = `${GATES.join(', ')} (a switch), ${HOST_GATES.join(', ')} (a drain or return)`;
    throw new CliError(`unknown gate "${o.gate}": the gates are ${gates}`, EXIT.usage);
  }
  const workflowId = switchId(ref);
  return withClient(async (client) => {
    const req = {
      by: o.by ?? userInfo().username,
      ...(o.gate ? { gate: o.gate as Gate } : {}),
      ...(o.comment ? { comment: o.comment } : {}),
    };
    try {
      const record = await client.workflow
        .getHandle(workflowId)
        .executeUpdate(decision === 'approve' ? approveUpdate : rejectUpdate, { args: [req] });
      print(
        g,
        record,
        `${workflowId}: gate ${record.gate} ${record.state} by ` +
          `${record.by}${record.comment ? ` (${record.comment})` : ''}`,
      );
      return EXIT.ok;
    } catch (e) {
      if (e instanceof WorkflowUpdateFailedError)
        throw new CliError(`${decision} refused: ${e.cause?.message ?? e.message}`, EXIT.refused);
      throw e;
    }
  });
}
