/**
 * RECORDED ANSWERS for MySQL 5.7 and 8.0.21, which cannot be installed here: the switch's MySQL-side reads
 * (activities/mysql*.ts: preflight's inspection with the chain up to the primary, the GTID re-check, the
 * verification of DM's binlog dumps, the discovery of candidates, the login check) run unchanged, over mysql2, against
 * a FAKE server (test/sandbox/recorded-mysql.ts) that answers as those versions do. Each answer's format is taken
 * from MySQL's manual, cited next to it. What the fake does not know it refuses with ER_PARSE_ERROR, as 5.7 refuses
 * SHOW REPLICA STATUS: a read that spells a newer version's keyword fails here as it would against the real server.
 *
 * The facts the reads produce are then judged by the same pure checks preflight and the re-checks use (serving
 * problems, binary log settings, filters), so a 5.7 replica's filters, found only in its SHOW SLAVE STATUS columns,
 * are refused with advice in 5.7's words.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMysqlActivities } from '../../activities/mysql.js';
import { binlogSettingNotes, unreadableBinlogSettings } from '../../common/switch/binlog-settings.js';
import { filterProblems, noFilters } from '../../common/switch/filters.js';
import { BINLOG_EVENT_SETTINGS_COLUMNS, BINLOG_EVENT_SETTINGS_SQL } from '../../common/mysql/dialect.js';
import type { InstanceFacts } from '../../common/switch/types.js';
import { servingProblems } from '../../workflows/preflight.js';
import { serverFilters } from '../../workflows/topology-checks.js';
import { startRecordedMysql, type AnswerSet, type Cell, type RecordedServer } from '../sandbox/recorded-mysql.js';

const activities = createMysqlActivities(async () => ({ user: 'dm', password: 'secret' }));
const ref = (s: RecordedServer) => ({ host: s.host, port: s.port, credentials: 'recorded' });
type Facts = Extract<InstanceFacts, { reachable: true }>;
const reachable = (f: InstanceFacts): Facts => {
  if (!f.reachable) throw new Error(f.error);
  return f;
};

const UUID_A = '3e11fa47-71ca-11e1-9e33-c80aa9429562';
const UUID_B = '6f2c7a5e-1b1d-11ee-8c3d-0242ac120002';
const UUID_F = '8a94f357-aab4-11df-86ab-c80aa9429563';
const EXECUTED = `${UUID_A}:1-100`;

/**
 * SHOW SLAVE STATUS columns, in order. MySQL 5.7 Reference Manual, "SHOW SLAVE STATUS Syntax" (the example output
 * lists these, from Slave_IO_State to Master_TLS_Version; Replicate_Rewrite_DB and Channel_Name are 5.7's own).
 */
const SLAVE_STATUS_57 = [
  'Slave_IO_State',
  'Master_Host',
  'Master_User',
  'Master_Port',
  'Connect_Retry',
  'Master_Log_File',
  'Read_Master_Log_Pos',
  'Relay_Log_File',
  'Relay_Log_Pos',
  'Relay_Master_Log_File',
  'Slave_IO_Running',
  'Slave_SQL_Running',
  'Replicate_Do_DB',
  'Replicate_Ignore_DB',
  'Replicate_Do_Table',
  'Replicate_Ignore_Table',
  'Replicate_Wild_Do_Table',
  'Replicate_Wild_Ignore_Table',
  'Last_Errno',
  'Last_Error',
  'Skip_Counter',
  'Exec_Master_Log_Pos',
  'Relay_Log_Space',
  'Until_Condition',
  'Until_Log_File',
  'Until_Log_Pos',
  'Master_SSL_Allowed',
  'Master_SSL_CA_File',
  'Master_SSL_CA_Path',
  'Master_SSL_Cert',
  'Master_SSL_Cipher',
  'Master_SSL_Key',
  'Seconds_Behind_Master',
  'Master_SSL_Verify_Server_Cert',
  'Last_IO_Errno',
  'Last_IO_Error',
  'Last_SQL_Errno',
  'Last_SQL_Error',
  'Replicate_Ignore_Server_Ids',
  'Master_Server_Id',
  'Master_UUID',
  'Master_Info_File',
  'SQL_Delay',
  'SQL_Remaining_Delay',
  'Slave_SQL_Running_State',
  'Master_Retry_Count',
  'Master_Bind',
  'Last_IO_Error_Timestamp',
  'Last_SQL_Error_Timestamp',
  'Master_SSL_Crl',
  'Master_SSL_Crlpath',
  'Retrieved_Gtid_Set',
  'Executed_Gtid_Set',
  'Auto_Position',
  'Replicate_Rewrite_DB',
  'Channel_Name',
  'Master_TLS_Version',
];
/**
 * MySQL 8.0 Reference Manual, "SHOW SLAVE | REPLICA STATUS Statement" as of 8.0.21 (before the 8.0.22 renaming):
 * 5.7's columns plus Master_public_key_path and Get_master_public_key (8.0.4).
 */
