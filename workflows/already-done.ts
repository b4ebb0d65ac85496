/**
 * A switch to where DM already reads: nothing to do. When preflight finds the
 * VIP already on the target (VIP switch) or the source already re-pointed to
 * it (address switch), the switch reads whether DM really reads the target
 * now: every task that reads the upstream Running without error (none paused,
 * by request or by DM), relay (if on) Running on a sub-directory of the
 * target's server_uuid, and a binlog dump connection of the source's
 * dm-worker on the target and none on the old instance. Then it changes
 * nothing (no pause, no VIP move, no stop) and ends at once, `switched` with
 * `alreadyDone`. Anything short of that is a switch half done: it carries on,
 * and says what it found half done.
 */
import type { Endpoint, SourceState } from '../common/switch/types.js';
import type { InstanceRef } from '../common/switch/input.js';
import type { SwitchStatus } from '../common/switch/status.js';
import { dm, mysql } from './activities.js';
import { finishedLoad } from './paused-tasks.js';
import type { Tracker } from './tracker.js';
import { otherVipReaders } from './shared-vip.js';
import { sourceWorker } from './verify.js';

export interface AlreadyReadsRequest {
  dmCluster: string;
  sourceId: string;
  source: SourceState;
  /** The instance the switch is to make DM read. */
  target: InstanceRef;
  /** The target's server_uuid (preflight read it): relay's sub-directory is named after it. */
  targetUuid: string;
  /** The instance DM read before, when it answered at preflight: DM must no longer read it. */
  old: InstanceRef | null;
  /** Tasks named in the request that DM does not know (stopped by hand): a switch half done. */
  missingTasks?: string[];
  /** The VIP (VIP switch): every other source reading it must read the target with nothing half done too. */
  vip?: { address: string };
}

/** What DM shows that a switch left half done, in words; empty when DM looks like it reads where it should. */
export function halfDone(source: SourceState, targetUuid: string, missingTasks: string[] = []): string[] {
  const found: string[] = [];
  const reading = source.tasks.filter((x) => !finishedLoad([x]).length);
  for (const x of reading) {
    if (x.stage !== 'Running') found.push(`task ${x.name} is ${x.stage}`);
    else if (x.errors.length) found.push(`task ${x.name} reports errors: ${x.errors.join('; ')}`);
  }
  for (const n of missingTasks) found.push(`task ${n} is given in taskConfigs but DM does not know it (stopped)`);
  if (source.enableRelay) {
    if (!source.relay) found.push('relay is on but shows no status');
    else if (source.relay.stage !== 'Running') found.push(`relay is ${source.relay.stage}`);
    else if (!source.relay.relaySubDir.startsWith(targetUuid))
      found.push(`relay writes sub-directory ${source.relay.relaySubDir}, not one of the new instance (${targetUuid})`);
  }
  return found;
}

/** Whether DM already reads `target` with nothing of a switch half done (what was seen), or what is half done. */
export async function alreadyReads(
  req: AlreadyReadsRequest,
): Promise<{ done: true; seen: string } | { done: false; why: string[] }> {
  const found = halfDone(req.source, req.targetUuid, req.missingTasks);
  const reads = req.source.enableRelay || req.source.tasks.some((x) => !finishedLoad([x]).length);
  if (!reads) found.push('the source has no task that reads the upstream');
  if (found.length) return { done: false, why: found };
  const w = await sourceWorker(req.dmCluster, req.sourceId);
  if (!w) return { done: false, why: [`no dm-worker is bound to source ${req.sourceId}`] };
  const [onTarget, onOld] = await Promise.all([
    mysql.mysqlBinlogDumpClientsIfUp(req.target),
    req.old ? mysql.mysqlBinlogDumpClientsIfUp(req.old) : Promise.resolve(null),
  ]);
  const at = (e: Endpoint) => `${e.host}:${e.port}`;
  // as verification judges it: on the target, a dump from the worker's address; on the old one, the worker's own
  const mine = (onTarget ?? []).filter(w.reads);
  const left = (onOld ?? []).filter(w.owns);
  const why: string[] = [];
  if (mine.length === 0) why.push(`${w.describe} has no binlog dump connection on ${at(req.target)}`);
  if (left.length) why.push(`${w.describe} still reads the old instance ${at(req.old!)}`);
  if (why.length) return { done: false, why };
  // a VIP moves every source reading it: a switch half done may have left another reader's task paused
  if (req.vip) {
    const others = await otherVipReaders({ dmCluster: req.dmCluster, sourceId: req.sourceId, vip: req.vip });
    for (const o of others) {
      const state = await dm.dmSourceState({ dmCluster: o.dmCluster, sourceId: o.sourceId });
      why.push(...halfDone(state, req.targetUuid).map((f) => `${f} (source ${o.dmCluster}/${o.sourceId})`));
    }
    if (why.length) return { done: false, why };
  }
  const tasks = req.source.tasks.filter((x) => !finishedLoad([x]).length).map((x) => x.name);
  const seen =
    `${tasks.length ? `task(s) ${tasks.join(', ')} Running` : 'no task'}` +
    `${req.source.enableRelay ? `, relay Running on ${req.source.relay!.relaySubDir}` : ''}, ` +
    `${w.describe} reading ${at(req.target)} (${mine.map((c) => `${c.user}@${c.host}`).join(', ')})`;
  return { done: true, seen };
}

/** Ends a switch that had nothing to do: DM already reads the target; nothing was paused, moved or stopped. */
export function endNothingToDo(t: Tracker, dryRun: boolean, words: string): SwitchStatus {
  const text = `nothing to do: DM already reads ${words}; nothing was paused, stopped or moved`;
  t.status.alreadyDone = true;
  t.status.plan = [text];
  t.decide('go', dryRun ? `dry run: ${text}` : text);
  t.finish(dryRun ? 'dry-run' : 'switched');
  return t.status;
}
