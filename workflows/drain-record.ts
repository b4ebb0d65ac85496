/**
 * The record a drain (or a return) keeps of itself: a journal like a switch's (workflows/journal.ts), whose
 * status is the `status` query's answer and is mirrored into the Temporal UI's current details.
 */
import { setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { HostOutcome, HostSource, HostStatus } from '../common/switch/drain.js';
import { SA } from '../common/switch/search-attributes.js';
import type { ApprovalRecord } from '../common/switch/status.js';
import { Journal } from './journal.js';
import { notifyHostGate } from './notify.js';

/** The fields of a raw request the record shows before the request is validated. */
export interface RawHostRequest {
  host?: unknown;
  port?: unknown;
  requestedBy?: unknown;
  reason?: unknown;
  options?: { dryRun?: unknown };
}

export class HostRecord extends Journal<HostStatus> {
  constructor(kind: HostStatus['kind'], raw: RawHostRequest | undefined) {
    const now = new Date().toISOString();
    super({
      kind,
      host: typeof raw?.host === 'string' ? raw.host : '(invalid input)',
      port: typeof raw?.port === 'number' ? raw.port : 3306,
      phase: 'validating',
      dryRun: raw?.options?.dryRun === true,
      startedAt: now,
      updatedAt: now,
      ...(typeof raw?.requestedBy === 'string' ? { requestedBy: raw.requestedBy } : {}),
      ...(typeof raw?.reason === 'string' ? { reason: raw.reason } : {}),
      sources: [],
      left: [],
      plan: [],
      decisions: [],
      warnings: [],
      approvals: [],
    });
  }

  /** The plan's notification (workflows/notify.ts), sent while it waits. */
  override announceGate(record: ApprovalRecord<string>, decideBy: string): Promise<void> {
    return notifyHostGate(this, record, decideBy);
  }

  finish(outcome: HostOutcome): HostStatus {
    this.status.outcome = outcome;
    // a refused or plan-only drain changed nothing: its host is not under maintenance (activities/host-marks.ts)
    const changedNothing = outcome === 'refused' || outcome === 'planned';
    if (this.status.kind === 'drain' && changedNothing) delete this.status.maintenance;
    this.phase('done');
    upsertSearchAttributes([{ key: SA.outcome, value: outcome }]);
    return this.status;
  }

  protected about(): Record<string, unknown> {
    const s = this.status;
    return { kind: s.kind, host: `${s.host}:${s.port}`, phase: s.phase };
  }

  protected publish(): void {
    const s = this.status;
    const state = s.outcome ? `Finished: ${s.outcome}` : s.phase;
    const last = s.decisions.at(-1);
    const stillThere = s.kind === 'drain' ? 'Still reading the host' : 'Not back on the host';
    setCurrentDetails(
      [
        `**${state}** — ${s.kind} of \`${s.host}:${s.port}\``,
        ...(last ? [`Last decision (${last.verdict}): ${last.reason}`] : []),
        ...this.pendingApproval(),
        ...(s.sources.length ? [`Sources:\n\n${s.sources.map(sourceLine).join('\n')}`] : []),
        ...(s.left.length ? [`${stillThere}: ${s.left.join(', ')}`] : []),
        '---',
      ].join('\n\n'),
    );
  }

  /** The plan's gate while it waits: what it approves, and how to decide it. */
  private pendingApproval(): string[] {
    const p = this.status.approvals.find((a) => a.state === 'pending');
    if (!p || this.status.phase !== 'awaiting-approval') return [];
    const id = workflowInfo().workflowId;
    const how = `(or the \`approve\` update / signal with \`{"by":"<you>"}\`); reject the same way with \`reject\``;
    return [`**Approval needed for the plan**: ${p.approving.summary}. Approve: \`dm-switch approve ${id}\` ${how}`];
  }
}

/** One source as the current details list it: where it goes, and how its switch ended. */
function sourceLine(x: HostSource): string {
  const plan = x.plan === 'switch' ? `→ ${x.target}` : x.plan;
  const ended = x.outcome ? `, ${x.outcome}` : '';
  return `- ${x.dmCluster}/${x.sourceId} (${x.procedure}): ${plan}${ended}`;
}