const SLAVE_STATUS_8021 = [...SLAVE_STATUS_57, 'Master_public_key_path', 'Get_master_public_key'];

/** One SHOW SLAVE STATUS row of a running channel from `source`, with the given filter columns. */
function slaveRow(
  columns: string[],
  source: RecordedServer,
  sourceUuid: string,
  filters: Record<string, string> = {},
): Cell[] {
  const values: Record<string, Cell> = {
    Slave_IO_State: 'Waiting for master to send event',
    Master_Host: source.host,
    Master_User: 'repl',
    Master_Port: source.port,
    Connect_Retry: 60,
    Master_Log_File: 'mysql-bin.000003',
    Read_Master_Log_Pos: 1307,
    Slave_IO_Running: 'Yes',
    Slave_SQL_Running: 'Yes',
    Last_Errno: 0,
    Last_Error: '',
    Seconds_Behind_Master: 0,
    Last_IO_Errno: 0,
    Last_IO_Error: '',
    Last_SQL_Errno: 0,
    Last_SQL_Error: '',
    Master_Server_Id: 1,
    Master_UUID: sourceUuid,
    Slave_SQL_Running_State: 'Slave has read all relay log; waiting for more updates',
    Retrieved_Gtid_Set: EXECUTED,
    Executed_Gtid_Set: EXECUTED,
    Auto_Position: 1,
    Channel_Name: '',
    ...filters,
  };
  return columns.map((c) => values[c] ?? (/Pos$|Errno$|Counter$|Delay$|Space$/.test(c) ? 0 : ''));
}

/**
 * SHOW MASTER STATUS: File, Position, Binlog_Do_DB, Binlog_Ignore_DB, Executed_Gtid_Set. MySQL 5.7 Reference
 * Manual, "SHOW MASTER STATUS Syntax"; the same in the 8.0 manual, "SHOW MASTER STATUS Statement".
 */
const masterStatus = (ignoreDb = '') => ({
  columns: ['File', 'Position', 'Binlog_Do_DB', 'Binlog_Ignore_DB', 'Executed_Gtid_Set'],
  rows: [['mysql-bin.000003', 1307, '', ignoreDb, EXECUTED]],
});

/**
 * SHOW SLAVE HOSTS: Server_id, Host, Port, Master_id, Slave_UUID. MySQL 5.7 Reference Manual, "SHOW SLAVE HOSTS
 * Syntax" (Host is the replica's report_host); the same in 8.0.21.
 */
const slaveHosts = (replicas: Array<{ id: number; host: string; port: number; uuid: string }>) => ({
  columns: ['Server_id', 'Host', 'Port', 'Master_id', 'Slave_UUID'],
  rows: replicas.map((r) => [r.id, r.host, r.port, 1, r.uuid]),
});

/**
 * The variables every read asks for. Names and shown values: MySQL 5.7 Reference Manual, "Server System Variables"
 * (server_id, server_uuid, read_only, super_read_only), "Binary Logging Options and Variables" (log_bin 1/0,
 * binlog_format, binlog_row_image, binlog_row_event_max_size 8192, log_slave_updates), "Replication Slave Options
 * and Variables" (slave_skip_errors: OFF or a list), "Global Transaction ID Options and Variables" (gtid_mode,
 * gtid_executed, gtid_purged).
 */
