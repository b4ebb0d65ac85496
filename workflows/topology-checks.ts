/**
 * The checks that look past the new instance's own state: the chain of
 * servers up to the primary (errant transactions written on an intermediate
 * replica), replication and binary log filters on the new instance and on
 * every server of that chain, and whether an instance's own writes are
 * proven to be a primary's. Pure functions of what the activities read.
 */
import type { Flavor, HopReading, InstanceFacts } from '../common/switch/types.js';
import {
  findErrant,
  findErrantInChain,
  type ChainHop,
  type ErrantResult,
  type ErrantTarget,
  type TopologyReading,
} from '../common/switch/errant.js';
import { filterProblems, type ServerFilters, type TaskScope } from '../common/switch/filters.js';

type Facts = Extract<InstanceFacts, { reachable: true }>;

/** The chain as the pure errant check sees it. */
export function chainHops(chain: HopReading[]): ChainHop[] {
  const labels = new Set(chain.map((h) => h.address));
  return chain.map((h): ChainHop => {
    if (!h.reachable) {
      return { label: h.address, depth: h.depth, sources: [], hasChannels: false, reachable: false, error: h.error };
    }
    // a source that is not in the chain was already visited (the new instance, or a ring): not above this hop
    const above = (s: string) =>
      labels.has(s) && chain.some((x) => x.address === s && x.address !== h.address && x.depth >= h.depth);
    const sources = h.channels.map((c) => c.source).filter(above);
    return {
      label: h.address,
      depth: h.depth,
      sources,
      hasChannels: h.channels.length > 0,
      reachable: true,
      serverUuid: h.serverUuid,
      serverId: h.serverId,
      gtids: h.gtids,
      readOnly: h.readOnly,
      replicating: h.channels.some((c) => c.running),
    };
  });
}

/**
 * A writable primary that answers elsewhere, in words: the old instance
 * (writable, no channel with a running thread), or the top of the old
 * instance's chain (read with withSources: writable, replicating from
 * nobody). Null when there is none (or it is the new instance). While one
 * answers, a replica's own writes are not a new primary's history.
 */
export function writablePrimaryElsewhere(old: Facts | null, facts: Facts): string | null {
  if (!old || old.serverUuid === facts.serverUuid) return null;
  const channels = old.channels ?? (old.replica ? [old.replica] : []);
  const replicating = channels.some((c) => c.ioRunning || c.sqlRunning);
  if (old.readOnly === false && !replicating) return `the old instance ${old.address}`;
  const top = (old.chain ?? []).find(
    (h) => h.reachable && h.channels.length === 0 && !h.readOnly && h.serverUuid !== facts.serverUuid,
  );
  return top ? `${top.address}, the primary of the old instance ${old.address}` : null;
}

/**
 * The errant check over the topology: `base` (DM's positions, the old
 * instance) plus the chain up to the primary when it was read (withSources),
 * else the direct sources only.
 */
export function errantInTopology(
  flavor: Flavor,
  target: ErrantTarget,
  facts: Facts,
  base: TopologyReading[],
): { found: ErrantResult; compared: string[] } {
  if (facts.chain) {
    const hops = chainHops(facts.chain);
    const label = (h: ChainHop) =>
      h.depth === 1 ? `its replication source ${h.label}` : `the server ${h.label} (${h.depth} hops up)`;
    const compared = [...base.map((x) => x.label), ...hops.filter((h) => h.reachable).map(label)];
    return { found: findErrantInChain(flavor, target, base, hops), compared };
  }
  const sources = (facts.sources ?? []).flatMap((x) =>
    x.reachable ? [{ label: `its replication source ${x.address}`, gtids: x.gtids }] : [],
  );
  const references = [...base, ...sources];
  return { found: findErrant(flavor, target, references), compared: references.map((x) => x.label) };
}

/** The filters of the new instance and of every server of its chain that was read, for common/switch/filters.ts. */
export function serverFilters(facts: Facts, label = 'the new instance'): ServerFilters[] {
  const out: ServerFilters[] = [];
  if (facts.filters) out.push({ address: facts.address, role: label, flavor: facts.flavor, ...facts.filters });
  for (const h of facts.chain ?? []) {
    if (!h.reachable) continue;
    const role = `${h.channels.length ? 'the server between it and the primary' : 'the primary'} (a source of ${h.of})`;
    out.push({ address: h.address, role, flavor: facts.flavor, ...h.filters });
  }
  return out;
}

/** Why DM would lose changes through filters on the instance or its chain (empty: nothing found). */
export function filterRefusals(facts: Facts, scopes: TaskScope[], label = 'the new instance'): string[] {
  return filterProblems(serverFilters(facts, label), scopes);
}

/** The chain in words: `10.0.0.3:3306 ← 10.0.0.2:3306 ← 10.0.0.1:3306 (replicates from nobody)`. */
export function describeChain(facts: Facts): string | null {
  const chain = facts.chain ?? [];
  if (chain.length === 0) return null;
  const state = (h: HopReading) => {
    if (!h.reachable) return `not read: ${h.error}`;
    if (h.channels.length === 0) return 'replicates from nobody';
    return `replicates from ${h.channels.map((c) => c.source).join(', ')}`;
  };
  const parts = chain.map((h) => `${h.address} (${h.depth === 1 ? 'source' : `${h.depth} hops up`}, ${state(h)})`);
  return `servers up to the primary read for the errant-transaction and filter checks: ${parts.join('; ')}`;
}
