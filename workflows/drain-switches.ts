/**
 * Each source's own switch, as a child workflow under the source's workflow ID: first as a dry run, which chooses
 * its target among the candidates and runs every check (the plan); then for real, with the target the plan showed
 * named as its newInstance, so that the switch that runs is the one approved. A switch already running is joined
 * (waited for), never doubled.
 */
import {
  ChildWorkflowCancellationType,
  CancellationScope,
  isCancellation,
  ParentClosePolicy,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { drainTargetRef, type DrainInput, type ReturnInput } from '../common/switch/drain.js';
import type { InstanceRef } from '../common/switch/input.js';
import { SA } from '../common/switch/search-attributes.js';
import type { SwitchStatus } from '../common/switch/status.js';
import { temporal } from './activities.js';
import type { HostRecord } from './drain-record.js';
import type { Move } from './drain-moves.js';

type CommonInput = DrainInput | ReturnInput;

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
  const forWhom = input.requestedBy ? ` for ${input.requestedBy}` : '';
  const by = `${workflowInfo().workflowId}${forWhom}`;
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
export async function plan(h: HostRecord, input: CommonInput, m: Move): Promise<void> {
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
    const because = why.length ? ` (${why.join('; ')})` : '';
    m.source.reasons.push(`plan: ${m.source.procedure} switch to ${m.source.target}${because}`);
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
export async function execute(h: HostRecord, input: CommonInput, m: Move): Promise<void> {
  if (m.source.plan === 'joined') {
    const r = await temporal.switchAwaitStatus({ workflowId: m.source.workflowId });
    m.source.runId = r.runId;
    m.source.outcome = r.status?.outcome ?? 'needs-operator';
    if (r.status?.target) m.source.target = r.status.target;
    const target = m.source.target ? ` (target ${m.source.target})` : '';
    const failure = r.failure ? `: ${r.failure}` : '';
    m.source.reasons.push(`the switch it joined ended ${m.source.outcome}${target}${failure}`);
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
