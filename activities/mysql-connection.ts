/**
 * Connections to the upstream MySQL/MariaDB instances, through mysql2: the
 * credential reference resolved on the worker (worker/credentials.ts) for the
 * one destination it is bound to, TLS and the authentication plugins, and
 * what a login refusal means. Also the binlog dump connections an instance
 * serves (DM's readers and replicas).
 */
import { ApplicationFailure } from '@temporalio/common';
import mysql from 'mysql2/promise';
import type { InstanceRef } from '../common/switch/input.js';
import type {
  BinlogDumpClient,
  DmBinlogReaders,
  Endpoint,
  InstanceFacts,
  ReplicaState,
} from '../common/switch/types.js';
import { CREDENTIAL_NOT_BOUND, failure, SwitchErrorType } from '../common/switch/errors.js';
import { clientAddress, normalizeAddress, ownsConnection } from '../common/switch/addresses.js';
import { authPlugins } from './mysql-auth.js';
import { ATTR, inSpan, traceQueries } from './tracing.js';
import { dialectOf, VERSION_SQL, type Dialect } from '../common/mysql/dialect.js';
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

/** The applier filters as the replica status (common/mysql/dialect.ts: replicaStatus) shows them per channel. */
export const FILTER_COLUMNS = [
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

export type Reachable = Extract<InstanceFacts, { reachable: true }>;

/** One row of the replica status, by the column names of the server's dialect (Replica_/Source_, Slave_/Master_). */
export function replicaState(rs: Record<string, unknown>, columns: Dialect['columns']): ReplicaState {
  const { thread, source } = columns;
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
const ACCESS_ERRORS = new Set([
  'ER_ACCESS_DENIED_ERROR',
  'ER_ACCESS_DENIED_NO_PASSWORD_ERROR',
  'ER_DBACCESS_DENIED_ERROR',
  'ER_HOST_NOT_PRIVILEGED',
  'ER_NOT_SUPPORTED_AUTH_MODE',
  'ER_SPECIFIC_ACCESS_DENIED_ERROR',
]);

const LOGIN_REFUSED = 'login-refused';
/** The server refused the user or its password: the failure's message says to fix the reference or the grants. */
const LOGIN_DENIED = 'login-denied';
/**
 * A login that did not happen for a reason of this server (refused, or not to be trusted with the password), not an
 * outage.
 */
export const loginRefused = (e: unknown): e is ApplicationFailure =>
  e instanceof ApplicationFailure &&
  [LOGIN_REFUSED, LOGIN_DENIED, CREDENTIAL_NOT_BOUND].includes(e.details?.[0] as string);
/** The server itself refused the user or its password (not: the password was withheld, or nobody answered). */
export const loginDenied = (e: unknown): boolean => e instanceof ApplicationFailure && e.details?.[0] === LOGIN_DENIED;

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

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `reads` (when given) serves a binlog dump connection from `owners`, and `notReads` none from them (or does not
 * answer: null).
 */
export function dumpsMoved(
  want: { reads: unknown; owners: string[]; worker?: string },
  onReads: BinlogDumpClient[] | null,
  onNotReads: BinlogDumpClient[] | null,
): boolean {
  // where DM must read: any dump from the worker's address; where it must be gone: the name tells co-located workers
  // apart
  const reads = (onReads ?? []).filter((c) => ownsConnection(want.owners, c));
  const left = (onNotReads ?? []).filter((c) => ownsConnection(want.owners, c, want.worker));
  return (!want.reads || reads.length > 0) && left.length === 0;
}

/**
 * A SHOW REPLICAS row that is one of DM's binlog readers (its syncer or relay
 * registers as a replica with the dm-worker's name as host, cut at 60
 * characters, and its source's server-id), in words; null for a server.
 */
export function dmReader(r: Endpoint & { serverId: number }, dm: DmBinlogReaders | undefined): string | null {
  if (!dm) return null;
  const byId = dm.serverIds.find((x) => x.serverId === r.serverId);
  if (byId) return `server_id ${r.serverId} of DM source ${byId.sourceId}, registered as ${r.host}:${r.port}`;
  const host = r.host.toLowerCase();
  const byName = dm.workerNames.find((n) => n.slice(0, 60).toLowerCase() === host);
  return byName ? `dm-worker ${byName}, server_id ${r.serverId}` : null;
}

/** What the activities share: a connection to an instance, and the reads every module needs. */
export function mysqlConnector(resolve: CredentialResolver, options: { connectTimeoutMs?: number } = {}) {
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
    // a span for the login and one for each query on the connection (activities/tracing.ts): never the password
    const instance = `${ref.host}:${ref.port}`;
    const attributes = { 'db.system': 'mysql', [ATTR.instance]: instance };
    return traceQueries(await inSpan('mysql connect', attributes, () => login(ref, purpose)), instance);
  }

  async function login(ref: InstanceRef, purpose: string): Promise<mysql.Connection> {
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
        ...(creds.tls
          ? { ssl: { ca: creds.tls.ca, rejectUnauthorized: true, verifyIdentity: creds.tls.verifyIdentity } }
          : {}),
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
          LOGIN_DENIED,
        );
      }
      throw e;
    }
  }

  async function dumpClients(c: mysql.Connection): Promise<BinlogDumpClient[]> {
    const [rows] = await c.query(
      `SELECT ID AS id, USER AS user, HOST AS host, COMMAND AS command, TIME AS ` +
        `seconds FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'`,
    );
    const replicaHosts = await registeredReplicaHosts(c);
    const names = new Map<string, Promise<string[]>>();
    return Promise.all(
      (
        rows as Array<{ id: number | string; user: string; host: string; command: string; seconds: number | string }>
      ).map(async (r) => {
        const client = clientAddress(r.host);
        // with name resolution on, MySQL shows the client's name (127.0.0.1 as `localhost`): resolve it back
        if (!names.has(client))
          names.set(
            client,
            isIP(client)
              ? Promise.resolve([client])
              : lookup(client, { all: true }).then(
                  (a) => a.map((x) => normalizeAddress(x.address)),
                  () => [],
                ),
          );
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
    try {
      const [rows] = await c.query((await dialect(c)).replicaHosts);
      return (rows as Array<Record<string, unknown>>).map((r) => String(r.Host ?? ''));
    } catch {
      // without the privilege, the list does not answer
      return null;
    }
  }

  const dialects = new WeakMap<mysql.Connection, Promise<Dialect>>();
  /** The server's dialect (common/mysql/dialect.ts), read once per connection from its version. */
  function dialect(c: mysql.Connection): Promise<Dialect> {
    let d = dialects.get(c);
    if (!d) {
      d = one<{ version: string; comment: string | null }>(c, VERSION_SQL).then((v) =>
        dialectOf(String(v?.version ?? ''), String(v?.comment ?? '')),
      );
      dialects.set(c, d);
    }
    return d;
  }

  async function one<T>(c: mysql.Connection, sql: string, params: unknown[] = []): Promise<T | undefined> {
    const [rows] = await c.query(sql, params);
    return (rows as T[])[0];
  }

  return { connect, one, dialect, dumpClients, dumpClientsIfUp, registeredReplicaHosts };
}

export type MysqlConnector = ReturnType<typeof mysqlConnector>;
