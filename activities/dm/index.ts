/**
 * The DM activities, one object for the worker to register, grouped by what
 * they act on:
 * - sources.ts: a source's state and config, its worker, saving configs, stop and create;
 * - relay.ts: stop, start and await a source's relay;
 * - tasks.ts: pause, resume, stop, start and check-task a source's tasks;
 * - task-status.ts: tasks across sources (shard modes, scopes, DDL locks, subtasks);
 * - waits.ts: the waits after a resume or a rollback (positions.ts judges them);
 * - cutover.ts: asking DM to flush a task's checkpoint once it applied a GTID set.
 * Beneath them: dmctl.ts runs dmctl and sorts its failures, parse.ts reads
 * its answers, task-config.ts and private-file.ts make the files DM reads,
 * context.ts holds what they share. The domain types are in
 * common/switch/types.ts.
 */
import type { CredentialResolver } from '../mysql.js';
import { createDmContext } from './context.js';
import { cutoverActivities } from './cutover.js';
import type { DmClusterConfig } from './dmctl.js';
import { relayActivities } from './relay.js';
import { sourceActivities } from './sources.js';
import { taskStatusActivities } from './task-status.js';
import { taskActivities } from './tasks.js';
import { waitActivities } from './waits.js';

export type { DmClusterConfig } from './dmctl.js';

export function createDmActivities(
  clusters: Record<string, DmClusterConfig>,
  resolveCredentials?: CredentialResolver,
  options: { privateDir?: string } = {},
) {
  const ctx = createDmContext(clusters, resolveCredentials, options);
  return {
    ...sourceActivities(ctx),
    ...relayActivities(ctx),
    ...taskActivities(ctx),
    ...taskStatusActivities(ctx),
    ...waitActivities(ctx),
    ...cutoverActivities(ctx),
  };
}

export type DmActivities = ReturnType<typeof createDmActivities>;
