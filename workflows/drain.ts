/**
 * Draining a host, and the return: beyond the runbook, which
 * moves one source at a time by hand.
 *
 *   drainHost:    find every DM source, across the DM clusters, that reads
 *                 the host (its own address, or a VIP it holds) → plan: a
 *                 dry run of each source's switch, which chooses its target
 *                 among the candidates and runs every check → [one approval
 *                 of the whole plan] → the switches, as child workflows under
 *                 their sources' own IDs, at most `concurrency` at once →
 *                 read again who still reads the host.
 *   returnToHost: the same for the sources a drain moved, back to the host.
 *
 * Each source's switch is the ordinary vipSwitch / addressSwitch with its
 * own checks, compensation and outcome; the switch the plan showed is the
 * one that runs (the target approved is named as its newInstance). A source
 * whose switch already runs is joined (waited for), never doubled. One
 * source's failure stops the others only with stopOnFailure. Cancelling the
 * drain cancels its switches, which undo what they did; it waits for them.
 * The outcome is read from the real state at the end, not from the steps.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  isCancellation,
  ParentClosePolicy,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  drainTargetRef,
  drainWorkflowId,
  DrainInputSchema,
  ReturnInputSchema,
  type DrainInput,
  type HostSource,
  type HostStatus,
  type ReturnInput,
} from '../common/switch/drain.js';
import { normalizeAddress } from '../common/switch/addresses.js';
import { switchWorkflowId } from '../common/switch/ids.js';
import { validate, type InstanceRef } from '../common/switch/input.js';
import type { ApprovalRequest } from '../common/switch/messages.js';
import { SA } from '../common/switch/search-attributes.js';
import type { SwitchStatus } from '../common/switch/status.js';
import { dm, net, temporal, vip } from './activities.js';
import { describe } from './compensation.js';

/**
 * Same names as a switch's: `temporal workflow query --name status`, `dm-switch status`, `dm-switch approve` work
 * alike.
 */
export const hostStatusQuery = defineQuery<HostStatus>('status');
const approveSignal = defineSignal<[ApprovalRequest]>('approve');
const rejectSignal = defineSignal<[ApprovalRequest]>('reject');
const approveUpdate = defineUpdate<{ gate: 'plan'; state: string; by?: string; comment?: string }, [ApprovalRequest]>(
  'approve',
);
const rejectUpdate = defineUpdate<{ gate: 'plan'; state: string; by?: string; comment?: string }, [ApprovalRequest]>(
  'reject',
);

/** One source to move: where it reads now, and how it moves. */
interface Move {
  source: HostSource;
  oldInstance: InstanceRef;
  vip?: { address: string; provider: string };
  /** The target, when the request names it (a return: the host). */
  newInstance?: InstanceRef;
  /** The target the plan's dry run chose (and the approver saw): what the switch is started with. */
  planned?: InstanceRef;
  /** Sources reading one VIP move in one switch, the first's (workflows/shared-vip.ts): the others name it here. */
  leader?: Move;
  /** The first of them: the others, which its switch pauses, checks and verifies with it. */
  sharedWith?: Array<{ dmCluster: string; sourceId: string }>;
}

export async function drainHost(request: unknown): Promise<HostStatus> {
  return runHost('drain', request, async (h, input: DrainInput) => {
    const found = await readers(h, input.host, input.port, input.dmClusters, input.vips);
    return found.map((f) => ({
      source: f.source,
      oldInstance: { host: input.host, port: input.port, credentials: input.credentials },
      ...(f.vip ? { vip: f.vip } : {}),
    }));
  });
}

export async function returnToHost(request: unknown): Promise<HostStatus> {
  return runHost('return', request, async (_h, input: ReturnInput) =>
    input.sources.map((s) => ({
      source: {
        dmCluster: s.dmCluster,
        sourceId: s.sourceId,
        procedure: s.procedure,
        reads:
          s.procedure === 'vip'
            ? `VIP ${s.vip!.address} (on ${s.from.host}:${s.from.port})`
            : `${s.from.host}:${s.from.port}`,
        ...(s.vip ? { vip: s.vip } : {}),
        workflowId: switchWorkflowId(s.dmCluster, s.sourceId),
        plan: 'switch' as const,
        reasons: [],
      },
      oldInstance: s.from,
      ...(s.vip ? { vip: s.vip } : {}),
      newInstance: { host: input.host, port: input.port, credentials: input.credentials },
    })),
  );
}

