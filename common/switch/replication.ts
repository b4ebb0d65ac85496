/**
 * Whether an instance is still replicating, read the same way by every rule
 * that asks (the GTID check's wait, the errant-transaction check, candidate
 * ranking, the catch-up wait). Pure.
 *
 * Every replication channel counts, not only the first (MySQL multi-source
 * replication lists one row per channel in SHOW REPLICA STATUS).
 *
 * - **Applying** (it can still catch up): a channel's SQL (applier) thread is
 *   running. Its IO thread may show `Connecting` because the source it
 *   receives from died: the SQL thread still applies what the relay log
 *   holds, so transactions the instance lacks may still arrive. An IO thread
 *   running alone cannot apply anything.
 * - **Replicating** (it has a source, so it is not acting as a primary): a
 *   channel's SQL or IO thread is running.
 */

/** The threads of one replication channel (ReplicaState, common/switch/types.ts). */
export interface ChannelThreads {
  ioRunning: boolean;
  sqlRunning: boolean;
}

/** Every channel of an instance as read by `inspect`; the first alone when an older reading has no list. */
export function channelsOf<C extends ChannelThreads>(f: { replica: C | null; channels?: C[] }): C[] {
  return f.channels ?? (f.replica ? [f.replica] : []);
}

/** A channel's SQL thread runs: transactions the instance lacks may still be applied. */
export function applying(channels: ChannelThreads[]): boolean {
  return channels.some((c) => c.sqlRunning);
}

/** A channel has a running thread: the instance replicates from somebody. */
export function replicating(channels: ChannelThreads[]): boolean {
  return channels.some((c) => c.sqlRunning || c.ioRunning);
}
