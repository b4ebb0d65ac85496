/**
 * A VIP lab: a few "hosts" (network namespaces) on one bridge, and a virtual
 * IP that moves between them the way keepalived moves it (address off the
 * old holder, onto the new one, gratuitous ARP). The test process stays in
 * the root namespace and reaches every host, and the VIP, through the bridge.
 *
 *   const lab = await startVipLab({ hosts: 2 });
 *   const db = await startDb({ netns: lab.hosts[0].netns, host: lab.hosts[0].address, bindAddress: '0.0.0.0', port: 3306 });
 *   await lab.assign(0);                                   // VIP on host 1
 *   await lab.provider().move(lab.vip, { host: lab.hosts[0].address, port: 3306 }, { host: lab.hosts[1].address, port: 3306 });
 *   await lab.destroy();
 *
 * Addresses: only TEST-NET-2 (198.51.100.0/24, RFC 5737), never anything
 * routable. Lab k (1..14, one per concurrent lab, taken with an atomic
 * lock directory under /run/dm-switch-vip-labs) owns 198.51.100.16k/28:
 *   bridge dswbr<k> (root namespace)  198.51.100.(16k+1)/28
 *   host i: netns dsw<k>h<i>, veth dsw<k>v<i> (root, on the bridge) ⇄ eth0 (inside)
 *                                    198.51.100.(16k+1+i)/28, i = 1..12
 *   VIP                              198.51.100.(16k+14)/32
 * Nothing is created if any address or route of this machine already
 * overlaps the lab's /28. The namespaces have no default route, so no lab
 * traffic can leave the bridge.
 *
 * Every object is named dsw<k>…, so tearing a lab down is "delete everything
 * named dsw<k>…", which is safe twice, after a partial start, and for the
 * leftovers of a test process that died holding lab k (its lock is reclaimed
 * once its pid is gone). Needs root, iproute2 and arping (iputils-arping).
 */
import { execa } from 'execa';
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommandVipProvider } from '../../activities/vip-command.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const LOCATE_SCRIPT = join(repoRoot, 'test/vip-lab/vip-locate.sh');
const MOVE_SCRIPT = join(repoRoot, 'test/vip-lab/vip-move.sh');
const CHECK_SCRIPT = join(repoRoot, 'test/vip-lab/vip-check.sh');
const LOCK_ROOT = '/run/dm-switch-vip-labs';
const NET = '198.51.100';
const MAX_LABS = 14;
const MAX_HOSTS = 12;
/** A lock directory without an owner file older than this belongs to a process that died while taking it. */
const ORPHAN_LOCK_MS = 60_000;

export interface LabHost {
  /** h1, h2, … */
  name: string;
  netns: string;
  /** The host's own address on the lab bridge. */
  address: string;
  /** MAC address of the host's eth0. */
  mac: string;
}

export interface VipLab {
  /** 1..14: which /28 of 198.51.100.0/24 this lab owns. */
  index: number;
  /** The lab's /28, e.g. 198.51.100.16/28. */
  subnet: string;
  bridge: string;
  /** The bridge's address: the root namespace's address in the lab. */
  gateway: string;
  vip: string;
  hosts: LabHost[];
  /** argv of the locate / move commands (CommandVipProvider's contract); they need `env`. */
  locateCommand: string[];
  moveCommand: string[];
  /** Says whether the VIP could go to a host (a host of this lab). */
  checkCommand: string[];
  env: Record<string, string>;
  /** A CommandVipProvider that runs this lab's locate and move commands. */
  provider(options?: { timeoutMs?: number }): CommandVipProvider;
  /** Puts the VIP on a host (index into `hosts`, or the host) with the move command, taking it off any other. */
  assign(host: number | LabHost): Promise<void>;
  /** Deletes every namespace, veth and bridge of the lab and releases its index. Safe to call twice. */
  destroy(): Promise<void>;
}

export interface VipLabOptions {
  /** How many hosts (1..12). Default 2. */
  hosts?: number;
}

const live = new Set<number>();
let exitHookInstalled = false;

