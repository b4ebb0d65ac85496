/**
 * MySQL replication topologies on the sandbox servers: a primary and
 * replicas with GTID auto-positioning, and the operations tests need. These
 * are writing rows, purging binary logs, and provisioning a new replica by
 * each method of MySQL's GTID provisioning guide:
 *
 * - `replication`: a fresh server replicates the whole history from the source.
 * - `snapshot`: a `mysqldump` snapshot restored with
 *   `SET GLOBAL gtid_purged` = the snapshot's `gtid_executed`.
 * - `empty-transactions`: the snapshot's data loaded without binary logging,
 *   one empty transaction committed per GTID of the snapshot, then `FLUSH
 *   BINARY LOGS` and `PURGE BINARY LOGS`, so those GTIDs are executed and
 *   purged.
 *
 * After the snapshot methods the replica can replicate the rest from the
 * source (`replicate: true`), as the guide does.
 */
import { execa } from 'execa';
import { MysqlGtidSet } from '../../common/gtid/index.js';
import { startDb, type DbInstance, type DbOptions, type MariadbEra } from './db.js';

export type ProvisionMethod = 'replication' | 'snapshot' | 'empty-transactions';
export const PROVISION_METHODS: readonly ProvisionMethod[] = ['replication', 'snapshot', 'empty-transactions'];

export interface Topology {
  primary: DbInstance;
  replicas: DbInstance[];
  /** Every instance, primary first. */
  all(): DbInstance[];
  destroy(): Promise<void>;
}

/**
 * A primary and `replicas` replicas replicating from it with GTID
 * auto-positioning (MariaDB: `MASTER_USE_GTID = slave_pos`). With
 * `placement`, instance i runs in network namespace placement[i] on its
 * address, port 3306 (e.g. the hosts of a VIP lab).
 */
export async function startTopology(
  options: {
    replicas?: number;
    args?: string[];
    placement?: Array<{ netns: string; address: string }>;
    flavor?: DbInstance['flavor'];
    /** For flavor 'mariadb': which release line (default 10.11). */
    mariadbEra?: MariadbEra;
  } = {},
): Promise<Topology> {
  const count = options.replicas ?? 2;
  const servers = await Promise.all(
    Array.from({ length: count + 1 }, (_, i) => {
      const at = options.placement?.[i];
      return startDb({
        flavor: options.flavor ?? 'mysql',
        mariadbEra: options.mariadbEra,
        serverId: i + 1,
        name: i === 0 ? 'primary' : `replica${i}`,
        args: options.args,
        ...(at ? { netns: at.netns, host: at.address, bindAddress: '0.0.0.0', port: 3306 } : {}),
      });
    }),
  );
  const [primary, ...replicas] = servers as [DbInstance, ...DbInstance[]];
  await Promise.all(replicas.map((r) => replicateFrom(r, primary)));
  return {
    primary,
    replicas,
    all: () => [primary, ...replicas],
    destroy: async () => {
      await Promise.all(servers.map((s) => s.destroy()));
    },
  };
}

/** Points `replica` at `source` with GTID auto-positioning and starts replicating. */
export async function replicateFrom(replica: DbInstance, source: DbInstance): Promise<void> {
  if (replica.flavor === 'mariadb') {
    await replica.query('STOP SLAVE');
    // MariaDB 11.8 replicates over TLS and verifies the source's certificate by default; the source's certificate
    // is self-signed (generated at start), which 11.8 accepts only through the replication password's fingerprint
    // or on a loopback address. The sandbox replicates as passwordless root, also across network namespaces, where
    // 11.8 stops with error 2026 "SSL certificate is self-signed": TLS stays on, the check of who signed goes
    // (10.11's default).
    await replica.query(
      `CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = 'root', MASTER_PASSWORD = '', ` +
        'MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1, MASTER_SSL_VERIFY_SERVER_CERT = 0',
      [source.host, source.port],
    );
    await replica.query('START SLAVE');
    return;
  }
  await replica.query('STOP REPLICA');
  await replica.query(
    `CHANGE REPLICATION SOURCE TO SOURCE_HOST = ?, SOURCE_PORT = ?, SOURCE_USER = 'root', SOURCE_PASSWORD = '',
       SOURCE_AUTO_POSITION = 1, GET_SOURCE_PUBLIC_KEY = 1, SOURCE_CONNECT_RETRY = 1, SOURCE_RETRY_COUNT = 100000`,
    [source.host, source.port],
  );
  await replica.query('START REPLICA');
}

