/**
 * What a switch tells the people watching it: the `status` query's answer.
 * Plain JSON (timestamps as ISO strings, GTID sets as canonical text).
 */
export type Phase =
  | 'validating'
  | 'choosing-target'
  | 'preflight'
  | 'gtid-check'
  | 'pausing'
  | 'recheck'
  | 'catching-up'
  | 'moving-vip'
  | 'saving'
  | 'stopping'
  | 'swapping-source'
  | 'starting'
  | 'resuming'
  | 'awaiting-approval'
  | 'verifying'
  | 'compensating'
  | 'done';

export type Outcome =
  /** The source now reads from the new instance. */
  | 'switched'
  /** Dry run: every check passed or failed as recorded; nothing changed. */
  | 'dry-run'
  /** Refused before any change: the reason is in `decisions`. */
  | 'refused'
  /** Failed after a change and every change was undone. */
  | 'rolled-back'
  /** Failed, and an undo step failed too: an operator must finish by hand. */
  | 'needs-operator';

export interface Decision {
  at: string;
  phase: Phase;
  verdict: 'go' | 'wait' | 'refuse' | 'warn' | 'info';
  reason: string;
}

export interface GtidReading {
  at: string;
  /** e.g. `gtid-S task app`, `gtid-P new`, `gtid-E new`, `gtid-S task app (frozen)`. */
  label: string;
  set: string;
}

export interface StepRecord {
  at: string;
  step: string;
  result: 'done' | 'skipped' | 'failed';
  detail?: string;
}

/** The gates a switch can wait at for a person's approval. */
export const GATES = ['before-freeze', 'before-switch', 'before-resume'] as const;
export type Gate = (typeof GATES)[number];

/** One gate's record: a switch's gates (the default), or a drain's plan. */
export interface ApprovalRecord<G extends string = Gate> {
  gate: G;
  /** `cancelled`: the switch was cancelled while it waited here; nobody decided. */
  state: 'pending' | 'approved' | 'rejected' | 'timed-out' | 'cancelled';
  requestedAt: string;
  /** What the approver is approving: the plan's next step, the GTID sets it rests on. */
  approving: { summary: string; plan: string[]; gtids: GtidReading[] };
  decidedAt?: string;
  /** Who approved or rejected, as they gave it. */
  by?: string;
  comment?: string;
  via?: 'signal' | 'update' | 'timeout' | 'cancellation';
  /**
   * The Temporal client identity that sent the decision, as Temporal recorded it in the history. Set by the
   * client (dm-switch status) from the history; the workflow cannot see it. `by` is what the sender typed.
   */
  identity?: string;
}

/** One instance the switch could have chosen (candidates or discover), as it was judged before any change. */
export interface CandidateReport {
  /** host:port */
  address: string;
  /** Where it came from: the operator's list (its position, from 1), or discovery (whom it replicates from). */
  origin: string;
  /** The one the switch chose. */
  chosen: boolean;
  /** It passed every rule (the chosen one, and those that ranked after it). */
  qualifies: boolean;
  /**
   * Transactions it lacks of what the topology is known to have (decimal text: GTID counts can pass 2^53); absent when
   * not read.
   */
  lag?: string;
  /** Why it was passed over (each rule it failed), or why it ranked where it did. */
  reasons: string[];
  /** When passed over: the kind of each reason, in the same order (common/switch/readiness.ts ReasonKind). */
  kinds?: string[];
}

export interface SwitchStatus {
  kind: 'vip-switch' | 'address-switch';
  dmCluster: string;
  sourceId: string;
  phase: Phase;
  outcome?: Outcome;
  dryRun: boolean;
  startedAt: string;
  updatedAt: string;
  requestedBy?: string;
  reason?: string;
  /** The tasks of the source found through query-status, with their last known stage. */
  tasks: Array<{ name: string; stage: string }>;
  gtids: GtidReading[];
  decisions: Decision[];
  /** What the switch will do (dry run) or did, step by step. */
  plan: string[];
  steps: StepRecord[];
  compensation: StepRecord[];
  warnings: string[];
  /** When outcome is needs-operator: what to run by hand. */
  operatorActions: string[];
  /**
   * Address switch: the configurations saved before any change, as DM shows
   * them (passwords masked), so an operator finishing by hand has them.
   */
  savedConfigs?: { source: string | null; tasks: Record<string, string> };
  /** host:port DM is to read after the switch: the named newInstance, or the candidate chosen (absent until known). */
  target?: string;
  /**
   * When the request gave candidates or asked to discover them: every one,
   * best first (the chosen one first), each with why it was or was not chosen.
   */
  candidates?: CandidateReport[];
  /** Every approval gate reached, in order; the last one may be pending. */
  approvals: ApprovalRecord[];
  /**
   * While DM is frozen by this switch (from the pause or stop of the tasks
   * to their resume or start, or to the end of a rollback): since when.
   * Absent when DM is not frozen by it.
   */
  frozenSince?: string;
  /** How long DM was frozen (the pause window), once it is no longer frozen by this switch. */
  frozenSeconds?: number;
  /**
   * Tasks an operator had paused (Paused by request, no error, at preflight):
   * the switch did not resume or start them, forward or when undoing.
   */
  leftPaused?: string[];
  /**
   * Outcome `switched` (or `dry-run`) with nothing done: DM already read the target, every task Running, nothing of
   * a switch half done; nothing was paused, stopped or moved.
   */
  alreadyDone?: boolean;
  /**
   * Why a switch that ended refused, rolled-back or needs-operator stopped: its failure type
   * (common/switch/errors.ts), or `cancelled`. What to do next depends on it (common/switch/next-steps.ts).
   */
  failureType?: string;
  /**
   * A switch that stopped after a change and undid it: how it stopped, why, and whether the state after the undo was
   * read back and found as before the switch (`checked`). Absent when it stopped before any change.
   */
  stopped?: { how: 'failed' | 'rejected' | 'cancelled'; cause: string; checked: boolean };
}
