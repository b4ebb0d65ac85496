/**
 * Errant transactions: what the new instance has executed that the rest of
 * the topology has not. gtid-P ⊆ gtid-S ⊆ gtid-E holds for such an instance,
 * yet DM, resuming from gtid-S, would be sent those transactions and apply
 * them downstream: data the upstream topology never had. Pure; workflows and
 * activities both import it.
 *
 * The rule (MySQL):
 *
 *   N  = the new instance's gtid_executed, read first;
 *   R  = gtid-S ∪ the old instance's gtid_executed (when it answers)
 *          ∪ the gtid_executed of each replication source of the new
 *            instance (its channels' Source_Host), read after N;
 *   X  = N ∖ R, split by server_uuid.
 *
 *   - X under the new instance's own server_uuid was written on it. It is
 *     errant unless the instance acts as a primary: writable (read_only and
 *     super_read_only OFF) and replicating from nobody (no channel with a
 *     running thread). A primary's own writes, e.g. after a failover promoted
 *     it, are the topology's new history: reported as information.
 *   - X under any other server_uuid came from elsewhere. When every source of
 *     the new instance was read, R holds everything those sources could have
 *     sent it, so these are errant (they came from a server that is not part
 *     of the topology any more, or were injected with gtid_next). When a
 *     source could not be read (or the instance has none), a GTID of a
 *     server_uuid that R or a channel's Source_UUID knows is taken as the new
 *     instance simply being ahead of DM in that server's stream (information,
 *     "not confirmed"); one of a server_uuid nobody knows is errant.
 *
 *   Because N is read before its sources, everything a source sent by then
 *   is in R; the old instance and gtid-S only ever add to R, so they can hide
 *   nothing DM would not have received from the old instance anyway.
 *
 * MariaDB: the same rule on `gtid_binlog_state`, per domain *and* server id
 * (MariaDB numbers transactions per domain, so a position alone cannot tell
 * a replica's local write from the primary's next transaction). An entry
 * d-s-n of the new instance is covered when the old instance or a source has
 * logged d-s-n' with n' ≥ n, or DM's position in domain d is d-s-n'' with
 * n'' ≥ n. Without gtid_strict_mode the per-domain numbering is not enforced,
 * so out-of-order transactions may pass unnoticed: the caller reports it.
 */
import {
  abbreviate,
  MysqlGtidSet,
  parseGtidSet,
  parseMariadbBinlogState,
  type Flavor,
  type MariadbGtid,
} from '../gtid/index.js';

export interface TopologyReading {
  /** In words, for messages: `DM's position (gtid-S)`, `the old instance 10.0.0.1:3306`. */
  label: string;
  /** MySQL: a gtid_executed or gtid-S. MariaDB: a gtid_binlog_state, or a position (gtid-S). */
  gtids: string;
  /** DM's own position in the stream (gtid-S, the relay's): see ErrantTarget.strictMode. */
  dmPosition?: boolean;
}

export interface ErrantTarget {
  /** `the new instance 10.0.0.2:3306`. */
  label: string;
  /** MySQL server_uuid. */
  serverUuid: string;
  /** server_id (MariaDB's GTIDs carry it). */
  serverId: number;
  /** MySQL gtid_executed; MariaDB gtid_binlog_state. */
  gtids: string;
  /** read_only or super_read_only is ON. */
  readOnly: boolean;
  /** A replication channel of it has a running thread. */
  replicating: boolean;
  /**
   * MariaDB gtid_strict_mode is ON on it: its binary log holds each domain's
   * sequence numbers in one increasing order, so an entry of another server
   * id at or below DM's position in that domain was part of the stream DM
   * has already read, not a write DM never saw.
   */
  strictMode?: boolean;
  /** Its replication channels' sources (label: `host:port`): whether each was read (and is among the references). */
  sources: Array<{
    label: string;
    serverUuid: string | null;
    serverId: number | null;
    read: boolean;
    error?: string;
    /** When read: read_only or super_read_only ON. */
    readOnly?: boolean;
  }>;
  /**
   * A writable primary that answers elsewhere in the topology (e.g. the old
   * instance, writable and replicating from nobody), in words; null or absent
   * when none is known. While one exists, the new instance is not the primary.
   */
  writablePrimaryElsewhere?: string | null;
}

