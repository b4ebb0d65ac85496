/**
 * The upstream MySQL/MariaDB instances, through mysql2. Credentials come
 * from references resolved here, on the worker (worker/credentials.ts); the
 * workflow only ever sees the reference's name.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import mysql from 'mysql2/promise';
import { parseGtidSet } from '../common/gtid/index.js';
import type { InstanceRef } from '../common/switch/input.js';
import { SwitchErrorType } from '../common/switch/errors.js';

export interface Credentials {
  user: string;
  password: string;
}
export type CredentialResolver = (reference: string) => Promise<Credentials>;

export interface ReplicaState {
  ioRunning: boolean;
  sqlRunning: boolean;
  sourceHost: string;
  sourcePort: number;
  lastError: string;
}

export type InstanceFacts =
  | {
      reachable: true;
      address: string;
      flavor: 'mysql' | 'mariadb';
      version: string;
      serverUuid: string;
      serverId: number;
      gtidMode: string;
      binlogFormat: string;
      binlogRowImage: string;
      binlogRowEventMaxSize: number | null;
      logBin: boolean;
      /** MySQL gtid_executed; MariaDB gtid_current_pos. */
      gtidExecuted: string;
      /** MySQL gtid_purged; null on MariaDB, which keeps none. */
      gtidPurged: string | null;
      replica: ReplicaState | null;
    }
  | { reachable: false; address: string; error: string };

