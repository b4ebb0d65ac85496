/**
 * Which statements, variables and result columns a server understands, decided once per connection from its
 * `@@version` (and `@@version_comment`). Pure: the activities ask it what to send, the workflows what to say.
 *
 * MySQL renamed its replication words in steps (8.0.22 statements, 8.0.26 variables, 8.2 SHOW BINARY LOG STATUS,
 * 8.4 removed the old ones), and added features an older server simply lacks; MariaDB kept the old column names and
 * added its own aliases. Every version boundary is one row of VERSION_TABLE below, with the manual page it comes
 * from; nothing outside this module spells a version-dependent keyword (test/unit/dialect-keywords.test.ts).
 *
 * A feature the server lacks (its variable does not exist there) is decided off here, said once in `off`, and the
 * variable is never asked for: no unknown-variable error, no crash. What a server says of its version is not proof
 * of what it has (a proxy answers with its own server_version; a build can be patched), so the version decides
 * spellings and reads that cannot hide a risk, never whether to read a setting that could make DM lose or skip
 * rows: the binary log event settings are asked on every server (`binlogEventSettingsSql`).
 */
import type { Flavor } from '../gtid/types.js';

/** A server version as parsed from `@@version`. */
export interface ServerVersion {
  flavor: Flavor;
  major: number;
  minor: number;
  patch: number;
  /** `@@version` as the server said it. */
  text: string;
}

type Triple = [number, number, number];

/** What a server has, each decided from its version. */
export interface DialectFeatures {
  /** SHOW REPLICA STATUS, SHOW REPLICAS, START/STOP REPLICA (else the SLAVE spellings). */
  replicaKeywords: boolean;
  /** Replica_/Source_ columns in the replica status (else Slave_/Master_). */
  sourceColumns: boolean;
  /** log_replica_updates, replica_skip_errors (else log_slave_updates, slave_skip_errors). */
  replicaVariables: boolean;
  /** performance_schema.replication_applier_global_filters (else the filters are only the status columns). */
  filterTables: boolean;
  /** CHANGE REPLICATION FILTER … FOR CHANNEL (else a filter is global, for every channel). */
  channelFilters: boolean;
  /** GTIDs of the form uuid:tag:n. */
  taggedGtids: boolean;
  /** super_read_only. */
  superReadOnly: boolean;
  /** SET PERSIST (else SET GLOBAL plus the configuration file). */
  setPersist: boolean;
}

/** The decisions for one server: what to send it, how to read its answers, what it lacks. */
export interface Dialect {
  version: ServerVersion;
  features: DialectFeatures;
  /** The statement that lists every replication channel with its filters. */
  replicaStatus: string;
  /** The statement that lists the replicas registered on the server. */
  replicaHosts: string;
  /** The statement that shows the binary log's filters (Binlog_Do_DB, Binlog_Ignore_DB). */
  binlogStatus: string;
  /** Column prefixes of the replica status: `${thread}_IO_Running`, `${source}_Host`. */
  columns: { thread: 'Replica' | 'Slave'; source: 'Source' | 'Master' };
  /** Variable names. */
  variables: { logReplicaUpdates: string; skipErrors: string };
  /** The global filter table (channel `(global)`), when the server has one. */
  globalFilterTable: string | null;
  /** Words for a DBA: how to stop and start replication on this server. */
  stopReplica: string;
  startReplica: string;
  /** Each feature the server lacks, in words, once: what it means for the checks. */
  off: string[];
}

/**
 * The version boundaries. `mysql`/`mariadb`: the first version that has the feature (null: never). Each row names
 * the manual page that says so.
 */
