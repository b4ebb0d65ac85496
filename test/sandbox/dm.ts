/**
 * A real DM cluster for tests: one dm-master and any number of dm-workers on
 * free loopback ports, from the binaries scripts/build-dm.sh builds (cached),
 * and a `dmctl` runner that returns its parsed JSON.
 *
 *   const dm = await startDm({ workers: 1 });
 *   await dm.ctl(['operate-source', 'create', file]);
 *   await dm.destroy();
 */
import { execa, type ResultPromise } from 'execa';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDmctlOutput, type DmctlJson } from '../../activities/dm/parse.js';
import { freePort } from './ports.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const binDirs = new Map<boolean, Promise<string>>();

/**
 * Directory holding dm-master, dm-worker and dmctl (and tidb-server with
 * `withTidb`), building them on first use: long, once, then cached.
 */
export function dmBinDir(options: { withTidb?: boolean } = {}): Promise<string> {
  const withTidb = options.withTidb ?? false;
  const override = process.env.DM_SWITCH_DM_BIN;
  let dir = binDirs.get(withTidb);
  if (dir === undefined) {
    dir = override
      ? Promise.resolve(override)
      : execa('bash', [join(repoRoot, 'scripts/build-dm.sh'), ...(withTidb ? ['--with-tidb'] : [])], {
          stderr: 'inherit',
        }).then((r) => r.stdout.trim());
    binDirs.set(withTidb, dir);
  }
  return dir;
}

class Daemon {
  proc: ResultPromise | undefined;
  constructor(
    readonly name: string,
    readonly file: string,
    readonly args: string[],
    readonly logFile: string,
    /** Working directory: where a dm-worker keeps relay logs (relay-dir is relative to it). */
    readonly cwd?: string,
  ) {}
  start(): void {
    if (this.proc) throw new Error(`${this.name} is already running`);
    const proc = execa(this.file, this.args, {
      cwd: this.cwd,
      stdin: 'ignore',
      stdout: { file: `${this.logFile}.out`, append: true },
      stderr: { file: `${this.logFile}.out`, append: true },
      reject: false,
      cleanup: true,
    });
    this.proc = proc;
    void proc.then(() => {
      if (this.proc === proc) this.proc = undefined;
    });
  }
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    proc.kill(signal);
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    await proc;
    clearTimeout(timer);
  }
  async tail(lines = 20): Promise<string> {
    const read = async (f: string) =>
      (await readFile(f, 'utf8').catch(() => '')).trim().split('\n').slice(-lines).join('\n');
    return `${await read(this.logFile)}\n${await read(`${this.logFile}.out`)}`;
  }
}

export interface DmOptions {
  workers?: number;
  /**
   * The address the dm-workers listen on and advertise (default 127.0.0.1):
   * in a VIP lab, the lab's gateway, the address the upstream MySQL servers
   * see DM connect from, as a real dm-worker advertises its own host.
   */
  workerHost?: string;
  /**
   * Each dm-worker on a host of its own: worker i runs in network namespace
   * netns[i] and listens on and advertises its address there, so MySQL sees
   * each dm-worker connect from its own address, as in production where
   * dm-workers run on different machines. dm-master then listens on
   * `masterHost` (a VIP lab's gateway, reachable from the namespaces).
   */
  netns?: Array<{ netns: string; address: string }>;
  masterHost?: string;
}

export class DmCluster {
  readonly workers: Daemon[] = [];
  master!: Daemon;

  constructor(
    readonly bin: string,
    readonly dir: string,
    readonly masterPort: number,
    readonly masterHost = '127.0.0.1',
  ) {}

  get masterAddr(): string {
    return `${this.masterHost}:${this.masterPort}`;
  }
  get dmctlPath(): string {
    return join(this.bin, 'dmctl');
  }

  /** Runs dmctl against this cluster; returns the parsed JSON it prints (dmctl exits 0 even when an operation fails). */
  async ctl(args: string[], options: { timeoutMs?: number } = {}): Promise<DmctlJson> {
    const r = await execa(this.dmctlPath, [`--master-addr=${this.masterAddr}`, ...args], {
      reject: false,
      timeout: options.timeoutMs ?? 60_000,
    });
    return parseDmctlOutput(r.stdout, r.stderr, r.exitCode);
  }

