/**
 * What every workflow of dm-switch keeps of itself, a switch (workflows/tracker.ts) as a drain
 * (workflows/drain-record.ts): one status object that the `status` query returns, with its phase, every
 * decision and its reason, the plan it shows, and the records of its approval gates (workflows/approvals.ts
 * decides them the same way for both). Each change is logged and republished in the Temporal UI's current
 * details. Deterministic: time is workflow time.
 */
import { log } from '@temporalio/workflow';
import type { ApprovalRecord, GtidReading } from '../common/switch/status.js';

export type Verdict = 'go' | 'wait' | 'refuse' | 'warn' | 'info';

/** The part of a status every journal keeps. */
export interface JournalStatus {
  phase: string;
  outcome?: string;
  /** Plans only: it waits at no gate and changes nothing. */
  dryRun: boolean;
  startedAt: string;
  updatedAt: string;
  decisions: Array<{ at: string; phase: string; verdict: Verdict; reason: string }>;
  warnings: string[];
  /** What it will do, or did, one line per step: what an approver approves. */
  plan: string[];
  /** The GTID sets read, when it reads any: what an approver's decision rests on. */
  gtids?: GtidReading[];
  /** Every approval gate reached, in order; the last one may be pending. */
  approvals: Array<ApprovalRecord<string>>;
}

export abstract class Journal<S extends JournalStatus> {
  constructor(readonly status: S) {}

  phase(phase: S['phase']): void {
    this.status.phase = phase;
    log.info(`phase: ${this.phaseWords(phase)}`, this.about());
    this.touch();
  }

  decide(verdict: S['decisions'][number]['verdict'], reason: string): void {
    this.status.decisions.push({ at: new Date().toISOString(), phase: this.status.phase, verdict, reason });
    log[verdict === 'refuse' || verdict === 'warn' ? 'warn' : 'info'](`${verdict}: ${reason}`, this.about());
    if (verdict === 'warn') this.status.warnings.push(reason);
    this.touch();
  }

  /** Records a change made in place (e.g. an approval decided) and republishes. */
  touch(): void {
    this.status.updatedAt = new Date().toISOString();
    this.publish();
  }

  /**
   * Tells someone that the gate `record` waits until `decideBy` (ISO); never rejects. The workflow's end waits
   * for it (Gates.noticesSent). None by default: only a switch has a notifier's event to send.
   */
  announceGate(_record: ApprovalRecord<string>, _decideBy: string): Promise<void> {
    return Promise.resolve();
  }

  /** The phase as a log line says it. */
  protected phaseWords(phase: S['phase']): string {
    return phase;
  }

  /** What the Temporal UI shows as the workflow's current details, and its search attributes. */
  protected abstract publish(): void;

  /** What every log line carries besides the workflow (added by the SDK). */
  protected abstract about(): Record<string, unknown>;
}