/** The record a drain keeps of itself, and the status query's answer. */
class Host {
  readonly status: HostStatus;
  constructor(
    kind: 'drain' | 'return',
    raw: { host?: unknown; port?: unknown; requestedBy?: unknown; reason?: unknown } | undefined,
  ) {
    const now = new Date().toISOString();
    this.status = {
      kind,
      host: typeof raw?.host === 'string' ? raw.host : '(invalid input)',
      port: typeof raw?.port === 'number' ? raw.port : 3306,
      phase: 'validating',
      startedAt: now,
      updatedAt: now,
      ...(typeof raw?.requestedBy === 'string' ? { requestedBy: raw.requestedBy } : {}),
      ...(typeof raw?.reason === 'string' ? { reason: raw.reason } : {}),
      sources: [],
      left: [],
      decisions: [],
    };
  }
  phase(p: HostStatus['phase']): void {
    this.status.phase = p;
    this.touch();
  }
  decide(verdict: HostStatus['decisions'][number]['verdict'], reason: string): void {
    this.status.decisions.push({ at: new Date().toISOString(), verdict, reason });
    this.touch();
  }
  /** Records a change and shows it in the Temporal UI's current details (metadata, not a command). */
  touch(): void {
    const s = this.status;
    s.updatedAt = new Date().toISOString();
    const last = s.decisions.at(-1);
    setCurrentDetails(
      [
        `**${s.outcome ? `Finished: ${s.outcome}` : s.phase}** — ${s.kind} of \`${s.host}:${s.port}\``,
        ...(last ? [`Last decision (${last.verdict}): ${last.reason}`] : []),
        ...(s.approval?.state === 'pending'
          ? [
              `**Approval needed for the plan**: \`dm-switch approve ` +
                `${workflowInfo().workflowId}\` (or the \`approve\` update / signal with \`{"by":"<you>"}\`)`,
            ]
          : []),
        ...(s.sources.length
          ? [
              `Sources:\n\n${s.sources
                .map(
                  (x) =>
                    `- ${x.dmCluster}/${x.sourceId} (${x.procedure}): ` +
                    `${x.plan === 'switch' ? `→ ${x.target}` : x.plan}${x.outcome ? `, ${x.outcome}` : ''}`,
                )
                .join('\n')}`,
            ]
          : []),
        ...(s.left.length
          ? [`${s.kind === 'drain' ? 'Still reading the host' : 'Not back on the host'}: ${s.left.join(', ')}`]
          : []),
        '---',
      ].join('\n\n'),
    );
  }
  finish(outcome: NonNullable<HostStatus['outcome']>): HostStatus {
    this.status.outcome = outcome;
    // a refused or plan-only drain changed nothing: its host is not under maintenance (activities/host-marks.ts)
    const changedNothing = outcome === 'refused' || outcome === 'planned';
    if (this.status.kind === 'drain' && changedNothing) delete this.status.maintenance;
    this.phase('done');
    upsertSearchAttributes([{ key: SA.outcome, value: outcome }]);
    return this.status;
  }
}

type CommonInput = DrainInput | ReturnInput;