export async function startVipLab(options: VipLabOptions = {}): Promise<VipLab> {
  const count = options.hosts ?? 2;
  if (!Number.isInteger(count) || count < 1 || count > MAX_HOSTS)
    throw new Error(`a VIP lab has 1..${MAX_HOSTS} hosts, not ${count}`);
  if (process.getuid?.() !== 0) throw new Error('a VIP lab needs root (network namespaces, bridges and veths)');
  const ipVersion = await execa('ip', ['-V'], { reject: false });
  if (ipVersion.exitCode !== 0)
    throw new Error('a VIP lab needs `ip` (Debian package iproute2); scripts/setup.sh installs it');
  const arping = await execa('arping', ['-V'], { reject: false, all: true });
  if (arping.exitCode === undefined || !/iputils/.test(arping.all ?? '')) {
    throw new Error("a VIP lab needs iputils' `arping` (Debian package iputils-arping); scripts/setup.sh installs it");
  }

  const k = await acquireIndex();
  installExitHook();
  live.add(k);
  const base = 16 * k;
  const hosts: LabHost[] = [];
  try {
    await removeLabObjects(k); // leftovers of a test process that died holding lab k (it is ours now)
    await assertSubnetFree(`${NET}.${base}`, 28);

    const bridge = `dswbr${k}`;
    await ip('link', 'add', bridge, 'type', 'bridge');
    await ip('addr', 'add', `${NET}.${base + 1}/28`, 'dev', bridge);
    await ip('link', 'set', bridge, 'up');
    for (let i = 1; i <= count; i++) {
      const netns = `dsw${k}h${i}`;
      const veth = `dsw${k}v${i}`;
      const address = `${NET}.${base + 1 + i}`;
      await ip('netns', 'add', netns);
      await ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
      await ip('link', 'set', veth, 'master', bridge);
      await ip('link', 'set', veth, 'up');
      await ip('-n', netns, 'link', 'set', 'lo', 'up');
      await ip('-n', netns, 'addr', 'add', `${address}/28`, 'dev', 'eth0');
      await ip('-n', netns, 'link', 'set', 'eth0', 'up');
      const link = JSON.parse(await ip('-n', netns, '-j', 'link', 'show', 'eth0')) as Array<{ address: string }>;
      hosts.push({ name: `h${i}`, netns, address, mac: link[0]!.address });
    }
    await waitReachable(k, hosts);
  } catch (e) {
    await destroyIndex(k).catch(() => undefined);
    throw e;
  }

  const vip = `${NET}.${base + 14}`;
  const env = { DSW_LAB_VIP: vip, DSW_LAB_HOSTS: hosts.map((h) => `${h.netns}=${h.address}`).join(' ') };
  const locateCommand = ['bash', LOCATE_SCRIPT];
  const moveCommand = ['bash', MOVE_SCRIPT];
  const checkCommand = ['bash', CHECK_SCRIPT];
  const provider = (o: { timeoutMs?: number } = {}) =>
    new CommandVipProvider({
      name: `vip-lab-${k}`,
      locate: locateCommand,
      move: moveCommand,
      check: checkCommand,
      env,
      ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
    });
  let destroyed: Promise<void> | undefined;
  return {
    index: k,
    subnet: `${NET}.${base}/28`,
    bridge: `dswbr${k}`,
    gateway: `${NET}.${base + 1}`,
    vip,
    hosts,
    locateCommand,
    moveCommand,
    checkCommand,
    env,
    provider,
    async assign(host) {
      const h = typeof host === 'number' ? hosts[host] : host;
      if (!h || !hosts.includes(h))
        throw new Error(`no such host in VIP lab ${k}: ${typeof host === 'number' ? host : host.name}`);
      const r = await execa(moveCommand[0]!, [...moveCommand.slice(1), vip, '', h.address], {
        env,
        reject: false,
        timeout: 30_000,
      });
      if (r.exitCode !== 0)
        throw new Error(`assigning VIP ${vip} to ${h.name} (${h.address}) failed (exit ${r.exitCode}): ${r.stderr}`);
    },
    destroy() {
      destroyed ??= destroyIndex(k);
      return destroyed;
    },
  };
}

// ---------------------------------------------------------------------------
// lab index: /run/dm-switch-vip-labs/<k> is held by the process whose pid is in <k>/owner