/** Waits until `replica` has executed everything `source` has, or throws naming what is missing. */
export async function waitCaughtUp(replica: DbInstance, source: DbInstance, timeoutMs = 30_000): Promise<void> {
  if (replica.flavor === 'mariadb') {
    const pos = await source.variable('gtid_binlog_pos');
    const [row] = await replica.query<{ r: number | string }>('SELECT MASTER_GTID_WAIT(?, ?) AS r', [
      pos,
      timeoutMs / 1000,
    ]);
    if (Number(row?.r) !== 0) {
      const status = await replica.query<Record<string, unknown>>('SHOW SLAVE STATUS');
      throw new Error(
        `${replica.describe()} did not catch up with ${source.describe()} in ${timeoutMs} ms: wants ${pos}, at ${await replica.variable('gtid_current_pos')}; ` +
          `IO error: ${String(status[0]?.Last_IO_Error ?? '')} SQL error: ${String(status[0]?.Last_SQL_Error ?? '')}`,
      );
    }
    return;
  }
  const target = await source.variable('gtid_executed');
  const [row] = await replica.query<{ r: number | string }>('SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS r', [
    target,
    timeoutMs / 1000,
  ]);
  if (Number(row?.r) !== 0) {
    const have = await replica.variable('gtid_executed');
    const status = await replica.query<Record<string, unknown>>('SHOW REPLICA STATUS');
    throw new Error(
      `${replica.describe()} did not catch up with ${source.describe()} in ${timeoutMs} ms: lacks ${MysqlGtidSet.parse(target).subtract(MysqlGtidSet.parse(have)).toCompactString()}; ` +
        `IO error: ${String(status[0]?.Last_IO_Error ?? '')} SQL error: ${String(status[0]?.Last_SQL_Error ?? '')}`,
    );
  }
}

export const APP_SCHEMA = 'app';

/** Creates `app.<table>` if needed and inserts `count` rows; returns the ids written. */
export async function writeRows(db: DbInstance, count: number, table = 'rows'): Promise<number[]> {
  await db.query(`CREATE DATABASE IF NOT EXISTS ${APP_SCHEMA}`);
  await db.query(
    `CREATE TABLE IF NOT EXISTS ${APP_SCHEMA}.${table} (id BIGINT PRIMARY KEY AUTO_INCREMENT, payload VARCHAR(64) NOT NULL, written_by INT NOT NULL)`,
  );
  const ids: number[] = [];
  for (let i = 0; i < count; i++) {
    // one transaction (one GTID) per row, as an application would write them
    const res = (await db.query(`INSERT INTO ${APP_SCHEMA}.${table} (payload, written_by) VALUES (?, @@server_id)`, [
      `row-${i}`,
    ])) as unknown as {
      insertId: number;
    };
    ids.push(Number(res.insertId));
  }
  return ids;
}

/** Order-independent checksum and row count of a table, comparable across servers. */
export async function tableChecksum(
  db: SqlTarget,
  table = 'rows',
  schema = APP_SCHEMA,
): Promise<{ rows: number; checksum: string }> {
  const [row] = await db.query<{ n: string | number; c: string | null }>(
    `SELECT COUNT(*) AS n, COALESCE(SUM(CRC32(CONCAT_WS('|', id, payload, written_by))), 0) AS c FROM ${schema}.${table}`,
  );
  return { rows: Number(row?.n ?? 0), checksum: String(row?.c ?? '0') };
}

