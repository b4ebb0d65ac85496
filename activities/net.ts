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

/** Every address a host resolves to (an address resolves to itself); empty when it does not resolve. */
export async function resolveAll(host: string): Promise<string[]> {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (isIP(bare)) return [normalizeAddress(bare)];
  return [...new Set((await lookup(bare, { all: true })).map((a) => normalizeAddress(a.address)))];
}

/**
 * Which of `candidates` `holder` names: the same text, or a name and an
 * address (or two names) that resolve to a common address. Null when none.
 */
export async function matchHost(
  holder: string,
  candidates: string[],
  resolver: (host: string) => Promise<string[]> = resolveAll,
): Promise<string | null> {
  const exact = candidates.find((c) => normalizeAddress(c) === normalizeAddress(holder));
  if (exact !== undefined) return exact;
  const mine = new Set(await resolver(holder).catch(() => [] as string[]));
  if (mine.size === 0) return null;
  for (const c of candidates) {
    const theirs = await resolver(c).catch(() => [] as string[]);
    if (theirs.some((x) => mine.has(x))) return c;
  }
  return null;
}

export type NetActivities = ReturnType<typeof createNetActivities>;
