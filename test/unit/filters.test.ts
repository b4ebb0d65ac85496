/**
 * Replication and binary log filters judged against what the tasks replicate
 * (common/switch/filters.ts): refused unless they provably cannot touch it.
 * The real stack checks a filter on the new instance and on the server
 * between it and the primary (test/integration/topology-blind-spots-e2e.test.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  filterProblems,
  scopeOfTaskConfig,
  taskScope,
  touchesScope,
  type ServerFilters,
} from '../../common/switch/filters.js';

const server = (over: Partial<ServerFilters> = {}): ServerFilters => ({
  address: 'b:3306',
  role: 'the new instance',
  applier: [],
  binlogDoDb: '',
  binlogIgnoreDb: '',
  skipErrors: 'OFF',
  flavor: 'mysql',
  ...over,
});
const app = [taskScope('t', { 'do-dbs': ['app'] })];
const filter = (name: string, rule: string, channel = '') => server({ applier: [{ channel, name, rule }] });

describe('filters that hide changes from DM', () => {
  it('given no filter, should find nothing', () => {
    expect(filterProblems([server()], app)).toEqual([]);
  });

  it('given REPLICATE_IGNORE_TABLE on a replicated schema, should refuse naming the filter, the server and the fix', () => {
    const [p] = filterProblems([filter('REPLICATE_IGNORE_TABLE', 'app.t2')], app);
    expect(p).toMatch(
      /^REPLICATE_IGNORE_TABLE=\(app\.t2\) on the new instance b:3306: it skips changes of app\.t2, in schemas the tasks replicate \(t: app\)/,
    );
    expect(p).toMatch(/CHANGE REPLICATION FILTER REPLICATE_IGNORE_TABLE=\(\)/);
  });

  it('given table filters on schemas the tasks do not replicate, should let them pass', () => {
    expect(
      filterProblems(
        [filter('REPLICATE_IGNORE_TABLE', 'scratch.t2,other.x'), filter('REPLICATE_WILD_IGNORE_TABLE', 'scr%.%')],
        app,
      ),
    ).toEqual([]);
  });

  it('given a wildcard table filter whose schema pattern matches a replicated schema, should refuse', () => {
    expect(filterProblems([filter('REPLICATE_WILD_IGNORE_TABLE', 'a_p.%')], app)).toHaveLength(1);
    expect(filterProblems([filter('REPLICATE_WILD_IGNORE_TABLE', '%.tmp%')], app)).toHaveLength(1);
  });

  it('given do-filters, should refuse whatever they name (they hide everything else)', () => {
    for (const name of ['REPLICATE_DO_DB', 'REPLICATE_DO_TABLE', 'REPLICATE_WILD_DO_TABLE']) {
      expect(filterProblems([filter(name, 'app')], app)[0]).toMatch(/applies only what this filter names/);
    }
  });

  it('given REPLICATE_IGNORE_DB, even of another schema, should refuse: DDL is filtered by the default database', () => {
    expect(filterProblems([filter('REPLICATE_IGNORE_DB', 'scratch')], app)[0]).toMatch(/default database \(USE\)/);
    expect(filterProblems([filter('REPLICATE_IGNORE_DB', 'app')], app)[0]).toMatch(
      /skips changes of app, which the tasks replicate/,
    );
  });

  it('given REPLICATE_REWRITE_DB into or out of a replicated schema, should refuse; between other schemas, pass', () => {
    expect(filterProblems([filter('REPLICATE_REWRITE_DB', '(app,app2)')], app)[0]).toMatch(/app → app2/);
    expect(filterProblems([filter('REPLICATE_REWRITE_DB', '(x,app)')], app)[0]).toMatch(/x → app/);
    expect(filterProblems([filter('REPLICATE_REWRITE_DB', '(x,y)')], app)).toEqual([]);
  });

  it('given binary log filters, should refuse do-db always and ignore-db always, saying why', () => {
    expect(filterProblems([server({ binlogDoDb: 'app' })], app)[0]).toMatch(
      /^binlog-do-db=app on the new instance b:3306/,
    );
    expect(filterProblems([server({ binlogIgnoreDb: 'app' })], app)[0]).toMatch(
      /changes of app, which the tasks replicate, are left out of the binary log/,
    );
    expect(filterProblems([server({ binlogIgnoreDb: 'scratch' })], app)[0]).toMatch(/default database \(USE\)/);
  });

  it('given replica_skip_errors other than OFF, should refuse (MariaDB: slave_skip_errors)', () => {
    expect(filterProblems([server({ skipErrors: '1062,1032' })], app)[0]).toMatch(
      /^replica_skip_errors=1062,1032 on the new instance b:3306/,
    );
    expect(filterProblems([server({ skipErrors: 'OFF' })], app)).toEqual([]);
    expect(filterProblems([server({ skipErrors: 'ALL', flavor: 'mariadb' })], app)[0]).toMatch(
      /^slave_skip_errors=ALL/,
    );
  });

  it('given the tasks unknown or replicating every schema, should count every schema but the system ones', () => {
    expect(filterProblems([filter('REPLICATE_IGNORE_TABLE', 'scratch.t')], [])).toHaveLength(1);
    expect(filterProblems([filter('REPLICATE_WILD_IGNORE_TABLE', 'mysql.%')], [])).toEqual([]);
    expect(
      filterProblems([filter('REPLICATE_IGNORE_TABLE', 'scratch.t')], [taskScope('t', { 'ignore-dbs': ['scratch'] })]),
    ).toEqual([]);
  });

  it('given MariaDB filters, should speak its spelling: per-connection variables, a->b rewrites, CHANGE MASTER filters', () => {
    const maria = (name: string, rule: string, channel = '') =>
      server({ flavor: 'mariadb', applier: [{ channel, name, rule }] });
    expect(filterProblems([maria('REPLICATE_IGNORE_TABLE', 'app.t2')], app)[0]).toMatch(
      /SET GLOBAL replicate_ignore_table='' with the replica stopped/,
    );
    expect(filterProblems([maria('REPLICATE_DO_DB', 'app', 'east')], app)[0]).toMatch(
      /on channel 'east'.*SET GLOBAL `east`\.replicate_do_db=''/,
    );
    expect(filterProblems([maria('REPLICATE_REWRITE_DB', 'app->app2')], app)[0]).toMatch(/app → app2/);
    expect(filterProblems([maria('REPLICATE_REWRITE_DB', 'x->y,scratch -> s2')], app)).toEqual([]);
    const [domains] = filterProblems([maria('REPLICATE_IGNORE_DOMAIN_IDS', '1,2')], app);
    expect(domains).toMatch(
      /^REPLICATE_IGNORE_DOMAIN_IDS=\(1,2\) on the new instance b:3306: the replica's IO thread drops the transactions of the GTID domains listed/,
    );
    expect(domains).toMatch(/STOP SLAVE; CHANGE MASTER TO IGNORE_DOMAIN_IDS=\(\); START SLAVE/);
    expect(filterProblems([maria('REPLICATE_DO_DOMAIN_IDS', '0', 'east')], app)[0]).toMatch(
      /every GTID domain but these.*STOP SLAVE 'east'; CHANGE MASTER 'east' TO DO_DOMAIN_IDS=\(\)/,
    );
    expect(filterProblems([maria('REPLICATE_IGNORE_SERVER_IDS', '7')], app)[0]).toMatch(
      /skips every transaction written on those servers/,
    );
    expect(filterProblems([filter('REPLICATE_IGNORE_SERVER_IDS', '7')], app)).toEqual([]); // MySQL: not with GTIDs on
    expect(filterProblems([maria('REPLICATE_EVENTS_MARKED_FOR_SKIP', 'FILTER_ON_SLAVE', '(global)')], app)[0]).toMatch(
      /@@skip_replication=1.*SET GLOBAL replicate_events_marked_for_skip=REPLICATE/,
    );
  });

  it('given a filter on a server up the chain, should name its role and address', () => {
    const [p] = filterProblems(
      [
        server({
          address: 'i:3306',
          role: 'the server between it and the primary (a source of b:3306)',
          applier: [{ channel: '', name: 'REPLICATE_IGNORE_TABLE', rule: 'app.t2' }],
        }),
      ],
      app,
    );
    expect(p).toMatch(
      /^REPLICATE_IGNORE_TABLE=\(app\.t2\) on the server between it and the primary \(a source of b:3306\) i:3306/,
    );
  });
});

describe('the schemas a task replicates', () => {
  it('given DM wildcards and regular expressions, should match conservatively', () => {
    const s = taskScope('t', { 'do-dbs': ['shop_*'], 'do-tables': [{ 'db-name': 'logs', 'tbl-name': 'x' }] });
    expect(touchesScope('shop_eu', false, s)).toBe(true);
    expect(touchesScope('logs', false, s)).toBe(true);
    expect(touchesScope('scratch', false, s)).toBe(false);
    expect(touchesScope('sc%', true, s)).toBe(true); // two patterns: cannot prove they are disjoint
    expect(touchesScope('anything', false, taskScope('t', { 'do-dbs': ['~^a.*'] }))).toBe(true);
  });

  it("given the configuration DM shows (config task), should read the source's block-allow list", () => {
    const doc = {
      'mysql-instances': [
        { 'source-id': 'one', 'block-allow-list': 'balist-01' },
        { 'source-id': 'two', 'block-allow-list': '' },
      ],
      'block-allow-list': { 'balist-01': { 'do-dbs': ['app'], 'do-tables': [], 'ignore-dbs': [] } },
    };
    expect(scopeOfTaskConfig('t', doc, 'one')).toEqual({ task: 't', do: ['app'], ignore: [] });
    expect(scopeOfTaskConfig('t', doc, 'two')).toEqual({ task: 't', do: null, ignore: [] });
    expect(scopeOfTaskConfig('t', doc, 'three')).toBeNull();
  });
});
