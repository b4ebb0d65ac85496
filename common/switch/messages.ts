/**
 * The messages a switch answers: the status query, and approvals at its
 * gates, both as signals (the Temporal UI and `temporal workflow signal` can
 * send them; an invalid one is recorded and ignored) and as updates (with a
 * validator, so a client gets an immediate answer, or the reason it was
 * refused).
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ApprovalRecord, Gate, SwitchStatus } from './status.js';

/** Phase, every GTID set taken, every decision with its reason, timestamps. */
export const statusQuery = defineQuery<SwitchStatus>('status');

export interface ApprovalRequest {
  /** The gate decided; omitted: the gate pending now. */
  gate?: Gate;
  /** Who decides (required, recorded). */
  by: string;
  comment?: string;
}

export const approveSignal = defineSignal<[ApprovalRequest]>('approve');
export const rejectSignal = defineSignal<[ApprovalRequest]>('reject');
/** Returns the gate's record once decided; refused with a reason when the request does not fit. */
export const approveUpdate = defineUpdate<ApprovalRecord, [ApprovalRequest]>('approve');
export const rejectUpdate = defineUpdate<ApprovalRecord, [ApprovalRequest]>('reject');