/** SHOW REPLICA STATUS (MySQL: Replica_/Source_ columns) or SHOW SLAVE STATUS (MariaDB: Slave_/Master_). */
function replicaState(rs: Record<string, unknown> | undefined, thread: 'Replica' | 'Slave', source: 'Source' | 'Master'): ReplicaState | null {
  if (!rs) return null;
  return {
    ioRunning: rs[`${thread}_IO_Running`] === 'Yes',
    sqlRunning: rs[`${thread}_SQL_Running`] === 'Yes',
    sourceHost: String(rs[`${source}_Host`] ?? ''),
    sourcePort: Number(rs[`${source}_Port`] ?? 0),
    lastError: [rs.Last_IO_Error, rs.Last_SQL_Error].filter(Boolean).join('; '),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function createMysqlActivities(resolve: CredentialResolver, options: { connectTimeoutMs?: number } = {}) {
  async function connect(ref: InstanceRef): Promise<mysql.Connection> {
    const creds = await resolve(ref.credentials);
    return mysql.createConnection({
      host: ref.host,
      port: ref.port,
      user: creds.user,
      password: creds.password,
      connectTimeout: options.connectTimeoutMs ?? 5_000,
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
  }

  async function one<T>(c: mysql.Connection, sql: string, params: unknown[] = []): Promise<T | undefined> {
    const [rows] = await c.query(sql, params);
    return (rows as T[])[0];
  }

  async function inspect(ref: InstanceRef): Promise<InstanceFacts> {
    const address = `${ref.host}:${ref.port}`;
    let c: mysql.Connection;
    try {
      c = await connect(ref);
    } catch (e) {
      return { reachable: false, address, error: (e as Error).message };
    }
    try {
      const v = await one<{ version: string }>(c, 'SELECT @@version AS version');
      const flavor = /mariadb/i.test(v?.version ?? '') ? 'mariadb' : 'mysql';
      const mysqlFlavor = flavor === 'mysql';
      // One query per flavor: the shared settings, and the flavor's own GTID variables.
      const r = (await one<Record<string, string | number | null>>(
        c,
        `SELECT @@server_id AS id, @@GLOBAL.binlog_format AS fmt, @@GLOBAL.binlog_row_image AS img, @@GLOBAL.log_bin AS log_bin, ` +
          (mysqlFlavor
            ? `@@server_uuid AS uuid, @@GLOBAL.gtid_mode AS gtid_mode, @@GLOBAL.binlog_row_event_max_size AS maxsize,
               @@GLOBAL.gtid_executed AS executed, @@GLOBAL.gtid_purged AS purged`
            : '@@GLOBAL.gtid_current_pos AS executed'),
      ))!;
      const replica = await one<Record<string, unknown>>(c, mysqlFlavor ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS');
      return {
        reachable: true,
        address,
        flavor,
        version: v!.version,
        // MariaDB has no server_uuid: its GTIDs carry domain and server_id instead
        serverUuid: mysqlFlavor ? String(r.uuid) : `server_id:${r.id}`,
        serverId: Number(r.id),
        gtidMode: mysqlFlavor ? String(r.gtid_mode) : 'ON',
        binlogFormat: String(r.fmt),
        binlogRowImage: String(r.img),
        binlogRowEventMaxSize: !mysqlFlavor || r.maxsize === null ? null : Number(r.maxsize),
        logBin: Number(r.log_bin) === 1,
        gtidExecuted: parseGtidSet(flavor, String(r.executed ?? '')).toString(),
        gtidPurged: mysqlFlavor ? parseGtidSet('mysql', String(r.purged ?? '')).toString() : null,
        replica: mysqlFlavor ? replicaState(replica, 'Replica', 'Source') : replicaState(replica, 'Slave', 'Master'),
      };
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  return {
    /** Everything preflight and the GTID check need to know about an instance; `reachable: false` when it is down. */
    async mysqlInspect(ref: InstanceRef): Promise<InstanceFacts> {
      return inspect(ref);
    },

    /**
     * Waits (bounded, heartbeating what is still missing) until the instance
     * has executed every GTID of `gtidSet`. Returns what is still missing on
     * timeout rather than failing, so the workflow decides what to do.
     */
    async mysqlWaitForGtids(req: { instance: InstanceRef; flavor: 'mysql' | 'mariadb'; gtidSet: string; timeoutSeconds: number }): Promise<{ caughtUp: boolean; missing: string; waitedSeconds: number }> {
      const started = Date.now();
      const want = parseGtidSet(req.flavor, req.gtidSet);
      for (;;) {
        const facts = await inspect(req.instance);
        let missing = '(instance unreachable)';
        if (facts.reachable) {
          const gap = want.subtract(parseGtidSet(req.flavor, facts.gtidExecuted));
          if (gap.isEmpty()) return { caughtUp: true, missing: '', waitedSeconds: Math.round((Date.now() - started) / 1000) };
          missing = gap.toCompactString();
          if (facts.replica && !(facts.replica.ioRunning && facts.replica.sqlRunning)) {
            missing += ` (replication stopped: ${facts.replica.lastError || 'threads not running'})`;
          }
        }
        Context.current().heartbeat({ missing });
        if (Date.now() - started >= req.timeoutSeconds * 1000) {
          return { caughtUp: false, missing, waitedSeconds: Math.round((Date.now() - started) / 1000) };
        }
        await sleep(Math.min(1000, Math.max(100, req.timeoutSeconds * 100)));
        Context.current().cancellationSignal.throwIfAborted();
      }
    },

    /**
     * The binlog dump connections the instance is serving (DM reads through
     * one), so verification can see that DM now reads from this instance.
     */
    async mysqlBinlogDumpClients(ref: InstanceRef): Promise<Array<{ user: string; host: string; command: string }>> {
      const c = await connect(ref).catch((e: Error) => {
        throw ApplicationFailure.create({ message: `cannot connect to ${ref.host}:${ref.port}: ${e.message}`, type: SwitchErrorType.VerificationFailed });
      });
      try {
        const [rows] = await c.query(`SELECT USER AS user, HOST AS host, COMMAND AS command FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'`);
        return rows as Array<{ user: string; host: string; command: string }>;
      } finally {
        await c.end().catch(() => undefined);
      }
    },

    /**
     * Checks that a credential reference logs in to an address (a downstream,
     * or a source's replication user), so a wrong password is found before
     * anything changes. Returns the server version, or the error in words.
     */
    async mysqlCheckLogin(ref: InstanceRef): Promise<{ ok: true; version: string } | { ok: false; error: string }> {
      try {
        const c = await connect(ref);
        try {
          return { ok: true, version: String((await one<{ v: string }>(c, 'SELECT VERSION() AS v'))?.v) };
        } finally {
          await c.end().catch(() => undefined);
        }
      } catch (e) {
        if (e instanceof ApplicationFailure) throw e;
        return { ok: false, error: (e as Error).message };
      }
    },

    /**
     * DM's own checkpoint of a task on a source, read from the downstream
     * (`<meta-schema>.<task>_syncer_checkpoint`, the global row): the
     * position a stopped task resumes from. Null when the task has none.
     */
    async mysqlReadCheckpoint(req: { downstream: InstanceRef; metaSchema: string; task: string; sourceId: string }): Promise<{ binlogGtid: string; binlogName: string; binlogPos: number } | null> {
      const c = await connect(req.downstream).catch((e: Error) => {
        throw new Error(`cannot connect to the downstream ${req.downstream.host}:${req.downstream.port}: ${e.message}`);
      });
      try {
        const table = `${req.task}_syncer_checkpoint`;
        const [rows] = await c.query('SELECT binlog_gtid, binlog_name, binlog_pos FROM ??.?? WHERE id = ? AND is_global = 1', [req.metaSchema, table, req.sourceId]);
        const row = (rows as Array<{ binlog_gtid: string | null; binlog_name: string; binlog_pos: number | string }>)[0];
        return row ? { binlogGtid: row.binlog_gtid ?? '', binlogName: row.binlog_name, binlogPos: Number(row.binlog_pos) } : null;
      } catch (e) {
        if ((e as { code?: string }).code === 'ER_NO_SUCH_TABLE' || (e as { code?: string }).code === 'ER_BAD_DB_ERROR') return null;
        throw e;
      } finally {
        await c.end().catch(() => undefined);
      }
    },
  };
}

export type MysqlActivities = ReturnType<typeof createMysqlActivities>;
