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
 * binlog dump. With `serverId` (the DM source's `server-id`): also only when the instance lists a replica registered
 * under it, as DM's binlog readers register (several dm-workers on one machine share its address, not a server id).
 * A connection read without the instance's registered replicas (`replicaServerIds` absent) is judged by address.
 */
export function ownsConnection(
  owners: readonly string[],
  c: { clientAddress: string; clientAddresses?: string[]; replicaServerIds?: number[] },
  serverId?: number,
): boolean {
  const fromOwner = [c.clientAddress, ...(c.clientAddresses ?? [])].some((x) => owners.includes(normalizeAddress(x)));
  return fromOwner && (serverId === undefined || c.replicaServerIds === undefined || c.replicaServerIds.includes(serverId));
}

/** PROCESSLIST.HOST `10.0.0.5:53211` → `10.0.0.5`; `[::1]:5` → `::1`; a bare name or address stays as it is. */
export function clientAddress(host: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  if (v6) return normalizeAddress(v6[1]!);
  const m = /^(.*):(\d+)$/.exec(host);
  return normalizeAddress(m && !m[1]!.includes(':') ? m[1]! : host);
}