const VERSION_TABLE: Record<keyof DialectFeatures, { mysql: Triple | null; mariadb: Triple | null; why: string }> = {
  // MySQL 8.0 manual, "SHOW SLAVE | REPLICA STATUS Statement" and "SHOW SLAVE HOSTS | SHOW REPLICAS Statement":
  // "From MySQL 8.0.22, SHOW SLAVE STATUS is deprecated and the alias SHOW REPLICA STATUS should be used"; MySQL 8.4
  // manual: the SLAVE spellings are removed. MariaDB: "SHOW REPLICA STATUS" is an alias from 10.5.1 (MariaDB
  // documentation, "SHOW REPLICA STATUS"); its multi-source form SHOW ALL SLAVES STATUS is used on every MariaDB.
  replicaKeywords: { mysql: [8, 0, 22], mariadb: [10, 5, 1], why: 'SHOW REPLICA STATUS / SHOW REPLICAS' },
  // MySQL 8.0 manual, "SHOW REPLICA STATUS Statement": the columns renamed with the statement in 8.0.22 (SHOW SLAVE
  // STATUS on 8.0.22+ answers with the new names too). MariaDB never renamed them (Slave_IO_Running, Master_Host).
  sourceColumns: { mysql: [8, 0, 22], mariadb: null, why: 'Source_/Replica_ columns' },
  // MySQL 8.0 manual, "Binary Logging Options and Variables" (log_replica_updates: "introduced 8.0.26", replacing
  // log_slave_updates) and "Replica Server Options and Variables" (replica_skip_errors, 8.0.26). MariaDB keeps
  // log_slave_updates and slave_skip_errors (MariaDB documentation, "Replication and Binary Log System Variables").
  replicaVariables: { mysql: [8, 0, 26], mariadb: null, why: 'log_replica_updates / replica_skip_errors' },
  // MySQL 8.0 manual, "The replication_applier_global_filters Table" (Performance Schema replication tables, new in
  // 8.0 with channel filters); the MySQL 5.7 manual has no such table: 5.7's filters are the Replicate_* columns of
  // SHOW SLAVE STATUS ("SHOW SLAVE STATUS Syntax", 5.7). MariaDB: filters are variables, read apart.
  filterTables: {
    mysql: [8, 0, 0],
    mariadb: null,
    why: 'performance_schema.replication_applier_global_filters',
  },
  // MySQL 8.0 manual, "CHANGE REPLICATION FILTER Statement": FOR CHANNEL from 8.0; in 5.7 a filter applies to
  // every channel (MySQL 5.7 manual, "CHANGE REPLICATION FILTER Syntax").
  channelFilters: { mysql: [8, 0, 0], mariadb: null, why: 'CHANGE REPLICATION FILTER … FOR CHANNEL' },
  // MySQL 8.4 manual, "GTID Format and Storage": tagged GTIDs (uuid:tag:number) from MySQL 8.3.0 (worklog 15294).
  taggedGtids: { mysql: [8, 3, 0], mariadb: null, why: 'tagged GTIDs' },
  // MySQL 5.7 manual, "Server System Variables": super_read_only, added in 5.7.8. MariaDB has only read_only.
  superReadOnly: { mysql: [5, 7, 8], mariadb: null, why: 'super_read_only' },
  // MySQL 8.0 manual, "SET Syntax for Variable Assignment": SET PERSIST is new in 8.0. MariaDB has none.
  setPersist: { mysql: [8, 0, 0], mariadb: null, why: 'SET PERSIST' },
};

/**
 * `@@version` → flavor and numbers. `8.0.36-28` (Percona Server), `5.7.44-log`, `10.11.6-MariaDB-0+deb12u1-log`,
 * `5.5.5-10.11.6-MariaDB` (MariaDB's replication-compatible prefix) all parse; MariaDB is told by its name in the
 * version or in `@@version_comment`.
 */
export function parseServerVersion(text: string, comment = ''): ServerVersion {
  const mariadb = /mariadb/i.test(text) || /mariadb/i.test(comment);
  const stripped = mariadb ? text.replace(/^5\.5\.5-/, '') : text;
  const m = /^\s*(\d+)\.(\d+)(?:\.(\d+))?/.exec(stripped);
  if (!m) throw new Error(`cannot read a server version from @@version ${JSON.stringify(text)}`);
  return {
    flavor: mariadb ? 'mariadb' : 'mysql',
    major: Number(m[1]),
    minor: Number(m[2]),
    patch: Number(m[3] ?? 0),
    text,
  };
}

