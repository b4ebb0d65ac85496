/**
 * A switch (or drain) that has ended takes no decision and no cancellation:
 * Temporal answers an update, signal or cancellation of a closed workflow with
 * "not found", which alone reads as if there were no such switch while `dm-switch
 * list` shows it. This says that it has ended, how (its outcome) and when.
 */
import type { Client } from '@temporalio/client';
import { SA } from '../common/switch/search-attributes.js';

/**
 * What to say about `workflowId` when Temporal answered "not found": that it ended, how and when; null if it did
 * not.
 */
export async function endedWords(client: Client, workflowId: string): Promise<string | null> {
  const d = await client.workflow
    .getHandle(workflowId)
    .describe()
    .catch(() => null);
  if (!d || d.status.name === 'RUNNING') return null;
  const outcome = d.typedSearchAttributes.get(SA.outcome);
  const status = d.status.name.toLowerCase().replace(/_/g, ' ');
  const how = outcome ? `${outcome} (workflow ${status})` : `workflow ${status}`;
  const when = d.closeTime ? ` at ${d.closeTime.toISOString()}` : '';
  return (
    `${workflowId} has ended: ${how}${when}, started ${d.startTime.toISOString()}; an ended switch takes no ` +
    `approval, rejection or cancellation. What it did: dm-switch status ${workflowId}; to switch again, start a new one`
  );
}
