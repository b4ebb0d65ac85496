/**
 * Reading an instance for preflight and the GTID checks: its GTID state,
 * binary log settings, replication channels and filters, and the chain of
 * servers up to the primary (at most MAX_CHAIN_DEPTH hops, each read once).
 */
import { ApplicationFailure } from '@temporalio/common';
import mysql from 'mysql2/promise';
import { parseGtidSet } from '../common/gtid/index.js';
import type { InstanceRef } from '../common/switch/input.js';
import type { Endpoint, FilterReading, HopReading, InstanceFacts, SourceReading } from '../common/switch/types.js';
import {
  BINLOG_EVENT_SETTINGS_COLUMNS,
  BINLOG_EVENT_SETTINGS_SQL,
  filterWords,
  globalFiltersSql,
  hopSettingsSql,
  instanceSettingsSql,
  skipErrorsSql,
  type Dialect,
} from '../common/mysql/dialect.js';
import {
  FILTER_COLUMNS,
  loginRefused,
  MAX_CHAIN_DEPTH,
  replicaState,
  type MysqlConnector,
  type Reachable,
} from './mysql-connection.js';

/** The instance readers, over one connector. */
export function mysqlInspector(conn: MysqlConnector) {
  const { connect, one, dialect } = conn;
  /**
   * How the server writes row events beyond format and image: partial JSON
   * updates (a PARTIAL_UPDATE_ROWS_EVENT for every UPDATE) and compressed
   * transactions (Transaction_payload). Asked whatever version the server
   * reports, since a version can be misreported and these decide whether DM
   * can read what the server logs; a server without one of them (MariaDB, an
   * older MySQL, a build without it) answers "unknown system variable", and
   * reports null for it.
   */
  async function binlogEventSettings(
    c: mysql.Connection,
  ): Promise<{ binlogRowValueOptions: string | null; binlogTransactionCompression: boolean | null }> {
    type Row = { options?: string | null; compression?: string | number | null };
    const unknown = (e: unknown) => (e as { code?: string }).code === 'ER_UNKNOWN_SYSTEM_VARIABLE';
    const r = await one<Row>(c, BINLOG_EVENT_SETTINGS_SQL).catch(async (e) => {
      if (!unknown(e)) throw e;
      const parts = await Promise.all(
        BINLOG_EVENT_SETTINGS_COLUMNS.map((x) =>
          one<Row>(c, `SELECT ${x}`).catch((e2) => {
            if (!unknown(e2)) throw e2;
            return undefined;
          }),
        ),
      );
      return Object.assign({}, ...parts) as Row;
    });
    const options = r?.options == null ? null : String(r.options);
    const compression = r?.compression == null ? null : String(r.compression);
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
      const d = await dialect(c);
      const flavor = d.version.flavor;
      const mysqlFlavor = flavor === 'mysql';
      // One query: the shared settings, and the flavor's own GTID variables, by the names this version has.
      const r = (await one<Record<string, string | number | null>>(c, instanceSettingsSql(d)))!;
      const [rows] = await c.query(d.replicaStatus);
      const channels = (rows as Array<Record<string, unknown>>).map((row) => replicaState(row, d.columns));
      facts = {
        reachable: true,
        address,
        flavor,
        version: d.version.text,
        dialect: d,
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
        ...(await binlogEventSettings(c)),
      };
      if (opts.withSources) facts.filters = await readFilters(c, d, rows as Array<Record<string, unknown>>);
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
        fresh.map((x) => readHop({ host: x.host, port: x.port, credentials }, depth, x.of)),
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
  async function readHop(ref: InstanceRef, depth: number, of: string): Promise<HopReading> {
    const address = `${ref.host}:${ref.port}`;
    let c: mysql.Connection;
    try {
      c = await connect(ref);
    } catch (e) {
      if (e instanceof ApplicationFailure && !loginRefused(e)) throw e;
      return { address, depth, of, reachable: false, error: (e as Error).message };
    }
    try {
      // each server of the chain in its own dialect: an intermediate may run another version than the replica
      const d = await dialect(c);
      const mysqlFlavor = d.version.flavor === 'mysql';
      const r = (await one<Record<string, string | number>>(c, hopSettingsSql(d)))!;
      const [rows] = await c.query(d.replicaStatus);
      const status = rows as Array<Record<string, unknown>>;
      const channels = status.map((row) => replicaState(row, d.columns));
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
        filters: await readFilters(c, d, status),
      };
    } catch (e) {
      return { address, depth, of, reachable: false, error: (e as Error).message };
    } finally {
      await c.end().catch(() => undefined);
    }
  }

  /**
   * The filters that could hide changes from DM: applier filters of each
   * channel (the replica status columns, which performance_schema off does
   * not hide; on a server without filter tables, 5.7, the only place they
   * show) and the global ones (performance_schema, where the server has the
   * table and it is on), the binary log filters and the skipped errors.
   */
  async function readFilters(
    c: mysql.Connection,
    d: Dialect,
    status: Array<Record<string, unknown>>,
  ): Promise<FilterReading> {
    const flavor = d.version.flavor;
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
      const sql = globalFiltersSql(d);
      // performance_schema off: the table does not answer, and the status columns above are what there is
      const [global] = sql ? await c.query(sql).catch(() => [[]]) : [[]];
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
    const [bl] = await c.query(d.binlogStatus);
    const b = (bl as Array<Record<string, unknown>>)[0] ?? {};
    const skip = await one<{ v: string | null }>(c, skipErrorsSql(d));
    return {
      applier,
      binlogDoDb: String(b.Binlog_Do_DB ?? '').trim(),
      binlogIgnoreDb: String(b.Binlog_Ignore_DB ?? '').trim(),
      skipErrors: String(skip?.v ?? 'OFF'),
      words: filterWords(d),
    };
  }

  return { inspect };
}