async function acquireIndex(): Promise<number> {
  await mkdir(LOCK_ROOT, { recursive: true });
  for (let k = 1; k <= MAX_LABS; k++) {
    if (await tryLock(k)) return k;
  }
  // every index taken: reclaim the ones whose owner died, then try again
  for (let k = 1; k <= MAX_LABS; k++) {
    if ((await reclaimIfStale(k)) && (await tryLock(k))) return k;
  }
  throw new Error(`all ${MAX_LABS} VIP lab slots in ${LOCK_ROOT} are held by live processes`);
}

async function tryLock(k: number): Promise<boolean> {
  const dir = join(LOCK_ROOT, String(k));
  try {
    await mkdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  await writeFile(join(dir, 'owner'), `${process.pid}\n`);
  return true;
}

/** Removes lab k's lock if its owner is gone; true if it did. Guarded by <k>.reclaim so that two reclaimers never race. */
async function reclaimIfStale(k: number): Promise<boolean> {
  const dir = join(LOCK_ROOT, String(k));
  const guard = `${dir}.reclaim`;
  try {
    await mkdir(guard);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    const age = await stat(guard).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > ORPHAN_LOCK_MS) await rm(guard, { recursive: true, force: true }); // its reclaimer died; next caller retries
    return false;
  }
  try {
    if (!(await lockIsStale(dir))) return false;
    const trash = `${dir}.stale-${process.pid}`;
    await rename(dir, trash);
    await rm(trash, { recursive: true, force: true });
    return true;
  } finally {
    await rm(guard, { recursive: true, force: true });
  }
}

async function lockIsStale(dir: string): Promise<boolean> {
  let owner: string;
  try {
    owner = (await readFile(join(dir, 'owner'), 'utf8')).trim();
  } catch {
    // being taken right now, or its taker died between mkdir and writing owner
    const age = await stat(dir).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    return age > ORPHAN_LOCK_MS;
  }
  const pid = Number(owner);
  if (!Number.isInteger(pid) || pid <= 0) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const k of live) {
      try {
        removeLabObjectsSync(k);
        rmSync(join(LOCK_ROOT, String(k)), { recursive: true, force: true });
      } catch {
        // best effort: the next lab on index k removes what is left
      }
    }
  });
}

// ---------------------------------------------------------------------------
// safety: the lab's /28 must not touch anything this machine already has

const ROUTE_TYPES = new Set([
  'unicast',
  'local',
  'broadcast',
  'multicast',
  'throw',
  'unreachable',
  'prohibit',
  'blackhole',
  'nat',
  'anycast',
]);

function toInt(addr: string): number {
  const parts = addr.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255))
    throw new Error(`not an IPv4 address: ${addr}`);
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

function parseCidr(text: string): [number, number] {
  const [addr, len] = text.split('/');
  return [toInt(addr!), len === undefined ? 32 : Number(len)];
}

/** Whether two prefixes share any address. */
function overlaps([a, aLen]: [number, number], [b, bLen]: [number, number]): boolean {
  const len = Math.min(aLen, bLen);
  if (len === 0) return true;
  const shift = 32 - len;
  return a >>> shift === b >>> shift;
}

async function assertSubnetFree(network: string, len: number): Promise<void> {
  const subnet = parseCidr(`${network}/${len}`);
  const clashes: string[] = [];
  // addresses: the address itself, and the prefix it brings with it
  for (const line of (await ip('-4', '-o', 'addr')).split('\n')) {
    const m = /\sinet\s+(\d+\.\d+\.\d+\.\d+)(?:\/(\d+))?/.exec(line);
    if (!m) continue;
    if (overlaps(parseCidr(`${m[1]}/${m[2] ?? 32}`), subnet))
      clashes.push(`address: ${line.replace(/\\\s+/g, ' ').trim()}`);
  }
  // routes, in every table, except default routes
  for (const line of (await ip('-4', '-o', 'route', 'show', 'table', 'all')).split('\n')) {
    const words = line.trim().split(/\s+/);
    const dest = ROUTE_TYPES.has(words[0] ?? '') ? words[1] : words[0];
    if (!dest || dest === 'default' || dest === '0.0.0.0/0') continue;
    if (!/^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(dest)) continue;
    if (overlaps(parseCidr(dest), subnet)) clashes.push(`route: ${line.trim()}`);
  }
  if (clashes.length > 0) {
    throw new Error(
      `VIP lab subnet ${network}/${len} is already in use on this machine; created nothing. In the way:\n  ${clashes.join('\n  ')}`,
    );
  }
}

