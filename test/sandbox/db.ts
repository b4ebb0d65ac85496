/**
 * Real MySQL 9.7, MariaDB 10.11 and MariaDB 11.8 servers for tests: any number of instances
 * on free loopback ports, binary logging and GTIDs on, each in its own data
 * directory, torn down even when a test fails.
 *
 * The servers come from Debian root file systems that scripts/rootfs.sh builds
 * once into ~/.cache/dm-switch (debootstrap; about a minute each) and run
 * without chroot through the root's own dynamic loader.
 *
 *   const db = await startDb({ flavor: 'mysql', serverId: 1 });
 *   const maria = await startDb({ flavor: 'mariadb', mariadbEra: '11.8' });
 *   await db.query('SELECT @@GLOBAL.gtid_executed');
 *   await db.stop();            // or db.kill() for a crash
 */
import { execa, type ResultPromise } from 'execa';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import type { Flavor } from '../../common/switch/types.js';
import { freePort } from './ports.js';
import { waitUntilReady } from './ready.js';

export type DbFlavor = Flavor;

/**
 * The MariaDB release line a 'mariadb' server runs: 10.11 (Debian bookworm) or 11.8 (Debian trixie), each
 * its own root file system. The product sees both as flavor 'mariadb'; suites run their MariaDB cases on each.
 */
export type MariadbEra = '10.11' | '11.8';
export const MARIADB_ERAS: readonly MariadbEra[] = ['10.11', '11.8'];

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const rootCache = new Map<string, Promise<string>>();

/** scripts/rootfs.sh's name for the root of `flavor` (and, for MariaDB, `era`). */
function rootfsName(flavor: DbFlavor, era: MariadbEra): string {
  return flavor === 'mariadb' && era === '11.8' ? 'mariadb-11.8' : flavor;
}

/** Path of the cached root file system for `flavor`, building it on first use (needs root). */
export function dbRoot(flavor: DbFlavor, era: MariadbEra = '10.11'): Promise<string> {
  const name = rootfsName(flavor, era);
  let root = rootCache.get(name);
  if (root === undefined) {
    root = execa('bash', [join(repoRoot, 'scripts/rootfs.sh'), name], { stderr: 'inherit' }).then((r) =>
      r.stdout.trim(),
    );
    rootCache.set(name, root);
  }
  return root;
}

export interface DbOptions {
  flavor?: DbFlavor;
  /** For flavor 'mariadb': which release line (default 10.11). */
  mariadbEra?: MariadbEra;
  /** server_id; distinct per instance of a topology. Default: derived from the port. */
  serverId?: number;
  /** Extra server options, e.g. ['--gtid-mode=OFF']. */
  args?: string[];
  /** Label used in logs and the data directory name. */
  name?: string;
  /** Address clients connect to; 127.0.0.1 unless a test's network namespace gives another. */
  host?: string;
  /**
   * The server's --bind-address. Default: `host`. A server in a network
   * namespace that must also answer on a VIP when it arrives binds 0.0.0.0
   * while clients still connect to `host`.
   */
  bindAddress?: string;
  port?: number;
  /**
   * Run the server inside this network namespace (`ip netns exec`). The test
   * process stays in its own namespace and reaches the server at `host`, which
   * must therefore be routable from there (e.g. a host of test/sandbox/vip-lab.ts,
   * reached through the lab's bridge).
   */
  netns?: string;
}

/**
 * A server in a network namespace is reached from outside it, from an address
 * that is not loopback, so it gets a root@'%' account (no password, like
 * root@localhost; only this machine reaches the namespace). It is created at
 * every start, out of the binary log so that no GTID is spent on it, and
 * client names are not resolved (the namespace has no resolver).
 */
const NETNS_INIT_FILE = 'netns-init.sql';
const NETNS_INIT_SQL = `SET SESSION sql_log_bin = 0;
CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
`;

const live = new Set<DbInstance>();
let exitHookInstalled = false;