async function runHost<I extends CommonInput>(
  kind: 'drain' | 'return',
  request: unknown,
  find: (h: Host, input: I) => Promise<Move[]>,
): Promise<HostStatus> {
  const raw = request as { host?: unknown; port?: unknown; requestedBy?: unknown; reason?: unknown } | undefined;
  const h = new Host(kind, raw);
  setHandler(hostStatusQuery, () => h.status);
  const v = validate((kind === 'drain' ? DrainInputSchema : ReturnInputSchema) as never, request) as
    { ok: true; value: I } | { ok: false; problems: string[] };
  if (!v.ok) return refuseAll(h, `invalid input, nothing was changed: ${v.problems.join('; ')}`);
  const input = v.value;
  h.status.input = input;
  h.status.host = input.host;
  h.status.port = input.port;
  const want = drainWorkflowId(kind, input.host, input.port);
  if (workflowInfo().workflowId !== want) {
    return refuseAll(
      h,
      `this ${kind} runs under workflow ID "${workflowInfo().workflowId}", but a ` +
        `${kind} of ${input.host}:${input.port} must run under "${want}", so that no two ` +
        `run at once; nothing was changed. Start it again with that ID (dm-switch ` +
        `${kind === 'drain' ? 'drain' : 'undrain'} does)`,
    );
  }

  markMaintenance(h, input);
  h.phase('finding');
  const moves = await find(h, input);
  h.status.sources = moves.map((m) => m.source);
  groupSharedVips(h, moves);
  if (moves.length === 0) {
    h.decide(
      'go',
      kind === 'drain' ? `no DM source reads ${input.host}:${input.port}: nothing to move` : 'nothing to move back',
    );
    return h.finish(kind === 'drain' ? 'drained' : 'returned');
  }
  h.decide(
    'info',
    `${moves.length} source(s) to move: ` +
      `${moves.map((m) => `${m.source.dmCluster}/${m.source.sourceId} (${m.source.procedure}, reads ${m.source.reads})`).join(', ')}`,
  );

  // --- plan: each source's own switch, as a dry run, chooses its target and checks everything ----------
  h.phase('planning');
  await pool(moves, input.concurrency, (m) => plan(h, input, m));
  for (const m of moves) if (m.leader) follow(m, 'plan');
  h.touch();
  const planned = moves.filter((m) => m.source.plan === 'switch');
  h.decide(
    planned.length ? 'info' : 'warn',
    `plan: ${moves.map((m) => `${m.source.sourceId} → ${m.source.plan === 'switch' ? m.source.target : m.source.plan}`).join(', ')}`,
  );
  if (input.options.dryRun) return h.finish('planned');

  if (input.approve && (planned.length > 0 || moves.some((m) => m.source.plan === 'joined'))) {
    const decided = await approval(h, input.approvalTimeoutSeconds);
    if (!decided)
      return refuseAll(
        h,
        `the plan was ${h.status.approval?.state === 'timed-out' ? `not decided within ${input.approvalTimeoutSeconds} s` : `rejected by ${h.status.approval?.by}`}; ` +
          `nothing was changed`,
      );
  }

  // --- the switches ----------------------------------------------------------------------------------
  h.phase('switching');
  let stop = false;
  try {
    await pool(moves, input.concurrency, async (m) => {
      if (m.source.plan === 'refused') return;
      if (stop) {
        m.source.outcome = 'not-started';
        m.source.reasons.push('not started: an earlier switch did not end switched and stopOnFailure is set');
        return;
      }
      if (m.leader) return;
      await execute(h, input, m);
      if (m.source.outcome !== 'switched' && input.stopOnFailure) stop = true;
    });
    for (const m of moves) if (m.leader) follow(m, 'outcome');
  } catch (e) {
    if (!isCancellation(e)) throw e;
    if (kind === 'drain') delete h.status.maintenance;
    // cancelled: every switch it started was asked to cancel and has undone what it did (waited for); say where it
    // stands
    await CancellationScope.nonCancellable(() => conclude(h, input, moves));
    throw e;
  }
  return conclude(h, input, moves);
}

/**
 * What the drain's existence means to every other switch (activities/host-marks.ts reads it from Temporal): the
 * host is under maintenance, so no switch chooses it as a target, until an undrain of it starts.
 */
function markMaintenance(h: Host, input: CommonInput): void {
  const at = `${input.host}:${input.port}`;
  h.status.maintenance =
    h.status.kind === 'drain'
      ? `${at} is under maintenance from this drain's start until \`dm-switch undrain ${at}\`: ` +
        `no switch chooses it as a target${input.options.dryRun ? ' (while this plan-only drain runs)' : ''}`
      : `this return lifts the maintenance mark of ${at}: switches may choose it as a target again`;
  h.decide('info', h.status.maintenance);
}

/**
 * A VIP moves every source reading it: the sources that read one VIP move in one switch (the first's), which pauses,
 * checks and verifies the others with it (its sharedWith). The others follow it: its plan and its outcome are theirs.
 */
function groupSharedVips(h: Host, moves: Move[]): void {
  const byVip = new Map<string, Move[]>();
  for (const m of moves) {
    if (m.source.procedure === 'vip' && m.vip) byVip.set(m.vip.address, [...(byVip.get(m.vip.address) ?? []), m]);
  }
  for (const [address, group] of byVip) {
    if (group.length < 2) continue;
    const [first, ...rest] = group as [Move, ...Move[]];
    first.sharedWith = rest.map((m) => ({ dmCluster: m.source.dmCluster, sourceId: m.source.sourceId }));
    for (const m of rest) m.leader = first;
    const names = group.map((m) => `${m.source.dmCluster}/${m.source.sourceId}`);
    const how = `in the switch of ${names[0]} (one VIP move; each paused, checked and verified)`;
    h.decide('info', `${names.join(', ')} read the same VIP ${address}: they move together, ${how}`);
  }
}