export interface ErrantFinding {
  /** The errant GTIDs (MySQL set text; MariaDB `d-s-n` entries). */
  gtids: string;
  /** Where they came from, in words. */
  origin: string;
}

export interface ErrantResult {
  /** Every errant GTID ('' when none), canonical. */
  errant: string;
  findings: ErrantFinding[];
  /** Transactions the others lack that are not errant, and why. */
  notes: string[];
}

export function findErrant(flavor: Flavor, target: ErrantTarget, references: TopologyReading[]): ErrantResult {
  return flavor === 'mysql' ? mysqlErrant(target, references) : mariadbErrant(target, references);
}

/**
 * The new instance acts as a primary, proven rather than assumed: writable,
 * replicating from nobody, every configured source of it gone (does not
 * answer) or itself read-only, and no writable primary answering elsewhere.
 * A replica whose replication was merely stopped by hand, with its source
 * still the writable primary, does not qualify: its own writes are errant.
 */
function actsAsPrimary(t: ErrantTarget): boolean {
  return primaryDoubt(t) === null;
}

/** Why the new instance is not taken as the primary (null: it is). */
function primaryDoubt(t: ErrantTarget): string | null {
  if (t.readOnly) return 'read-only';
  if (t.replicating) return 'a replica that is replicating';
  const live = t.sources.filter((s) => s.read && s.readOnly === false);
  const names = live.map((s) => s.label).join(', ');
  if (live.length) return `a replica whose replication is stopped while its source ${names} answers and is writable`;
  if (t.writablePrimaryElsewhere) return `not the primary: ${t.writablePrimaryElsewhere} answers as a writable primary`;
  return null;
}

function sourcesNote(t: ErrantTarget): string {
  if (t.sources.length === 0) return 'it replicates from no source';
  const unread = t.sources.filter((s) => !s.read);
  return (
    `its replication source ` +
    `${unread.map((s) => `${s.label}${s.error ? ` (${s.error})` : ''}`).join(', ')} could not be read`
  );
}

function ownOrigin(t: ErrantTarget, id: string): string {
  const role = primaryDoubt(t) ?? 'a replica';
  return (
    `written on ${t.label} itself (${id}) while it is ${role}: no other server of ` +
    `the topology has them (a local write on a replica)`
  );
}

function ownNote(t: ErrantTarget, gtids: string, id: string): string {
  return (
    `${gtids}: written on ${t.label} itself (${id}), which is writable and ` +
    `replicates from nobody, so it acts as the primary (e.g. promoted by a ` +
    `failover): DM will replicate these as the topology's new history`
  );
}

function mysqlErrant(t: ErrantTarget, references: TopologyReading[]): ErrantResult {
  const N = MysqlGtidSet.parse(t.gtids);
  let R = MysqlGtidSet.EMPTY;
  for (const r of references) R = R.union(MysqlGtidSet.parse(r.gtids));
  const X = N.subtract(R);
  const findings: ErrantFinding[] = [];
  const notes: string[] = [];
  if (X.isEmpty()) return { errant: '', findings, notes };
  const labels = references.map((r) => r.label).join(', ') || 'nothing else';
  const own = X.ofUuid(t.serverUuid);
  if (!own.isEmpty()) {
    if (actsAsPrimary(t)) notes.push(ownNote(t, abbreviate(own), `server_uuid ${t.serverUuid}`));
    else findings.push({ gtids: own.toCompactString(), origin: ownOrigin(t, `server_uuid ${t.serverUuid}`) });
  }
  const other = X.withoutUuids([t.serverUuid]);
  const allSourcesRead = t.sources.length > 0 && t.sources.every((s) => s.read);
  const known = new Set([...R.uuids(), ...t.sources.map((s) => s.serverUuid?.toLowerCase() ?? '')]);
  for (const uuid of other.uuids()) {
    const part = other.ofUuid(uuid);
    if (allSourcesRead) {
      findings.push({
        gtids: part.toCompactString(),
        origin:
          `from server_uuid ${uuid}, which none of ${labels} has executed: they did not ` +
          `come through the new instance's replication source`,
      });
    } else if (known.has(uuid)) {
      notes.push(
        `${abbreviate(part)}: the new instance is ahead of ${labels} in the stream of ` +
          `server_uuid ${uuid}; not confirmed, as ${sourcesNote(t)}`,
      );
    } else {
      findings.push({
        gtids: part.toCompactString(),
        origin: `from server_uuid ${uuid}, of which none of ${labels} has executed anything (and ${sourcesNote(t)})`,
      });
    }
  }
  const errant = findings.reduce((acc, f) => acc.union(MysqlGtidSet.parse(f.gtids)), MysqlGtidSet.EMPTY);
  return { errant: errant.toCompactString(), findings, notes };
}

