/**
 * One switch per DM source at a time: the workflow ID is the business key
 * (DM cluster + source id), started with a conflict policy that refuses a
 * second concurrent switch of the same source.
 */
export function switchWorkflowId(dmCluster: string, sourceId: string): string {
  return `dm-switch/${dmCluster}/${sourceId}`;
}

export const DEFAULT_TASK_QUEUE = 'dm-switch';

/** Activity header naming the DM source a switch's activity works for (for log lines). */
export const SOURCE_HEADER = 'dm-switch-source';
