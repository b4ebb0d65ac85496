/**
 * Where DM's tasks and relay stand, judged from a source's state: what a
 * task still lacks, whether relay switched, whether the source is back as it
 * was. Pure; the waits (waits.ts) poll DM and apply these.
 */
import { parseGtidSet } from '../../common/gtid/index.js';
import type { Endpoint, RelayState, SourceState } from '../../common/switch/types.js';

/** The tasks whose syncerBinlogGtid lacks some of `want`, and what they lack (the verification's "moves forward"). */
export function tasksBehind(state: SourceState, tasks: string[], want: string): Array<{ task: string; lacks: string }> {
  const w = parseGtidSet(state.flavor, want);
  const at = (task: string) => state.tasks.find((x) => x.name === task)?.syncerBinlogGtid ?? '';
  return tasks
    .map((task) => ({ task, lacks: w.subtract(parseGtidSet(state.flavor, at(task))) }))
    .filter((x) => !x.lacks.isEmpty())
    .map((x) => ({ task: x.task, lacks: x.lacks.toCompactString() }));
}

/** Relay reads a sub-directory other than `oldRelayDir` and has caught up with its upstream. */
export function relaySwitched(relay: RelayState | null, oldRelayDir: string | null): boolean {
  return relay !== null && relay.relaySubDir !== oldRelayDir && relay.relayCatchUpMaster;
}

/**
 * DM shows the source as before a switch: it exists, reads `from` (when given), every task Running without errors,
 * relay Running when `relay`.
 */
export function sourceRestored(
  s: SourceState | null,
  want: { tasks: string[]; relay: boolean; from?: Endpoint | null },
): boolean {
  return (
    s !== null &&
    (!want.from || (s.from.host === want.from.host && s.from.port === want.from.port)) &&
    want.tasks.every((name) =>
      s.tasks.some((x) => x.name === name && x.stage === 'Running' && x.errors.length === 0),
    ) &&
    (!want.relay || s.relay?.stage === 'Running')
  );
}

/**
 * What the upstream of `tasks` has executed, as DM last read it: the union of
 * their masterBinlogGtid and relay's. A task that runs reaches it in seconds.
 */
export function upstreamGtids(state: SourceState, tasks: string[]): string {
  const seen = [
    ...state.tasks.filter((x) => tasks.includes(x.name)).map((x) => x.masterBinlogGtid),
    state.relay?.masterBinlogGtid ?? '',
  ].filter(Boolean);
  return seen
    .reduce((acc, g) => acc.union(parseGtidSet(state.flavor, g)), parseGtidSet(state.flavor, ''))
    .toCompactString();
}

/**
 * How long a running task may take to show a new position: DM shows flushed checkpoints (30 s, or a heartbeat
 * when idle).
 */
export const CATCH_UP_SECONDS = 90;

/**
 * CATCH_UP_SECONDS for a cluster whose tasks flush their checkpoints every `checkpointFlushSeconds` (its worker
 * configuration): three flushes, as 90 s is three of DM's default 30 s.
 */
export function catchUpSeconds(cluster: { checkpointFlushSeconds?: number }): number {
  return cluster.checkpointFlushSeconds ? 3 * cluster.checkpointFlushSeconds : CATCH_UP_SECONDS;
}
