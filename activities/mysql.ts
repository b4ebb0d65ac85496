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
import type {
  BinlogDumpClient,
  DmBinlogReaders,
  Endpoint,
  FilterReading,
  Flavor,
  HopReading,
  InstanceFacts,
  ReplicaState,
  SourceReading,
} from '../common/switch/types.js';
import { CREDENTIAL_NOT_BOUND, failure, SwitchErrorType } from '../common/switch/errors.js';
import { clientAddress, normalizeAddress, ownsConnection } from '../common/switch/addresses.js';
import { resolveAll } from './net.js';
import { applying, channelsOf } from '../common/switch/replication.js';
import { mariadbPosition } from '../common/switch/mariadb-position.js';
import { pollUntil } from './poll.js';
import { authPlugins } from './mysql-auth.js';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';

export interface Credentials {
  user: string;
  password: string;
  /** The checked name or address to connect to (worker/host-binding.ts); the destination's host when absent. */
  connectTo?: string;
  /** TLS with this CA (PEM); the certificate's name checked against the host unless verifyIdentity is false. */
  tls?: { ca: string; verifyIdentity: boolean };
  /** The servers' RSA public key (PEM), pinned, for full authentication without TLS. */
  serverPublicKey?: string;
  /** Ask the server for its RSA key when neither TLS nor a pinned key is set. */
  allowPublicKeyRetrieval?: boolean;
}
/** Where a password is about to go: checked against the credential's hosts before it is handed out. */
export interface Destination extends Endpoint {
  /** What the connection is for, named in a refusal. */
  purpose: string;
}
export type CredentialResolver = (reference: string, to: Destination) => Promise<Credentials>;

/** How far up the chain of sources is read: deeper topologies are judged on what was read (and said so). */
export const MAX_CHAIN_DEPTH = 8;

/** The applier filters as SHOW REPLICA STATUS (MariaDB: SHOW ALL SLAVES STATUS) shows them per channel. */
const FILTER_COLUMNS = [
  'Replicate_Do_DB',
  'Replicate_Ignore_DB',
  'Replicate_Do_Table',
  'Replicate_Ignore_Table',
  'Replicate_Wild_Do_Table',
  'Replicate_Wild_Ignore_Table',
  'Replicate_Rewrite_DB',
  // MariaDB's CHANGE MASTER filters (MySQL's IGNORE_SERVER_IDS is judged apart: common/switch/filters.ts)
  'Replicate_Do_Domain_Ids',
  'Replicate_Ignore_Domain_Ids',
  'Replicate_Ignore_Server_Ids',
];

type Reachable = Extract<InstanceFacts, { reachable: true }>;

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
/** A login that did not happen for a reason of this server (refused, or not to be trusted with the password), not an outage. */
const loginRefused = (e: unknown): e is ApplicationFailure =>
  e instanceof ApplicationFailure && (e.details?.[0] === LOGIN_REFUSED || e.details?.[0] === CREDENTIAL_NOT_BOUND);

