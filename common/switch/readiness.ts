/**
 * Readiness drills: on a schedule, every listed source's switch runs as a dry run with target choice, under the
 * drill's own workflow IDs (never the source's switch ID, so a real switch is never refused or joined because of a
 * drill), and the result says per source whether it could be switched now, to where, and every reason it could not.
 *
 * Reasons are typed (`kind`): a script or an alert tells them apart without reading the words.
 */
import { z } from 'zod';
import type { SwitchStatus } from './status.js';

/** Why a source is not switchable (or what a candidate lacks), as a kind a script can match. */
export const ReasonKind = {
  /** A candidate has purged binary logs DM has not replicated yet (gtid-P ⊄ gtid-S). */
  gtidPurged: 'gtid-purged',
  /** A candidate lacks transactions DM has replicated and is not replicating (gtid-S ⊄ gtid-E). */
  gtidMissing: 'gtid-missing',
  /** A GTID set could not be read, or DM reports no position (syncerBinlogGtid empty). */
  gtidUnreadable: 'gtid-unreadable',
  /** The switch's GTID check refused its target (gtid-P ⊆ gtid-S ⊆ gtid-E, errant transactions): see the text. */
  gtidRefused: 'gtid-refused',
  /** A candidate holds transactions nobody else in the topology has. */
  errantGtids: 'errant-gtids',
  /** A candidate's gtid_executed holds tagged GTIDs, which DM drops. */
  taggedGtids: 'tagged-gtids',
  /** A filter, skipped errors or a binary log setting would hide changes from DM. */
  blindSpot: 'blind-spot',
  /** The VIP provider says it cannot move the VIP there (or its check failed). */
  vipProvider: 'vip-provider',
  /** Cannot serve DM: flavor, gtid_mode, log_bin, binlog format, log_replica_updates. */
  cannotServe: 'cannot-serve',
  /** Not reachable with the credentials given. */
  unreachable: 'unreachable',
  /** It is the instance DM is to leave. */
  oldInstance: 'old-instance',
  /** It has none of DM's transactions: another topology. */
  otherTopology: 'other-topology',
  /** Its host is under drain. */
  drained: 'drained',
  /** Qualifying candidates hold diverging histories. */
  splitBrain: 'split-brain',
  /** No candidate passed every rule (each candidate's kinds say why). */
  noCandidate: 'no-candidate',
  /** A task's DM validator runs: it would go on reading the old instance after a VIP move (VIP switch only). */
  validatorReads: 'validator-reads',
  /** A task of the source is in error (query-status reports errors): DM does not replicate it now. */
  taskError: 'task-error',
  /** DM does not know the source, or it does not run in GTID mode, or another precondition of preflight. */
  preflight: 'preflight',
  /** The drill's request for the source is not a valid switch request. */
  invalidInput: 'invalid-input',
  /** DM has the source, but the drill's file has no switch request for it: nobody checks it. */
  notInDrill: 'not-in-drill',
  /** The drill could not read what it needs (an activity failed after its retries). */
  drillFailed: 'drill-failed',
} as const;
export type ReasonKind = (typeof ReasonKind)[keyof typeof ReasonKind];

export interface ReadinessReason {
  kind: ReasonKind;
  /** The candidate (host:port) it is about, when it is about one. */
  candidate?: string;
  /** In words, as the switch said it. */
  text: string;
}

export interface SourceReadiness {
  dmCluster: string;
  sourceId: string;
  /** How it would be switched; null for a source DM has that the drill's file does not list. */
  procedure: 'vip' | 'address' | null;
  ready: boolean;
  /** host:port the switch would choose, when one qualifies. */
  target: string | null;
  /** The chosen target must catch up first (its switch would wait for it, bounded). */
  catchUp?: boolean;
  reasons: ReadinessReason[];
  /** When the drill read it (ISO). */
  checkedAt: string;
  /** The drill's own workflow for this source (its full status: `temporal workflow show`). */
  workflowId: string;
}