/** Starts one server and waits until it accepts connections. */
export async function startDb(options: DbOptions = {}): Promise<DbInstance> {
  const flavor = options.flavor ?? 'mysql';
  const era = options.mariadbEra ?? '10.11';
  const root = await dbRoot(flavor, era);
  const port = options.port ?? (await freePort());
  const name = options.name ?? `${rootfsName(flavor, era)}-${port}`;
  const base = await mkdtemp(join(process.env.DM_SWITCH_SANDBOX_DIR ?? tmpdir(), `dm-switch-${name}-`));
  const dataDir = join(base, 'data');
  await cp(join(root, 'var/lib/dm-switch-template'), dataDir, { recursive: true });
  await mkdir(join(base, 'files'));
  if (options.netns) await writeFile(join(base, NETNS_INIT_FILE), NETNS_INIT_SQL);
  const instance = new DbInstance(
    flavor,
    root,
    base,
    options.host ?? '127.0.0.1',
    port,
    options.serverId ?? (port % 100000) + 1,
    options.args ?? [],
    options.netns,
    options.bindAddress,
    era,
  );
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const db of live) db.kill();
    });
  }
  await instance.start();
  return instance;
}

export class DbInstance {
  private proc: ResultPromise | undefined;
  private pool: mysql.Pool | undefined;
  private exited: Promise<unknown> | undefined;
  /** The server's --bind-address (`host` unless DbOptions.bindAddress said otherwise). */
  readonly bindAddress: string;

  constructor(
    readonly flavor: DbFlavor,
    readonly root: string,
    readonly baseDir: string,
    readonly host: string,
    readonly port: number,
    readonly serverId: number,
    private extraArgs: string[],
    readonly netns?: string,
    bindAddress?: string,
    /** For a MariaDB server: its release line. */
    readonly mariadbEra: MariadbEra = '10.11',
  ) {
    this.bindAddress = bindAddress ?? host;
  }

  get dataDir(): string {
    return join(this.baseDir, 'data');
  }
  get errorLog(): string {
    return join(this.baseDir, 'error.log');
  }
  /** mysql2 connection options for the root user (no password in the sandbox). */
  get connectionOptions(): mysql.ConnectionOptions {
    return {
      host: this.host,
      port: this.port,
      user: 'root',
      password: '',
      multipleStatements: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
    };
  }

  /** Runs a program of the root file system (e.g. `mysqlbinlog`) through its loader. */
  command(program: string, args: string[]): [string, string[]] {
    const loader = join(this.root, 'lib64/ld-linux-x86-64.so.2');
    const libs = `${join(this.root, 'usr/lib/x86_64-linux-gnu')}:${join(this.root, 'lib/x86_64-linux-gnu')}`;
    const argv = [loader, '--library-path', libs, program, ...args];
    return this.netns ? ['ip', ['netns', 'exec', this.netns, ...argv]] : [argv[0]!, argv.slice(1)];
  }

  /** MariaDB 11.8's Debian packages moved the error messages from /usr/share/mysql to /usr/share/mariadb. */
  private messagesDir(): string {
    return this.flavor === 'mariadb' && this.mariadbEra === '11.8' ? 'usr/share/mariadb' : 'usr/share/mysql';
  }

