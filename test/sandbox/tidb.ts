/**
 * A real TiDB for the downstream of DM tasks: `tidb-server --store=unistore`
 * (embedded storage, no PD or TiKV), built with DM by
 * `scripts/build-dm.sh --with-tidb`, on a free loopback port.
 */
import { execa, type ResultPromise } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { freePort } from './db.js';
import { dmBinDir } from './dm.js';

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
    return { host: this.host, port: this.port, user: 'root', password: '', multipleStatements: true, supportBigNumbers: true, bigNumberStrings: true };
  }

  async start(): Promise<void> {
    const args = [
      '-store=unistore',
      `-path=${join(this.baseDir, 'data')}`,
      `-host=${this.host}`,
      `-P=${this.port}`,
      `-status=${this.statusPort}`,
      `-log-file=${join(this.baseDir, 'tidb.log')}`,
    ];
    const proc = execa(this.binary, args, { cwd: this.baseDir, stdio: 'ignore', reject: false, cleanup: true });
    this.proc = proc;
    let exited = false;
    void proc.then(() => {
      exited = true;
      if (this.proc === proc) this.proc = undefined;
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (exited) throw new Error(`tidb-server exited while starting: ${await this.logTail()}`);
      try {
        const c = await mysql.createConnection({ ...this.connectionOptions, connectTimeout: 1000 });
        await c.end();
        return;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`tidb-server not ready in 60 s (${String(e)}): ${await this.logTail()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
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
    return (await readFile(join(this.baseDir, 'tidb.log'), 'utf8').catch(() => '')).trim().split('\n').slice(-8).join('\n');
  }
}

export async function startTidb(): Promise<TidbInstance> {
  const bin = await dmBinDir({ withTidb: true });
  const dir = await mkdtemp(join(process.env.DM_SWITCH_SANDBOX_DIR ?? tmpdir(), 'dm-switch-tidb-'));
  const tidb = new TidbInstance(join(bin, 'tidb-server'), dir, '127.0.0.1', await freePort(), await freePort());
  await tidb.start();
  return tidb;
}