function variables57(o: { version: string; id: number; uuid: string; readOnly: number }): Record<string, Cell> {
  return {
    version: o.version,
    version_comment: 'MySQL Community Server (GPL)',
    server_id: o.id,
    server_uuid: o.uuid,
    read_only: o.readOnly,
    super_read_only: o.readOnly,
    log_bin: 1,
    binlog_format: 'ROW',
    binlog_row_image: 'FULL',
    binlog_row_event_max_size: 8192,
    log_slave_updates: 1,
    slave_skip_errors: 'OFF',
    gtid_mode: 'ON',
    gtid_executed: EXECUTED,
    gtid_purged: '',
  };
}

/**
 * SHOW SLAVE STATUS of a server that replicates from nobody: the columns and no row (MySQL 5.7 manual, "SHOW SLAVE
 * STATUS Syntax": "If the server is not a replication slave, the statement returns an empty set").
 */
const noChannels = (columns: string[]) => ({ columns, rows: [] });

/**
 * The binary log dumps a source serves: information_schema.PROCESSLIST (MySQL 5.7 Reference Manual, "The
 * INFORMATION_SCHEMA PROCESSLIST Table": HOST is host_name:client_port) with COMMAND "Binlog Dump GTID" ("Replication
 * Master Thread States"/"Thread Command Values": a dump to a client that asked by GTID).
 */
const dumpFrom = (id: number, user: string, host: string): Cell[] => [
  id,
  user,
  `${host}:51234`,
  'Binlog Dump GTID',
  42,
];

function empty(version: string): AnswerSet {
  return { version, variables: {}, statements: {} };
}

