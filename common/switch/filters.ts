/**
 * Replication and binary log filters that would hide changes from DM. Pure;
 * workflows and activities both import it.
 *
 * With GTIDs on, a replica that filters a transaction out (an applier filter,
 * `replica_skip_errors`) still commits it, as an empty transaction that keeps
 * its GTID and is written to its binary log; a binary log filter
 * (`binlog-do-db`/`binlog-ignore-db`) leaves the changes out of the binary log
 * too. Every GTID rule then holds, DM moves past the changes, and applies
 * nothing: rows are lost downstream with no error. So an instance that DM is
 * to read, and every server between it and the primary, must have no filter
 * that could touch a schema the source's tasks replicate.
 *
 * Decided conservatively: a filter passes only when it provably cannot touch
 * those schemas.
 *  - `REPLICATE_DO_DB`, `REPLICATE_DO_TABLE`, `REPLICATE_WILD_DO_TABLE`,
 *    `binlog-do-db`: keep only what they name; always refused.
 *  - `REPLICATE_IGNORE_DB`, `binlog-ignore-db`: always refused. Row events
 *    are filtered by their table's schema, but DDL is logged as a statement
 *    and filtered by the session's default database (`USE`): an `ALTER TABLE
 *    app.t` run while the ignored schema is the default one is skipped.
 *  - `REPLICATE_IGNORE_TABLE`, `REPLICATE_WILD_IGNORE_TABLE`: table filters
 *    judge each statement by the tables it touches; refused when the schema
 *    part could match a schema the tasks replicate.
 *  - `REPLICATE_REWRITE_DB=((from,to))`: refused when `from` (its changes go
 *    elsewhere) or `to` (it receives another schema's changes) could be one.
 *  - `replica_skip_errors` (MariaDB `slave_skip_errors`) other than OFF: a
 *    skipped error commits the transaction's GTID without its changes;
 *    always refused.
 *  - MariaDB only: `DO_DOMAIN_IDS`/`IGNORE_DOMAIN_IDS` and `IGNORE_SERVER_IDS`
 *    of CHANGE MASTER (the replica drops whole GTID domains or servers'
 *    transactions, whatever they change) and `replicate_events_marked_for_skip`
 *    other than REPLICATE: always refused. MariaDB logs no trace of a
 *    filtered transaction in the replica's binary log (only its
 *    gtid_slave_pos moves), so gtid_current_pos still covers it.
 */
import type { FilterWords, Flavor } from './types.js';

/** The filters of one server as read from it. */
export interface ServerFilters {
  /** `host:port`. */
  address: string;
  /** Its place, in words: `the new instance`, `intermediate server (source of 10.0.0.2:3306)`. */
  role: string;
  /** Applier filters per channel (SHOW REPLICA STATUS columns) and global ones (channel `(global)`). */
  applier: Array<{ channel: string; name: string; rule: string }>;
  binlogDoDb: string;
  binlogIgnoreDb: string;
  /** replica_skip_errors / slave_skip_errors as the server shows it. */
  skipErrors: string;
  flavor: Flavor;
  /** The server's own spellings, where it was read with them. */
  words?: FilterWords;
}

/** A server with no applier or binary log filter and no skipped errors: nothing to judge against the tasks. */
export function noFilters(s: ServerFilters): boolean {
  return s.applier.length === 0 && !s.binlogDoDb && !s.binlogIgnoreDb && /^(OFF)?$/i.test(s.skipErrors.trim());
}

/**
 * The schemas a task replicates from the source, from its block-allow list
 * (DM's table-filter rules): `do` lists the do-dbs and the do-tables' db-names
 * (null: none given, so every schema but `ignore` and the system schemas).
 * Patterns: DM wildcards (`*`, `?`) or a regular expression (`~…`).
 */
export interface TaskScope {
  task: string;
  do: string[] | null;
  ignore: string[];
}

/** Schemas DM never replicates. */
const SYSTEM_SCHEMAS = new Set([
  'mysql',
  'information_schema',
  'performance_schema',
  'sys',
  'metrics_schema',
  'inspection_schema',
]);

