/**
 * Approval gates: points where a switch waits for a person. Configured per
 * switch (`approvals.gates`); a gate not configured costs nothing, not even a
 * history event. A pending gate shows in the status and the UI with what is
 * being approved; it is decided by signal or by update (validated), and a
 * gate nobody decides in time rejects. Rejection throws a typed failure so
 * the switch ends cleanly before any change, or compensates after one.
 */
import type { UpdateDefinition } from '@temporalio/common';
import { ApplicationFailure, condition, setHandler, workflowInfo } from '@temporalio/workflow';
import { approvalProblem, SWITCH_GATES, waitsOnlyForAGate, type GateScope } from '../common/switch/approval-rules.js';
import { SwitchErrorType } from '../common/switch/errors.js';
import {
  approveSignal,
  approveUpdate,
  rejectSignal,
  rejectUpdate,
  type ApprovalRequest,
} from '../common/switch/messages.js';
import type { ApprovalRecord, Gate } from '../common/switch/status.js';
import type { Journal, JournalStatus } from './journal.js';

type Decision = 'approve' | 'reject';

/** A signal that came while no gate waited, kept for a gate that opens in the same workflow task. */
interface HeldSignal {
  decision: Decision;
  r: ApprovalRequest;
  /** workflowInfo().historyLength when it came: the workflow task that delivered it. */
  task: number;
}

/** A deadline a gate may not wait past (the freeze's), and what to fail with when it does. */
export interface GateLimit {
  /** Workflow time (ms) by which the gate must be decided. */
  until: number;
  /** Recorded as the timed-out gate's comment. */
  why: string;
  failure: () => Error;
}

/** What the Temporal UI shows beside each handler: how to send it to a workflow with these gates. */
function how(scope: GateScope): string {
  const gate = scope.gates.includes('before-switch') ? 'before-switch' : scope.gates[0];
  return (
    `input {"gate":"${gate}","by":"<you>","comment":"…"}; "gate" may be left out (the gate pending now); ` +
    `"by" is required`
  );
}

/** Which gates wait, and how long a gate waits for a person. */
export interface GateConfig<G extends string = Gate> {
  gates: readonly G[];
  timeoutSeconds: number;
}

/** The update as a workflow with gates G answers it (the same update: `approve` / `reject`). */
type DecisionUpdate<G extends string> = UpdateDefinition<ApprovalRecord<G>, [ApprovalRequest]>;

/** A journal whose gates are G. */
type Gated<G extends string> = Omit<JournalStatus, 'approvals'> & { approvals: Array<ApprovalRecord<G>> };

/**
 * The approval gates of one switch (or of a drain's plan: its gate `plan`). Construct it once, at the start of
 * the workflow (it registers the approve/reject signal and update handlers),
 * `describe` what each gate waits before, then `await pass(gate)` before each
 * step a person may have to approve.
 */
export class Gates<G extends string = Gate> {
  private summaries: Record<G, string> | undefined;
  private readonly extra: Partial<Record<G, string[]>> = {};
  /** Said at every gate, after its own summary (how the target was chosen). */
  private readonly notes: string[] = [];
  /** The gates' notifications, sent while they wait (workflows/notify.ts). */
  private readonly notices: Promise<void>[] = [];
  /** Signals waiting for a gate to open in the workflow task that delivered them. */
  private held: HeldSignal[] = [];

  constructor(
    private readonly t: Journal<Gated<G>>,
    private config: GateConfig<G>,
    private readonly scope: GateScope = SWITCH_GATES,
  ) {
    const HOW = how(scope);
    const ends = `the ${scope.what} ends, or undoes what it changed`;
    setHandler(approveSignal, (r) => this.onSignal('approve', r), {
      description: `Approve the pending gate; an invalid request is recorded and ignored. ${HOW}`,
    });
    setHandler(rejectSignal, (r) => this.onSignal('reject', r), {
      description: `Reject the pending gate (${ends}); an invalid request is recorded and ignored. ${HOW}`,
    });
    setHandler(approveUpdate as unknown as DecisionUpdate<G>, (r) => this.onUpdate('approve', r), {
      validator: (r) => this.validate(r),
      description:
        `Approve the pending gate; refused at once, with the reason, when it does not ` +
        `fit. Returns the gate's record. ${HOW}`,
    });
    setHandler(rejectUpdate as unknown as DecisionUpdate<G>, (r) => this.onUpdate('reject', r), {
      validator: (r) => this.validate(r),
      description:
        `Reject the pending gate (${ends}); refused ` +
        `at once when it does not fit. Returns the gate's record. ${HOW}`,
    });
  }

  /** What each gate waits before, in the approver's words; given once the switch's plan is known. */
  describe(summaries: Record<G, string>): void {
    this.summaries = summaries;
  }

