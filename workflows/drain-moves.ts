/**
 * The sources a drain (or a return) moves: one Move each, grouped when several read one VIP (one switch moves
 * them all), run a few at a time, and the plan they make, as the runbook's typed plan (common/switch/runbook.ts).
 */
import type { HostSource } from '../common/switch/drain.js';
import type { InstanceRef } from '../common/switch/input.js';
import type { HostPlanStep } from '../common/switch/runbook.js';
import type { HostRecord } from './drain-record.js';

/** One source to move: where it reads now, and how it moves. */
export interface Move {
  source: HostSource;
  oldInstance: InstanceRef;
  vip?: { address: string; provider: string };
  /** The target, when the request names it (a return: the host). */
  newInstance?: InstanceRef;
  /** The target the plan's dry run chose (and the approver saw): what the switch is started with. */
  planned?: InstanceRef;
  /** Sources reading one VIP move in one switch, the first's (workflows/shared-vip.ts): the others name it here. */
  leader?: Move;
  /** The first of them: the others, which its switch pauses, checks and verifies with it. */
  sharedWith?: Array<{ dmCluster: string; sourceId: string }>;
}

/** `cluster/source`, as the drain's record names a source. */
export const nameOf = (s: { dmCluster: string; sourceId: string }) => `${s.dmCluster}/${s.sourceId}`;

/**
 * A VIP moves every source reading it: the sources that read one VIP move in one switch (the first's), which pauses,
 * checks and verifies the others with it (its sharedWith). The others follow it: its plan and its outcome are theirs.
 */
export function groupSharedVips(h: HostRecord, moves: Move[]): void {
  const byVip = new Map<string, Move[]>();
  for (const m of moves) {
    if (m.source.procedure === 'vip' && m.vip) byVip.set(m.vip.address, [...(byVip.get(m.vip.address) ?? []), m]);
  }
  for (const [address, group] of byVip) {
    if (group.length < 2) continue;
    const [first, ...rest] = group as [Move, ...Move[]];
    first.sharedWith = rest.map((m) => ({ dmCluster: m.source.dmCluster, sourceId: m.source.sourceId }));
    for (const m of rest) m.leader = first;
    const names = group.map((m) => nameOf(m.source));
    const how = `in the switch of ${names[0]} (one VIP move; each paused, checked and verified)`;
    h.decide('info', `${names.join(', ')} read the same VIP ${address}: they move together, ${how}`);
  }
}

/** A source moved by another's switch (the same VIP) takes that switch's plan, then its outcome. */
export function follow(m: Move, what: 'plan' | 'outcome'): void {
  const l = m.leader!.source;
  const by = nameOf(l);
  if (what === 'plan') {
    m.source.plan = l.plan === 'joined' ? 'refused' : l.plan;
    if (l.target) m.source.target = l.target;
    const running = `a switch of ${by} (the same VIP) already runs, without this source`;
    const why =
      l.plan === 'switch'
        ? `plan: moves with ${by} (the same VIP), in its switch to ${l.target}`
        : l.plan === 'joined'
          ? `${running}: start the drain again once it ended`
          : `moves with ${by} (the same VIP), whose switch refuses: ${l.reasons.at(-1) ?? ''}`;
    m.source.reasons.push(why);
    if (m.source.plan === 'refused') m.source.outcome = 'refused';
    return;
  }
  if (m.source.plan === 'refused') return;
  m.source.outcome = l.outcome;
  if (l.runId) m.source.runId = l.runId;
  m.source.workflowId = l.workflowId;
  m.source.reasons.push(`moved by the switch of ${by} (${l.workflowId}): it ended ${l.outcome}`);
}

/** The plan the moves make, once each one's dry run (or its leader's) decided it. */
export function planSteps(moves: readonly Move[]): HostPlanStep[] {
  return moves.map((m): HostPlanStep => {
    const s = m.source;
    const source = nameOf(s);
    if (s.plan === 'refused') return { step: 'stay', source, why: s.reasons.at(-1) ?? 'its switch refuses' };
    if (m.leader) return { step: 'with', source, leader: nameOf(m.leader.source), to: s.target ?? '' };
    if (s.plan === 'joined') return { step: 'join', source, workflowId: s.workflowId };
    return { step: 'switch', source, procedure: s.procedure, reads: s.reads, to: s.target ?? '' };
  });
}

/**
 * Runs `fn` over `items`, at most `n` at once, in order of the list. A lane
 * that fails takes no more items; the first failure is thrown only once every
 * lane has stopped (a cancelled drain waits for every switch's undo).
 */
export async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const x = items[next++]!;
      await fn(x);
    }
  });
  const settled = await Promise.allSettled(lanes);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
