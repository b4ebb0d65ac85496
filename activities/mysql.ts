/**
 * The upstream MySQL/MariaDB instances as activities. Credentials come from
 * references resolved on the worker (worker/credentials.ts); the workflow
 * only ever sees the reference's name. Connections: mysql-connection.ts;
 * reading an instance: mysql-inspect.ts.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import mysql from 'mysql2/promise';
import { parseGtidSet } from '../common/gtid/index.js';
import type { InstanceRef } from '../common/switch/input.js';
import type { BinlogDumpClient, DmBinlogReaders, Endpoint, Flavor, InstanceFacts } from '../common/switch/types.js';
import { CREDENTIAL_NOT_BOUND, SwitchErrorType } from '../common/switch/errors.js';
import { clientAddress, normalizeAddress, ownsConnection } from '../common/switch/addresses.js';
import { resolveAll } from './net.js';
import { applying, channelsOf } from '../common/switch/replication.js';
import { mariadbPosition } from '../common/switch/mariadb-position.js';
import { pollUntil } from './poll.js';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import {
  dmReader,
  dumpsMoved,
  loginDenied,
  loginRefused,
  mysqlConnector,
  replicaState,
  sleep,
  type CredentialResolver,
} from './mysql-connection.js';
import { mysqlInspector } from './mysql-inspect.js';

export { dmReader, dumpsMoved, isAccessError, MAX_CHAIN_DEPTH } from './mysql-connection.js';
export type { CredentialResolver, Credentials, Destination } from './mysql-connection.js';

/** A credential's login, tried: the server's version, or why it did not log in. */
export type LoginCheck =
  | { ok: true; version: string }
  /** `denied`: the server refused the user or its password (not: the password was withheld, or nobody answered). */
  | { ok: false; error: string; denied: boolean };

