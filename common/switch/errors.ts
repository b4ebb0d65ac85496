import { ApplicationFailure } from '@temporalio/common';

/**
 * Business failure types of a switch: the `type` of every ApplicationFailure
 * the workflows raise, so operators and scripts can tell them apart.
 */
export const SwitchErrorType = {
  /** The input is wrong; nothing was changed. */
  InvalidInput: 'InvalidInput',
  /** A precondition of the runbook does not hold; nothing was changed. */
  PreflightFailed: 'PreflightFailed',
  /** DM has no source of that id in that cluster; nothing was changed. */
  SourceNotFound: 'SourceNotFound',
  /** The request gave candidates (or asked to discover them) and none passed every rule; nothing was changed. */
  NoCandidate: 'NoCandidate',
  /** gtid-P ⊆ gtid-S ⊆ gtid-E does not hold and cannot come to hold; nothing was changed. */
  GtidRefused: 'GtidRefused',
  /**
   * A VIP switch of a source whose task's DM validator runs: the validator keeps its own binlog connection through
   * pause-task, so it would go on reading the old instance after the move; nothing was changed.
   */
  ValidatorReads: 'ValidatorReads',
  /** The new instance did not catch up with DM's position in time (compensated). */
  CatchUpTimeout: 'CatchUpTimeout',
  /** A DM operation failed (dmctl's own message is in the failure). */
  DmOperationFailed: 'DmOperationFailed',
  /**
   * DM stayed frozen longer than options.maxFreezeSeconds (at a gate or catching up): undone so replication resumes.
   */
  FreezeTimeout: 'FreezeTimeout',
  /** While DM was frozen, a task was resumed or restarted, or its position moved, by someone else: undone. */
  FreezeBroken: 'FreezeBroken',
  /**
   * After the checks at preflight, a setting that would make DM lose changes (a replication filter, a binary log
   * setting DM cannot read) appeared on the new instance or a server up to the primary, seen with DM frozen or after
   * a gate: undone.
   */
  SettingChanged: 'SettingChanged',
  /** The VIP could not be moved. */
  VipMoveFailed: 'VipMoveFailed',
  /** After resuming, DM did not replicate from the new instance as it should. */
  VerificationFailed: 'VerificationFailed',
  /** A person rejected the switch at an approval gate (compensated if anything had changed). */
  Rejected: 'Rejected',
  /** Nobody approved a gate in time: treated as a rejection. */
  ApprovalTimedOut: 'ApprovalTimedOut',
  /** An undo step failed: the source needs an operator; the status says what was and was not done. */
  CompensationFailed: 'CompensationFailed',
} as const;
export type SwitchErrorType = (typeof SwitchErrorType)[keyof typeof SwitchErrorType];

/**
 * ApplicationFailure details of a host a credential is not bound to (the
 * worker's `credentials.<ref>.hosts`): nothing was sent there. Where the host
 * came from a server's report about itself (a replica, its source), it is
 * not followed; where it came from the request, the request is refused.
 */
export const CREDENTIAL_NOT_BOUND = 'credential-not-bound';

/**
 * A business failure: not retried (Temporal's policy retries only what may
 * succeed when asked again), typed so operators and scripts can tell it
 * apart, with `details` (when given) as its one detail.
 */
export function failure(message: string, type: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    message,
    type,
    nonRetryable: true,
    details: details === undefined ? undefined : [details],
  });
}