describe('recorded answers: MySQL 5.7', () => {
  // A (primary) ← B (replica, clean); A ← F (replica with 5.7 filters in its SHOW SLAVE STATUS columns, skipped
  // errors, log_slave_updates off)
  const A = empty('5.7.44-log');
  const B = empty('5.7.44-log');
  const F = empty('5.7.44-48-log');
  let a: RecordedServer;
  let b: RecordedServer;
  let f: RecordedServer;

  beforeAll(async () => {
    [a, b, f] = await Promise.all([startRecordedMysql(A), startRecordedMysql(B), startRecordedMysql(F)]);
    A.variables = variables57({ version: A.version, id: 1, uuid: UUID_A, readOnly: 0 });
    A.statements = {
      'SHOW SLAVE STATUS': noChannels(SLAVE_STATUS_57),
      'SHOW MASTER STATUS': masterStatus(),
      'SHOW SLAVE HOSTS': slaveHosts([
        { id: 2, host: b.host, port: b.port, uuid: UUID_B },
        { id: 3, host: f.host, port: f.port, uuid: UUID_F },
      ]),
    };
    A.dumps = [dumpFrom(11, 'repl', '127.0.0.1'), dumpFrom(12, 'dm', '127.0.0.9')];
    B.variables = variables57({ version: B.version, id: 2, uuid: UUID_B, readOnly: 1 });
    B.statements = {
      'SHOW SLAVE STATUS': { columns: SLAVE_STATUS_57, rows: [slaveRow(SLAVE_STATUS_57, a, UUID_A)] },
      'SHOW MASTER STATUS': masterStatus(),
      'SHOW SLAVE HOSTS': slaveHosts([]),
    };
    F.variables = {
      ...variables57({ version: F.version, id: 3, uuid: UUID_F, readOnly: 1 }),
      version_comment: 'Percona Server (GPL), Release 48, Revision 497f936a373',
      log_slave_updates: 0,
      slave_skip_errors: '1062',
    };
    // 5.7 has no performance_schema filter tables: a filter set with CHANGE REPLICATION FILTER or replicate-* shows
    // only in these columns (MySQL 5.7 manual, "SHOW SLAVE STATUS Syntax": Replicate_Ignore_DB, …)
    const filters = { Replicate_Ignore_DB: 'app', Replicate_Wild_Ignore_Table: 'scratch.%' };
    F.statements = {
      'SHOW SLAVE STATUS': { columns: SLAVE_STATUS_57, rows: [slaveRow(SLAVE_STATUS_57, a, UUID_A, filters)] },
      'SHOW MASTER STATUS': masterStatus(),
      'SHOW SLAVE HOSTS': slaveHosts([]),
    };
  });
  afterAll(async () => {
    await Promise.all([a, b, f].map((s) => s?.stop()));
  });

  it('given a clean 5.7 replica, should read its facts and its chain in 5.7 words, with nothing refused', async () => {
    const facts = reachable(await activities.mysqlInspect(ref(b), { withSources: true }));
    expect(facts).toMatchObject({
      flavor: 'mysql',
      version: '5.7.44-log',
      serverUuid: UUID_B,
      serverId: 2,
      gtidMode: 'ON',
      gtidExecuted: EXECUTED,
      logBin: true,
      readOnly: true,
      logReplicaUpdates: true,
      binlogRowEventMaxSize: 8192,
      binlogRowValueOptions: null,
      binlogTransactionCompression: null,
      replica: { sourceHost: a.host, sourcePort: a.port, sourceUuid: UUID_A, ioRunning: true, sqlRunning: true },
      filters: { applier: [], binlogDoDb: '', binlogIgnoreDb: '', skipErrors: 'OFF' },
    });
    expect(facts.chain).toEqual([
      expect.objectContaining({ address: `${a.host}:${a.port}`, reachable: true, serverUuid: UUID_A, depth: 1 }),
    ]);
    expect(facts.dialect?.off).toHaveLength(2);
    expect(servingProblems(facts, 'mysql')).toEqual([]);
    expect(serverFilters(facts).every(noFilters)).toBe(true);
    expect(b.refused).toEqual([]);
    expect(a.refused).toEqual([]);
    // the binary log event settings are asked whatever the version says; 5.7 has neither variable
    expect(b.unknownVariable).toEqual([
      BINLOG_EVENT_SETTINGS_SQL,
      ...BINLOG_EVENT_SETTINGS_COLUMNS.map((c) => `SELECT ${c}`),
    ]);
    expect(b.received).toContain('SHOW SLAVE STATUS');
    expect(b.received.join('\n')).not.toMatch(/SHOW REPLICA|BINARY LOG|performance_schema/i);
  });

  it('given a server that says 5.7 but logs PARTIAL_JSON, should read the setting anyway and refuse it', async () => {
    // what a server says of its version is not proof of what it has (a proxy answers with its own
    // server_version, a build can be patched): the binary log settings DM depends on are asked whatever the
    // version, and a variable the server really lacks answers ER_UNKNOWN_SYSTEM_VARIABLE, as B's did above
    B.variables.binlog_row_value_options = 'PARTIAL_JSON';
    B.variables.binlog_transaction_compression = 1;
    try {
      const facts = reachable(await activities.mysqlInspect(ref(b)));
      expect(facts).toMatchObject({
        version: '5.7.44-log',
        binlogRowValueOptions: 'PARTIAL_JSON',
        binlogTransactionCompression: true,
      });
      expect(servingProblems(facts, 'mysql')).toEqual([
        expect.stringMatching(/^binlog_row_value_options is PARTIAL_JSON: .*\(STOP SLAVE; START SLAVE\)/),
      ]);
      expect(binlogSettingNotes(facts)).toEqual([expect.stringMatching(/^binlog_transaction_compression is ON/)]);
    } finally {
      delete B.variables.binlog_row_value_options;
      delete B.variables.binlog_transaction_compression;
    }
  });

  it('given 5.7 filters (status columns), skipped errors, log_slave_updates off: should refuse each', async () => {
    const facts = reachable(await activities.mysqlInspect(ref(f), { withSources: true }));
    expect(f.refused).toEqual([]);
    expect(servingProblems(facts, 'mysql')).toEqual([
      expect.stringMatching(/^it is a replica with log_slave_updates OFF: /),
    ]);
    const problems = filterProblems(serverFilters(facts), [{ task: 'orders', do: ['app'], ignore: [] }]);
    expect(problems).toEqual([
      expect.stringContaining(
        `REPLICATE_IGNORE_DB=(app) on the new instance ${f.host}:${f.port}: it skips changes of app, which the ` +
          'tasks replicate,',
      ),
      expect.stringContaining(`slave_skip_errors=1062 on the new instance ${f.host}:${f.port}`),
    ]);
    // 5.7 has no FOR CHANNEL on CHANGE REPLICATION FILTER and no STOP REPLICA: the advice is what 5.7 accepts
    expect(problems[0]).toContain(
      'STOP SLAVE SQL_THREAD; CHANGE REPLICATION FILTER REPLICATE_IGNORE_DB=(); START SLAVE SQL_THREAD',
    );
    expect(problems.join('\n')).not.toMatch(/FOR CHANNEL|STOP REPLICA|replica_skip_errors/);
  });

  it('given the 5.7 primary, should see the binary log dumps it serves and the replicas registered on it', async () => {
    const dumps = await activities.mysqlBinlogDumpClients(ref(a));
    expect(dumps.map((d) => [d.user, d.clientAddress, d.command])).toEqual([
      ['repl', '127.0.0.1', 'Binlog Dump GTID'],
      ['dm', '127.0.0.9', 'Binlog Dump GTID'],
    ]);
    expect(dumps[0]!.replicaHosts).toEqual([b.host, f.host]);
    const want = { reads: ref(a), notReads: ref(b), owners: ['127.0.0.9'], timeoutSeconds: 1 };
    const moved = await new MockActivityEnvironment().run(activities.mysqlAwaitDumpClients, want);
    expect(moved).toMatchObject({ ok: true });
    expect(a.refused).toEqual([]);
  });

  it('given a 5.7 replica and its source, should discover the source replicas as candidates', async () => {
    const r = await activities.mysqlDiscoverReplicas({ ask: ref(b), alsoItsSource: true, credentials: 'recorded' });
    expect(r.found).toEqual([
      { host: b.host, port: b.port, serverId: 2, via: `replica of ${a.host}:${a.port}` },
      { host: f.host, port: f.port, serverId: 3, via: `replica of ${a.host}:${a.port}` },
    ]);
    expect([...a.refused, ...b.refused]).toEqual([]);
  });

  it('given a 5.7 replica that holds the GTIDs, should find it caught up (the re-check and verification)', async () => {
    const wait = { instance: ref(b), flavor: 'mysql' as const, gtidSet: `${UUID_A}:1-90`, timeoutSeconds: 2 };
    const r = await new MockActivityEnvironment().run(activities.mysqlWaitForGtids, wait);
    expect(r).toMatchObject({ caughtUp: true, missing: '' });
    expect(await activities.mysqlCheckLogin(ref(b))).toEqual({ ok: true, version: '5.7.44-log' });
  });
});