/** The server could not prove itself over TLS (or offers none): the password was not sent. */
const TLS_ERRORS = new Set([
  'HANDSHAKE_NO_SSL_SUPPORT',
  'HANDSHAKE_SSL_ERROR',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A login the server refused: the credential reference (or the grants) is wrong. */
export function isAccessError(e: unknown): boolean {
  return ACCESS_ERRORS.has(String((e as { code?: unknown })?.code ?? ''));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `reads` (when given) serves a binlog dump connection from `owners`, and `notReads` none from them (or does not answer: null). */
export function dumpsMoved(want: { reads: unknown; owners: string[]; worker?: string }, onReads: BinlogDumpClient[] | null, onNotReads: BinlogDumpClient[] | null): boolean {
  // where DM must read: any dump from the worker's address; where it must be gone: the name tells co-located workers apart
  const reads = (onReads ?? []).filter((c) => ownsConnection(want.owners, c));
  const left = (onNotReads ?? []).filter((c) => ownsConnection(want.owners, c, want.worker));
  return (!want.reads || reads.length > 0) && left.length === 0;
}

/**
 * A SHOW REPLICAS row that is one of DM's binlog readers (its syncer or relay
 * registers as a replica with the dm-worker's name as host, cut at 60
 * characters, and its source's server-id), in words; null for a server.
 */
export function dmReader(
  r: Endpoint & { serverId: number },
  dm: DmBinlogReaders | undefined,
): string | null {
  if (!dm) return null;
  const byId = dm.serverIds.find((x) => x.serverId === r.serverId);
  if (byId) return `server_id ${r.serverId} of DM source ${byId.sourceId}, registered as ${r.host}:${r.port}`;
  const host = r.host.toLowerCase();
  const byName = dm.workerNames.find((n) => n.slice(0, 60).toLowerCase() === host);
  return byName ? `dm-worker ${byName}, server_id ${r.serverId}` : null;
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
  async function connect(ref: InstanceRef, purpose = 'MySQL login'): Promise<mysql.Connection> {
    const creds = await resolve(ref.credentials, { host: ref.host, port: ref.port, purpose });
    const host = creds.connectTo ?? ref.host;
    const address = `${ref.host}:${ref.port}`;
    try {
      return await mysql.createConnection({
        host,
        port: ref.port,
        user: creds.user,
        password: creds.password,
        connectTimeout: options.connectTimeoutMs ?? 5_000,
        supportBigNumbers: true,
        bigNumberStrings: true,
        ...(creds.tls ? { ssl: { ca: creds.tls.ca, rejectUnauthorized: true, verifyIdentity: creds.tls.verifyIdentity } } : {}),
        authPlugins: authPlugins({
          reference: ref.credentials,
          address,
          tls: creds.tls !== undefined,
          ...(creds.serverPublicKey ? { serverPublicKey: creds.serverPublicKey } : {}),
          allowPublicKeyRetrieval: creds.allowPublicKeyRetrieval ?? false,
        }),
      });
    } catch (e) {
      const code = String((e as { code?: unknown }).code ?? '');
      if (code === 'DM_SWITCH_PASSWORD_WITHHELD' || TLS_ERRORS.has(code)) {
        const tls = TLS_ERRORS.has(code)
          ? ` (TLS of credential "${ref.credentials}": the server did not prove itself, ` +
            'so the password was not sent; check the CA and the host name)'
          : '';
        throw failure(`${address}: ${(e as Error).message}${tls}`, SwitchErrorType.InvalidInput, LOGIN_REFUSED);
      }
      if (isAccessError(e)) {
        throw failure(
          `${ref.host}:${ref.port} refused the login of credential reference "${ref.credentials}" ` +
            `(user ${creds.user}): ` +
            `${(e as Error).message}; fix the reference on the worker or the server's grants`,
          SwitchErrorType.InvalidInput,
          LOGIN_REFUSED,
        );
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

  /**
   * How the server writes row events beyond format and image: partial JSON
   * updates (a PARTIAL_UPDATE_ROWS_EVENT for every UPDATE) and compressed
   * transactions (Transaction_payload). Each read on its own, so a server
   * without one of them (MariaDB, an older MySQL) reports null for it.
   */
  async function binlogEventSettings(
    c: mysql.Connection,
    mysqlFlavor: boolean,
  ): Promise<{ binlogRowValueOptions: string | null; binlogTransactionCompression: boolean | null }> {
    const read = async (name: string): Promise<string | null> => {
      if (!mysqlFlavor) return null;
      try {
        const r = await one<{ v: string | number | null }>(c, `SELECT @@GLOBAL.${name} AS v`);
        return r?.v == null ? null : String(r.v);
      } catch (e) {
        if ((e as { code?: string }).code === 'ER_UNKNOWN_SYSTEM_VARIABLE') return null;
        throw e;
      }
    };
    const options = await read('binlog_row_value_options');
    const compression = await read('binlog_transaction_compression');
    const on = compression === null ? null : compression === '1' || /^on$/i.test(compression);
    return { binlogRowValueOptions: options, binlogTransactionCompression: on };
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
        ...(await binlogEventSettings(c, mysqlFlavor)),
      };
      if (opts.withSources) facts.filters = await readFilters(c, flavor, rows as Array<Record<string, unknown>>);
    } finally {
      await c.end().catch(() => undefined);
    }
    // the sources are read after the instance itself, so they hold everything they had sent it by then
    if (opts.withSources) {
      const chain = await walkChain(facts, ref.credentials);
      facts.chain = chain;
      facts.sources = facts.channels!.map((ch): SourceReading => {
        const address = `${ch.sourceHost}:${ch.sourcePort}`;
        const h = chain.find((x) => x.depth === 1 && x.address === address);
        if (!h) return { reachable: false, address, error: 'not read (it is the instance itself)' };
        if (!h.reachable) return { reachable: false, address, error: h.error };
        const { serverUuid, serverId, gtids, readOnly } = h;
        return { reachable: true, address, serverUuid, serverId, gtids, readOnly };
      });
    }
    return facts;
  }

  /**
   * Every server up the chain of sources from `facts` (breadth first, at most
   * MAX_CHAIN_DEPTH hops, each server once: a ring ends where it closes).
   */
  async function walkChain(facts: Reachable, credentials: string): Promise<HopReading[]> {
    const seenAddresses = new Set<string>([facts.address]);
    const seenUuids = new Set<string>([facts.serverUuid]);
    const out: HopReading[] = [];
    let level = (facts.channels ?? []).map((ch) => ({ host: ch.sourceHost, port: ch.sourcePort, of: facts.address }));
    for (let depth = 1; depth <= MAX_CHAIN_DEPTH && level.length; depth++) {
      const key = (x: Endpoint) => `${x.host}:${x.port}`;
      const fresh = level.filter((x) => !seenAddresses.has(key(x)) && seenAddresses.add(key(x)));
      const read = await Promise.all(
        fresh.map((x) => readHop({ host: x.host, port: x.port, credentials }, facts.flavor, depth, x.of)),
      );
      level = [];
      for (const h of read) {
        if (h.reachable && seenUuids.has(h.serverUuid)) continue; // another address of a server already read
        out.push(h);
        if (!h.reachable) continue;
        seenUuids.add(h.serverUuid);
        for (const ch of h.channels) {
          const i = ch.source.lastIndexOf(':');
          level.push({ host: ch.source.slice(0, i), port: Number(ch.source.slice(i + 1)), of: h.address });
        }
      }
    }
    return out;
  }

  /** One server of the chain: what it executed, whether it is writable, what it replicates from, its filters. */
  async function readHop(ref: InstanceRef, flavor: Flavor, depth: number, of: string): Promise<HopReading> {
    const address = `${ref.host}:${ref.port}`;
    let c: mysql.Connection;
    try {
      c = await connect(ref);
    } catch (e) {
      if (e instanceof ApplicationFailure && !loginRefused(e)) throw e;
      return { address, depth, of, reachable: false, error: (e as Error).message };
    }
    try {
      const mysqlFlavor = flavor === 'mysql';
      const r = (await one<Record<string, string | number>>(
        c,
        mysqlFlavor
          ? 'SELECT @@server_uuid AS uuid, @@server_id AS id, @@GLOBAL.gtid_executed AS gtids, ' +
              '@@GLOBAL.read_only AS ro, @@GLOBAL.super_read_only AS sro'
          : 'SELECT @@server_id AS id, @@GLOBAL.gtid_binlog_state AS gtids, @@GLOBAL.read_only AS ro',
      ))!;
      const [rows] = await c.query(mysqlFlavor ? 'SHOW REPLICA STATUS' : 'SHOW ALL SLAVES STATUS');
      const status = rows as Array<Record<string, unknown>>;
      const channels = status.map((row) =>
        mysqlFlavor ? replicaState(row, 'Replica', 'Source') : replicaState(row, 'Slave', 'Master'),
      );
      return {
        address,
        depth,
        of,
        reachable: true,
        serverUuid: mysqlFlavor ? String(r.uuid) : `server_id:${r.id}`,
        serverId: Number(r.id),
        gtids: mysqlFlavor ? parseGtidSet('mysql', String(r.gtids ?? '')).toString() : String(r.gtids ?? ''),
        readOnly: Number(r.ro) === 1 || Number(r.sro ?? 0) === 1,
        channels: channels.map((ch) => ({
          source: `${ch.sourceHost}:${ch.sourcePort}`,
          running: ch.ioRunning || ch.sqlRunning,
        })),
        filters: await readFilters(c, flavor, status),
      };
    } catch (e) {
      return { address, depth, of, reachable: false, error: (e as Error).message };
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  /**
   * The filters that could hide changes from DM: applier filters of each
   * channel (the SHOW REPLICA STATUS columns, which performance_schema off
   * does not hide) and the global ones (performance_schema, when on), the
   * binary log filters and replica_skip_errors.
   */
  async function readFilters(
    c: mysql.Connection,
    flavor: Flavor,
    status: Array<Record<string, unknown>>,
  ): Promise<FilterReading> {
    const applier: FilterReading['applier'] = [];
    const add = (channel: string, name: unknown, rule: unknown) => {
      const text = String(rule ?? '').trim();
      if (text !== '') applier.push({ channel, name: String(name).toUpperCase(), rule: text });
    };
    for (const row of status) {
      const channel = String(row.Channel_Name ?? row.Connection_name ?? '');
      for (const col of FILTER_COLUMNS) add(channel, col, row[col]);
    }
    if (flavor === 'mysql') {
      const sql = 'SELECT FILTER_NAME AS name, FILTER_RULE AS rule ' +
        'FROM performance_schema.replication_applier_global_filters';
      const [global] = await c.query(sql).catch(() => [[]]);
      for (const g of global as Array<{ name: string; rule: string }>) add('(global)', g.name, g.rule);
    } else {
      // the rewrite rules are a variable; SHOW SLAVE STATUS shows them too where it has the column (10.11)
      if (!status.some((row) => 'Replicate_Rewrite_DB' in row)) {
        const rwSql = 'SELECT @@GLOBAL.replicate_rewrite_db AS v';
        const rw = await one<{ v: string | null }>(c, rwSql).catch(() => undefined);
        add('(global)', 'REPLICATE_REWRITE_DB', rw?.v);
      }
      // events a session on the source marked with @@skip_replication: REPLICATE (the default) applies them
      const sql = 'SELECT @@GLOBAL.replicate_events_marked_for_skip AS v';
      const marked = await one<{ v: string | null }>(c, sql).catch(() => undefined);
      const how = String(marked?.v ?? 'REPLICATE');
      if (how.toUpperCase() !== 'REPLICATE') add('(global)', 'REPLICATE_EVENTS_MARKED_FOR_SKIP', how);
    }
    const [bl] = await c.query(flavor === 'mysql' ? 'SHOW BINARY LOG STATUS' : 'SHOW MASTER STATUS');
    const b = (bl as Array<Record<string, unknown>>)[0] ?? {};
    const variable = flavor === 'mysql' ? 'replica_skip_errors' : 'slave_skip_errors';
    const skip = await one<{ v: string | null }>(c, `SELECT @@GLOBAL.${variable} AS v`);
    return {
      applier,
      binlogDoDb: String(b.Binlog_Do_DB ?? '').trim(),
      binlogIgnoreDb: String(b.Binlog_Ignore_DB ?? '').trim(),
      skipErrors: String(skip?.v ?? 'OFF'),
    };
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
    async mysqlWaitForGtids(req: {
      instance: InstanceRef;
      flavor: Flavor;
      gtidSet: string;
      timeoutSeconds: number;
    }): Promise<{ caughtUp: boolean; missing: string; waitedSeconds: number; stopped?: string }> {
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
          const channels = channelsOf(facts);
          // an IO thread `Connecting` (its source died) while the SQL thread applies the relay log still catches up
          if (!applying(channels)) {
            const why = channels.map((c) => c.lastError).filter(Boolean).join('; ') || 'no channel has its SQL thread running';
            stopped = `replication of ${req.instance.host}:${req.instance.port} has stopped: ${why}`;
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
     * Candidates for a switch that chooses its own target: the
     * replicas each instance of `ask` reports (MySQL SHOW REPLICAS, MariaDB
     * SHOW SLAVE HOSTS: a replica is listed with an address only when its
     * report_host is set), and with `alsoItsSource`, the replicas of the
     * instance's own replication source too. Only reads. Each instance
     * asked is named in `asked`, with what it answered or why it did not,
     * so a person sees where the list came from.
     */
    async mysqlDiscoverReplicas(req: {
      ask: InstanceRef;
      alsoItsSource: boolean;
      credentials: string;
      /** DM's binlog readers (dmBinlogReaders): listed by SHOW REPLICAS, but not servers. */
      dmReaders?: DmBinlogReaders;
    }): Promise<{
      found: Array<Endpoint & { via: string }>;
      asked: string[];
    }> {
      const found: Array<Endpoint & { via: string }> = [];
      const asked: string[] = [];
      const list = async (ref: InstanceRef, source: boolean): Promise<void> => {
        const address = `${ref.host}:${ref.port}`;
        let c: mysql.Connection;
        try {
          c = await connect(ref);
        } catch (e) {
          // a source the asked server reports is followed only where the credential belongs
          if (!source && e instanceof ApplicationFailure && e.details?.[0] === CREDENTIAL_NOT_BOUND) {
            asked.push(`${address}: not followed (${e.message})`);
            return;
          }
          if (e instanceof ApplicationFailure) throw e;
          asked.push(`${address}: does not answer (${(e as Error).message})`);
          return;
        }
        try {
          const v = await one<{ version: string }>(c, 'SELECT @@version AS version');
          const maria = /mariadb/i.test(v?.version ?? '');
          const [rows] = await c.query(maria ? 'SHOW SLAVE HOSTS' : 'SHOW REPLICAS');
          const listed = (rows as Array<Record<string, unknown>>).map((r) => ({
            host: String(r.Host ?? ''),
            port: Number(r.Port ?? 0),
            serverId: Number(r.Server_Id ?? r.Server_id ?? 0),
          }));
          const readers = listed.map((r) => dmReader(r, req.dmReaders));
          const replicas = listed.filter((_, i) => readers[i] === null);
          const named = replicas.filter((r) => r.host !== '' && r.port > 0);
          const dmNote = readers.filter((x) => x !== null);
          const unnamed = replicas.length - named.length;
          asked.push(
            `${address}: ${named.length} replica(s) reported` +
              `${unnamed > 0 ? `, ${unnamed} without report_host (not usable)` : ''}` +
              `${dmNote.length ? `, passed over ${dmNote.length} DM binlog reader(s) (${dmNote.join(', ')})` : ''}`,
          );
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
        // a MariaDB checkpoint lists one GTID per domain and server id: one position per domain for the checks
        const gtid = mariadbPosition(row?.binlog_gtid ?? '');
        return row ? { binlogGtid: gtid, binlogName: row.binlog_name, binlogPos: Number(row.binlog_pos) } : null;
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
