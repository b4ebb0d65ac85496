/**
 * Where a credential may be sent. Each credential reference of the worker's
 * configuration lists its hosts: names (`db-a.prod`), name suffixes
 * (`*.prod`), addresses and CIDRs. A request, an alert or a server's report
 * about itself (its replicas, its own source) can name any host; the worker
 * sends a password only to one its credential is bound to, and checks that
 * before it opens a connection.
 *
 * A name matches a name pattern as written. A name that only address
 * patterns could match is resolved here, and the connection then goes to a
 * resolved address that matched (never resolved again by the driver, so an
 * answer that changes between the check and the connection cannot move it).
 */
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { normalizeAddress } from '../common/switch/addresses.js';
import { isHostName } from '../common/switch/hosts.js';

/** What is wrong with a pattern of `credentials.<ref>.hosts`, or null. */
export function hostPatternProblem(p: string): string | null {
  if (p.includes('/')) {
    const [address, bits, ...rest] = p.split('/');
    const family = isIP(address ?? '');
    const max = family === 4 ? 32 : 128;
    if (rest.length || family === 0 || !/^\d{1,3}$/.test(bits ?? '') || Number(bits) > max) {
      return 'not a CIDR (give address/prefix, e.g. 10.0.3.0/24 or fd00::/64)';
    }
    return null;
  }
  if (isIP(p)) return null;
  const name = p.startsWith('*.') ? p.slice(2) : p;
  if (!isHostName(name)) return 'not a host name, *.domain, address or CIDR';
  return null;
}

export type BindingCheck = { ok: true; connectTo: string } | { ok: false; why: string };

export type Resolve = (name: string) => Promise<string[]>;

const systemResolve: Resolve = async (name) =>
  (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);

export class HostBinding {
  private readonly names = new Set<string>();
  private readonly suffixes: string[] = [];
  private readonly addresses = new BlockList();
  private hasAddresses = false;

  constructor(
    readonly patterns: readonly string[],
    private readonly resolve: Resolve = systemResolve,
  ) {
    for (const p of patterns) {
      const problem = hostPatternProblem(p);
      if (problem) throw new Error(`host pattern ${JSON.stringify(p)}: ${problem}`);
      if (p.includes('/')) {
        const [address, bits] = p.split('/') as [string, string];
        this.addresses.addSubnet(address, Number(bits), isIP(address) === 4 ? 'ipv4' : 'ipv6');
        this.hasAddresses = true;
      } else if (isIP(p)) {
        this.addresses.addAddress(normalizeAddress(p), isIP(p) === 4 ? 'ipv4' : 'ipv6');
        this.hasAddresses = true;
      } else if (p.startsWith('*.')) {
        this.suffixes.push(p.slice(1).toLowerCase());
      } else {
        this.names.add(p.toLowerCase().replace(/\.$/, ''));
      }
    }
  }

  private addressAllowed(address: string): boolean {
    const a = normalizeAddress(address);
    const family = isIP(a);
    return family !== 0 && this.addresses.check(a, family === 4 ? 'ipv4' : 'ipv6');
  }

  /** Whether `host` (a name or an address) may receive the credential, and the address or name to connect to. */
  async check(host: string): Promise<BindingCheck> {
    const h = normalizeAddress(host.trim());
    const listed = `[${this.patterns.join(', ')}]`;
    if (h === '' || h.startsWith('-'))
      return { ok: false, why: `${JSON.stringify(host)} is not a host name or address` };
    if (isIP(h)) {
      return this.addressAllowed(h) ? { ok: true, connectTo: h } : { ok: false, why: `${h} is not in ${listed}` };
    }
    if (!isHostName(h)) return { ok: false, why: `${JSON.stringify(host)} is not a host name or address` };
    const name = h.replace(/\.$/, '');
    if (this.names.has(name) || this.suffixes.some((s) => name.endsWith(s) && name.length > s.length)) {
      return { ok: true, connectTo: name };
    }
    if (!this.hasAddresses) return { ok: false, why: `${name} is not in ${listed}` };
    let resolved: string[];
    try {
      resolved = await this.resolve(name);
    } catch (e) {
      return {
        ok: false,
        why: `${name} is not in ${listed} by name, and it does not resolve (${(e as Error).message})`,
      };
    }
    const inside = resolved.find((a) => this.addressAllowed(a));
    if (inside === undefined)
      return { ok: false, why: `${name} resolves to ${resolved.join(', ') || 'nothing'}, none in ${listed}` };
    return { ok: true, connectTo: normalizeAddress(inside) };
  }
}
