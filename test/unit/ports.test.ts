import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../sandbox/ports.js';

describe('sandbox freePort', () => {
  it('given many calls, should hand out distinct bindable ports below the kernel ephemeral range', async () => {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    const ports = await Promise.all(Array.from({ length: 50 }, () => freePort()));
    expect(new Set(ports).size).toBe(50);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(20_000);
      expect(port).toBeLessThan(low);
    }
    // each one really binds
    const servers = await Promise.all(
      ports.slice(0, 5).map(
        (port) =>
          new Promise<ReturnType<typeof createServer>>((res, rej) => {
            const srv = createServer();
            srv.once('error', rej);
            srv.listen(port, '127.0.0.1', () => res(srv));
          }),
      ),
    );
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });
});
