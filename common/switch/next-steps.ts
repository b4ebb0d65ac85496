/**
 * What a person does next after a switch that ended without switching: one
 * step per failure type (common/switch/errors.ts), so the advice fits the
 * case — a source that does not exist is not "still read as before", and a
 * person's rejection is not something to "fix". Pure: shared by the CLI and
 * anything else that shows a switch's end.
 */
import { SwitchErrorType } from './errors.js';

/** How a switch ended without switching: its failure type, or `cancelled`. */
export type StopCause = SwitchErrorType | 'cancelled';

/** What the advice may name. */
export interface NextContext {
  sourceId: string;
  dmCluster: string;
  /** host:port the switch was to make DM read, when known. */
  target?: string;
  /** The switch's workflow ID. */
  workflowId: string;
}

export interface NextStep {
  /** Whether DM's source is as it was before the switch (false: there is none, or the request named none). */
  sourceAsBefore: boolean;
  /** The next step, in the operator's words. */
  advice: (c: NextContext) => string;
}

const DMCTL = 'dmctl --master-addr=<dm-master>';
const instance = (c: NextContext) => (c.target ? `the new instance ${c.target}` : 'the new instance');

/** One next step per way a switch can stop without switching. */
export const NEXT_STEPS: Record<StopCause, NextStep> = {
  InvalidInput: {
    sourceAsBefore: false,
    advice: () =>
      'Correct the request as the reason says ' +
      '(`dm-switch start … --dry-run` checks a request and changes nothing), then start it again.',
  },
  SourceNotFound: {
    sourceAsBefore: false,
    advice: (c) =>
      `DM has no source ${c.sourceId} in cluster ${c.dmCluster}: check the id (\`${DMCTL} operate-source show\` ` +
      'lists the sources) and the cluster (--cluster), then start the switch with the right one.',
  },
  PreflightFailed: {
    sourceAsBefore: true,
    advice: (c) =>
      `Fix the precondition the reason names, on the server it names (or choose another new instance` +
      `${c.target ? ` than ${c.target}` : ''}); \`--dry-run\` shows whether it now passes; ` +
      'then start the switch again.',
  },
  NoCandidate: {
    sourceAsBefore: true,
    advice: () =>
      'No candidate passed every check (`candidates` above says why each was passed over): fix one of them or ' +
      'give others, then start the switch again.',
  },
  GtidRefused: {
    sourceAsBefore: true,
    advice: (c) =>
      `${instance(c)} cannot continue DM's position (the GTID sets above): choose an instance that has every ` +
      'transaction DM applied and has purged none DM still needs, or let it replicate what it lacks; then start ' +
      'the switch again. Errant transactions that belong downstream: options.acceptErrantTransactions.',
  },
  ValidatorReads: {
    sourceAsBefore: true,
    advice: (c) =>
      `A task's DM validator reads the binlog on a connection a VIP move cannot take along: switch source ` +
      `${c.sourceId} by address instead (dm-switch start address), or stop the validation for the switch ` +
      `(\`${DMCTL} validation stop <task>\`) and start it again after (\`validation start <task>\`), ` +
      'as the reason says.',
  },
  CatchUpTimeout: {
    sourceAsBefore: true,
    advice: (c) =>
      `${instance(c)} did not catch up with DM's position in time: check its replication (SHOW REPLICA STATUS: ` +
      'threads running, delay, lag), then start the switch again, with a larger options.catchUpTimeoutSeconds ' +
      'if it is only slow.',
  },
  DmOperationFailed: {
    sourceAsBefore: true,
    advice: (c) =>
      `A DM command failed (its message is in the reason): check DM (\`${DMCTL} query-status -s ${c.sourceId}\`, ` +
      "the dm-worker's log) before starting the switch again.",
  },
  FreezeTimeout: {
    sourceAsBefore: true,
    advice: () =>
      'DM stayed frozen longer than options.maxFreezeSeconds (a gate waited, or the new instance lagged): start ' +
      'the switch again with its approvers at hand, or with a larger maxFreezeSeconds.',
  },
  FreezeBroken: {
    sourceAsBefore: true,
    advice: (c) =>
      `Someone resumed or restarted a task of source ${c.sourceId} while the switch held DM frozen (the reason ` +
      'names it): make sure nobody and nothing else (a script, a DM task checker) acts on it, then start again.',
  },
  SettingChanged: {
    sourceAsBefore: true,
    advice: () =>
      'A setting that would make DM lose changes appeared during the switch on the server the reason names: ' +
      'undo it there (or find who set it), then start the switch again.',
  },
  VipMoveFailed: {
    sourceAsBefore: true,
    advice: () =>
      "The VIP provider could not move the VIP (its message is in the reason): check the provider's command and " +
      'the hosts, then start the switch again.',
  },
  VerificationFailed: {
    sourceAsBefore: true,
    advice: (c) =>
      `After resuming, DM did not replicate from ${instance(c)} as it should (the reason says what was seen): ` +
      "read the dm-worker's log and that instance's side (binlog dump connections, its errors) before trying again.",
  },
  Rejected: {
    sourceAsBefore: true,
    advice: () =>
      'A person rejected it at a gate (who, and why, under approvals). Start it again only once what they ' +
      'objected to is settled.',
  },
  ApprovalTimedOut: {
    sourceAsBefore: true,
    advice: () =>
      'Nobody decided the gate in time: start the switch again when an approver is at hand, or with a longer ' +
      '--approval-timeout (approvals.timeoutSeconds).',
  },
  CompensationFailed: {
    sourceAsBefore: false,
    advice: (c) =>
      `Run what OPERATOR ACTION NEEDED says, check with \`${DMCTL} query-status -s ${c.sourceId}\`, then start ` +
      'the switch again if it is still wanted.',
  },
  cancelled: {
    sourceAsBefore: true,
    advice: () => 'It was cancelled (dm-switch cancel, or the Temporal UI): start it again when it is wanted.',
  },
};

/** The advice as the sentence it is: its first letter upper-case. */
export function adviceFor(step: NextStep, c: NextContext): string {
  const text = step.advice(c);
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The next step for `cause`, or null for a cause this table does not know (a status from an older version). */
export function nextStep(cause: string | undefined): NextStep | null {
  return cause !== undefined && Object.hasOwn(NEXT_STEPS, cause) ? NEXT_STEPS[cause as StopCause] : null;
}
