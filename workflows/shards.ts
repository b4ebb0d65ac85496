/**
 * Shard-merge tasks (DM's `shard-mode: pessimistic | optimistic`): a task
 * that merges tables of several sources into one downstream table, whose
 * DDLs dm-master coordinates across the sources. A switch of one source must
 * not break that coordination: this module reads which tasks merge shards,
 * refuses while a shard DDL lock involves the source (unless accepted), and
 * after the switch checks every subtask of those tasks, on every source.
 */
import { failure, SwitchErrorType } from '../common/switch/errors.js';
import type { ShardDdlLock } from '../common/switch/types.js';
import { dm, longDm } from './activities.js';

import { refuse } from './preflight.js';
import type { Tracker } from './tracker.js';

export interface ShardTasks {
  /** task → its shard-merge mode and the sources it reads; only the tasks that merge shards. */
  tasks: Record<string, { shardMode: 'pessimistic' | 'optimistic'; sources: string[] }>;
  /** Locks involving the source that the input accepted: verification counts waiting at them as healthy. */
  acceptedLocks: ShardDdlLock[];
}

export const NO_SHARDS: ShardTasks = { tasks: {}, acceptedLocks: [] };

export const hasPessimistic = (s: ShardTasks) => Object.values(s.tasks).some((x) => x.shardMode === 'pessimistic');

/**
 * Which of the source's tasks merge shards, and their DDL locks: a lock the
 * source takes part in (it reached the DDL and waits for the others, or the
 * others wait for it) refuses the switch before any change, naming the lock
 * and what resolves it, unless `accept`.
 */
export async function shardPreflight(
  t: Tracker,
  req: { dmCluster: string; sourceId: string; tasks: string[]; accept: boolean },
): Promise<ShardTasks> {
  if (req.tasks.length === 0) return NO_SHARDS;
  const modes = await dm.dmTaskShardModes({ dmCluster: req.dmCluster, tasks: req.tasks });
  const tasks: ShardTasks['tasks'] = {};
  for (const [name, m] of Object.entries(modes))
    if (m.shardMode) tasks[name] = { shardMode: m.shardMode, sources: m.sources };
  const names = Object.keys(tasks);
  if (names.length === 0) return NO_SHARDS;
  const each = names.map((n) => `${n} (shard-mode ${tasks[n]!.shardMode}, sources ${tasks[n]!.sources.join(', ')})`);
  t.decide(
    'info',
    `shard-merge task(s) on source ${req.sourceId}: ${each.join('; ')}: ` +
      `every subtask of them is verified after the switch`,
  );
  const locks = (await dm.dmShardDdlLocks({ dmCluster: req.dmCluster, tasks: names })).filter(
    (l) => l.synced.includes(req.sourceId) || l.unsynced.includes(req.sourceId),
  );
  if (locks.length === 0) {
    t.decide('go', `no shard DDL lock involves source ${req.sourceId}`);
    return { tasks, acceptedLocks: [] };
  }
  const described = locks.map((l) => describeLock(l, req.sourceId)).join('; ');
  if (!req.accept) {
    refuse(
      t,
      SwitchErrorType.PreflightFailed,
      `an unresolved shard DDL lock involves source ${req.sourceId}: ${described}. ` +
        `While it is pending, the source's subtask cannot move past the DDL, so a switch ` +
        `could not be verified; nothing was changed. ` +
        (`Let the lock resolve (the unsynced sources execute the same DDL; or an operator ` +
          `runs \`dmctl shard-ddl-lock unlock <lock>\`), or accept it with options.acceptShardDdlLock`),
    );
  }
  t.decide(
    'warn',
    `accepted by options.acceptShardDdlLock: ${described}; verification counts the ` +
      `source waiting at the lock's DDL as healthy`,
  );
  return { tasks, acceptedLocks: locks };
}

function describeLock(l: ShardDdlLock, sourceId: string): string {
  const where = l.synced.includes(sourceId)
    ? `source ${sourceId} has reached the DDL and waits for ${l.unsynced.join(', ') || 'nobody'}`
    : `source ${sourceId} has not reached the DDL yet (${l.synced.join(', ')} wait for it)`;
  return `lock ${l.id} of task ${l.task} (${l.mode}, DDL ${l.ddls.join('; ')}): ${where}`;
}

/**
 * After the switch: every subtask of every shard-merge task of the source,
 * on every source it reads, Running without errors (the others were not
 * touched, but their shard DDL coordination depends on this source's), and no
 * new lock involving the source that was not accepted. Polled for
 * `timeoutSeconds`.
 */
export async function verifyShardTasks(
  t: Tracker,
  req: { dmCluster: string; sourceId: string; timeoutSeconds: number },
  shards: ShardTasks,
): Promise<void> {
  const names = Object.keys(shards.tasks);
  if (names.length === 0) return;
  const r = await longDm(req.timeoutSeconds).dmAwaitSubtasksHealthy({
    dmCluster: req.dmCluster,
    tasks: Object.fromEntries(names.map((task) => [task, shards.tasks[task]!.sources])),
    timeoutSeconds: req.timeoutSeconds,
  });
  if (r.ok) {
    t.decide(
      'go',
      `every subtask of the shard-merge task(s) ${names.join(', ')} is Running without ` +
        `errors: ${r.subtasks
          .map(
            (s) =>
              `${s.task}@${s.source} ` +
              `${s.stage}/${s.unit}${s.unresolvedGroups.length ? ' (waiting at a shard DDL)' : ''}`,
          )
          .join(', ')}`,
    );
    return;
  }
  const bad = r.subtasks.filter((s) => s.stage !== 'Running' || s.errors.length > 0);
  const unhealthy = bad.map((s) => {
    const errors = s.errors.length ? ` (${s.errors.join('; ')})` : '';
    return `${s.task}@${s.source} ${s.stage}/${s.unit}${errors}`;
  });
  throw failure(
    `shard-merge task(s) not healthy after the switch: ${[...unhealthy, ...r.missing].join('; ')}`,
    SwitchErrorType.VerificationFailed,
  );
}

/** What it means that `task` is held at its accepted shard DDL lock, in words. */
export function acceptedLockWait(task: string, shards: ShardTasks): string {
  const lock = shards.acceptedLocks.find((l) => l.task === task);
  return lock
    ? `task ${task} waits at the accepted shard DDL lock ${lock.id} ` +
        `(${lock.ddls.join('; ')}) until ${lock.unsynced.join(', ') || 'the others'} reach it`
    : `task ${task} waits at an accepted shard DDL lock`;
}