// ---------------------------------------------------------------------------
// objects and teardown

async function ip(...args: string[]): Promise<string> {
  const r = await execa('ip', args, { reject: false, timeout: 15_000 });
  if (r.exitCode !== 0) throw new Error(`ip ${args.join(' ')} failed (exit ${r.exitCode}): ${r.stderr.trim()}`);
  return r.stdout;
}

/** The names of lab k's objects: namespaces dsw<k>h<i>, links dsw<k>v<i> and dswbr<k>. */
function labObjects(k: number, netnsList: string, linkList: string): { netns: string[]; links: string[] } {
  const nsRe = new RegExp(`^dsw${k}h\\d+$`);
  const linkRe = new RegExp(`^(dsw${k}v\\d+|dswbr${k})$`);
  const netns = netnsList
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => nsRe.test(n));
  // `ip -o link`: "12: dsw1v1@if2: <…" → dsw1v1
  const links = linkList
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1] ?? '')
    .filter((n) => linkRe.test(n));
  // veths first (each takes its peer in the namespace with it), the bridge last
  links.sort((a, b) => Number(a.startsWith('dswbr')) - Number(b.startsWith('dswbr')));
  return { netns, links };
}

async function removeLabObjects(k: number): Promise<void> {
  const run = (args: string[]) => execa('ip', args, { reject: false, timeout: 15_000 });
  const { netns, links } = labObjects(
    k,
    (await run(['netns', 'list'])).stdout,
    (await run(['-o', 'link', 'show'])).stdout,
  );
  for (const ns of netns) {
    // anything still running in the lab's namespace (a server a test left behind) was started for the lab
    const pids = (await run(['netns', 'pids', ns])).stdout.split(/\s+/).filter((p) => /^\d+$/.test(p));
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  for (const link of links) await run(['link', 'del', link]);
  for (const ns of netns) await run(['netns', 'del', ns]);
  const left = labObjects(k, (await run(['netns', 'list'])).stdout, (await run(['-o', 'link', 'show'])).stdout);
  if (left.netns.length + left.links.length > 0) {
    throw new Error(`VIP lab ${k}: could not remove ${[...left.netns, ...left.links].join(', ')}`);
  }
}

function removeLabObjectsSync(k: number): void {
  const run = (args: string[]) => spawnSync('ip', args, { encoding: 'utf8', timeout: 15_000 }).stdout ?? '';
  const { netns, links } = labObjects(k, run(['netns', 'list']), run(['-o', 'link', 'show']));
  for (const ns of netns) {
    for (const pid of run(['netns', 'pids', ns])
      .split(/\s+/)
      .filter((p) => /^\d+$/.test(p))) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  for (const link of links) run(['link', 'del', link]);
  for (const ns of netns) run(['netns', 'del', ns]);
}

async function destroyIndex(k: number): Promise<void> {
  await removeLabObjects(k);
  live.delete(k);
  await rm(join(LOCK_ROOT, String(k)), { recursive: true, force: true });
}

/** Waits until every host answers ARP through the bridge, from the root namespace (a new port may need a moment to forward). */
async function waitReachable(k: number, hosts: LabHost[]): Promise<void> {
  for (const h of hosts) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const r = await execa('arping', ['-c', '1', '-w', '1', '-I', `dswbr${k}`, h.address], {
        reject: false,
        timeout: 5_000,
      });
      if (r.exitCode === 0) break;
      if (Date.now() > deadline)
        throw new Error(
          `VIP lab ${k}: ${h.name} (${h.address}) does not answer ARP through dswbr${k}: ${r.stderr || r.stdout}`,
        );
      await new Promise((res) => setTimeout(res, 100));
    }
  }
}