/** A source moved by another's switch (the same VIP) takes that switch's plan, then its outcome. */
function follow(m: Move, what: 'plan' | 'outcome'): void {
  const l = m.leader!.source;
  const by = `${l.dmCluster}/${l.sourceId}`;
  if (what === 'plan') {
    m.source.plan = l.plan === 'joined' ? 'refused' : l.plan;
    if (l.target) m.source.target = l.target;
    const why =
      l.plan === 'switch'
        ? `plan: moves with ${by} (the same VIP), in its switch to ${l.target}`
        : l.plan === 'joined'
          ? `a switch of ${by} (the same VIP) already runs, without this source: start the drain again once it ended`
          : `moves with ${by} (the same VIP), whose switch refuses: ${l.reasons.at(-1) ?? ''}`;
    m.source.reasons.push(why);
    if (m.source.plan === 'refused') m.source.outcome = 'refused';
    return;
  }
  if (m.source.plan === 'refused') return;
  m.source.outcome = l.outcome;
  if (l.runId) m.source.runId = l.runId;
  m.source.workflowId = l.workflowId;
  m.source.reasons.push(`moved by the switch of ${by} (${l.workflowId}): it ended ${l.outcome}`);
}

function refuseAll(h: Host, why: string): HostStatus {
  h.decide('refuse', why);
  return h.finish('refused');
}

/**
 * Runs `fn` over `items`, at most `n` at once, in order of the list. A lane
 * that fails takes no more items; the first failure is thrown only once every
 * lane has stopped (a cancelled drain waits for every switch's undo).
 */
async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const x = items[next++]!;
      await fn(x);
    }
  });
  const settled = await Promise.allSettled(lanes);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * The request of one source's switch: the plan's (a dry run choosing among candidates) or the real one (its target
 * named).
 */
function switchRequest(
  input: CommonInput,
  m: Move,
  target: InstanceRef | null,
  dryRun: boolean,
): Record<string, unknown> {
  const d = input as Partial<DrainInput>;
  const to = target
    ? { newInstance: target }
    : d.candidates
      ? { candidates: d.candidates }
      : { discover: d.discover ?? {} };
  const by = `${workflowInfo().workflowId}${input.requestedBy ? ` for ${input.requestedBy}` : ''}`;
  return {
    dmCluster: m.source.dmCluster,
    sourceId: m.source.sourceId,
    ...to,
    oldInstance: m.oldInstance,
    ...(m.source.procedure === 'vip'
      ? { vip: m.vip, ...(m.sharedWith ? { sharedWith: m.sharedWith } : {}) }
      : { taskCredentials: input.taskCredentials, sourceCredentials: input.sourceCredentials ?? input.credentials }),
    options: { ...input.options, dryRun },
    requestedBy: by.slice(0, 200),
    reason: (
      input.reason ??
      `${workflowInfo().workflowType === 'drainHost' ? 'drain of' : 'return to'} ${input.host}:${input.port}`
    ).slice(0, 2000),
  };
}

/** Where the plan's dry run chose to go, as an instance with the credentials it was judged with. */
function plannedTarget(input: CommonInput, status: SwitchStatus, m: Move): InstanceRef | null {
  if (m.newInstance) return m.newInstance;
  const chosen = status.candidates?.find((c) => c.chosen);
  if (!chosen) return null;
  return drainTargetRef(input as DrainInput, chosen.address);
}

const startOptions = (m: Move, args: unknown[], summary: string) => ({
  workflowId: m.source.workflowId,
  args,
  cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
  parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
  staticSummary: summary,
  typedSearchAttributes: [
    { key: SA.source, value: m.source.sourceId },
    { key: SA.cluster, value: m.source.dmCluster },
    { key: SA.kind, value: m.source.procedure === 'vip' ? 'vip-switch' : 'address-switch' },
  ],
});

