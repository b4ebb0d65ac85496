/**
 * The dialect table (common/mysql/dialect.ts): each server version string → each statement, variable name, column
 * name and feature. The boundaries are MySQL's and MariaDB's manuals' (cited in the module); the real stack checks
 * 9.7 and MariaDB, the recorded answers (test/unit/recorded-answers.test.ts) 5.7 and 8.0.21.
 */
import { describe, expect, it } from 'vitest';
import {
  BINLOG_EVENT_SETTINGS_SQL,
  dialectOf,
  dialectOfFacts,
  globalFiltersSql,
  hopSettingsSql,
  instanceSettingsSql,
  parseServerVersion,
  skipErrorsSql,
} from '../../common/mysql/dialect.js';

describe('parseServerVersion', () => {
  it.each([
    ['5.7.44', '', 'mysql', 5, 7, 44],
    ['5.7.44-log', 'MySQL Community Server (GPL)', 'mysql', 5, 7, 44],
    ['5.7.44-48-log', 'Percona Server (GPL), Release 48, Revision 497f936a373', 'mysql', 5, 7, 44],
    ['8.0.21', '', 'mysql', 8, 0, 21],
    ['8.0.36-28', 'Percona Server (GPL), Release 28, Revision 47601f19', 'mysql', 8, 0, 36],
    ['8.4.3', 'MySQL Community Server - GPL', 'mysql', 8, 4, 3],
    ['9.1.0', '', 'mysql', 9, 1, 0],
    ['9.7.4', 'MySQL Community Server - GPL', 'mysql', 9, 7, 4],
    ['10.11.6-MariaDB-0+deb12u1-log', 'Debian 12', 'mariadb', 10, 11, 6],
    ['11.8.2-MariaDB-1 from Debian', 'Debian n/a', 'mariadb', 11, 8, 2],
    ['5.5.5-10.11.6-MariaDB', '', 'mariadb', 10, 11, 6],
    ['10.11.6', 'mariadb.org binary distribution', 'mariadb', 10, 11, 6],
  ])('given @@version %j (comment %j), should read %s %i.%i.%i', (text, comment, flavor, major, minor, patch) => {
    expect(parseServerVersion(text, comment)).toEqual({ flavor, major, minor, patch, text });
  });

  it('given a version with no numbers, should say so instead of guessing', () => {
    expect(() => parseServerVersion('unknown')).toThrow(/cannot read a server version from @@version "unknown"/);
  });
});

/**
 * version → [SHOW … STATUS of the channels, SHOW … of the replicas, SHOW … STATUS of the binary log, columns,
 * log_/…_skip_errors words, START/STOP words, whether the global filter table exists].
 */
const STATEMENTS: Array<[string, string, string, string, string, string, string, boolean]> = [
  ['5.7.44', 'SLAVE', 'SLAVE HOSTS', 'MASTER', 'Slave/Master', 'slave', 'SLAVE', false],
  ['5.7.44-log', 'SLAVE', 'SLAVE HOSTS', 'MASTER', 'Slave/Master', 'slave', 'SLAVE', false],
  ['5.7.44-48-log', 'SLAVE', 'SLAVE HOSTS', 'MASTER', 'Slave/Master', 'slave', 'SLAVE', false],
  ['8.0.21', 'SLAVE', 'SLAVE HOSTS', 'MASTER', 'Slave/Master', 'slave', 'SLAVE', true],
  ['8.0.22', 'REPLICA', 'REPLICAS', 'MASTER', 'Replica/Source', 'slave', 'REPLICA', true],
  ['8.0.25', 'REPLICA', 'REPLICAS', 'MASTER', 'Replica/Source', 'slave', 'REPLICA', true],
  ['8.0.26', 'REPLICA', 'REPLICAS', 'MASTER', 'Replica/Source', 'replica', 'REPLICA', true],
  ['8.0.36-28', 'REPLICA', 'REPLICAS', 'MASTER', 'Replica/Source', 'replica', 'REPLICA', true],
  ['8.1.0', 'REPLICA', 'REPLICAS', 'MASTER', 'Replica/Source', 'replica', 'REPLICA', true],
  ['8.2.0', 'REPLICA', 'REPLICAS', 'BINARY LOG', 'Replica/Source', 'replica', 'REPLICA', true],
  ['8.4.3', 'REPLICA', 'REPLICAS', 'BINARY LOG', 'Replica/Source', 'replica', 'REPLICA', true],
  ['9.1.0', 'REPLICA', 'REPLICAS', 'BINARY LOG', 'Replica/Source', 'replica', 'REPLICA', true],
  ['9.7.4', 'REPLICA', 'REPLICAS', 'BINARY LOG', 'Replica/Source', 'replica', 'REPLICA', true],
  ['10.4.34-MariaDB', 'ALL SLAVES', 'SLAVE HOSTS', 'MASTER', 'Slave/Master', 'slave', 'SLAVE', false],
  ['10.5.2-MariaDB', 'ALL SLAVES', 'SLAVE HOSTS', 'BINLOG', 'Slave/Master', 'slave', 'REPLICA', false],
  ['10.11.6-MariaDB-0+deb12u1-log', 'ALL SLAVES', 'SLAVE HOSTS', 'BINLOG', 'Slave/Master', 'slave', 'REPLICA', false],
  ['11.8.2-MariaDB-1 from Debian', 'ALL SLAVES', 'SLAVE HOSTS', 'BINLOG', 'Slave/Master', 'slave', 'REPLICA', false],
];

