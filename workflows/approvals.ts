/**
 * Approval gates: points where a switch waits for a person. Configured per
 * switch (`approvals.gates`); a gate not configured costs nothing, not even a
 * history event. A pending gate shows in the status and the UI with what is
 * being approved; it is decided by signal or by update (validated), and a
 * gate nobody decides in time rejects. Rejection throws a typed failure so
 * the switch ends cleanly before any change, or compensates after one.
 */
import { ApplicationFailure, condition, setHandler } from '@temporalio/workflow';
import { approvalProblem } from '../common/switch/approval-rules.js';
import { SwitchErrorType } from '../common/switch/errors.js';
import type { Approvals } from '../common/switch/input.js';
import { approveSignal, approveUpdate, rejectSignal, rejectUpdate, type ApprovalRequest } from '../common/switch/messages.js';
import type { ApprovalRecord, Gate } from '../common/switch/status.js';
import type { Tracker } from './tracker.js';

type Decision = 'approve' | 'reject';

export class Gates {
  constructor(
    private readonly t: Tracker,
    private readonly config: Approvals,
  ) {
    setHandler(approveSignal, (r) => this.onSignal('approve', r));
    setHandler(rejectSignal, (r) => this.onSignal('reject', r));
    setHandler(approveUpdate, (r) => this.apply('approve', r, 'update'), { validator: (r) => this.validate(r) });
    setHandler(rejectUpdate, (r) => this.apply('reject', r, 'update'), { validator: (r) => this.validate(r) });
  }

  /**
   * Waits at `gate` if it is configured, until a person approves (returns),
   * rejects or nobody decides in time (throws Rejected / ApprovalTimedOut).
   * In a dry run it records that it would wait, and returns.
   */
  async pass(gate: Gate, approving: ApprovalRecord['approving']): Promise<void> {
    if (!this.config.gates.includes(gate)) return;
    if (this.t.status.dryRun) {
      this.t.decide('info', `dry run: would wait for approval at gate ${gate} (${approving.summary})`);
      return;
    }
    const record: ApprovalRecord = {
      gate,
      state: 'pending',
      requestedAt: new Date().toISOString(),
      approving: { summary: approving.summary, plan: [...approving.plan], gtids: [...approving.gtids] },
    };
    this.t.status.approvals.push(record);
    const resumeAt = this.t.status.phase;
    this.t.phase('awaiting-approval');
    const decided = await condition(() => record.state !== 'pending', `${this.config.timeoutSeconds}s`);
    if (!decided) {
      Object.assign(record, { state: 'timed-out', via: 'timeout', decidedAt: new Date().toISOString() });
    }
    this.t.phase(resumeAt);
    const note = record.comment ? `: ${record.comment}` : '';
    if (record.state === 'approved') {
      this.t.decide('go', `approved by ${record.by} at gate ${gate} (via ${record.via})${note}`);
      return;
    }
    if (record.state === 'rejected') {
      throw ApplicationFailure.create({ message: `rejected by ${record.by} at gate ${gate}${note}`, type: SwitchErrorType.Rejected, nonRetryable: true });
    }
    throw ApplicationFailure.create({
      message: `nobody approved gate ${gate} within ${this.config.timeoutSeconds} s; a gate that times out rejects`,
      type: SwitchErrorType.ApprovalTimedOut,
      nonRetryable: true,
    });
  }

  private validate(r: ApprovalRequest): void {
    const problem = approvalProblem(this.t.status, this.config.gates, r);
    if (problem) throw new Error(problem);
  }

  private onSignal(decision: Decision, r: ApprovalRequest): void {
    const problem = approvalProblem(this.t.status, this.config.gates, r);
    if (problem) {
      const who = r && typeof r === 'object' && typeof r.by === 'string' && r.by.trim() ? ` from ${r.by.trim()}` : '';
      this.t.decide('warn', `ignored ${decision} signal${who}: ${problem}`);
      return;
    }
    this.apply(decision, r, 'signal');
  }

  private apply(decision: Decision, r: ApprovalRequest, via: 'signal' | 'update'): ApprovalRecord {
    const record = this.t.status.approvals.find((a) => a.state === 'pending')!;
    Object.assign(record, {
      state: decision === 'approve' ? 'approved' : 'rejected',
      by: r.by.trim(),
      via,
      decidedAt: new Date().toISOString(),
      ...(r.comment ? { comment: r.comment } : {}),
    });
    this.t.touch();
    return record;
  }
}