  /** Writes a file into the cluster's directory (source and task configs). */
  async file(name: string, content: string): Promise<string> {
    const path = join(this.dir, 'configs', name);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content, { mode: 0o600 });
    return path;
  }

  async waitReady(timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    for (;;) {
      const r = await this.ctl(['list-member', '--worker'], { timeoutMs: 10_000 }).catch(
        (e: unknown) => ({ result: false, msg: String(e) }) as DmctlJson,
      );
      last = JSON.stringify(r);
      const workers =
        (r.members as Array<{ worker?: { workers?: Array<{ stage: string }> } }> | undefined)?.flatMap(
          (m) => m.worker?.workers ?? [],
        ) ?? [];
      if (r.result === true && workers.length === this.workers.length && workers.every((w) => w.stage !== 'offline'))
        return;
      if (Date.now() > deadline) {
        throw new Error(
          `DM cluster not ready in ${timeoutMs} ms; last list-member: ${last}\nmaster log:\n${await this.master.tail()}`,
        );
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  async destroy(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.stop()));
    await this.master.stop();
    // DM_SWITCH_KEEP_DM=<dir>: keep the cluster's logs and relay directories there, to read after a failing run
    const keep = process.env.DM_SWITCH_KEEP_DM;
    if (keep) await cp(this.dir, join(keep, basename(this.dir)), { recursive: true }).catch(() => undefined);
    await rm(this.dir, { recursive: true, force: true });
  }
}

export type { DmctlJson };

export async function startDm(options: DmOptions = {}): Promise<DmCluster> {
  const bin = await dmBinDir();
  const dir = await mkdtemp(join(process.env.DM_SWITCH_SANDBOX_DIR ?? tmpdir(), 'dm-switch-dm-'));
  const [masterPort, peerPort] = [await freePort(), await freePort()];
  const masterHost = options.masterHost ?? '127.0.0.1';
  if (options.netns && options.netns.length < (options.workers ?? 1))
    throw new Error(`startDm: ${options.workers ?? 1} workers but ${options.netns.length} network namespaces`);
  const cluster = new DmCluster(bin, dir, masterPort, masterHost);
  cluster.master = new Daemon(
    'dm-master',
    join(bin, 'dm-master'),
    [
      '--name=master1',
      `--master-addr=${masterHost}:${masterPort}`,
      `--advertise-addr=${masterHost}:${masterPort}`,
      `--peer-urls=http://127.0.0.1:${peerPort}`,
      `--advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=master1=http://127.0.0.1:${peerPort}`,
      `--data-dir=${join(dir, 'master')}`,
      `--log-file=${join(dir, 'master.log')}`,
    ],
    join(dir, 'master.log'),
  );
  cluster.master.start();
  for (let i = 1; i <= (options.workers ?? 1); i++) {
    const port = await freePort();
    await mkdir(join(dir, `worker${i}`), { recursive: true });
    const ns = options.netns?.[i - 1];
    const host = ns?.address ?? options.workerHost ?? '127.0.0.1';
    const flags = [
      `--name=worker${i}`,
      `--worker-addr=${host}:${port}`,
      `--advertise-addr=${host}:${port}`,
      `--join=${masterHost}:${masterPort}`,
      `--log-file=${join(dir, `worker${i}.log`)}`,
    ];
    const w = ns
      ? new Daemon(
          `dm-worker${i}`,
          'ip',
          ['netns', 'exec', ns.netns, join(bin, 'dm-worker'), ...flags],
          join(dir, `worker${i}.log`),
          join(dir, `worker${i}`),
        )
      : new Daemon(
          `dm-worker${i}`,
          join(bin, 'dm-worker'),
          flags,
          join(dir, `worker${i}.log`),
          join(dir, `worker${i}`),
        );
    cluster.workers.push(w);
    w.start();
  }
  try {
    await cluster.waitReady();
  } catch (e) {
    await cluster.destroy();
    throw e;
  }
  return cluster;
}