/** Rotates the binary log and purges every older file: their GTIDs move to gtid_purged. */
export async function purgeBinaryLogs(db: DbInstance): Promise<void> {
  await db.query('FLUSH BINARY LOGS');
  const [current] = await db.query<{ File: string }>('SHOW BINARY LOG STATUS');
  // a file a replica's dump thread still reads is skipped (with a warning): on a busy machine the replicas may
  // not have moved to the new file yet, so purge again until only the current file is left
  for (const deadline = Date.now() + 30_000; ;) {
    await db.query('PURGE BINARY LOGS TO ?', [current!.File]);
    const files = await db.query<{ Log_name: string }>('SHOW BINARY LOGS');
    if (files.every((f) => f.Log_name >= current!.File)) return;
    if (Date.now() > deadline)
      throw new Error(
        `binary logs before ${current!.File} are still there after 30 s: ${files.map((f) => f.Log_name).join(', ')}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Takes a consistent `mysqldump` snapshot of the app schema; returns the SQL and its gtid_executed. */
export async function snapshot(
  source: DbInstance,
): Promise<{ sql: string; gtidExecuted: string; binlogFile: string; binlogPos: number }> {
  const [file, args] = source.command(`${source.root}/usr/bin/mysqldump`, [
    '--no-defaults',
    `--host=${source.host}`,
    `--port=${source.port}`,
    '--user=root',
    '--single-transaction',
    '--set-gtid-purged=ON',
    '--source-data=2',
    '--databases',
    APP_SCHEMA,
  ]);
  const { stdout } = await execa(file, args, { maxBuffer: 512 * 1024 * 1024 });
  const m = /SET @@GLOBAL\.GTID_PURGED=\/\*!80000 '\+'\*\/ '([^']*)';/.exec(stdout);
  if (!m) throw new Error('mysqldump output carries no GTID_PURGED statement');
  const pos = /SOURCE_LOG_FILE='([^']+)', SOURCE_LOG_POS=(\d+)/.exec(stdout);
  if (!pos) throw new Error('mysqldump output carries no binary log position');
  return { sql: stdout, gtidExecuted: m[1]!.replace(/\s+/g, ''), binlogFile: pos[1]!, binlogPos: Number(pos[2]) };
}

/** A dump's SQL without the statements about this server's binary log and GTIDs (for a downstream such as TiDB). */
export function withoutReplicationStatements(sql: string): string {
  return sql
    .split('\n')
    .filter((line) => !/SQL_LOG_BIN|GTID_PURGED|@MYSQLDUMP_TEMP_LOG_BIN/i.test(line))
    .join('\n');
}

/** A server that takes SQL: a sandbox MySQL or MariaDB, or TiDB. */
export interface SqlTarget {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

/** Runs a dump's SQL on `target` in one session, optionally without writing it to the binary log. */
export async function load(target: SqlTarget, sql: string, withoutBinlog: boolean): Promise<void> {
  // the session goes back to the pool: binary logging must be on again for whoever uses it next
  await target.query(withoutBinlog ? `SET SESSION sql_log_bin = 0;\n${sql}\nSET SESSION sql_log_bin = 1;` : sql);
}

export interface ProvisionOptions extends DbOptions {
  /** Start replicating from the source afterwards (default true). */
  replicate?: boolean;
}

/** A new server holding `source`'s data and GTID history, made by `method` (see the module comment). */
export async function provisionReplica(
  source: DbInstance,
  method: ProvisionMethod,
  options: ProvisionOptions = {},
): Promise<DbInstance> {
  const replica = await startDb({ flavor: 'mysql', name: `provisioned-${method}`, ...options });
  try {
    if (method === 'snapshot' || method === 'empty-transactions') {
      const snap = await snapshot(source);
      if (method === 'snapshot') {
        // the dump itself ends in SET @@GLOBAL.GTID_PURGED = the snapshot's gtid_executed
        await load(replica, snap.sql, false);
      } else {
        await load(replica, snap.sql.replace(/SET @@GLOBAL\.GTID_PURGED=[^;]*;/, ''), true);
        await injectEmptyTransactions(replica, snap.gtidExecuted);
        await purgeBinaryLogs(replica);
      }
    }
    if (options.replicate ?? true) await replicateFrom(replica, source);
    return replica;
  } catch (e) {
    await replica.destroy();
    throw e;
  }
}

/** Commits one empty transaction per GTID of `gtids` (the provisioning guide's "inject empty transactions"). */
export async function injectEmptyTransactions(db: DbInstance, gtids: string): Promise<void> {
  const statements: string[] = [];
  for (const gtid of expand(gtids)) statements.push(`SET GTID_NEXT = '${gtid}'; BEGIN; COMMIT;`);
  statements.push(`SET GTID_NEXT = 'AUTOMATIC';`);
  for (let i = 0; i < statements.length; i += 500) await db.query(statements.slice(i, i + 500).join('\n'));
}

/** Every single GTID of a (small) untagged MySQL GTID set. */
function expand(gtids: string): string[] {
  const out: string[] = [];
  const set = MysqlGtidSet.parse(gtids);
  for (const member of set.toCompactString().split(',').filter(Boolean)) {
    const [uuid, ...ranges] = member.split(':');
    for (const r of ranges) {
      if (!/^\d/.test(r)) throw new Error(`tagged GTIDs are not expanded here: ${member}`);
      const [a, b = a] = r.split('-').map(BigInt) as [bigint, bigint?];
      if (b! - a > 100_000n) throw new Error(`refusing to inject ${b! - a + 1n} empty transactions`);
      for (let n = a; n <= b!; n++) out.push(`${uuid}:${n}`);
    }
  }
  return out;
}