/**
 * The variables of MySQL 8.0.21: 5.7's names (log_replica_updates and replica_skip_errors come with 8.0.26), plus
 * binlog_row_value_options (MySQL 8.0 manual, "Binary Logging Options and Variables": '' or PARTIAL_JSON) and
 * binlog_transaction_compression (same page; 8.0.20+, ON/OFF shown as 1/0).
 */
function variables8021(o: { id: number; uuid: string; readOnly: number; partialJson?: boolean; compress?: number }) {
  return {
    ...variables57({ version: '8.0.21', id: o.id, uuid: o.uuid, readOnly: o.readOnly }),
    binlog_row_value_options: o.partialJson ? 'PARTIAL_JSON' : '',
    binlog_transaction_compression: o.compress ?? 0,
  };
}

/**
 * performance_schema.replication_applier_global_filters: FILTER_NAME, FILTER_RULE (MySQL 8.0 manual, "The
 * replication_applier_global_filters Table"), selected with the aliases the read uses.
 */
const GLOBAL_FILTERS_SQL =
  'SELECT FILTER_NAME AS NAME, FILTER_RULE AS RULE FROM PERFORMANCE_SCHEMA.REPLICATION_APPLIER_GLOBAL_FILTERS';

describe('recorded answers: MySQL 8.0.21', () => {
  // A (primary) ← B (replica with PARTIAL_JSON, compression on, a global filter on a schema no task replicates)
  const A = empty('8.0.21');
  const B = empty('8.0.21');
  let a: RecordedServer;
  let b: RecordedServer;

  beforeAll(async () => {
    [a, b] = await Promise.all([startRecordedMysql(A), startRecordedMysql(B)]);
    A.variables = variables8021({ id: 1, uuid: UUID_A, readOnly: 0 });
    A.statements = {
      'SHOW SLAVE STATUS': noChannels(SLAVE_STATUS_8021),
      'SHOW MASTER STATUS': masterStatus(),
      'SHOW SLAVE HOSTS': slaveHosts([{ id: 2, host: b.host, port: b.port, uuid: UUID_B }]),
      [GLOBAL_FILTERS_SQL]: { columns: ['name', 'rule'], rows: [] },
    };
    B.variables = variables8021({ id: 2, uuid: UUID_B, readOnly: 1, partialJson: true, compress: 1 });
    // a global filter shows in the table and, for each channel, in the status columns (MySQL 8.0 manual,
    // "Replication Channel Based Filters")
    const row = slaveRow(SLAVE_STATUS_8021, a, UUID_A, { Replicate_Wild_Ignore_Table: 'scratch.%' });
    B.statements = {
      'SHOW SLAVE STATUS': { columns: SLAVE_STATUS_8021, rows: [row] },
      'SHOW MASTER STATUS': masterStatus(),
      'SHOW SLAVE HOSTS': slaveHosts([]),
      [GLOBAL_FILTERS_SQL]: { columns: ['name', 'rule'], rows: [['REPLICATE_WILD_IGNORE_TABLE', 'scratch.%']] },
    };
  });
  afterAll(async () => {
    await Promise.all([a, b].map((s) => s?.stop()));
  });

  it('given an 8.0.21 replica with PARTIAL_JSON, should refuse it in 8.0.21 words and note compression', async () => {
    const facts = reachable(await activities.mysqlInspect(ref(b), { withSources: true }));
    expect(facts).toMatchObject({
      version: '8.0.21',
      readOnly: true,
      logReplicaUpdates: true,
      binlogRowValueOptions: 'PARTIAL_JSON',
      binlogTransactionCompression: true,
      replica: { sourceHost: a.host, sourcePort: a.port, sourceUuid: UUID_A, ioRunning: true },
    });
    expect(facts.dialect?.off).toEqual([expect.stringMatching(/^tagged GTIDs cannot occur on MySQL 8\.0\.21/)]);
    const problems = servingProblems(facts, 'mysql');
    expect(problems).toEqual([expect.stringMatching(/^binlog_row_value_options is PARTIAL_JSON: /)]);
    expect(problems[0]).toContain("SET PERSIST binlog_row_value_options = '' on it and restart its replication");
    expect(problems[0]).toContain('(STOP SLAVE; START SLAVE)');
    expect(unreadableBinlogSettings(facts)).toEqual(problems);
    expect(binlogSettingNotes(facts)).toEqual([expect.stringMatching(/^binlog_transaction_compression is ON/)]);
    expect([...a.refused, ...b.refused]).toEqual([]);
    expect(b.received.join('\n')).not.toMatch(/SHOW REPLICA|BINARY LOG|replica_skip_errors|log_replica_updates/i);
  });

  it('given a global filter (8.0 table) on a schema no task replicates, should read it and let it pass', async () => {
    const facts = reachable(await activities.mysqlInspect(ref(b), { withSources: true }));
    expect(facts.filters?.applier).toEqual([
      { channel: '', name: 'REPLICATE_WILD_IGNORE_TABLE', rule: 'scratch.%' },
      { channel: '(global)', name: 'REPLICATE_WILD_IGNORE_TABLE', rule: 'scratch.%' },
    ]);
    expect(filterProblems(serverFilters(facts), [{ task: 'orders', do: ['app'], ignore: [] }])).toEqual([]);
    const all = filterProblems(serverFilters(facts), []);
    expect(all[0]).toContain(
      'STOP SLAVE SQL_THREAD; CHANGE REPLICATION FILTER REPLICATE_WILD_IGNORE_TABLE=(); START SLAVE SQL_THREAD',
    );
  });

  it('given a build of 8.0.21 that lacks a variable its version has, should take that feature as off', async () => {
    // the server answers ER_UNKNOWN_SYSTEM_VARIABLE (1193) for it, as MySQL does for any variable it does not know
    const saved = B.variables.binlog_transaction_compression;
    delete B.variables.binlog_transaction_compression;
    try {
      const facts = reachable(await activities.mysqlInspect(ref(b)));
      expect(facts).toMatchObject({ binlogRowValueOptions: 'PARTIAL_JSON', binlogTransactionCompression: null });
    } finally {
      B.variables.binlog_transaction_compression = saved!;
    }
  });

  it('given the 8.0.21 primary, should list its replicas with SHOW SLAVE HOSTS', async () => {
    const r = await activities.mysqlDiscoverReplicas({ ask: ref(a), alsoItsSource: false, credentials: 'recorded' });
    expect(r.found).toEqual([{ host: b.host, port: b.port, serverId: 2, via: `replica of ${a.host}:${a.port}` }]);
    expect(a.refused).toEqual([]);
  });
});
