/**
 * Draining a host and moving its sources back, from any client (the CLI,
 * the alert webhook): validated before anything is sent, one drain (and
 * one return) per host at a time, by workflow ID.
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import {
  DrainInputSchema,
  drainTargetRef,
  drainWorkflowId,
  ReturnInputSchema,
  type DrainInput,
  type HostStatus,
  type ReturnInput,
  type ReturnRequest,
} from '../common/switch/drain.js';
import { DEFAULT_TASK_QUEUE } from '../common/switch/ids.js';
import { validate } from '../common/switch/input.js';
import { SA } from '../common/switch/search-attributes.js';
import { SwitchRequestError } from './switches.js';

export type HostKind = 'drain' | 'return';

/** The request validated, defaults filled in; throws SwitchRequestError naming every problem. */
export function validateHostRequest(kind: HostKind, request: unknown): DrainInput | ReturnInput {
  const v = kind === 'drain' ? validate(DrainInputSchema, request) : validate(ReturnInputSchema, request);
  if (!v.ok)
    throw new SwitchRequestError(
      `invalid ${kind} request, nothing was started:\n${v.problems.map((p) => `  - ${p}`).join('\n')}`,
      'invalid-input',
    );
  return v.value;
}

/**
 * Starts a drain (or a return) of a host under its business-key ID; a second one of the same host is refused while one
 * runs.
 */
export async function startHost(
  client: Client,
  kind: HostKind,
  request: unknown,
  options: { taskQueue?: string; memo?: Record<string, unknown> } = {},
): Promise<{ workflowId: string; runId: string }> {
  const input = validateHostRequest(kind, request);
  const workflowId = drainWorkflowId(kind, input.host, input.port);
  try {
    const handle = await client.workflow.start(kind === 'drain' ? 'drainHost' : 'returnToHost', {
      taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
      workflowId,
      args: [input],
      ...(options.memo ? { memo: options.memo } : {}),
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      staticSummary:
        `${input.options.dryRun ? 'Plan only: ' : ''}${kind === 'drain' ? 'Drain' : 'Return of the DM sources to'} ` +
        `${input.host}:${input.port}`,
      typedSearchAttributes: [{ key: SA.kind, value: kind }],
    });
    return { workflowId, runId: handle.firstExecutionRunId };
  } catch (e) {
    if (e instanceof WorkflowExecutionAlreadyStartedError) {
      throw new SwitchRequestError(
        `a ${kind} of ${input.host}:${input.port} is already running (${workflowId}): ` +
          `watch it with \`dm-switch watch ${workflowId}\`, or cancel it first`,
        'already-running',
      );
    }
    throw e;
  }
}

/**
 * The return of what a drain moved: each source that ended switched, from
 * where it reads now back to the host. The drain's own request gives the
 * credentials and options unless `overrides` says otherwise.
 */
export function returnRequestFrom(drain: HostStatus, overrides: Partial<ReturnRequest> = {}): ReturnRequest {
  if (drain.kind !== 'drain' || !drain.input)
    throw new SwitchRequestError(
      `not a drain's status (${drain.kind} of ${drain.host}:${drain.port})`,
      'invalid-input',
    );
  const drainInput = drain.input as DrainInput;
  const moved = drain.sources.filter((s) => s.outcome === 'switched' && s.target);
  if (moved.length === 0)
    throw new SwitchRequestError(
      `the drain of ${drain.host}:${drain.port} moved no source ` +
        `(${drain.sources.map((s) => `${s.sourceId}: ${s.outcome ?? s.plan}`).join(', ') || 'none found'}): ` +
        `nothing to move back`,
      'invalid-input',
    );
  return {
    host: drain.host,
    port: drain.port,
    credentials: drainInput.credentials,
    ...(drainInput.taskCredentials ? { taskCredentials: drainInput.taskCredentials } : {}),
    ...(drainInput.sourceCredentials ? { sourceCredentials: drainInput.sourceCredentials } : {}),
    options: { ...drainInput.options, dryRun: false },
    sources: moved.map((s) => ({
      dmCluster: s.dmCluster,
      sourceId: s.sourceId,
      procedure: s.procedure,
      from: drainTargetRef(drainInput, s.target!),
      ...(s.procedure === 'vip' && s.vip ? { vip: s.vip } : {}),
    })),
    ...overrides,
  };
}

/** A drain's or return's status as a person reads it in a terminal. */
export function renderHostStatus(workflowId: string, s: HostStatus): string {
  const out: string[] = [];
  out.push(`${workflowId}: ${s.kind} of ${s.host}:${s.port}`);
  out.push(
    `  ${s.outcome ? `finished: ${s.outcome}` : `phase: ${s.phase}`}   started ${s.startedAt}, updated ${s.updatedAt}`,
  );
  if (s.requestedBy || s.reason)
    out.push(`  requested by ${s.requestedBy ?? 'unknown'}${s.reason ? `: ${s.reason}` : ''}`);
  if (s.maintenance) out.push(`  ${s.kind === 'drain' ? 'MAINTENANCE: ' : ''}${s.maintenance}`);
  const pending = s.approvals.find((a) => a.state === 'pending');
  if (pending) out.push('', `  APPROVAL NEEDED for the plan below: dm-switch approve ${workflowId}   (or reject)`);
  if (s.plan.length) out.push('', '  plan:', ...s.plan.map((line) => `    ${line}`));
  for (const a of s.approvals.filter((x) => x.state !== 'pending')) {
    const by = a.by ? ` by ${a.by}` : '';
    const comment = a.comment ? ` (${a.comment})` : '';
    out.push(`  gate ${a.gate}: ${a.state}${by}${comment}`);
  }
  if (s.sources.length) {
    out.push('', '  sources:');
    for (const x of s.sources) {
      out.push(
        `    ${x.dmCluster}/${x.sourceId}  ${x.procedure}  reads ${x.reads}  plan: ` +
          `${x.plan === 'switch' ? `switch to ${x.target}` : x.plan}${x.outcome ? `  → ${x.outcome}` : ''}`,
      );
      for (const r of x.reasons) out.push(`        ${r}`);
    }
  }
  if (s.left.length)
    out.push('', `  ${s.kind === 'drain' ? 'still reading the host' : 'not back on the host'}: ${s.left.join(', ')}`);
  if (s.decisions.length)
    out.push('', '  decisions:', ...s.decisions.map((d) => `    ${d.at.slice(11, 19)} ${d.verdict}: ${d.reason}`));
  return out.join('\n');
}