/** The schemas of a DM block-allow-list rule (as `config task` shows it); null rule: every schema. */
export function taskScope(task: string, rule: Record<string, unknown> | null | undefined): TaskScope {
  if (!rule) return { task, do: null, ignore: [] };
  const strings = (v: unknown) => (Array.isArray(v) ? v.map(String).filter((x) => x !== '') : []);
  const dbName = (x: unknown) => String((x as Record<string, unknown>)?.['db-name'] ?? '');
  const tables = (v: unknown) => (Array.isArray(v) ? v : []).map(dbName).filter((x) => x !== '');
  const doList = [...strings(rule['do-dbs']), ...tables(rule['do-tables'])];
  return { task, do: doList.length ? doList : null, ignore: strings(rule['ignore-dbs']) };
}

/**
 * Every task of `sourceId` in a task configuration (as `config task` shows
 * it, parsed): the schemas it replicates from that source.
 */
export function scopeOfTaskConfig(task: string, doc: Record<string, unknown>, sourceId: string): TaskScope | null {
  const instances = (doc['mysql-instances'] as Array<Record<string, unknown>> | undefined) ?? [];
  const inst = instances.find((x) => String(x['source-id'] ?? '') === sourceId);
  if (!inst) return null;
  const named = (key: string) => {
    const name = inst[key];
    const rules = doc[key] as Record<string, Record<string, unknown>> | undefined;
    return typeof name === 'string' && name !== '' ? (rules?.[name] ?? null) : null;
  };
  return taskScope(task, named('block-allow-list') ?? named('black-white-list'));
}

const isRegex = (p: string) => p.startsWith('~');
const dmWild = (p: string) => /[*?[]/.test(p);
const likeWild = (p: string) => /(^|[^\\])[%_]/.test(p);

function dmGlob(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, 'i');
}

