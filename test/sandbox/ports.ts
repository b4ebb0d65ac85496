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
 *
 * Test files run in parallel processes, each picking ports for servers that
 * bind them seconds later: two could pick one port in that window (seen: a
 * stack's MySQL client reached another file's TiDB on it). So each port is
 * also claimed across processes, by a file created exclusively in a shared
 * directory, holding the claimer's pid; a claim whose process is gone is
 * taken over, and a process removes its claims when it exits.
 */
import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

const claims = join(process.env.DM_SWITCH_PORT_CLAIMS ?? join(tmpdir(), 'dm-switch-port-claims'));
const mine: string[] = [];
let cleanupInstalled = false;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Claims `port` for this process unless a live process holds it. */
function claim(port: number): boolean {
  mkdirSync(claims, { recursive: true });
  const path = join(claims, String(port));
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      mine.push(path);
      if (!cleanupInstalled) {
        cleanupInstalled = true;
        process.once('exit', () => {
          for (const p of mine) rmSync(p, { force: true });
        });
      }
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number(readFileSync(path, 'utf8').trim());
      // empty: its claimer is writing its pid right now
      if (!Number.isInteger(holder) || holder <= 0 || alive(holder)) return false;
      rmSync(path, { force: true }); // its process is gone: take it over
    }
  }
  return false;
}

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
    if (claim(port) && (await bindable(port))) return port;
  }
  throw new Error(`no free port on 127.0.0.1 between ${FLOOR} and ${CEILING} after 200 tries`);
}
