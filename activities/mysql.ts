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
import { clientAddress, normalizeAddress, ownsConnection } from '../common/switch/addresses.js';
import { resolveAll } from './net.js';
import { pollUntil } from './poll.js';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

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
  /** MySQL Source_UUID (the source last connected to); null when unknown (MariaDB, never connected). */
  sourceUuid: string | null;
  /** Source_Server_Id / Master_Server_Id; null when unknown. */
  sourceServerId: number | null;
  lastError: string;
}

/** A replication source of an instance, read (after the instance itself) for the errant-transaction check. */
export type SourceReading =
  | { reachable: true; address: string; serverUuid: string; serverId: number; /** MySQL gtid_executed; MariaDB gtid_binlog_state. */ gtids: string }
  | { reachable: false; address: string; error: string };

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
      /** The first replication channel; null when the instance replicates from nobody. */
      replica: ReplicaState | null;
      /** Every replication channel (MySQL multi-source replication has several). */
      channels?: ReplicaState[];
      /** read_only or super_read_only is ON. */
      readOnly?: boolean;
      /** log_replica_updates (MariaDB log_slave_updates): replicated transactions are written to its own binary log. */
      logReplicaUpdates?: boolean;
      /** MariaDB gtid_binlog_state (every server id's last GTID per domain); null on MySQL. */
      gtidBinlogState?: string | null;
      /** MariaDB gtid_strict_mode; null on MySQL. */
      gtidStrictMode?: boolean | null;
      /** With `withSources`: each channel's source, read after this instance. */
      sources?: SourceReading[];
    }
  | { reachable: false; address: string; error: string };

/** SHOW REPLICA STATUS (MySQL: Replica_/Source_ columns) or SHOW SLAVE STATUS (MariaDB: Slave_/Master_). */
function replicaState(rs: Record<string, unknown>, thread: 'Replica' | 'Slave', source: 'Source' | 'Master'): ReplicaState {
  const uuid = String(rs[`${source}_UUID`] ?? '');
  const sid = Number(rs[`${source}_Server_Id`] ?? 0);
  return {
    ioRunning: rs[`${thread}_IO_Running`] === 'Yes',
    sqlRunning: rs[`${thread}_SQL_Running`] === 'Yes',
    sourceHost: String(rs[`${source}_Host`] ?? ''),
    sourcePort: Number(rs[`${source}_Port`] ?? 0),
    sourceUuid: uuid === '' ? null : uuid.toLowerCase(),
    sourceServerId: sid > 0 ? sid : null,
    lastError: [rs.Last_IO_Error, rs.Last_SQL_Error].filter(Boolean).join('; '),
  };
}

/** Server errors that mean the credentials (or the grants) are wrong, not that the server is down. */
const ACCESS_ERRORS = new Set(['ER_ACCESS_DENIED_ERROR', 'ER_ACCESS_DENIED_NO_PASSWORD_ERROR', 'ER_DBACCESS_DENIED_ERROR', 'ER_HOST_NOT_PRIVILEGED', 'ER_NOT_SUPPORTED_AUTH_MODE', 'ER_SPECIFIC_ACCESS_DENIED_ERROR']);

const LOGIN_REFUSED = 'login-refused';
const loginRefused = (e: unknown): e is ApplicationFailure => e instanceof ApplicationFailure && e.details?.[0] === LOGIN_REFUSED;