const workflowOf = (m: Move) => (m.source.procedure === 'vip' ? 'vipSwitch' : 'addressSwitch');

/**
 * The plan for one source: its switch's dry run (it chooses the target and runs every check), or joined when one runs
 * already.
 */
async function plan(h: Host, input: CommonInput, m: Move): Promise<void> {
  if (m.leader) return;
  if (m.source.procedure === 'address' && !input.taskCredentials) {
    m.source.plan = 'refused';
    m.source.outcome = 'refused';
    m.source.reasons.push(
      `it reads ${m.source.reads} by address, so it moves by an address switch, which ` +
        `needs taskCredentials (the credential reference of its tasks' downstream): give it`,
    );
    return;
  }
  let child;
  try {
    child = await startChild(
      workflowOf(m),
      startOptions(
        m,
        [switchRequest(input, m, m.newInstance ?? null, true)],
        `Plan (dry run) for ${h.status.kind} of ${input.host}:${input.port}: ${m.source.sourceId}`,
      ),
    );
  } catch (e) {
    if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
    m.source.plan = 'joined';
    m.source.reasons.push(
      `a switch of this source is already running (${m.source.workflowId}): it is waited for, not doubled`,
    );
    return;
  }
  const status = await endOf(child, m.source.workflowId);
  m.source.candidates = status.status?.candidates ?? [];
  const target = status.status ? plannedTarget(input, status.status, m) : null;
  if (status.status?.outcome === 'dry-run' && target) {
    m.source.plan = 'switch';
    m.source.target = `${target.host}:${target.port}`;
    const why = m.source.candidates.find((c) => c.chosen)?.reasons ?? [];
    m.source.reasons.push(
      `plan: ${m.source.procedure} switch to ${m.source.target}${why.length ? ` (${why.join('; ')})` : ''}`,
    );
    m.planned = target;
    return;
  }
  m.source.plan = 'refused';
  m.source.outcome = 'refused';
  const refusal = status.status?.decisions.filter((d) => d.verdict === 'refuse').at(-1)?.reason;
  m.source.reasons.push(`its switch refuses: ${refusal ?? status.failure ?? 'its dry run did not end as a dry run'}`);
}

/** How a child switch ended: its own status (through the worker's client), and the failure it ended with. */
async function endOf(
  child: { result(): Promise<unknown>; firstExecutionRunId: string },
  workflowId: string,
): Promise<{ status: SwitchStatus | null; failure?: string }> {
  try {
    await child.result();
  } catch (e) {
    if (isCancellation(e)) {
      // the drain was cancelled while the switch ran: it has undone what it did (WAIT_CANCELLATION_COMPLETED); read how
      // it ended, then go on cancelling
      const r = await CancellationScope.nonCancellable(() =>
        temporal.switchAwaitStatus({ workflowId, runId: child.firstExecutionRunId }),
      );
      throw Object.assign(e as Error, { switchStatus: r.status });
    }
  }
  return temporal.switchAwaitStatus({ workflowId, runId: child.firstExecutionRunId });
}

/** Runs the planned switch of one source (or waits for the one it joined) and records how it ended. */
async function execute(h: Host, input: CommonInput, m: Move): Promise<void> {
  if (m.source.plan === 'joined') {
    const r = await temporal.switchAwaitStatus({ workflowId: m.source.workflowId });
    m.source.runId = r.runId;
    m.source.outcome = r.status?.outcome ?? 'needs-operator';
    if (r.status?.target) m.source.target = r.status.target;
    m.source.reasons.push(
      `the switch it joined ended ` +
        (`${m.source.outcome}${m.source.target ? ` (target ${m.source.target})` : ''}` +
          `${r.failure ? `: ${r.failure}` : ''}`),
    );
    return;
  }
  const target = m.planned!;
  let child;
  try {
    child = await startChild(
      workflowOf(m),
      startOptions(
        m,
        [switchRequest(input, m, target, false)],
        `${m.source.procedure === 'vip' ? 'VIP' : 'Address'} switch of DM source ` +
          `${m.source.sourceId} to ${target.host}:${target.port}, ${h.status.kind} of ` +
          `${input.host}:${input.port}`,
      ),
    );
  } catch (e) {
    if (!(e instanceof WorkflowExecutionAlreadyStartedError)) throw e;
    // someone started one between the plan and now: wait for it rather than run a second
    m.source.plan = 'joined';
    return execute(h, input, m);
  }
  m.source.runId = child.firstExecutionRunId;
  try {
    const r = await endOf(child, m.source.workflowId);
    m.source.outcome = r.status?.outcome ?? 'needs-operator';
    if (m.source.outcome !== 'switched') {
      const why =
        r.status?.decisions.filter((d) => d.verdict === 'refuse' || d.verdict === 'warn').at(-1)?.reason ??
        r.failure ??
        'its status could not be read';
      m.source.reasons.push(`its switch ended ${m.source.outcome}: ${why}`);
    } else {
      m.source.reasons.push(`switched to ${target.host}:${target.port}`);
    }
  } catch (e) {
    const s = (e as { switchStatus?: SwitchStatus | null }).switchStatus;
    m.source.outcome = s?.outcome ?? 'cancelled';
    m.source.reasons.push(
      `the ${h.status.kind} was cancelled while its switch ran; the switch ended ${m.source.outcome}`,
    );
    throw e;
  }
  h.touch();
}