  private serverArgs(): string[] {
    const r = (p: string) => join(this.root, p);
    const common = [
      '--no-defaults',
      `--basedir=${r('usr')}`,
      `--lc-messages-dir=${r(this.messagesDir())}`,
      `--datadir=${this.dataDir}`,
      '--user=root',
      `--bind-address=${this.bindAddress}`,
      `--port=${this.port}`,
      `--socket=${join(this.baseDir, 'mysqld.sock')}`,
      `--pid-file=${join(this.baseDir, 'mysqld.pid')}`,
      `--log-error=${this.errorLog}`,
      `--server-id=${this.serverId}`,
      // how a replica shows in its source's SHOW REPLICAS, where a switch discovering candidates finds it
      `--report-host=${this.host}`,
      `--report-port=${this.port}`,
      '--log-bin=binlog',
      '--binlog-format=ROW',
      '--binlog-row-image=FULL',
      '--innodb-buffer-pool-size=32M',
      '--performance-schema=OFF',
      '--max-connections=200',
      ...(this.netns ? [`--init-file=${join(this.baseDir, NETNS_INIT_FILE)}`, '--skip-name-resolve'] : []),
    ];
    if (this.flavor === 'mysql') {
      return [
        ...common,
        '--mysqlx=OFF',
        `--secure-file-priv=${join(this.baseDir, 'files')}`,
        '--gtid-mode=ON',
        '--enforce-gtid-consistency=ON',
        '--innodb-redo-log-capacity=8M',
        ...this.extraArgs,
      ];
    }
    return [...common, `--plugin-dir=${r('usr/lib/mysql/plugin')}`, '--log-slave-updates=ON', ...this.extraArgs];
  }

  /** Starts the server (again, after stop or kill) on the same data directory and port. */
  async start(): Promise<void> {
    if (this.proc) throw new Error(`${this.describe()} is already running`);
    const program = join(this.root, this.flavor === 'mysql' ? 'usr/sbin/mysqld' : 'usr/sbin/mariadbd');
    const [file, args] = this.command(program, this.serverArgs());
    const proc = execa(file, args, { stdio: 'ignore', reject: false, cleanup: true });
    this.proc = proc;
    this.exited = proc.then(() => {
      if (this.proc === proc) this.proc = undefined;
    });
    live.add(this);
    await waitUntilReady({
      what: this.describe(),
      process: this.exited,
      probe: async () => {
        const c = await mysql.createConnection({ ...this.connectionOptions, connectTimeout: 1000 });
        await c.end();
      },
      diagnostics: () => this.errorLogTail(),
      intervalMs: 100,
    });
  }

  /**
   * Stops the server cleanly and starts it again on the same data directory
   * with other extra server options (startup-only settings such as
   * --binlog-row-event-max-size). A replica resumes replicating on its own.
   */
  async restartWith(args: string[]): Promise<void> {
    await this.stop();
    this.extraArgs = args;
    await this.start();
  }

  /** Runs SQL as root and returns the rows. */
  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    this.pool ??= mysql.createPool({ ...this.connectionOptions, connectionLimit: 4 });
    const [rows] = await this.pool.query(sql, params);
    return rows as T[];
  }

  /** The value of one global variable as text. */
  async variable(name: string): Promise<string> {
    const rows = await this.query<{ v: unknown }>(`SELECT @@GLOBAL.${name} AS v`);
    return rows[0]?.v == null ? '' : String(rows[0].v);
  }

  get running(): boolean {
    return this.proc !== undefined;
  }

  /** Clean shutdown. */
  async stop(): Promise<void> {
    await this.closePool();
    const proc = this.proc;
    if (!proc) return;
    proc.kill('SIGTERM');
    await this.exited;
  }

  /** A crash: SIGKILL, no shutdown. Returns at once; `await db.waitExit()` if needed. */
  kill(): void {
    this.proc?.kill('SIGKILL');
    void this.closePool();
  }

  async waitExit(): Promise<void> {
    await this.exited;
  }

  /** Stops the server and deletes its files. */
  async destroy(): Promise<void> {
    await this.stop();
    live.delete(this);
    await rm(this.baseDir, { recursive: true, force: true });
  }

  describe(): string {
    const what = this.flavor === 'mariadb' ? `mariadb ${this.mariadbEra}` : this.flavor;
    return `${what} server ${this.host}:${this.port} (server_id ${this.serverId}, ${this.baseDir})`;
  }

  private async closePool(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end().catch(() => undefined);
  }

  private async errorLogTail(): Promise<string> {
    try {
      return (await readFile(this.errorLog, 'utf8')).trim().split('\n').slice(-8).join('\n');
    } catch {
      return '(no error log)';
    }
  }
}
