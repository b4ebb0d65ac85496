/**
 * What may stand where a host goes: in a request, a drain, a VIP, and in the
 * argv of a VIP provider's commands. Pure (the workflows validate with it):
 * an IPv4 or IPv6 address, or a host name of letters, digits, "-" and "_"
 * labels. Nothing that starts with "-" (a command would read it as an
 * option), no spaces, no shell or URL characters.
 */
const LABEL = /^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIpv4(h: string): boolean {
  return IPV4.test(h);
}

/** An IPv6 address (brackets allowed), with an embedded IPv4 tail or not; syntax only. */
export function isIpv6(h: string): boolean {
  const a = h.replace(/^\[(.*)\]$/, '$1');
  if (!/^[0-9A-Fa-f:.]+$/.test(a) || !a.includes(':')) return false;
  const tail = /:(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (tail && !isIpv4(tail[1]!)) return false;
  const hex = tail ? `${a.slice(0, a.length - tail[1]!.length)}0:0` : a;
  const doubles = hex.split('::').length - 1;
  if (doubles > 1) return false;
  const groups = hex
    .split(':')
    .filter(
      (g, i, all) =>
        g !== '' || (doubles === 1 && (i === 0 || i === all.length - 1 || all[i - 1] === '' || all[i + 1] === '')),
    );
  if (groups.some((g) => g !== '' && !/^[0-9A-Fa-f]{1,4}$/.test(g))) return false;
  const count = hex.split(':').filter((g) => g !== '').length;
  return doubles === 1 ? count < 8 : count === 8;
}

export function isHostName(h: string): boolean {
  const name = h.endsWith('.') ? h.slice(0, -1) : h;
  return name.length > 0 && name.length <= 253 && name.split('.').every((l) => LABEL.test(l));
}

/** What is wrong with `h` as a host name or address, or null. */
export function hostSyntaxProblem(h: string): string | null {
  if (h.startsWith('-')) return `${JSON.stringify(h)} starts with "-": give a host name or address`;
  if (isIpv4(h) || isIpv6(h) || isHostName(h)) return null;
  return `${JSON.stringify(h)} is not a host name or an IP address (letters, digits, "-", "_" and "." for a name)`;
}