function likeRegex(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '\\' && i + 1 < pattern.length) out += pattern[++i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else if (ch === '%') out += '.*';
    else if (ch === '_') out += '.';
    else out += ch.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${out}$`, 'i');
}

/** Whether a filter's schema (a name, or a LIKE pattern when `like`) could be one a task replicates. */
export function touchesScope(schema: string, like: boolean, scope: TaskScope): boolean {
  const wild = like && likeWild(schema);
  const literal = like ? schema.replace(/\\(.)/g, '$1') : schema;
  if (scope.do === null) {
    if (wild) return true;
    const name = literal.toLowerCase();
    if (SYSTEM_SCHEMAS.has(name)) return false;
    return !scope.ignore.some((p) => !isRegex(p) && !dmWild(p) && p.toLowerCase() === name);
  }
  return scope.do.some((p) => {
    if (isRegex(p)) return true;
    if (wild) return dmWild(p) ? true : likeRegex(schema).test(p);
    return dmWild(p) ? dmGlob(p).test(literal) : p.toLowerCase() === literal.toLowerCase();
  });
}

const split = (list: string) =>
  list
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x !== '');

/** `(a,b),(c,d)` (MySQL) or `a->b,c->d` (MariaDB) → [[a,b],[c,d]]. */
function rewritePairs(rule: string): Array<[string, string]> {
  const mysqlPairs = [...rule.matchAll(/\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)/g)].map((m) => [m[1]!, m[2]!]);
  if (mysqlPairs.length) return mysqlPairs as Array<[string, string]>;
  const arrows = split(rule).map((x) => x.split('->').map((y) => y.trim()));
  return arrows.filter((x) => x.length === 2 && x[0] && x[1]).map((x) => [x[0]!, x[1]!]);
}

const everySchema = (ignore: string[]) => `every schema${ignore.length ? ` but ${ignore.join(', ')}` : ''}`;
const scopeText = (scopes: TaskScope[]) =>
  scopes.map((s) => `${s.task}: ${s.do !== null ? s.do.join(', ') : everySchema(s.ignore)}`).join('; ');

/** What a replica does with a filtered transaction: MySQL logs it empty; MariaDB leaves it out of its binary log. */
const EMPTY = {
  mysql: 'committing empty transactions that keep their GTIDs, so DM would lose them without an error',
  mariadb:
    'counting them as executed (gtid_slave_pos) but leaving them out of its binary log, ' +
    'so DM would lose them without an error',
};
const USE_DDL = 'a DDL statement is filtered by the default database (USE) it runs in, so a DDL on a replicated table';
const OTHER = 'or choose another instance';

/** How to clear an applier filter, in the words of the server's flavor and version. */
function clearFilter(s: ServerFilters, name: string, channel: string): string {
  const config = "and from the server's configuration";
  if (s.flavor === 'mariadb') return clearMariadbFilter(name, channel, config);
  // before MySQL 8.0 a filter is for every channel (no FOR CHANNEL), and the statements say SLAVE before 8.0.22
  const w = s.words ?? { stopReplica: 'STOP REPLICA', startReplica: 'START REPLICA', channelFilters: true };
  const forChannel = w.channelFilters && channel && channel !== '(global)' ? ` FOR CHANNEL '${channel}'` : '';
  const change = `CHANGE REPLICATION FILTER ${name}=()${forChannel}`;
  return `${w.stopReplica} SQL_THREAD; ${change}; ${w.startReplica} SQL_THREAD, ${config}`;
}

/**
 * MariaDB: the `replicate_*` filters are variables, per connection of a
 * multi-source replica (`SET GLOBAL conn.replicate_do_db`); the domain and
 * server-id filters are part of the connection (CHANGE MASTER).
 */
function clearMariadbFilter(name: string, channel: string, config: string): string {
  const named = channel !== '' && channel !== '(global)';
  const conn = named ? ` '${channel}'` : '';
  const upper = name.toUpperCase();
  const change = upper.match(/^REPLICATE_(DO_DOMAIN_IDS|IGNORE_DOMAIN_IDS|IGNORE_SERVER_IDS)$/);
  if (change) return `STOP SLAVE${conn}; CHANGE MASTER${conn} TO ${change[1]}=(); START SLAVE${conn}`;
  const variable = `${named ? `\`${channel}\`.` : ''}${name.toLowerCase()}`;
  if (upper === 'REPLICATE_EVENTS_MARKED_FOR_SKIP') {
    return `SET GLOBAL ${variable}=REPLICATE with the replica stopped, ${config}`;
  }
  return `SET GLOBAL ${variable}='' with the replica stopped, ${config}`;
}

/** What one applier filter would hide, in words; null when it provably hides nothing the tasks replicate. */
function applierProblem(s: ServerFilters, f: ServerFilters['applier'][number], scopes: TaskScope[]): string | null {
  const touches = (schema: string, like = false) => scopes.some((x) => touchesScope(schema, like, x));
  const channel = f.channel === '(global)' ? ' (global)' : f.channel ? ` on channel '${f.channel}'` : '';
  const on = `${f.name}=(${f.rule})${channel} on ${s.role} ${s.address}`;
  const remove = (how: string) => `remove it (${how}) ${OTHER}`;
  const clear = clearFilter(s, f.name, f.channel);
  const name = f.name.toUpperCase();
  if (/^REPLICATE_(WILD_)?DO_(DB|TABLE)$/.test(name)) {
    const why = 'a replica applies only what this filter names, everything else';
    const rest =
      s.flavor === 'mysql'
        ? 'committed as empty transactions that keep their GTIDs'
        : 'counted as executed (gtid_slave_pos) but left out of its binary log';
    return `${on}: ${why} ${rest}, so DM would skip those changes without an error; ${remove(clear)}`;
  }
  if (name === 'REPLICATE_IGNORE_DB') {
    const hit = split(f.rule).filter((x) => touches(x));
    const what = hit.length
      ? `it skips changes of ${hit.join(', ')}, which the tasks replicate,`
      : `${USE_DDL} issued from an ignored schema is skipped,`;
    const instead = "REPLICATE_WILD_IGNORE_TABLE=('<db>.%') filters by the tables a statement touches instead";
    return `${on}: ${what} ${EMPTY[s.flavor]}; ${remove(`${clear}; ${instead}`)}`;
  }
  if (name === 'REPLICATE_IGNORE_TABLE' || name === 'REPLICATE_WILD_IGNORE_TABLE') {
    const like = name === 'REPLICATE_WILD_IGNORE_TABLE';
    const hit = split(f.rule).filter((x) => touches(x.split('.')[0] ?? x, like));
    if (hit.length === 0) return null;
    const where = `in schemas the tasks replicate (${scopeText(scopes)})`;
    return `${on}: it skips changes of ${hit.join(', ')}, ${where}, ${EMPTY[s.flavor]}; ${remove(clear)}`;
  }
  if (name === 'REPLICATE_REWRITE_DB') {
    const pairs = rewritePairs(f.rule);
    const hit = pairs.filter(([from, to]) => touches(from) || touches(to));
    if (pairs.length > 0 && hit.length === 0) return null;
    const shown = hit.map(([a, b]) => `${a} → ${b}`).join(', ') || f.rule;
    const effect = 'so DM would see them under the wrong schema, losing them in one and inventing them in the other';
    return `${on}: it applies the changes of one schema to another (${shown}), ${effect}; ${remove(clear)}`;
  }
  if (name === 'REPLICATE_DO_DOMAIN_IDS' || name === 'REPLICATE_IGNORE_DOMAIN_IDS') {
    const which = name === 'REPLICATE_DO_DOMAIN_IDS' ? 'every GTID domain but these' : 'the GTID domains listed';
    const why = `the replica's IO thread drops the transactions of ${which}, whatever schema they change`;
    const loss = 'so DM reading it would miss every change a session writes in such a domain (gtid_domain_id)';
    return `${on}: ${why}, ${loss}, without an error; ${remove(clear)}`;
  }
  if (name === 'REPLICATE_IGNORE_SERVER_IDS') {
    // MySQL deprecates IGNORE_SERVER_IDS with GTID_MODE=ON (judged as before); MariaDB's GTID replication honours it
    if (s.flavor === 'mysql') return null;
    const why = 'the replica skips every transaction written on those servers, whatever schema it changes';
    return `${on}: ${why}, so DM reading it would miss them without an error; ${remove(clear)}`;
  }
  if (name === 'REPLICATE_EVENTS_MARKED_FOR_SKIP') {
    const why = 'the replica skips the transactions a session on its source wrote with @@skip_replication=1';
    const loss = 'whatever schema they change, so DM reading it would miss them without an error';
    return `${on}: ${why}, ${loss}; ${remove(clear)}`;
  }
  const unknown = 'a replication filter this check does not know, so it cannot prove that it hides nothing DM needs';
  return `${on}: ${unknown}; ${remove(clear)}`;
}