const atLeast = (v: ServerVersion, t: Triple | null) =>
  t !== null && (v.major !== t[0] ? v.major > t[0] : v.minor !== t[1] ? v.minor > t[1] : v.patch >= t[2]);

const shown = (t: Triple) => t.join('.');

/** What each lacking feature means, said once. */
function offNotes(v: ServerVersion, f: DialectFeatures): string[] {
  const at = `${v.flavor === 'mysql' ? 'MySQL' : 'MariaDB'} ${v.major}.${v.minor}.${v.patch}`;
  const since = (k: keyof DialectFeatures) => {
    const first = VERSION_TABLE[k][v.flavor];
    return first ? `added in ${v.flavor === 'mysql' ? 'MySQL' : 'MariaDB'} ${shown(first)}` : `not in ${v.flavor}`;
  };
  const out: string[] = [];
  if (v.flavor === 'mysql') {
    if (!f.taggedGtids) out.push(`tagged GTIDs cannot occur on ${at} (${since('taggedGtids')})`);
    if (!f.filterTables)
      out.push(
        `${at} has no performance_schema filter tables (${since('filterTables')}): ` +
          'its replication filters are read from the Replicate_* columns of SHOW SLAVE STATUS',
      );
  }
  return out;
}

/** The decisions for a server that answered `@@version` (and `@@version_comment`) with these. */
export function dialectOf(versionText: string, comment = ''): Dialect {
  const v = parseServerVersion(versionText, comment);
  const keys = Object.keys(VERSION_TABLE) as Array<keyof DialectFeatures>;
  const features = Object.fromEntries(keys.map((k) => [k, atLeast(v, VERSION_TABLE[k][v.flavor])])) as unknown;
  const f = features as DialectFeatures;
  const maria = v.flavor === 'mariadb';
  const binlogStatus = maria
    ? // MariaDB documentation, "SHOW BINLOG STATUS": the new name from 10.5.2, SHOW MASTER STATUS an alias
      atLeast(v, [10, 5, 2])
      ? 'SHOW BINLOG STATUS'
      : 'SHOW MASTER STATUS'
    : // MySQL manual, "SHOW BINARY LOG STATUS Statement": added in 8.2.0; SHOW MASTER STATUS removed in 8.4
      atLeast(v, [8, 2, 0])
      ? 'SHOW BINARY LOG STATUS'
      : 'SHOW MASTER STATUS';
  return {
    version: v,
    features: f,
    // MariaDB: the multi-source form lists every connection; its columns keep the Slave_/Master_ names
    replicaStatus: maria ? 'SHOW ALL SLAVES STATUS' : f.replicaKeywords ? 'SHOW REPLICA STATUS' : 'SHOW SLAVE STATUS',
    replicaHosts: !maria && f.replicaKeywords ? 'SHOW REPLICAS' : 'SHOW SLAVE HOSTS',
    binlogStatus,
    columns: f.sourceColumns ? { thread: 'Replica', source: 'Source' } : { thread: 'Slave', source: 'Master' },
    variables: f.replicaVariables
      ? { logReplicaUpdates: 'log_replica_updates', skipErrors: 'replica_skip_errors' }
      : { logReplicaUpdates: 'log_slave_updates', skipErrors: 'slave_skip_errors' },
    globalFilterTable: f.filterTables ? 'performance_schema.replication_applier_global_filters' : null,
    stopReplica: f.replicaKeywords ? 'STOP REPLICA' : 'STOP SLAVE',
    startReplica: f.replicaKeywords ? 'START REPLICA' : 'START SLAVE',
    off: offNotes(v, f),
  };
}

/** The first read of every connection: what the decisions are made from. */
export const VERSION_SQL = 'SELECT @@version AS version, @@version_comment AS comment';