describe('dialectOf: statements, columns and variables', () => {
  it.each(STATEMENTS)(
    'given %s, should say SHOW %s STATUS, SHOW %s, SHOW %s STATUS, %s columns, %s variables, %s',
    (version, status, hosts, binlog, columns, words, keyword, table) => {
      const d = dialectOf(version);
      const lru = `log_${words}_updates`;
      const skip = `${words}_skip_errors`;
      const stop = `STOP ${keyword}`;
      expect(d.replicaStatus).toBe(`SHOW ${status} STATUS`);
      expect(d.replicaHosts).toBe(`SHOW ${hosts}`);
      expect(d.binlogStatus).toBe(`SHOW ${binlog} STATUS`);
      expect(`${d.columns.thread}/${d.columns.source}`).toBe(columns);
      expect(d.variables).toEqual({ logReplicaUpdates: lru, skipErrors: skip });
      expect(d.stopReplica).toBe(stop);
      expect(d.globalFilterTable !== null).toBe(table);
      expect(instanceSettingsSql(d)).toContain(`@@GLOBAL.${lru} AS lru`);
      expect(skipErrorsSql(d)).toBe(`SELECT @@GLOBAL.${skip} AS v`);
    },
  );
});

/** version → which features the server has. */
const FEATURES: Array<[string, Record<string, boolean>]> = [
  [
    '5.7.44-log',
    {
      taggedGtids: false,
      filterTables: false,
      channelFilters: false,
      superReadOnly: true,
      setPersist: false,
    },
  ],
  ['5.7.7', { superReadOnly: false }],
  ['8.0.2', { filterTables: true }],
  [
    '8.0.21',
    {
      taggedGtids: false,
      filterTables: true,
      channelFilters: true,
      setPersist: true,
      replicaKeywords: false,
    },
  ],
  ['8.2.0', { taggedGtids: false }],
  ['8.3.0', { taggedGtids: true }],
  ['8.4.3', { taggedGtids: true }],
  ['9.7.4', { taggedGtids: true, replicaVariables: true, sourceColumns: true }],
  [
    '10.11.6-MariaDB-log',
    {
      taggedGtids: false,
      filterTables: false,
      superReadOnly: false,
      replicaKeywords: true,
      sourceColumns: false,
    },
  ],
  ['11.8.2-MariaDB', { taggedGtids: false, replicaVariables: false }],
];

describe('dialectOf: features', () => {
  it.each(FEATURES)('given %s, should decide %j', (version, want) => {
    expect(dialectOf(version).features).toMatchObject(want);
  });

  it('given MySQL 5.7, should never ask for the variables it lacks, and say once what that means', () => {
    const d = dialectOf('5.7.44-log');
    expect(globalFiltersSql(d)).toBeNull();
    expect(instanceSettingsSql(d)).not.toMatch(/binlog_row_value_options|binlog_transaction_compression/);
    expect(d.off).toEqual([
      expect.stringMatching(/^tagged GTIDs cannot occur on MySQL 5\.7\.44 \(added in MySQL 8\.3\.0\)/),
      expect.stringMatching(/no performance_schema filter tables .*Replicate_\* columns of SHOW SLAVE STATUS/),
    ]);
  });

  it('given MySQL 8.0.21, should say only tagged GTIDs are off', () => {
    expect(dialectOf('8.0.21').off).toEqual([expect.stringMatching(/^tagged GTIDs cannot occur on MySQL 8\.0\.21/)]);
  });

  it('should ask for both binary log event settings in one read, whatever the version (never decided from it)', () => {
    // a version can be misreported; these settings decide whether DM can read what the server logs
    expect(BINLOG_EVENT_SETTINGS_SQL).toBe(
      'SELECT @@GLOBAL.binlog_row_value_options AS options, @@GLOBAL.binlog_transaction_compression AS compression',
    );
  });

  it('given MySQL 9.7, should have nothing off', () => {
    expect(dialectOf('9.7.4').off).toEqual([]);
  });

  it('given MariaDB, should read its own GTID variables and no MySQL-only one', () => {
    const d = dialectOf('10.11.6-MariaDB-0+deb12u1-log');
    expect(instanceSettingsSql(d)).toMatch(/gtid_current_pos/);
    expect(instanceSettingsSql(d)).not.toMatch(/server_uuid|gtid_mode|super_read_only/);
    expect(hopSettingsSql(d)).toBe(
      'SELECT @@server_id AS id, @@GLOBAL.gtid_binlog_state AS gtids, @@GLOBAL.read_only AS ro',
    );
  });

  it('given MySQL 5.7.7 (before super_read_only), should read read_only alone', () => {
    const d = dialectOf('5.7.7');
    expect(instanceSettingsSql(d)).toContain('0 AS sro');
    expect(hopSettingsSql(d)).toContain('0 AS sro');
  });
});

describe('dialectOfFacts', () => {
  it('given facts read with a dialect, should use it; without, should decide from the version', () => {
    const d = dialectOf('5.7.44-log');
    expect(dialectOfFacts({ version: '9.7.4', flavor: 'mysql', dialect: d })).toBe(d);
    expect(dialectOfFacts({ version: '8.0.21', flavor: 'mysql' }).variables.logReplicaUpdates).toBe(
      'log_slave_updates',
    );
  });

  it('given a version it cannot read, should judge by the newest of the flavor rather than throw in a workflow', () => {
    expect(dialectOfFacts({ version: 'unknown', flavor: 'mysql' }).replicaStatus).toBe('SHOW REPLICA STATUS');
    expect(dialectOfFacts({ version: '', flavor: 'mariadb' }).replicaStatus).toBe('SHOW ALL SLAVES STATUS');
  });
});