/** A login the server refused: the credential reference (or the grants) is wrong. */
export function isAccessError(e: unknown): boolean {
  return ACCESS_ERRORS.has(String((e as { code?: unknown })?.code ?? ''));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `reads` (when given) serves a binlog dump connection from `owners`, and `notReads` none from them (or does not answer: null). */
export function dumpsMoved(want: { reads: unknown; owners: string[]; worker?: string }, onReads: BinlogDumpClient[] | null, onNotReads: BinlogDumpClient[] | null): boolean {
  const mine = (xs: BinlogDumpClient[] | null) => (xs ?? []).filter((c) => ownsConnection(want.owners, c, want.worker));
  return (!want.reads || mine(onReads).length > 0) && mine(onNotReads).length === 0;
}

export interface BinlogDumpClient {
  id: number;
  user: string;
  /** PROCESSLIST.HOST: `address:port` of the client (or a name, with name resolution on). */
  host: string;
  /** The client's address (or name) without its port. */
  clientAddress: string;
  /** The addresses it stands for (a name resolved; an address as it is). */
  clientAddresses: string[];
  command: string;
  seconds: number;
  /**
   * The hosts of the replicas registered on the instance when it was read (SHOW REPLICAS): DM's binlog readers
   * register with their dm-worker's name. Absent when the list could not be read.
   */
  replicaHosts?: string[];
}

export function createMysqlActivities(resolve: CredentialResolver, options: { connectTimeoutMs?: number } = {}) {
  /** The binlog dump connections an instance serves; null when it does not answer (a login it refuses still throws). */
  async function dumpClientsIfUp(ref: InstanceRef): Promise<BinlogDumpClient[] | null> {
    let c: mysql.Connection;
    try {
      c = await connect(ref);
    } catch (e) {
      if (e instanceof ApplicationFailure) throw e;
      return null;
    }
    try {
      return await dumpClients(c);
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  /**
   * Connects with the reference's credentials. An unknown reference, and a
   * login the server refuses, are the operator's mistakes, not an outage: they
   * throw InvalidInput naming the reference and the server's words. Anything
   * else (refused, timed out, no route) is left to the caller.
   */
  async function connect(ref: InstanceRef): Promise<mysql.Connection> {
    const creds = await resolve(ref.credentials);
    try {
      return await mysql.createConnection({
        host: ref.host,
        port: ref.port,
        user: creds.user,
        password: creds.password,
        connectTimeout: options.connectTimeoutMs ?? 5_000,
        supportBigNumbers: true,
        bigNumberStrings: true,
      });
    } catch (e) {
      if (isAccessError(e)) {
        throw ApplicationFailure.create({
          message: `${ref.host}:${ref.port} refused the login of credential reference "${ref.credentials}" (user ${creds.user}): ${(e as Error).message}; fix the reference on the worker or the server's grants`,
          type: SwitchErrorType.InvalidInput,
          nonRetryable: true,
          details: [LOGIN_REFUSED],
        });
      }
      throw e;
    }
  }

  async function dumpClients(c: mysql.Connection): Promise<BinlogDumpClient[]> {
    const [rows] = await c.query(`SELECT ID AS id, USER AS user, HOST AS host, COMMAND AS command, TIME AS seconds FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'`);
    const replicaHosts = await registeredReplicaHosts(c);
    const names = new Map<string, Promise<string[]>>();
    return Promise.all(
      (rows as Array<{ id: number | string; user: string; host: string; command: string; seconds: number | string }>).map(async (r) => {
        const client = clientAddress(r.host);
        // with name resolution on, MySQL shows the client's name (127.0.0.1 as `localhost`): resolve it back
        if (!names.has(client)) names.set(client, isIP(client) ? Promise.resolve([client]) : lookup(client, { all: true }).then((a) => a.map((x) => normalizeAddress(x.address)), () => []));
        return {
          id: Number(r.id),
          user: r.user,
          host: r.host,
          clientAddress: client,
          clientAddresses: await names.get(client)!,
          command: r.command,
          seconds: Number(r.seconds),
          ...(replicaHosts ? { replicaHosts } : {}),
        };
      }),
    );
  }

  /**
   * The hosts of the replicas registered on the instance: a binlog reader (a replica's IO thread, DM's syncer or
   * relay) sends COM_REGISTER_SLAVE with its host (a replica's report_host; DM: the dm-worker's name) before its
   * dump, and MySQL lists it until that dump ends. Null when the list cannot be read (no REPLICATION SLAVE
   * privilege): then only addresses are compared.
   */
  async function registeredReplicaHosts(c: mysql.Connection): Promise<string[] | null> {
    for (const sql of ['SHOW REPLICAS', 'SHOW SLAVE HOSTS']) {
      try {
        const [rows] = await c.query(sql);
        return (rows as Array<Record<string, unknown>>).map((r) => String(r.Host ?? ''));
      } catch {
        // an older server or MariaDB knows only the other spelling; without the privilege, neither answers
      }
    }
    return null;
  }

  async function one<T>(c: mysql.Connection, sql: string, params: unknown[] = []): Promise<T | undefined> {
    const [rows] = await c.query(sql, params);
    return (rows as T[])[0];
  }

  async function inspect(ref: InstanceRef, opts: { withSources?: boolean } = {}): Promise<InstanceFacts> {
    const address = `${ref.host}:${ref.port}`;
    let c: mysql.Connection;
    try {
      c = await connect(ref);
    } catch (e) {
      if (e instanceof ApplicationFailure) throw e;
      return { reachable: false, address, error: (e as Error).message };
    }
    let facts: Extract<InstanceFacts, { reachable: true }>;
    try {
      const v = await one<{ version: string }>(c, 'SELECT @@version AS version');
      const flavor = /mariadb/i.test(v?.version ?? '') ? 'mariadb' : 'mysql';
      const mysqlFlavor = flavor === 'mysql';
      // One query per flavor: the shared settings, and the flavor's own GTID variables.
      const r = (await one<Record<string, string | number | null>>(
        c,
        `SELECT @@server_id AS id, @@GLOBAL.binlog_format AS fmt, @@GLOBAL.binlog_row_image AS img, @@GLOBAL.log_bin AS log_bin, @@GLOBAL.read_only AS ro, ` +
          (mysqlFlavor
            ? `@@server_uuid AS uuid, @@GLOBAL.gtid_mode AS gtid_mode, @@GLOBAL.binlog_row_event_max_size AS maxsize, @@GLOBAL.super_read_only AS sro,
               @@GLOBAL.log_replica_updates AS lru, @@GLOBAL.gtid_executed AS executed, @@GLOBAL.gtid_purged AS purged`
            : `@@GLOBAL.log_slave_updates AS lru, @@GLOBAL.gtid_strict_mode AS strict, @@GLOBAL.gtid_binlog_state AS state, @@GLOBAL.gtid_current_pos AS executed`),
      ))!;
      const [rows] = await c.query(mysqlFlavor ? 'SHOW REPLICA STATUS' : 'SHOW ALL SLAVES STATUS');
      const channels = (rows as Array<Record<string, unknown>>).map((row) => (mysqlFlavor ? replicaState(row, 'Replica', 'Source') : replicaState(row, 'Slave', 'Master')));
      facts = {
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
        replica: channels[0] ?? null,
        channels,
        readOnly: Number(r.ro) === 1 || Number(r.sro ?? 0) === 1,
        logReplicaUpdates: Number(r.lru) === 1,
        gtidBinlogState: mysqlFlavor ? null : String(r.state ?? ''),
        gtidStrictMode: mysqlFlavor ? null : Number(r.strict) === 1,
      };
    } finally {
      await c.end().catch(() => undefined);
    }
    // the sources are read after the instance itself, so they hold everything they had sent it by then
    if (opts.withSources) facts.sources = await Promise.all(facts.channels!.map((ch) => readSource({ host: ch.sourceHost, port: ch.sourcePort, credentials: ref.credentials }, facts.flavor)));
    return facts;
  }

  /** What a replication source has executed (MySQL gtid_executed, MariaDB gtid_binlog_state), or why it could not be read. */
  async function readSource(ref: InstanceRef, flavor: 'mysql' | 'mariadb'): Promise<SourceReading> {
    const address = `${ref.host}:${ref.port}`;
    let c: mysql.Connection;
    try {
      c = await connect(ref);
    } catch (e) {
      if (e instanceof ApplicationFailure && !loginRefused(e)) throw e;
      return { reachable: false, address, error: (e as Error).message };
    }
    try {
      const r = (await one<Record<string, string | number>>(
        c,
        flavor === 'mysql' ? 'SELECT @@server_uuid AS uuid, @@server_id AS id, @@GLOBAL.gtid_executed AS gtids' : 'SELECT @@server_id AS id, @@GLOBAL.gtid_binlog_state AS gtids',
      ))!;
      return {
        reachable: true,
        address,
        serverUuid: flavor === 'mysql' ? String(r.uuid) : `server_id:${r.id}`,
        serverId: Number(r.id),
        gtids: flavor === 'mysql' ? parseGtidSet('mysql', String(r.gtids ?? '')).toString() : String(r.gtids ?? ''),
      };
    } catch (e) {
      return { reachable: false, address, error: (e as Error).message };
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  return {
    /** Everything preflight and the GTID check need to know about an instance; `reachable: false` when it is down. */
    async mysqlInspect(ref: InstanceRef, opts: { withSources?: boolean } = {}): Promise<InstanceFacts> {
      return inspect(ref, opts);
    },

    /**
     * Waits (bounded, heartbeating what is still missing) until the instance
     * has executed every GTID of `gtidSet`. Returns what is still missing on
     * timeout rather than failing, so the workflow decides what to do.
     */
    async mysqlWaitForGtids(req: { instance: InstanceRef; flavor: 'mysql' | 'mariadb'; gtidSet: string; timeoutSeconds: number }): Promise<{ caughtUp: boolean; missing: string; waitedSeconds: number; stopped?: string }> {
      // a retry (the worker died mid-wait) keeps the first attempt's start, so the bound is the input's, not reset
      const ctx = Context.current();
      const started = (ctx.info.heartbeatDetails as { started?: number } | undefined)?.started ?? Date.now();
      const want = parseGtidSet(req.flavor, req.gtidSet);
      let stoppedSince: number | null = null;
      for (;;) {
        const facts = await inspect(req.instance);
        let missing = '(instance unreachable)';
        let stopped: string | null = null;
        if (facts.reachable) {
          const gap = want.subtract(parseGtidSet(req.flavor, facts.gtidExecuted));
          if (gap.isEmpty()) return { caughtUp: true, missing: '', waitedSeconds: Math.round((Date.now() - started) / 1000) };
          missing = gap.toCompactString();
          if (facts.replica && !(facts.replica.ioRunning && facts.replica.sqlRunning)) {
            stopped = `replication of ${req.instance.host}:${req.instance.port} has stopped: ${facts.replica.lastError || 'its replication threads are not running'}`;
            missing += ` (${stopped})`;
          }
        }
        ctx.heartbeat({ started, missing });
        // stopped replication does not catch up by waiting: after 3 s of it (not a restart in progress), say so now
        stoppedSince = stopped ? (stoppedSince ?? Date.now()) : null;
        if (stopped && stoppedSince !== null && Date.now() - stoppedSince >= 3000) return { caughtUp: false, missing, waitedSeconds: Math.round((Date.now() - started) / 1000), stopped };
        if (Date.now() - started >= req.timeoutSeconds * 1000) {
          return { caughtUp: false, missing, waitedSeconds: Math.round((Date.now() - started) / 1000) };
        }
        await sleep(Math.min(1000, Math.max(100, req.timeoutSeconds * 100)));
        ctx.cancellationSignal.throwIfAborted();
      }
    },

    /**
     * The binlog dump connections the instance is serving (DM reads through
     * one), with the client's address, so verification can see that this
     * source's dm-worker, and nobody else's, now reads from this instance.
     */
    async mysqlBinlogDumpClients(ref: InstanceRef): Promise<BinlogDumpClient[]> {
      const c = await connect(ref).catch((e: Error) => {
        if (e instanceof ApplicationFailure) throw e;
        throw ApplicationFailure.create({ message: `cannot connect to ${ref.host}:${ref.port}: ${e.message}`, type: SwitchErrorType.VerificationFailed });
      });
      try {
        return await dumpClients(c);
      } finally {
        await c.end().catch(() => undefined);
      }
    },

    /**
     * Waits, inside this one activity, until `reads` (when given) serves a
     * binlog dump connection from `owners` (the source's dm-worker: its
     * normalized addresses) and `notReads`, when given and answering, serves
     * none from them; at most `timeoutSeconds` from the first attempt. Returns what it
     * saw last either way (null: the instance did not answer), for the
     * workflow to decide and to say.
     */
    async mysqlAwaitDumpClients(req: {
      reads: InstanceRef | null;
      notReads: InstanceRef | null;
      owners: string[];
      /** Host names of the owner (the dm-worker's), resolved here and added to `owners`. */
      ownerHosts?: string[];
      /** The dm-worker's name: a connection is the owner's only while the instance lists a replica under it. */
      worker?: string;
      timeoutSeconds: number;
    }): Promise<{ ok: boolean; onReads: BinlogDumpClient[] | null; onNotReads: BinlogDumpClient[] | null; owners: string[]; waitedSeconds: number }> {
      const resolved = await Promise.all((req.ownerHosts ?? []).map((h) => resolveAll(h).catch(() => [] as string[])));
      const owners = [...new Set([...req.owners.map(normalizeAddress), ...resolved.flat()])];
      const mine = (xs: BinlogDumpClient[] | null) => (xs ?? []).filter((c) => ownsConnection(owners, c, req.worker));
      const r = await pollUntil(
        req.timeoutSeconds,
        async () => {
          const [onReads, onNotReads] = await Promise.all([req.reads ? dumpClientsIfUp(req.reads) : Promise.resolve(null), req.notReads ? dumpClientsIfUp(req.notReads) : Promise.resolve(null)]);
          return { onReads, onNotReads };
        },
        (v) => dumpsMoved({ reads: req.reads, owners, ...(req.worker === undefined ? {} : { worker: req.worker }) }, v.onReads, v.onNotReads),
        (v) => ({ on: mine(v.onReads).length, left: mine(v.onNotReads).length }),
      );
      return { ok: r.ok, ...r.last, owners, waitedSeconds: r.waitedSeconds };
    },

    /** As mysqlBinlogDumpClients, but null when the instance does not answer (a dead old instance serves nobody). */
    async mysqlBinlogDumpClientsIfUp(ref: InstanceRef): Promise<BinlogDumpClient[] | null> {
      return dumpClientsIfUp(ref);
    },

    /**
     * Closes the idle connections (COMMAND Sleep) that `user` holds from
     * `hosts` (the source's dm-worker) on this instance, while DM is paused and
     * before the VIP moves away from it. A connection the server closes is
     * noticed by the client's pool when it next takes it (and replaced,
     * through the VIP, by one to the new instance); a connection the VIP move
     * cuts is not, and DM's first use of it after resume fails with "invalid
     * connection" — which, on resume of a pessimistic shard-merge task,
     * leaves DM's sharding groups empty (DM's Syncer.Update re-creates them
     * and then fails to fetch the tables), so that the next shard DDL of the
     * source is skipped. Binlog dumps and other users are left alone.
     * Returns the connections closed; a KILL the server refuses is reported.
     */
    async mysqlCloseIdleConnections(req: { instance: InstanceRef; user: string; hosts: string[] }): Promise<{ closed: BinlogDumpClient[]; refused: string[] }> {
      let c: mysql.Connection;
      try {
        c = await connect(req.instance);
      } catch (e) {
        if (e instanceof ApplicationFailure) throw e;
        return { closed: [], refused: [`${req.instance.host}:${req.instance.port} does not answer: ${(e as Error).message}`] };
      }
      try {
        const [rows] = await c.query(`SELECT ID AS id, USER AS user, HOST AS host, COMMAND AS command, TIME AS seconds FROM information_schema.PROCESSLIST WHERE USER = ? AND COMMAND = 'Sleep' AND ID <> CONNECTION_ID()`, [req.user]);
        const wanted = new Set(req.hosts.map(normalizeAddress));
        const closed: BinlogDumpClient[] = [];
        const refused: string[] = [];
        for (const r of rows as Array<{ id: number | string; user: string; host: string; command: string; seconds: number | string }>) {
          const client = clientAddress(r.host);
          const addresses = isIP(client) ? [client] : await lookup(client, { all: true }).then((a) => a.map((x) => normalizeAddress(x.address)), () => []);
          if (![client, ...addresses].some((x) => wanted.has(normalizeAddress(x)))) continue;
          try {
            await c.query(`KILL CONNECTION ${Number(r.id)}`);
            closed.push({ id: Number(r.id), user: r.user, host: r.host, clientAddress: client, clientAddresses: addresses, command: r.command, seconds: Number(r.seconds) });
          } catch (e) {
            if ((e as { code?: string }).code !== 'ER_NO_SUCH_THREAD') refused.push(`KILL ${r.id} (${r.user}@${r.host}): ${(e as Error).message}`);
          }
        }
        return { closed, refused };
      } finally {
        await c.end().catch(() => undefined);
      }
    },

    /**
     * Candidates for a switch that chooses its own target (issue 18): the
     * replicas each instance of `ask` reports (MySQL SHOW REPLICAS, MariaDB
     * SHOW SLAVE HOSTS: a replica is listed with an address only when its
     * report_host is set), and with `alsoItsSource`, the replicas of the
     * instance's own replication source too. Only reads. Each instance
     * asked is named in `asked`, with what it answered or why it did not,
     * so a person sees where the list came from.
     */
    async mysqlDiscoverReplicas(req: { ask: InstanceRef; alsoItsSource: boolean; credentials: string }): Promise<{
      found: Array<{ host: string; port: number; via: string }>;
      asked: string[];
    }> {
      const found: Array<{ host: string; port: number; via: string }> = [];
      const asked: string[] = [];
      const list = async (ref: InstanceRef, source: boolean): Promise<void> => {
        const address = `${ref.host}:${ref.port}`;
        let c: mysql.Connection;
        try {
          c = await connect(ref);
        } catch (e) {
          if (e instanceof ApplicationFailure) throw e;
          asked.push(`${address}: does not answer (${(e as Error).message})`);
          return;
        }
        try {
          const v = await one<{ version: string }>(c, 'SELECT @@version AS version');
          const maria = /mariadb/i.test(v?.version ?? '');
          const [rows] = await c.query(maria ? 'SHOW SLAVE HOSTS' : 'SHOW REPLICAS');
          const replicas = (rows as Array<Record<string, unknown>>).map((r) => ({ host: String(r.Host ?? ''), port: Number(r.Port ?? 0) }));
          const named = replicas.filter((r) => r.host !== '' && r.port > 0);
          asked.push(`${address}: ${named.length} replica(s) reported${replicas.length > named.length ? `, ${replicas.length - named.length} without report_host (not usable)` : ''}`);
          for (const r of named) found.push({ ...r, via: `replica of ${address}` });
          if (source) {
            const [status] = await c.query(maria ? 'SHOW ALL SLAVES STATUS' : 'SHOW REPLICA STATUS');
            const channels = (status as Array<Record<string, unknown>>).map((row) => (maria ? replicaState(row, 'Slave', 'Master') : replicaState(row, 'Replica', 'Source')));
            if (channels.length === 0) asked.push(`${address}: replicates from nobody`);
            for (const ch of channels) await list({ host: ch.sourceHost, port: ch.sourcePort, credentials: req.credentials }, false);
          }
        } finally {
          await c.end().catch(() => undefined);
        }
      };
      await list(req.ask, req.alsoItsSource);
      const seen = new Set<string>();
      return { found: found.filter((f) => !seen.has(`${f.host}:${f.port}`) && seen.add(`${f.host}:${f.port}`)), asked };
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
        if (e instanceof ApplicationFailure && !loginRefused(e)) throw e;
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