  /** Whether the switch waits at `gate` (configured in the input, or required since). */
  has(gate: G): boolean {
    return this.config.gates.includes(gate);
  }

  /**
   * Makes the switch wait at `gate` although the input did not name it, and
   * adds `why` to what the approver reads there: for what only a person may
   * accept (errant transactions).
   */
  require(gate: G, why: string): void {
    if (!this.config.gates.includes(gate)) this.config = { ...this.config, gates: [...this.config.gates, gate] };
    this.extra[gate] = [...(this.extra[gate] ?? []), why];
  }

  /** Adds `text` to what the approver reads at every gate. */
  note(text: string): void {
    this.notes.push(text);
  }

  /**
   * Waits at `gate` if it is configured, until a person approves (returns),
   * rejects or nobody decides in time (throws Rejected / ApprovalTimedOut).
   * In a dry run it records that it would wait, and returns (nobody is
   * notified). A gate that waits is notified (workflows/notify.ts). Cancelled while
   * waiting, it closes the gate (cancelled, with a comment saying so) and lets
   * the cancellation through, so nobody approves a switch being undone.
   */
  async pass(gate: G, limit?: GateLimit): Promise<void> {
    // Not configured: no command, no record, so histories saved without gates still replay.
    if (!this.config.gates.includes(gate)) return;
    // the plan and the GTID sets as they stand now: what the approver approves
    const summary = [this.summaries?.[gate] ?? gate, ...(this.extra[gate] ?? []), ...this.notes].join('. ');
    const approving = { summary, plan: this.t.status.plan, gtids: this.t.status.gtids ?? [] };
    if (this.t.status.dryRun) {
      this.t.decide('info', `dry run: would wait for approval at gate ${gate}, before: ${approving.summary}`);
      return;
    }
    if (limit && limit.until <= Date.now()) throw limit.failure();
    const record: ApprovalRecord<G> = {
      gate,
      state: 'pending',
      requestedAt: new Date().toISOString(),
      approving: { summary: approving.summary, plan: [...approving.plan], gtids: [...approving.gtids] },
    };
    this.t.status.approvals.push(record);
    const resumeAt = this.t.status.phase;
    this.t.phase('awaiting-approval');
    // a signal that came in this same workflow task, before the step that led here, is for this gate
    this.takeHeld();
    // a gate inside the freeze waits no longer than the freeze may last
    const waitMs = Math.max(
      0,
      Math.min(this.config.timeoutSeconds * 1000, limit ? limit.until - Date.now() : Infinity),
    );
    const cutByLimit = limit !== undefined && waitMs < this.config.timeoutSeconds * 1000;
    // someone is told, without the gate waiting for it (workflows/notify.ts)
    const notice = this.t.announceGate(record, new Date(Date.now() + waitMs).toISOString());
    this.notices.push(notice);
    let decided: boolean;
    try {
      decided = await condition(() => record.state !== 'pending', waitMs);
    } catch (err) {
      // Cancelled while waiting: the gate is closed, so nobody can approve a switch that is being undone.
      this.close(record, {
        state: 'cancelled',
        via: 'cancellation',
        decidedAt: new Date().toISOString(),
        comment: 'the switch was cancelled while waiting at this gate',
      });
      throw err;
    }
    if (!decided && record.state === 'pending') {
      this.close(record, {
        state: 'timed-out',
        via: 'timeout',
        decidedAt: new Date().toISOString(),
        ...(cutByLimit ? { comment: limit.why } : {}),
      });
      if (cutByLimit) {
        this.t.phase(resumeAt);
        throw limit.failure();
      }
    }
    this.t.phase(resumeAt);
    const note = record.comment ? `: ${record.comment}` : '';
    if (record.state === 'approved') {
      this.t.decide('go', `approved by ${record.by} at gate ${gate} (via ${record.via})${note}`);
      return;
    }
    if (record.state === 'rejected') {
      throw ApplicationFailure.create({
        message: `rejected by ${record.by} at gate ${gate}${note}`,
        type: SwitchErrorType.Rejected,
        nonRetryable: true,
      });
    }
    throw ApplicationFailure.create({
      message: `nobody approved gate ${gate} within ${this.config.timeoutSeconds} s; a gate that times out rejects`,
      type: SwitchErrorType.ApprovalTimedOut,
      nonRetryable: true,
    });
  }

  /**
   * Resolves once every gate's notification is sent or given up (2 minutes at
   * most; they never reject): the switch ends only then, so that no
   * notification's completion reaches the workflow task that ends it (the
   * server fails such a task, and would refuse an approve or reject update
   * that it carried: a rejection at before-freeze ends the switch at once).
   */
  async noticesSent(): Promise<void> {
    await Promise.all(this.notices);
  }

  private validate(r: ApprovalRequest): void {
    const problem = approvalProblem(this.t.status, this.config.gates, r, this.scope);
    if (problem) throw new Error(problem);
  }