function mariadbErrant(t: ErrantTarget, references: TopologyReading[]): ErrantResult {
  const mine = parseMariadbBinlogState(t.gtids);
  const refs = references.map((r) => parseMariadbBinlogState(r.gtids));
  const covered = (g: MariadbGtid) =>
    refs.some((entries) => entries.some((e) => e.domain === g.domain && e.server === g.server && e.seq >= g.seq));
  const knownServer = (g: MariadbGtid) =>
    refs.some((entries) => entries.some((e) => e.domain === g.domain && e.server === g.server)) ||
    t.sources.some((s) => s.serverId === g.server);
  const labels = references.map((r) => r.label).join(', ') || 'nothing else';
  const allSourcesRead = t.sources.length > 0 && t.sources.every((s) => s.read);
  const findings: ErrantFinding[] = [];
  const notes: string[] = [];
  const fmt = (g: MariadbGtid) => `${g.domain}-${g.server}-${g.seq}`;
  const positions = references.filter((r) => r.dmPosition).map((r) => parseMariadbBinlogState(r.gtids));
  const atOrBelow = (g: MariadbGtid) =>
    positions.some((entries) => entries.some((e) => e.domain === g.domain && e.seq >= g.seq));
  const behindDm = (g: MariadbGtid) => t.strictMode === true && g.server !== t.serverId && atOrBelow(g);
  for (const g of mine.filter((x) => !covered(x))) {
    if (behindDm(g)) {
      notes.push(
        `${fmt(g)}: logged by server_id ${g.server}, at or below DM's position in domain ${g.domain}; ` +
          `gtid_strict_mode is ON on ${t.label}, so it is part of the stream DM has read`,
      );
    } else if (g.server === t.serverId) {
      if (actsAsPrimary(t)) notes.push(ownNote(t, fmt(g), `server_id ${t.serverId}`));
      else findings.push({ gtids: fmt(g), origin: ownOrigin(t, `server_id ${t.serverId}`) });
    } else if (allSourcesRead) {
      findings.push({
        gtids: fmt(g),
        origin: `logged by server_id ${g.server} in domain ${g.domain}, which none of ${labels} has logged that far`,
      });
    } else if (knownServer(g)) {
      notes.push(
        `${fmt(g)}: the new instance is ahead of ${labels} in server_id ${g.server}'s ` +
          `stream of domain ${g.domain}; not confirmed, as ${sourcesNote(t)}`,
      );
    } else {
      findings.push({
        gtids: fmt(g),
        origin:
          `logged by server_id ${g.server} in domain ${g.domain}, which none of ${labels} ` +
          `knows (and ${sourcesNote(t)})`,
      });
    }
  }
  return { errant: findings.map((f) => f.gtids).join(','), findings, notes };
}

/** The errant findings in one sentence, for a refusal or a gate's description. */
export function describeErrant(r: ErrantResult, target: string): string {
  return (
    `${target} carries errant transactions that DM would replicate downstream ` +
    `although the rest of the topology never had them: ` +
    `${r.findings.map((f) => `${f.gtids} (${f.origin})`).join('; ')}`
  );
}

/**
 * Tagged GTIDs (MySQL 8.3+, `uuid:tag:n`). The pinned DM drops those
 * transactions without an error, so a switch must not move a source onto an
 * instance carrying them. Returns the sentence naming the tags found, or null.
 */
