/**
 * A real TiDB for the downstream of DM tasks: `tidb-server --store=unistore`
 * (embedded storage, no PD or TiKV), built with DM by
 * `scripts/build-dm.sh --with-tidb`, on a free loopback port.
 */
import { execa, type ResultPromise } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { freePort } from './ports.js';
import { dmBinDir } from './dm.js';
import { waitUntilReady } from './ready.js';

export class TidbInstance {
  readonly flavor = 'tidb' as const;
  private proc: ResultPromise | undefined;
  private pool: mysql.Pool | undefined;

  constructor(
    readonly binary: string,
    readonly baseDir: string,
    readonly host: string,
    readonly port: number,
    readonly statusPort: number,
  ) {}

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

  async start(): Promise<void> {
    // TiDB's temporary directories, by default under the system's (`<uid>_tidb/…/tmp-storage` for spilled query
    // results, `tidb/tmp_ddl-<port>` for index builds) and never removed: inside its own directory, removed with it
    const config = join(this.baseDir, 'tidb.toml');
    await writeFile(
      config,
      `temp-dir = ${JSON.stringify(join(this.baseDir, 'tmp'))}\n` +
        `tmp-storage-path = ${JSON.stringify(join(this.baseDir, 'tmp-storage'))}\n`,
    );
    const args = [
      `-config=${config}`,
      '-store=unistore',
      `-path=${join(this.baseDir, 'data')}`,
      `-host=${this.host}`,
      `-P=${this.port}`,
      `-status=${this.statusPort}`,
      `-log-file=${join(this.baseDir, 'tidb.log')}`,
    ];
    const proc = execa(this.binary, args, { cwd: this.baseDir, stdio: 'ignore', reject: false, cleanup: true });
    this.proc = proc;
    void proc.then(() => {
      if (this.proc === proc) this.proc = undefined;
    });
    await waitUntilReady({
      what: 'tidb-server',
      process: proc,
      probe: async () => {
        const c = await mysql.createConnection({ ...this.connectionOptions, connectTimeout: 1000 });
        await c.end();
      },
      diagnostics: () => this.logTail(),
    });
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    this.pool ??= mysql.createPool({ ...this.connectionOptions, connectionLimit: 4 });
    const [rows] = await this.pool.query(sql, params);
    return rows as T[];
  }

  describe(): string {
    return `tidb ${this.host}:${this.port} (${this.baseDir})`;
  }

  async destroy(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.end().catch(() => undefined);
    const proc = this.proc;
    if (proc) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await proc;
      clearTimeout(timer);
    }
    await rm(this.baseDir, { recursive: true, force: true });
  }

  private async logTail(): Promise<string> {
    return (await readFile(join(this.baseDir, 'tidb.log'), 'utf8').catch(() => ''))
      .trim()
      .split('\n')
      .slice(-8)
      .join('\n');
  }
}

/** `host`: the address it listens on (default loopback; a VIP lab's gateway for dm-workers in network namespaces). */
export async function startTidb(options: { host?: string } = {}): Promise<TidbInstance> {
  const bin = await dmBinDir({ withTidb: true });
  const dir = await mkdtemp(join(process.env.DM_SWITCH_SANDBOX_DIR ?? tmpdir(), 'dm-switch-tidb-'));
  const tidb = new TidbInstance(
    join(bin, 'tidb-server'),
    dir,
    options.host ?? '127.0.0.1',
    await freePort(),
    await freePort(),
  );
  await tidb.start();
  return tidb;
}