/** The one-row read of an instance's settings and GTID state, in its dialect. */
export function instanceSettingsSql(d: Dialect): string {
  const shared =
    'SELECT @@server_id AS id, @@GLOBAL.binlog_format AS fmt, @@GLOBAL.binlog_row_image AS img, ' +
    '@@GLOBAL.log_bin AS log_bin, @@GLOBAL.read_only AS ro, ' +
    `@@GLOBAL.${d.variables.logReplicaUpdates} AS lru, `;
  if (d.version.flavor === 'mariadb')
    return (
      shared +
      '@@GLOBAL.gtid_strict_mode AS strict, @@GLOBAL.gtid_binlog_state AS state, ' +
      '@@GLOBAL.gtid_current_pos AS executed'
    );
  const sro = d.features.superReadOnly ? '@@GLOBAL.super_read_only' : '0';
  return (
    shared +
    '@@server_uuid AS uuid, @@GLOBAL.gtid_mode AS gtid_mode, @@GLOBAL.binlog_row_event_max_size AS maxsize, ' +
    `${sro} AS sro, @@GLOBAL.gtid_executed AS executed, @@GLOBAL.gtid_purged AS purged`
  );
}

/** The read of a server up the chain: identity, GTIDs, whether it is writable. */
export function hopSettingsSql(d: Dialect): string {
  if (d.version.flavor === 'mariadb')
    return 'SELECT @@server_id AS id, @@GLOBAL.gtid_binlog_state AS gtids, @@GLOBAL.read_only AS ro';
  const sro = d.features.superReadOnly ? '@@GLOBAL.super_read_only' : '0';
  return (
    'SELECT @@server_uuid AS uuid, @@server_id AS id, @@GLOBAL.gtid_executed AS gtids, ' +
    `@@GLOBAL.read_only AS ro, ${sro} AS sro`
  );
}

/**
 * The binary log event settings, one per item: partial JSON updates (MySQL 8.0.3+, PARTIAL_UPDATE_ROWS_EVENT) and
 * compressed transactions (MySQL 8.0.20+, Transaction_payload). Asked on every server whatever its version says
 * (see the module's comment); a server that really lacks one answers ER_UNKNOWN_SYSTEM_VARIABLE for it, and the
 * reader takes it as absent (MariaDB, an older MySQL).
 */
export const BINLOG_EVENT_SETTINGS_COLUMNS = [
  '@@GLOBAL.binlog_row_value_options AS options',
  '@@GLOBAL.binlog_transaction_compression AS compression',
];

/** The one read of those settings. */
export const BINLOG_EVENT_SETTINGS_SQL = `SELECT ${BINLOG_EVENT_SETTINGS_COLUMNS.join(', ')}`;

/** The global filter table's rows (channel `(global)`), when the server has the table. */
export function globalFiltersSql(d: Dialect): string | null {
  return d.globalFilterTable ? `SELECT FILTER_NAME AS name, FILTER_RULE AS rule FROM ${d.globalFilterTable}` : null;
}

/** The skipped-errors variable. */
export function skipErrorsSql(d: Dialect): string {
  return `SELECT @@GLOBAL.${d.variables.skipErrors} AS v`;
}

/** The spellings the filter check's advice needs (common/switch/filters.ts). */
export function filterWords(d: Dialect): {
  stopReplica: string;
  startReplica: string;
  skipErrorsVariable: string;
  channelFilters: boolean;
} {
  const { stopReplica, startReplica } = d;
  return {
    stopReplica,
    startReplica,
    skipErrorsVariable: d.variables.skipErrors,
    channelFilters: d.features.channelFilters,
  };
}

/** Spellings for messages where the server's version is not at hand. */
export const IN_WORDS = {
  replicaHosts: 'SHOW REPLICAS (SHOW SLAVE HOSTS before MySQL 8.0.22 and on MariaDB)',
  startReplica: 'START REPLICA (START SLAVE before MySQL 8.0.22)',
};

/** The decisions an activity recorded with its reading, or (a reading from before they were) made from its version. */
export function dialectOfFacts(f: { version: string; flavor: Flavor; dialect?: Dialect }): Dialect {
  if (f.dialect) return f.dialect;
  try {
    return dialectOf(f.version);
  } catch {
    // a version this module cannot read (the activity would have said so): judged as the newest of its flavor, the
    // versions tested for real, rather than failing a workflow on a message's wording
    return dialectOf(f.flavor === 'mariadb' ? '11.8.0-MariaDB' : '9.7.0');
  }
}