export interface ReadinessReport {
  dmCluster: string;
  startedAt: string;
  finishedAt: string;
  sources: SourceReadiness[];
}

/** One source the drill checks: its switch request as for `dm-switch start --file`, without a named newInstance. */
export const DrillSourceSchema = z
  .object({
    kind: z.enum(['vip', 'address']),
    /** The switch request; dmCluster is the drill's. It must choose its target: candidates or discover. */
    switch: z.record(z.string(), z.unknown()),
  })
  .strict();
export type DrillSource = z.infer<typeof DrillSourceSchema>;

export const DrillInputSchema = z
  .object({
    dmCluster: z.string().min(1).default('default'),
    sources: z.array(DrillSourceSchema).min(1).max(500),
  })
  .strict();
export type DrillInput = z.infer<typeof DrillInputSchema>;

/** The schedule of a DM cluster's drills (one per cluster). */
export function readinessScheduleId(dmCluster: string): string {
  return `dm-switch-readiness/${dmCluster}`;
}

/** A drill run's child for one source: under the drill's ID, never the source's switch ID (dm-switch/…). */
export function drillSourceWorkflowId(drillWorkflowId: string, sourceId: string): string {
  return `${drillWorkflowId}/${sourceId}`;
}

export const DRILL_WORKFLOW = 'readinessDrill';

/**
 * A source's readiness from its dry run's status (and the tasks query-status reported): pure, so that the rules are
 * tested without a stack.
 */
export function readinessOf(
  s: Pick<SwitchStatus, 'outcome' | 'failureType' | 'decisions' | 'candidates' | 'target'>,
  taskErrors: Array<{ name: string; errors: string[] }>,
): { ready: boolean; target: string | null; catchUp: boolean; reasons: ReadinessReason[] } {
  const reasons: ReadinessReason[] = [];
  for (const t of taskErrors)
    reasons.push({ kind: ReasonKind.taskError, text: `task ${t.name} reports errors: ${t.errors.join('; ')}` });
  const chosen = s.candidates?.find((c) => c.chosen) ?? null;
  const dryRunPassed = s.outcome === 'dry-run';
  if (!dryRunPassed) {
    const refusal = s.decisions.filter((d) => d.verdict === 'refuse').at(-1)?.reason ?? 'the dry run did not finish';
    const type = s.failureType ?? '';
    if (type === 'NoCandidate' || type === 'GtidRefused') {
      // every candidate's own reasons, typed where the ranking judged them
      for (const c of s.candidates ?? [])
        if (!c.qualifies)
          (c.kinds ?? []).forEach((kind, i) =>
            reasons.push({ kind: kind as ReasonKind, candidate: c.address, text: c.reasons[i] ?? kind }),
          );
    }
    const split = type === 'GtidRefused' && (s.candidates ?? []).some((c) => c.qualifies) && !chosen;
    const kind = split
      ? ReasonKind.splitBrain
      : type === 'NoCandidate'
        ? ReasonKind.noCandidate
        : type === 'InvalidInput'
          ? ReasonKind.invalidInput
          : type === 'GtidRefused'
            ? ReasonKind.gtidRefused
            : type === 'SettingChanged'
              ? ReasonKind.blindSpot
              : type === 'PreflightFailed' || type === 'SourceNotFound'
                ? ReasonKind.preflight
                : ReasonKind.drillFailed;
    // a preflight refusal of its own type: the VIP move would leave a task's validator on the old instance
    reasons.push({ kind: type === 'ValidatorReads' ? ReasonKind.validatorReads : kind, text: refusal });
  }
  const ready = dryRunPassed && reasons.length === 0;
  const catchUp = dryRunPassed && s.decisions.some((d) => d.verdict === 'wait');
  return { ready, target: dryRunPassed ? (s.target ?? chosen?.address ?? null) : null, catchUp, reasons };
}