export function createMysqlActivities(resolve: CredentialResolver, options: { connectTimeoutMs?: number } = {}) {
  const conn = mysqlConnector(resolve, options);
  const { connect, one, dumpClients, dumpClientsIfUp } = conn;
  const { inspect } = mysqlInspector(conn);
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
          if (gap.isEmpty())
            return { caughtUp: true, missing: '', waitedSeconds: Math.round((Date.now() - started) / 1000) };
          missing = gap.toCompactString();
          const channels = channelsOf(facts);
          // an IO thread `Connecting` (its source died) while the SQL thread applies the relay log still catches up
          if (!applying(channels)) {
            const why =
              channels
                .map((c) => c.lastError)
                .filter(Boolean)
                .join('; ') || 'no channel has its SQL thread running';
            stopped = `replication of ${req.instance.host}:${req.instance.port} has stopped: ${why}`;
            missing += ` (${stopped})`;
          }
        }
        ctx.heartbeat({ started, missing });
        // stopped replication does not catch up by waiting: after 3 s of it (not a restart in progress), say so now
        stoppedSince = stopped ? (stoppedSince ?? Date.now()) : null;
        if (stopped && stoppedSince !== null && Date.now() - stoppedSince >= 3000)
          return { caughtUp: false, missing, waitedSeconds: Math.round((Date.now() - started) / 1000), stopped };
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
        throw ApplicationFailure.create({
          message: `cannot connect to ${ref.host}:${ref.port}: ${e.message}`,
          type: SwitchErrorType.VerificationFailed,
        });
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
    }): Promise<{
      ok: boolean;
      onReads: BinlogDumpClient[] | null;
      onNotReads: BinlogDumpClient[] | null;
      owners: string[];
      waitedSeconds: number;
    }> {
      const resolved = await Promise.all((req.ownerHosts ?? []).map((h) => resolveAll(h).catch(() => [] as string[])));
      const owners = [...new Set([...req.owners.map(normalizeAddress), ...resolved.flat()])];
      const mine = (xs: BinlogDumpClient[] | null) => (xs ?? []).filter((c) => ownsConnection(owners, c, req.worker));
      const r = await pollUntil(
        req.timeoutSeconds,
        async () => {
          const [onReads, onNotReads] = await Promise.all([
            req.reads ? dumpClientsIfUp(req.reads) : Promise.resolve(null),
            req.notReads ? dumpClientsIfUp(req.notReads) : Promise.resolve(null),
          ]);
          return { onReads, onNotReads };
        },
        (v) =>
          dumpsMoved(
            { reads: req.reads, owners, ...(req.worker === undefined ? {} : { worker: req.worker }) },
            v.onReads,
            v.onNotReads,
          ),
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
    async mysqlCloseIdleConnections(req: {
      instance: InstanceRef;
      user: string;
      hosts: string[];
    }): Promise<{ closed: BinlogDumpClient[]; refused: string[] }> {
      let c: mysql.Connection;
      try {
        c = await connect(req.instance);
      } catch (e) {
        if (e instanceof ApplicationFailure) throw e;
        return {
          closed: [],
          refused: [`${req.instance.host}:${req.instance.port} does not answer: ${(e as Error).message}`],
        };
      }
      try {
        const [rows] = await c.query(
          `SELECT ID AS id, USER AS user, HOST AS host, COMMAND AS command, TIME AS ` +
            `seconds FROM information_schema.PROCESSLIST WHERE USER = ? AND COMMAND = ` +
            `'Sleep' AND ID <> CONNECTION_ID()`,
          [req.user],
        );
        const wanted = new Set(req.hosts.map(normalizeAddress));
        const closed: BinlogDumpClient[] = [];
        const refused: string[] = [];
        for (const r of rows as Array<{
          id: number | string;
          user: string;
          host: string;
          command: string;
          seconds: number | string;
        }>) {
          const client = clientAddress(r.host);
          const addresses = isIP(client)
            ? [client]
            : await lookup(client, { all: true }).then(
                (a) => a.map((x) => normalizeAddress(x.address)),
                () => [],
              );
          if (![client, ...addresses].some((x) => wanted.has(normalizeAddress(x)))) continue;
          try {
            await c.query(`KILL CONNECTION ${Number(r.id)}`);
            closed.push({
              id: Number(r.id),
              user: r.user,
              host: r.host,
              clientAddress: client,
              clientAddresses: addresses,
              command: r.command,
              seconds: Number(r.seconds),
            });
          } catch (e) {
            if ((e as { code?: string }).code !== 'ER_NO_SUCH_THREAD')
              refused.push(`KILL ${r.id} (${r.user}@${r.host}): ${(e as Error).message}`);
          }
        }
        return { closed, refused };
      } finally {
        await c.end().catch(() => undefined);
      }
    },

    /**
     * Candidates for a switch that chooses its own target: the
     * replicas each instance of `ask` reports (its dialect's replicaHosts:
     * a replica is listed with an address only when its report_host is
     * set), and with `alsoItsSource`, the replicas of the instance's own
     * replication source too. Only reads. Each instance
     * asked is named in `asked`, with what it answered or why it did not,
     * so a person sees where the list came from; those that did not answer
     * are also in `unanswered` (host:port), for the workflow to decide on.
     */
    async mysqlDiscoverReplicas(req: {
      ask: InstanceRef;
      alsoItsSource: boolean;
      credentials: string;
      /** DM's binlog readers (dmBinlogReaders): listed among the replicas, but not servers. */
      dmReaders?: DmBinlogReaders;
    }): Promise<{
      found: Array<Endpoint & { via: string }>;
      asked: string[];
      unanswered: string[];
    }> {
      const found: Array<Endpoint & { via: string }> = [];
      const asked: string[] = [];
      const unanswered: string[] = [];
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
          unanswered.push(address);
          return;
        }
        try {
          const d = await conn.dialect(c);
          const [rows] = await c.query(d.replicaHosts);
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
            const [status] = await c.query(d.replicaStatus);
            const channels = (status as Array<Record<string, unknown>>).map((row) => replicaState(row, d.columns));
            if (channels.length === 0) asked.push(`${address}: replicates from nobody`);
            for (const ch of channels)
              await list({ host: ch.sourceHost, port: ch.sourcePort, credentials: req.credentials }, false);
          }
        } finally {
          await c.end().catch(() => undefined);
        }
      };
      await list(req.ask, req.alsoItsSource);
      const seen = new Set<string>();
      const unique = found.filter((f) => !seen.has(`${f.host}:${f.port}`) && seen.add(`${f.host}:${f.port}`));
      return { found: unique, asked, unanswered };
    },

    /**
     * Checks that a credential reference logs in to an address (a downstream,
     * or a source's replication user), so a wrong password is found before
     * anything changes. Returns the server version, or the error in words
     * and whether the server itself refused the user or its password
     * (`denied`; its words then already say to fix the reference or the
     * grants).
     */
    async mysqlCheckLogin(ref: InstanceRef): Promise<LoginCheck> {
      try {
        const c = await connect(ref);
        try {
          return { ok: true, version: String((await one<{ v: string }>(c, 'SELECT VERSION() AS v'))?.v) };
        } finally {
          await c.end().catch(() => undefined);
        }
      } catch (e) {
        if (e instanceof ApplicationFailure && !loginRefused(e)) throw e;
        return { ok: false, error: (e as Error).message, denied: loginDenied(e) };
      }
    },

    /**
     * DM's own checkpoint of a task on a source, read from the downstream
     * (`<meta-schema>.<task>_syncer_checkpoint`, the global row): the
     * position a stopped task resumes from. Null when the task has none.
     */
    async mysqlReadCheckpoint(req: {
      downstream: InstanceRef;
      metaSchema: string;
      task: string;
      sourceId: string;
    }): Promise<{ binlogGtid: string; binlogName: string; binlogPos: number } | null> {
      const c = await connect(req.downstream).catch((e: Error) => {
        throw new Error(`cannot connect to the downstream ${req.downstream.host}:${req.downstream.port}: ${e.message}`);
      });
      try {
        const table = `${req.task}_syncer_checkpoint`;
        const [rows] = await c.query(
          'SELECT binlog_gtid, binlog_name, binlog_pos FROM ??.?? WHERE id = ? AND is_global = 1',
          [req.metaSchema, table, req.sourceId],
        );
        const row = (
          rows as Array<{ binlog_gtid: string | null; binlog_name: string; binlog_pos: number | string }>
        )[0];
        // a MariaDB checkpoint lists one GTID per domain and server id: one position per domain for the checks
        const gtid = mariadbPosition(row?.binlog_gtid ?? '');
        return row ? { binlogGtid: gtid, binlogName: row.binlog_name, binlogPos: Number(row.binlog_pos) } : null;
      } catch (e) {
        if ((e as { code?: string }).code === 'ER_NO_SUCH_TABLE' || (e as { code?: string }).code === 'ER_BAD_DB_ERROR')
          return null;
        throw e;
      } finally {
        await c.end().catch(() => undefined);
      }
    },
  };
}

export type MysqlActivities = ReturnType<typeof createMysqlActivities>;