export function describeTaggedGtids(flavor: Flavor, readings: TopologyReading[]): string | null {
  if (flavor !== 'mysql') return null;
  const found: string[] = [];
  const tags = new Set<string>();
  for (const r of readings) {
    const tagged = MysqlGtidSet.parse(r.gtids).tagged();
    if (tagged.isEmpty()) continue;
    for (const tag of tagged.tags()) tags.add(tag);
    found.push(`${r.label}: ${abbreviate(tagged, 200)}`);
  }
  if (found.length === 0) return null;
  return (
    `tagged GTIDs found (tag${tags.size > 1 ? 's' : ''} ${[...tags].join(', ')}; ${found.join('; ')}): ` +
    ('DM drops transactions written with a tagged GTID (SET gtid_next = ' +
      "'AUTOMATIC:<tag>') without an error, so their rows never reach downstream; ") +
    'stop writing tagged transactions and re-sync the affected tables before switching'
  );
}

/** Parses every reading in the flavor, so a malformed set is reported before any decision. */
export function readable(flavor: Flavor, readings: TopologyReading[]): string | null {
  for (const r of readings) {
    try {
      if (flavor === 'mysql') parseGtidSet('mysql', r.gtids);
      else parseMariadbBinlogState(r.gtids);
    } catch (e) {
      return `${r.label}: ${(e as Error).message}`;
    }
  }
  return null;
}

/**
 * A server on the way from the new instance up to the primary (its source,
 * the source's source, …), as read after the new instance.
 */
export interface ChainHop {
  /** `host:port`. */
  label: string;
  /** 1: a source of the new instance; 2: a source of one of those; … */
  depth: number;
  /** The hops it replicates from (their labels; a source already visited closes a ring and is left out). */
  sources: string[];
  /** It has replication channels (configured sources), including ones that lead back into the chain. */
  hasChannels: boolean;
  reachable: boolean;
  error?: string;
  serverUuid?: string;
  serverId?: number;
  /** MySQL gtid_executed; MariaDB gtid_binlog_state. */
  gtids?: string;
  readOnly?: boolean;
  /** A channel of it has a running thread. */
  replicating?: boolean;
}

/** An intermediate server's own transactions that the servers above it lack: local writes on a replica in the chain. */
export interface IntermediateWrites {
  hop: string;
  serverUuid: string;
  serverId: number;
  /** MySQL GTID set; MariaDB `d-s-n` entries joined by commas. */
  gtids: string;
  /** The servers above it that were read, in words. */
  above: string[];
}

/**
 * What the chain up to the primary contributes to the errant check's
 * references: each hop's executed set, except, for a hop that does not act
 * as a primary, its own transactions (own server_uuid / server_id) that none
 * of the servers above it has. Those are local writes on a server between
 * the new instance and the primary: they reached the new instance through
 * its replication, yet the primary never had them.
 *
 * A hop acts as a primary, and its own transactions are history, when it
 * replicates from nobody (the top; in a ring, the server whose sources are
 * all already in the chain), or when it is writable, replicates
 * nothing now, every source it has is gone or read-only, and no writable
 * primary answers elsewhere (the rule of the new instance).
 */
