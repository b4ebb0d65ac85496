/**
 * The messages a switch answers: queries now; approvals (signals and
 * updates) come with the approval gates.
 */
import { defineQuery } from '@temporalio/workflow';
import type { SwitchStatus } from './status.js';

/** Phase, every GTID set taken, every decision with its reason, timestamps. */
export const statusQuery = defineQuery<SwitchStatus>('status');
