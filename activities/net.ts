/**
 * Name resolution, for comparing what DM connects to with what a switch
 * moves: a source's `from.host` against the VIP, a dm-worker's advertised
 * host against the client address of a binlog dump connection.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { normalizeAddress } from '../common/switch/addresses.js';

export function createNetActivities(resolver: (host: string) => Promise<string[]> = resolveAll) {
  return {
    /** Every address each host resolves to (an address resolves to itself); an empty list when it does not resolve. */
    async netResolveHosts(req: { hosts: string[] }): Promise<Record<string, string[]>> {
      const out: Record<string, string[]> = {};
      await Promise.all(
        [...new Set(req.hosts)].map(async (h) => {
          out[h] = await resolver(h).catch(() => []);
        }),
      );
      return out;
    },
  };
}

async function resolveAll(host: string): Promise<string[]> {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare)) return [normalizeAddress(bare)];
  return [...new Set((await lookup(bare, { all: true })).map((a) => normalizeAddress(a.address)))];
}

export type NetActivities = ReturnType<typeof createNetActivities>;
