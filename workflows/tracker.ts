/**
 * The switch's record of itself: phase, GTID readings, decisions, steps and
 * compensation, kept in one status object that the `status` query returns and
 * that is mirrored into the Temporal UI's current details. Deterministic:
 * time is workflow time.
 */
import { log, metricMeter, setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { markdownText, printable } from '../common/text.js';
import { METRICS } from '../common/switch/metrics.js';
import { SA } from '../common/switch/search-attributes.js';
import type { ApprovalRecord, GtidReading, Outcome, Phase, StepRecord, SwitchStatus } from '../common/switch/status.js';
import { Journal } from './journal.js';
import { notifyGate } from './notify.js';

const PHASE_WORDS: Record<Phase, string> = {
  validating: 'Validating the input',
  'choosing-target': 'Choosing the target among the candidates',
  preflight: 'Preflight: checking DM, the new instance and the VIP',
  'gtid-check': 'Checking gtid-P ⊆ gtid-S ⊆ gtid-E',
  pausing: 'Pausing every task of the source',
  recheck: 'Re-checking GTIDs with DM frozen',
  'catching-up': 'Waiting for the new instance to catch up',
  'moving-vip': 'Moving the VIP',
  saving: 'Saving the task and source configurations',
  stopping: 'Stopping every task of the source',
  'swapping-source': 'Replacing the source config with the new address',
  starting: 'Starting the tasks on the new source',
  'awaiting-approval': 'Waiting for approval',
  resuming: 'Resuming the tasks',
  verifying: 'Verifying DM replicates from the new instance',
  compensating: 'Undoing the switch',
  done: 'Done',
};

export interface RollbackCheck {
  /** What was found, as a person would read it. */
  observed: string;
  /** What differs from the state before the switch; empty when it is that state again. */
  problems: string[];
  /** Commands that bring it back, for the operator. */
  fix: string[];
}

export class Tracker extends Journal<SwitchStatus> {
  /**
   * After every undo ran: reads the real state and says what differs from
   * the state before the switch (empty: rolled back), polling until it is
   * or verification's timeout passes (`once`: one reading). Set by the
   * workflow once it knows what that state was.
   */
  rollbackCheck: ((opts?: { once: boolean }) => Promise<RollbackCheck>) | null = null;
  private lastIndexed = '';
  /**
   * A readiness drill's dry run (workflows/drill.ts): no search attributes of a switch (so it is never listed or
   * counted as one) and no switch metrics.
   */
  private drill = false;

  constructor(
    init: Pick<SwitchStatus, 'kind' | 'dmCluster' | 'sourceId' | 'dryRun' | 'requestedBy' | 'reason'>,
    opts?: { drill: boolean },
  ) {
    const now = new Date().toISOString();
    super({
      ...init,
      phase: 'validating',
      startedAt: now,
      updatedAt: now,
      tasks: [],
      gtids: [],
      decisions: [],
      plan: [],
      steps: [],
      compensation: [],
      warnings: [],
      operatorActions: [],
      approvals: [],
    });
    this.drill = opts?.drill === true;
    this.publish();
  }

  override phase(phase: Phase): void {
    // DM is frozen from the pause (VIP switch) or stop (address switch) of its tasks to their resume or start
    if (
      (phase === 'pausing' || phase === 'stopping') &&
      !this.status.frozenSince &&
      this.status.frozenSeconds === undefined
    )
      this.status.frozenSince = new Date().toISOString();
    if (phase === 'verifying') this.thawed();
    super.phase(phase);
  }

  protected override phaseWords(phase: Phase): string {
    return PHASE_WORDS[phase];
  }

  /** The gate's notification (workflows/notify.ts). */
  override announceGate(record: ApprovalRecord, decideBy: string): Promise<void> {
    return notifyGate(this, record, decideBy);
  }

  gtid(label: string, set: string): void {
    this.status.gtids.push({ at: new Date().toISOString(), label, set });
    this.touch();
  }

  step(step: string, result: StepRecord['result'], detail?: string): void {
    this.status.steps.push({ at: new Date().toISOString(), step, result, ...(detail ? { detail } : {}) });
    this.touch();
  }

  compensated(step: string, result: StepRecord['result'], detail?: string): void {
    this.status.compensation.push({ at: new Date().toISOString(), step, result, ...(detail ? { detail } : {}) });
    this.touch();
  }

  tasks(tasks: Array<{ name: string; stage: string }>): void {
    // a task left paused is not in the lists of the tasks resumed or started: keep its last known stage
    const left = this.status.leftPaused ?? [];
    const kept = this.status.tasks.filter((t) => left.includes(t.name) && !tasks.some((x) => x.name === t.name));
    this.status.tasks = [...tasks.map((t) => ({ name: t.name, stage: t.stage })), ...kept];
    this.touch();
  }

  finish(outcome: Outcome): void {
    // rolled back: compensation resumed the tasks and checked it; needs-operator: DM may still be frozen, nobody knows
    if (outcome === 'rolled-back' || outcome === 'switched') this.thawed();
    // refused: nothing was changed, so nothing was frozen
    if (outcome === 'refused' || outcome === 'dry-run') delete this.status.frozenSince;
    this.status.outcome = outcome;
    if (!this.drill) this.measure(outcome);
    log[outcome === 'needs-operator' ? 'error' : 'info'](`finished: ${outcome}`, this.about());
    this.status.phase = 'done';
    this.touch();
  }

  /** DM runs again: the pause window ends. */
  private thawed(): void {
    const since = this.status.frozenSince;
    if (!since) return;
    const seconds = (Date.now() - Date.parse(since)) / 1000;
    this.status.frozenSeconds = seconds;
    delete this.status.frozenSince;
    metricMeter
      .createHistogram(METRICS.pauseWindow.name, 'float', 's', METRICS.pauseWindow.help)
      .record(seconds, { kind: this.status.kind, dm_cluster: this.status.dmCluster });
  }

  /**
   * The end of a switch as metrics (workflow time, so the same figures
   * whichever worker ran which part; the SDK emits nothing while replaying,
   * so a switch is counted once however often its history is replayed).
   */
  private measure(outcome: Outcome): void {
    // the source on the counter (which source failed), not on the histograms (a dozen series per label set)
    const tags = { kind: this.status.kind, dm_cluster: this.status.dmCluster, outcome };
    metricMeter
      .createCounter(METRICS.finished.name, '1', METRICS.finished.help)
      .add(1, { ...tags, source: this.status.sourceId });
    metricMeter
      .createHistogram(METRICS.duration.name, 'float', 's', METRICS.duration.help)
      .record((Date.now() - Date.parse(this.status.startedAt)) / 1000, tags);
  }

  /** What every log line of the switch carries besides the workflow (added by the SDK). */
  protected about(): Record<string, unknown> {
    return {
      sourceId: this.status.sourceId,
      dmCluster: this.status.dmCluster,
      kind: this.status.kind,
      phase: this.status.phase,
    };
  }

  /** Upserts the search attributes when one of them changed (each upsert is a history event). */
  private index(): void {
    if (this.drill) return;
    const s = this.status;
    const values = [s.sourceId, s.dmCluster, s.kind, indexedPhase(s.phase), s.outcome ?? ''];
    const key = values.join('\u0000');
    if (key === this.lastIndexed) return;
    this.lastIndexed = key;
    upsertSearchAttributes([
      { key: SA.source, value: s.sourceId },
      { key: SA.cluster, value: s.dmCluster },
      { key: SA.kind, value: s.kind },
      { key: SA.phase, value: values[3]! },
      { key: SA.outcome, value: s.outcome ?? null },
    ]);
  }

  /** The pending gate, what it approves (the last GTID check's sets) and how to decide it. */
  private pendingApproval(): string[] {
    const p = this.status.approvals.find((a) => a.state === 'pending');
    if (!p || this.status.phase !== 'awaiting-approval') return [];
    const id = workflowInfo().workflowId;
    const sets = lastCheck(p.approving.gtids);
    const setLines = sets.map(
      (g) => `- ${markdownText(g.label)}: \`${printable(g.set, true).replace(/`/g, '') || '(empty)'}\``,
    );
    return [
      `**Approval needed at gate \`${p.gate}\`**: ${markdownText(p.approving.summary)}`,
      // a blank line before the list: the Temporal UI's markdown (gomarkdown) starts no list inside a paragraph
      ...(sets.length ? [`GTID sets it rests on:\n\n${setLines.join('\n')}`] : []),
      `Approve: \`temporal workflow signal --workflow-id ${id} --name approve --input ` +
        `'{"gate":"${p.gate}","by":"<you>"}'\` or \`dm-switch approve ${id} --gate ` +
        `${p.gate}\`; reject the same way with \`reject\` (add \`"comment"\` / \`--comment\` to say why).`,
    ];
  }

  /** What the Temporal UI shows as the workflow's current details (markdown), and the search attributes. */
  protected publish(): void {
    const s = this.status;
    this.index();
    const last = s.decisions[s.decisions.length - 1];
    const lines = [
      `**${s.outcome ? `Finished: ${s.outcome}` : PHASE_WORDS[s.phase]}** — source ` +
        `\`${s.sourceId}\` (DM cluster \`${s.dmCluster}\`)${s.dryRun ? ' — dry run' : ''}`,
      ...(last ? [`Last decision (${last.verdict}): ${markdownText(last.reason)}`] : []),
      ...this.pendingApproval(),
      ...(s.tasks.length ? [`Tasks: ${markdownText(s.tasks.map((t) => `${t.name} ${t.stage}`).join(', '))}`] : []),
      ...(s.frozenSince
        ? [
            s.outcome
              ? `DM frozen by this switch since ${s.frozenSince} and not seen replicating again`
              : `DM frozen since ${s.frozenSince}: replication of this source waits`,
          ]
        : []),
      ...(s.operatorActions.length
        ? ['Operator action needed:', ...s.operatorActions.map((a) => `- ${markdownText(a)}`)]
        : []),
    ];
    // A closing rule: the Temporal UI (2.42, `temporal server start-dev`) sizes the frame it shows this
    // in to the page body's scrollHeight, without the default margins of body and paragraphs (its
    // stylesheet that zeroes them does not reach the page), so the last ~30 px are cut off: the rule
    // and the space above it, instead of the last line.
    setCurrentDetails([...lines, '---'].join('\n\n'));
  }
}

/**
 * The readings of the most recent GTID check: labels end with when they were
 * taken, e.g. `gtid-S task app (frozen)`; the earlier checks stay in the status.
 */
function lastCheck(gtids: GtidReading[]): GtidReading[] {
  const when = (label: string) => /\(([^()]*)\)$/.exec(label)?.[1] ?? '';
  const last = gtids[gtids.length - 1];
  return last ? gtids.filter((g) => when(g.label) === when(last.label)) : [];
}

/**
 * The phase as the DmSwitchPhase search attribute shows it:
 * only where a person looks for switches — checking, changing, waiting at a
 * gate, compensating, done. Each upsert is a command; the steps inside
 * "switching" (pausing, moving the VIP, verifying, …) are in the status and
 * the current details, so adding or reordering one changes no command and
 * cannot break the replay of switches in flight.
 */
export function indexedPhase(phase: Phase): string {
  switch (phase) {
    case 'validating':
    case 'choosing-target':
    case 'preflight':
    case 'gtid-check':
      return 'preflight';
    case 'awaiting-approval':
    case 'compensating':
    case 'done':
      return phase;
    default:
      return 'switching';
  }
}
