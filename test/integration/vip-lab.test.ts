/**
 * A real VIP move: two MySQL 9.7 servers, each on its own "host" (a network
 * namespace of a VIP lab), and the VIP moved from one to the other by the
 * real CommandVipProvider running the lab's keepalived-style scripts
 * (address off, address on, gratuitous ARP). Clients in the root namespace
 * follow the VIP without any change on their side.
 */
import { execa } from 'execa';
import mysql from 'mysql2/promise';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VipTarget } from '../../activities/vip.js';
import { startDb, type DbInstance } from '../sandbox/db.js';
import { startVipLab, type VipLab } from '../sandbox/vip-lab.js';

let lab: VipLab | undefined;
const dbs: DbInstance[] = [];

beforeAll(async () => {
  lab = await startVipLab({ hosts: 2 });
  const started = await Promise.allSettled(
    lab.hosts.map((h, i) =>
      startDb({
        name: `vip-lab-${lab!.index}-${h.name}`,
        netns: h.netns,
        host: h.address,
        bindAddress: '0.0.0.0',
        port: 3306,
        serverId: 100 * lab!.index + i + 1,
      }),
    ),
  );
  for (const s of started) if (s.status === 'fulfilled') dbs.push(s.value);
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  await lab.assign(0);
}, 180_000);

afterAll(async () => {
  await Promise.allSettled(dbs.map((d) => d.destroy()));
  await lab?.destroy();
});

/** @@server_uuid as seen through a new connection to host:3306 (never a pooled one). */
async function serverUuidAt(host: string): Promise<string> {
  const c = await mysql.createConnection({ host, port: 3306, user: 'root', password: '', connectTimeout: 5_000 });
  try {
    const [rows] = await c.query('SELECT @@server_uuid AS u');
    return String((rows as Array<{ u: string }>)[0]!.u);
  } finally {
    await c.end();
  }
}

/** The root namespace's neighbour entry for an address: its MAC (or null) and state. */
async function neighbour(address: string): Promise<{ mac: string | null; line: string }> {
  const line = (await execa('ip', ['neigh', 'show', address])).stdout.trim();
  return { mac: /lladdr\s+([0-9a-f:]+)/i.exec(line)?.[1]?.toLowerCase() ?? null, line };
}

describe('VIP lab: moving a VIP between two real MySQL hosts', () => {
  it('given the VIP on host 1, should move it to host 2 so that new connections and the ARP cache follow, and a second move is a no-op', async () => {
    const l = lab!;
    const [h1, h2] = l.hosts as [VipLab['hosts'][0], VipLab['hosts'][0]];
    const [db1, db2] = dbs as [DbInstance, DbInstance];
    const t1: VipTarget = { host: h1.address, port: 3306 };
    const t2: VipTarget = { host: h2.address, port: 3306 };
    const uuid1 = await db1.variable('server_uuid');
    const uuid2 = await db2.variable('server_uuid');
    expect(uuid1).not.toBe(uuid2);
    // opening the servers to the lab (root@'%') spent no GTID
    expect(await db1.variable('gtid_executed')).toBe('');
    expect(await db2.variable('gtid_executed')).toBe('');

    const provider = l.provider();
    expect(await provider.locate(l.vip, [t1, t2])).toBe(h1.address);
    expect(await serverUuidAt(l.vip)).toBe(uuid1);
    // the root namespace learnt the VIP's MAC by resolving it: host 1's
    expect((await neighbour(l.vip)).mac).toBe(h1.mac.toLowerCase());

    const t0 = Date.now();
    expect(await provider.move(l.vip, t1, t2)).toEqual({ alreadyThere: false, holder: h2.address });
    const moveMs = Date.now() - t0;

    // before any new traffic: the gratuitous ARP alone re-pointed the cache at host 2
    const after = await neighbour(l.vip);
    console.log(`[vip-lab] move ${h1.address} → ${h2.address} took ${moveMs} ms; neighbour entry now: ${after.line}`);
    expect(after.mac).toBe(h2.mac.toLowerCase());

    expect(await serverUuidAt(l.vip)).toBe(uuid2);
    expect(await provider.locate(l.vip, [t1, t2])).toBe(h2.address);
    // host 1 no longer holds the VIP
    expect((await execa('ip', ['-n', h1.netns, '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout).not.toContain(
      `${l.vip}/32`,
    );

    expect(await provider.move(l.vip, t1, t2)).toEqual({ alreadyThere: true, holder: h2.address });
    expect(await serverUuidAt(l.vip)).toBe(uuid2);
  });

  it('given the lab is destroyed (twice), should leave no namespace, link or lock of it behind', async () => {
    const l = lab!;
    await Promise.allSettled(dbs.map((d) => d.destroy()));
    await l.destroy();
    await l.destroy();
    const names = new RegExp(`^(dsw${l.index}h\\d+|dsw${l.index}v\\d+|dswbr${l.index})(@|$)`);
    const netns = (await execa('ip', ['netns', 'list'])).stdout.split('\n').map((s) => s.trim().split(/\s+/)[0] ?? '');
    const links = (await execa('ip', ['-o', 'link', 'show'])).stdout
      .split('\n')
      .map((s) => /^\d+:\s+(\S+?):/.exec(s)?.[1] ?? '');
    expect(netns.filter((n) => names.test(n))).toEqual([]);
    expect(links.filter((n) => names.test(n))).toEqual([]);
    expect((await execa('ip', ['-4', 'route'])).stdout).not.toContain(l.subnet);
    expect(existsSync(`/run/dm-switch-vip-labs/${l.index}`)).toBe(false);
  });
});