export function chainReferences(
  flavor: Flavor,
  hops: ChainHop[],
  writablePrimaryElsewhere: string | null = null,
): { references: TopologyReading[]; intermediate: IntermediateWrites[] } {
  const byLabel = new Map(hops.map((h) => [h.label, h]));
  const above = (h: ChainHop): ChainHop[] => {
    const seen = new Set<string>([h.label]);
    const out: ChainHop[] = [];
    const queue = [...h.sources];
    while (queue.length) {
      const l = queue.shift()!;
      if (seen.has(l)) continue;
      seen.add(l);
      const x = byLabel.get(l);
      if (!x) continue;
      if (x.reachable) out.push(x);
      queue.push(...x.sources);
    }
    return out;
  };
  const primaryLike = (h: ChainHop): boolean => {
    // no source outside the chain: the top (in a ring, the server that closes it)
    if (h.sources.length === 0) return true;
    if (h.readOnly !== false || h.replicating || writablePrimaryElsewhere) return false;
    return h.sources.every((l) => {
      const s = byLabel.get(l);
      return !s || !s.reachable || s.readOnly === true;
    });
  };
  const references: TopologyReading[] = [];
  const intermediate: IntermediateWrites[] = [];
  for (const h of hops) {
    if (!h.reachable || h.gtids === undefined) continue;
    const label = h.depth === 1 ? `its replication source ${h.label}` : `the server ${h.label} (${h.depth} hops up)`;
    const writes = (gtids: string): IntermediateWrites => {
      const above = ups.map((x) => x.label);
      return { hop: h.label, serverUuid: h.serverUuid ?? '', serverId: h.serverId ?? 0, gtids, above };
    };
    if (primaryLike(h)) {
      references.push({ label, gtids: h.gtids });
      continue;
    }
    const ups = above(h);
    if (flavor === 'mysql') {
      const mine = MysqlGtidSet.parse(h.gtids);
      const upper = ups.reduce((u, x) => u.union(MysqlGtidSet.parse(x.gtids ?? '')), MysqlGtidSet.EMPTY);
      const own = mine.ofUuid(h.serverUuid ?? '').subtract(upper);
      references.push({ label, gtids: mine.subtract(own).toString() });
      if (!own.isEmpty()) intermediate.push(writes(own.toCompactString()));
    } else {
      const entries = parseMariadbBinlogState(h.gtids);
      const upper = ups.flatMap((x) => parseMariadbBinlogState(x.gtids ?? ''));
      const coveredAbove = (g: MariadbGtid) =>
        upper.some((e) => e.domain === g.domain && e.server === g.server && e.seq >= g.seq);
      const isOwn = (g: MariadbGtid) => g.server === h.serverId && !coveredAbove(g);
      const fmt = (g: MariadbGtid) => `${g.domain}-${g.server}-${g.seq}`;
      references.push({
        label,
        gtids: entries
          .filter((g) => !isOwn(g))
          .map(fmt)
          .join(','),
      });
      const own = entries.filter(isOwn).map(fmt);
      if (own.length) intermediate.push(writes(own.join(',')));
    }
  }
  return { references, intermediate };
}

/**
 * The errant check with the chain up to the primary: `base` (DM's position,
 * the relay's, the old instance) and what `chainReferences` takes from each
 * hop. A GTID that only an intermediate server has is errant, and said to be
 * written there.
 */
export function findErrantInChain(
  flavor: Flavor,
  target: ErrantTarget,
  base: TopologyReading[],
  hops: ChainHop[],
): ErrantResult {
  const chain = chainReferences(flavor, hops, target.writablePrimaryElsewhere ?? null);
  const r = findErrant(flavor, target, [...base, ...chain.references]);
  if (chain.intermediate.length === 0 || r.findings.length === 0) return r;
  const origin = (w: IntermediateWrites) => {
    const id = flavor === 'mysql' ? `server_uuid ${w.serverUuid}` : `server_id ${w.serverId}`;
    const above = w.above.length
      ? `${w.above.join(', ')} above it ${w.above.length > 1 ? 'do' : 'does'} not have them`
      : 'no server above it could be read to have them';
    return (
      `written on ${w.hop} itself (${id}), a replica between the new instance and the primary: ${above}; ` +
      'a local write on an intermediate replica reached the new instance through its replication'
    );
  };
  const findings = r.findings.flatMap((f): ErrantFinding[] => {
    if (flavor === 'mysql') {
      const set = MysqlGtidSet.parse(f.gtids);
      const w = chain.intermediate.find((x) => !set.ofUuid(x.serverUuid).isEmpty());
      return [w ? { gtids: f.gtids, origin: origin(w) } : f];
    }
    const server = Number(f.gtids.split('-')[1]);
    const w = chain.intermediate.find((x) => x.serverId === server && x.gtids.split(',').includes(f.gtids));
    return [w ? { gtids: f.gtids, origin: origin(w) } : f];
  });
  return { ...r, findings };
}
