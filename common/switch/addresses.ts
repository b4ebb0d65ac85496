/**
 * Comparing network addresses as MySQL and the resolver print them. Pure:
 * the workflows use it to match DM's binlog dump connections to its worker.
 */

/** `::ffff:10.0.0.1` → `10.0.0.1`, so IPv4 clients seen over an IPv6 socket compare equal; lower case. */
export function normalizeAddress(address: string): string {
  const bare = address.replace(/^\[(.*)\]$/, '$1');
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  return (m ? m[1]! : bare).toLowerCase();
}

/**
 * Whether a connection MySQL saw come from `c` is one of `owners`' (normalized addresses): the dm-worker's, for a
 * binlog dump. With `worker` (the dm-worker's name): also only while the instance lists a replica registered under
 * that name. DM's syncer registers as a replica with the dm-worker's name as its host (cut to 60 characters,
 * MySQL's limit), and a dm-worker serves one source: several dm-workers on one machine share an address, not a
 * name. (DM's relay registers under the machine's hostname: see below.) A connection read without the
 * instance's registered replicas (`replicaHosts` absent, e.g. no privilege for SHOW REPLICAS) is judged by its
 * address alone.
 */
export function ownsConnection(
  owners: readonly string[],
  c: { clientAddress: string; clientAddresses?: string[]; replicaHosts?: string[] },
  worker?: string,
): boolean {
  const fromOwner = [c.clientAddress, ...(c.clientAddresses ?? [])].some((x) => owners.includes(normalizeAddress(x)));
  if (!fromOwner || worker === undefined || c.replicaHosts === undefined) return fromOwner;
  // DM's relay registers as `dm-relay-<the machine's hostname>`, the same for every dm-worker of a machine: while
  // one is listed, a dump from the worker's address may be its relay, told apart by the address alone
  return c.replicaHosts.includes(replicaHostOf(worker)) || c.replicaHosts.some((h) => h.startsWith(RELAY_PREFIX));
}

/** What DM's relay unit registers as on MySQL: `dm-relay-` and the dm-worker machine's hostname (dm/relay/relay.go). */
const RELAY_PREFIX = 'dm-relay-';

/** The host a dm-worker's binlog readers register under on MySQL: its name, cut to 60 characters as DM does. */
export function replicaHostOf(worker: string): string {
  return worker.slice(0, 60);
}

/** PROCESSLIST.HOST `10.0.0.5:53211` → `10.0.0.5`; `[::1]:5` → `::1`; a bare name or address stays as it is. */
export function clientAddress(host: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  if (v6) return normalizeAddress(v6[1]!);
  const m = /^(.*):(\d+)$/.exec(host);
  return normalizeAddress(m && !m[1]!.includes(':') ? m[1]! : host);
}