/** What the binary log filters and skipped errors of one server would hide, in words. */
function serverProblems(s: ServerFilters, scopes: TaskScope[]): string[] {
  const touches = (schema: string) => scopes.some((x) => touchesScope(schema, false, x));
  const at = `${s.role} ${s.address}`;
  const restart = `remove it from the server's configuration (a restart) ${OTHER}`;
  const out: string[] = [];
  if (s.binlogDoDb) {
    const why = 'the server writes to its binary log only changes of those schemas (for DDL: of the default database)';
    const loss = 'so DM, reading this binary log, would miss the rest without an error';
    out.push(`binlog-do-db=${s.binlogDoDb} on ${at}: ${why}, ${loss}; ${restart}`);
  }
  if (s.binlogIgnoreDb) {
    const hit = split(s.binlogIgnoreDb).filter((x) => touches(x));
    const what = hit.length
      ? `changes of ${hit.join(', ')}, which the tasks replicate, are`
      : `${USE_DDL} issued from an ignored schema is`;
    const loss = 'left out of the binary log DM would read, without an error';
    out.push(`binlog-ignore-db=${s.binlogIgnoreDb} on ${at}: ${what} ${loss}; ${restart}`);
  }
  const skip = s.skipErrors.trim();
  if (skip !== '' && skip.toUpperCase() !== 'OFF') {
    const variable =
      s.words?.skipErrorsVariable ?? (s.flavor === 'mysql' ? 'replica_skip_errors' : 'slave_skip_errors');
    const why = 'a transaction that fails with one of those errors is committed without its changes (its GTID kept)';
    const fix = `set ${variable} to OFF (in the server's configuration, then restart it) ${OTHER}`;
    out.push(`${variable}=${skip} on ${at}: ${why}, so DM would skip them without an error; ${fix}`);
  }
  return out;
}

/**
 * Why DM would lose or invent changes through the filters of these servers,
 * one sentence per filter found (empty: none can touch what the tasks
 * replicate). `scopes` empty means the tasks' schemas are unknown: every
 * schema counts.
 */
export function filterProblems(servers: ServerFilters[], scopes: TaskScope[]): string[] {
  const effective = scopes.length ? scopes : [{ task: '(tasks unknown)', do: null, ignore: [] }];
  return servers.flatMap((s) => [
    ...s.applier.map((f) => applierProblem(s, f, effective)).filter((x): x is string => x !== null),
    ...serverProblems(s, effective),
  ]);
}