/** One approval of the whole plan, by signal or update (validated), within the timeout; true when approved. */
async function approval(h: Host, timeoutSeconds: number): Promise<boolean> {
  h.phase('awaiting-approval');
  h.status.approval = { state: 'pending' };
  const problem = (r: ApprovalRequest | undefined): string | null => {
    if (h.status.approval?.state !== 'pending')
      return `no plan is waiting for approval (it is ${h.status.approval?.state ?? 'not yet made'})`;
    if (!r || typeof r.by !== 'string' || !r.by.trim()) return 'say who decides: {"by":"<you>"}';
    if (r.gate !== undefined && (r.gate as string) !== 'plan')
      return `a ${h.status.kind} has one gate, "plan" (or leave "gate" out), not "${r.gate}"`;
    return null;
  };
  const decide = (state: 'approved' | 'rejected') => (r: ApprovalRequest) => {
    h.status.approval = {
      state,
      by: r.by.trim(),
      at: new Date().toISOString(),
      ...(r.comment ? { comment: r.comment } : {}),
    };
    h.decide(
      state === 'approved' ? 'go' : 'refuse',
      `plan ${state} by ${r.by.trim()}${r.comment ? `: ${r.comment}` : ''}`,
    );
    return { gate: 'plan' as const, state, by: r.by.trim(), ...(r.comment ? { comment: r.comment } : {}) };
  };
  const signal = (state: 'approved' | 'rejected') => (r: ApprovalRequest) => {
    const p = problem(r);
    if (p) h.decide('warn', `ignored ${state === 'approved' ? 'approve' : 'reject'} signal: ${p}`);
    else decide(state)(r);
  };
  setHandler(approveSignal, signal('approved'));
  setHandler(rejectSignal, signal('rejected'));
  const validator = (r: ApprovalRequest) => {
    const p = problem(r);
    if (p) throw new Error(p);
  };
  setHandler(approveUpdate, decide('approved'), { validator });
  setHandler(rejectUpdate, decide('rejected'), { validator });
  const decided = await condition(() => h.status.approval?.state !== 'pending', timeoutSeconds * 1000);
  if (!decided) h.status.approval = { state: 'timed-out', at: new Date().toISOString() };
  return h.status.approval?.state === 'approved';
}

/** The end: who reads the host now, read from DM (not from the switches' outcomes). */
async function conclude(h: Host, input: CommonInput, moves: Move[]): Promise<HostStatus> {
  h.phase('checking');
  const d = input as DrainInput;
  const vips = h.status.kind === 'drain' ? d.vips : moves.flatMap((m) => (m.vip ? [m.vip] : []));
  const clusters = h.status.kind === 'drain' ? d.dmClusters : [...new Set(moves.map((m) => m.source.dmCluster))];
  const now = await readers(h, input.host, input.port, clusters, vips);
  const reading = new Set(now.map((f) => `${f.source.dmCluster}/${f.source.sourceId}`));
  if (h.status.kind === 'drain') {
    h.status.left = [...reading];
    if (reading.size === 0) {
      h.decide('go', `no DM source reads ${input.host}:${input.port} any more: it can be taken down`);
      return h.finish('drained');
    }
    h.decide(
      'warn',
      `${reading.size} source(s) still read ${input.host}:${input.port}: ` +
        `${[...reading].join(', ')}; it is not free of DM readers`,
    );
    return h.finish('not-drained');
  }
  // a return claims only what it saw: a source behind a VIP nobody could locate is not counted as back
  const back = new Set(now.filter((f) => !f.uncertain).map((f) => `${f.source.dmCluster}/${f.source.sourceId}`));
  h.status.left = moves.map((m) => `${m.source.dmCluster}/${m.source.sourceId}`).filter((k) => !back.has(k));
  if (h.status.left.length === 0) {
    h.decide('go', `every source reads ${input.host}:${input.port} again`);
    return h.finish('returned');
  }
  h.decide(
    'warn',
    `${h.status.left.length} source(s) do not read ${input.host}:${input.port}: ${h.status.left.join(', ')}`,
  );
  return h.finish('not-returned');
}