  /**
   * A signal is decided where it lands in the workflow's order, which replay must reproduce. Core delivers a
   * workflow task's signals ahead of its step results, while a live worker may have applied such a result
   * already (a status query on a new worker, or a task split in two activations): the same signal then
   * finds its gate open live and not yet open on replay. So a signal whose only problem is that no gate
   * waits is held, and the gate that opens in the same workflow task (same historyLength, live and on
   * replay) takes it; once a later task starts it is recorded as ignored, as before. Never a later gate.
   */
  private onSignal(decision: Decision, r: ApprovalRequest): void {
    this.dropStale();
    const problem = approvalProblem(this.t.status, this.config.gates, r, this.scope);
    if (problem && waitsOnlyForAGate(this.t.status, this.config.gates, r, this.scope)) {
      const task = workflowInfo().historyLength;
      this.held.push({ decision, r, task });
      // recorded as ignored once the workflow is in a later task, whether or not a gate opens then (a
      // cancelled switch rejects the wait: nothing to record, and no unhandled rejection)
      void condition(() => workflowInfo().historyLength !== task).then(
        () => this.dropStale(),
        () => undefined,
      );
      return;
    }
    this.decideSignal(decision, r, problem);
  }

  /** Applies a signal, or records it as ignored with the reason. */
  private decideSignal(decision: Decision, r: ApprovalRequest, problem: string | null): void {
    if (problem) {
      const who = r && typeof r === 'object' && typeof r.by === 'string' && r.by.trim() ? ` from ${r.by.trim()}` : '';
      this.t.decide('warn', `ignored ${decision} signal${who}: ${problem}`);
      return;
    }
    this.apply(decision, r, 'signal');
  }

  /** The gate just opened: held signals of this workflow task are checked against it, in the order they came. */
  private takeHeld(): void {
    this.dropStale();
    const now = this.held;
    this.held = [];
    for (const h of now)
      this.decideSignal(h.decision, h.r, approvalProblem(this.t.status, this.config.gates, h.r, this.scope));
  }

  /** Held signals from an earlier workflow task are recorded as ignored (the gate did not open in their task). */
  private dropStale(): void {
    const task = workflowInfo().historyLength;
    const stale = this.held.filter((h) => h.task !== task);
    if (stale.length === 0) return;
    this.held = this.held.filter((h) => h.task === task);
    for (const h of stale) {
      const problem = approvalProblem(this.t.status, this.config.gates, h.r, this.scope);
      this.decideSignal(h.decision, h.r, `no approval was pending when it came${problem ? ` (now: ${problem})` : ''}`);
    }
  }

  /**
   * The update's validator (live only) has checked that a gate it fits waits. Replay runs no validator, and
   * Core delivers the update ahead of the step result of its workflow task: the gate that the live run saw
   * open may open only after this handler starts. The handler then waits for it, within the same task.
   */
  private onUpdate(decision: Decision, r: ApprovalRequest): ApprovalRecord<G> | Promise<ApprovalRecord<G>> {
    if (this.fits(r)) return this.apply(decision, r, 'update');
    const task = workflowInfo().historyLength;
    return condition(() => this.fits(r) || workflowInfo().historyLength !== task).then(() => {
      // Only a replay of a history this code did not write gets here: its gate did not open in the
      // workflow task that accepted the update (live, the validator refuses an update no gate fits).
      if (!this.fits(r)) {
        throw new Error(
          `replay: a ${decision} update (by ${r.by}) finds no gate it fits open in the workflow task ` +
            `that accepted it; this history was written by other code and cannot be replayed; ` +
            `end the switch with: temporal workflow terminate --workflow-id ` +
            `${workflowInfo().workflowId}, then check DM, the VIP and the source as ` +
            `docs/operating.md "When something goes wrong" says`,
        );
      }
      return this.apply(decision, r, 'update');
    });
  }

  /** Decides the pending gate, which the caller has checked `r` fits. */
  private apply(decision: Decision, r: ApprovalRequest, via: 'signal' | 'update'): ApprovalRecord<G> {
    const record = this.t.status.approvals.find((a) => a.state === 'pending')!;
    this.close(record, {
      state: decision === 'approve' ? 'approved' : 'rejected',
      by: r.by.trim(),
      via,
      decidedAt: new Date().toISOString(),
      ...(r.comment ? { comment: r.comment } : {}),
    });
    return record;
  }

  /** Whether a gate that `r` may decide waits now. */
  private fits(r: ApprovalRequest): boolean {
    return approvalProblem(this.t.status, this.config.gates, r, this.scope) === null;
  }

  /** Decides a pending record in place and republishes the status. */
  private close(record: ApprovalRecord<G>, decision: Partial<ApprovalRecord<G>>): void {
    Object.assign(record, decision);
    this.t.touch();
  }
}
