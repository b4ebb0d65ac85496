/**
 * Free loopback ports for the sandbox's servers.
 *
 * A port the kernel hands out for `listen(0)` comes from the ephemeral range,
 * the same range it uses for every outgoing connection's local port and for
 * the ports a Temporal dev server picks for its own internal services. Between
 * our check and the server's bind, any of those may take it: CI once saw a dev
 * server die with "bind: address already in use" on such a port while other
 * test files ran in parallel. So ports are picked at random *below* the
 * ephemeral range, where nothing else on the machine allocates, and each is
 * checked bindable before it is handed out (and never twice by one process).
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

const FLOOR = 20_000;
const handedOut = new Set<number>();

function ephemeralLow(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && Number.isInteger(low) && low > FLOOR + 1000) return low;
  } catch {
    // not Linux: fall back to IANA's dynamic range start
  }
  return 49_152;
}

const CEILING = ephemeralLow();

function bindable(port: number): Promise<boolean> {
  return new Promise((resolveBindable) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolveBindable(false));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => srv.close(() => resolveBindable(true)));
  });
}

/** A free TCP port on 127.0.0.1, below the kernel's ephemeral range. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = FLOOR + Math.floor(Math.random() * (CEILING - FLOOR));
    if (handedOut.has(port)) continue;
    // reserved before the check, so that concurrent calls never pick one port twice (a port found taken stays out)
    handedOut.add(port);
    if (await bindable(port)) return port;
  }
  throw new Error(`no free port on 127.0.0.1 between ${FLOOR} and ${CEILING} after 200 tries`);
}