/**
 * Every source of the clusters that reads host:port: by its source config's
 * address (the same host, under any name that resolves to it), or through
 * one of `vips` that the host holds now.
 */
async function readers(
  h: Host,
  host: string,
  port: number,
  dmClusters: string[] | undefined,
  vips: Array<{ address: string; provider: string }>,
): Promise<
  Array<{
    source: HostSource;
    vip?: { address: string; provider: string };
    /** Reads a VIP whose holder nobody could tell. */ uncertain?: true;
  }>
> {
  const clusters = dmClusters ?? (await dm.dmClusters());
  const lists = await Promise.all(
    clusters.map(async (dmCluster) => ({ dmCluster, sources: await dm.dmListSources({ dmCluster }) })),
  );
  const names = [
    ...new Set([host, ...vips.map((v) => v.address), ...lists.flatMap((l) => l.sources.map((s) => s.from.host))]),
  ];
  const resolved = await net.netResolveHosts({ hosts: names });
  const addresses = (name: string) =>
    new Set([normalizeAddress(name), ...(resolved[name] ?? []).map(normalizeAddress)]);
  const same = (a: string, b: string) => {
    const bs = addresses(b);
    return [...addresses(a)].some((x) => bs.has(x));
  };
  // which VIPs the host holds now
  // true: the host holds it; null: the provider could not say (never taken for "not on the host")
  const held = new Map<string, boolean | null>();
  for (const v of vips) {
    try {
      const holder = await vip.vipLocate({ provider: v.provider, address: v.address, candidates: [{ host, port }] });
      held.set(v.address, holder !== null && same(holder, host));
    } catch (e) {
      // an unknown provider is the request's mistake: the drain ends with it
      if (e instanceof ActivityFailure && e.cause instanceof ApplicationFailure && e.cause.type === 'InvalidInput')
        throw e;
      held.set(v.address, null);
      h.decide(
        'warn',
        `could not tell who holds VIP ${v.address} (provider "${v.provider}"): ` +
          `${describe(e)}; a source reading it is taken as still reading ${host}, and not as back on it`,
      );
    }
  }
  const out: Awaited<ReturnType<typeof readers>> = [];
  for (const { dmCluster, sources } of lists) {
    for (const s of sources) {
      const base = {
        dmCluster,
        sourceId: s.sourceId,
        workflowId: switchWorkflowId(dmCluster, s.sourceId),
        plan: 'switch' as const,
        reasons: [] as string[],
      };
      if (s.from.port === port && same(s.from.host, host)) {
        out.push({ source: { ...base, procedure: 'address', reads: `${s.from.host}:${s.from.port}` } });
        continue;
      }
      const v = vips.find((x) => same(s.from.host, x.address));
      if (v && s.from.port === port && held.get(v.address) !== false) {
        const unknown = held.get(v.address) === null;
        out.push({
          source: {
            ...base,
            procedure: 'vip',
            reads: `VIP ${v.address} (${unknown ? 'holder unknown' : `held by ${host}`})`,
            vip: v,
          },
          vip: v,
          ...(unknown ? { uncertain: true } : {}),
        });
      }
    }
  }
  if (h.status.phase === 'finding')
    h.decide(
      'info',
      `searched DM cluster(s) ` +
        (`${clusters.join(', ')}` +
          `${vips.length ? ` and VIP(s) ${vips.map((v) => `${v.address} (${held.get(v.address) === null ? 'holder unknown' : held.get(v.address) ? 'held by the host' : 'not on the host'})`).join(', ')}` : ''}`),
    );
  return out;
}
