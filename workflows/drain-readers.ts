/**
 * Who reads a host: every DM source of the clusters searched whose source config names the host (under any name
 * that resolves to it), or a VIP the host holds now. Read when a drain starts, and again at its end.
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import { normalizeAddress } from '../common/switch/addresses.js';
import type { HostSource } from '../common/switch/drain.js';
import { switchWorkflowId } from '../common/switch/ids.js';
import { dm, net, vip } from './activities.js';
import { describe } from './compensation.js';
import type { HostRecord } from './drain-record.js';

export type VipRef = { address: string; provider: string };

/** A source reading the host. */
export interface Reader {
  source: HostSource;
  vip?: VipRef;
  /** Reads a VIP whose holder nobody could tell. */
  uncertain?: true;
}

/**
 * Every source of the clusters that reads host:port: by its source config's
 * address (the same host, under any name that resolves to it), or through
 * one of `vips` that the host holds now.
 */
export async function readers(
  h: HostRecord,
  host: string,
  port: number,
  dmClusters: string[] | undefined,
  vips: VipRef[],
): Promise<Reader[]> {
  const clusters = dmClusters ?? (await dm.dmClusters());
  const lists = await Promise.all(
    clusters.map(async (dmCluster) => ({ dmCluster, sources: await dm.dmListSources({ dmCluster }) })),
  );
  const names = [
    ...new Set([host, ...vips.map((v) => v.address), ...lists.flatMap((l) => l.sources.map((s) => s.from.host))]),
  ];
  const resolved = await net.netResolveHosts({ hosts: names });
  const addresses = (name: string) =>
    new Set([normalizeAddress(name), ...(resolved[name] ?? []).map(normalizeAddress)]);
  const same = (a: string, b: string) => {
    const bs = addresses(b);
    return [...addresses(a)].some((x) => bs.has(x));
  };
  // which VIPs the host holds now
  // true: the host holds it; null: the provider could not say (never taken for "not on the host")
  const held = new Map<string, boolean | null>();
  for (const v of vips) {
    try {
      const holder = await vip.vipLocate({ provider: v.provider, address: v.address, candidates: [{ host, port }] });
      held.set(v.address, holder !== null && same(holder, host));
    } catch (e) {
      // an unknown provider is the request's mistake: the drain ends with it
      if (e instanceof ActivityFailure && e.cause instanceof ApplicationFailure && e.cause.type === 'InvalidInput')
        throw e;
      held.set(v.address, null);
      h.decide(
        'warn',
        `could not tell who holds VIP ${v.address} (provider "${v.provider}"): ` +
          `${describe(e)}; a source reading it is taken as still reading ${host}, and not as back on it`,
      );
    }
  }
  const out: Reader[] = [];
  for (const { dmCluster, sources } of lists) {
    for (const s of sources) {
      const base = {
        dmCluster,
        sourceId: s.sourceId,
        workflowId: switchWorkflowId(dmCluster, s.sourceId),
        plan: 'switch' as const,
        reasons: [] as string[],
      };
      if (s.from.port === port && same(s.from.host, host)) {
        out.push({ source: { ...base, procedure: 'address', reads: `${s.from.host}:${s.from.port}` } });
        continue;
      }
      const v = vips.find((x) => same(s.from.host, x.address));
      if (v && s.from.port === port && held.get(v.address) !== false) {
        const unknown = held.get(v.address) === null;
        out.push({
          source: {
            ...base,
            procedure: 'vip',
            reads: `VIP ${v.address} (${unknown ? 'holder unknown' : 'held by ' + host})`,
            vip: v,
          },
          vip: v,
          ...(unknown ? { uncertain: true } : {}),
        });
      }
    }
  }
  if (h.status.phase === 'finding') {
    const holding = (v: VipRef) => {
      const on = held.get(v.address);
      return `${v.address} (${on === null ? 'holder unknown' : on ? 'held by the host' : 'not on the host'})`;
    };
    const searchedVips = vips.length ? ` and VIP(s) ${vips.map(holding).join(', ')}` : '';
    h.decide('info', `searched DM cluster(s) ${clusters.join(', ')}${searchedVips}`);
  }
  return out;
}
