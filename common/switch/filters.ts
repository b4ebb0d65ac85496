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
 */

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
  flavor: 'mysql' | 'mariadb';
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
const SYSTEM_SCHEMAS = new Set(['mysql', 'information_schema', 'performance_schema', 'sys', 'metrics_schema', 'inspection_schema']);

/** The schemas of a DM block-allow-list rule (as `config task` shows it); null rule: every schema. */
export function taskScope(task: string, rule: Record<string, unknown> | null | undefined): TaskScope {
  if (!rule) return { task, do: null, ignore: [] };
  const strings = (v: unknown) => (Array.isArray(v) ? v.map(String).filter((x) => x !== '') : []);
  const tables = (v: unknown) => (Array.isArray(v) ? v.map((x) => String((x as Record<string, unknown>)?.['db-name'] ?? '')).filter((x) => x !== '') : []);
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
  const body = pattern.replace(/[.+^${}()|\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
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

const split = (list: string) => list.split(',').map((x) => x.trim()).filter((x) => x !== '');

/** `(a,b),(c,d)` → [[a,b],[c,d]]. */
function rewritePairs(rule: string): Array<[string, string]> {
  return [...rule.matchAll(/\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)/g)].map((m) => [m[1]!, m[2]!]);
}

const scopeText = (scopes: TaskScope[]) =>
  scopes.map((s) => `${s.task}: ${s.do === null ? `every schema${s.ignore.length ? ` but ${s.ignore.join(', ')}` : ''}` : s.do.join(', ')}`).join('; ');

/**
 * Why DM would lose or invent changes through the filters of these servers,
 * one sentence per filter found (empty: none can touch what the tasks
 * replicate). `scopes` empty means the tasks' schemas are unknown: every
 * schema counts.
 */
export function filterProblems(servers: ServerFilters[], scopes: TaskScope[]): string[] {
  const effective = scopes.length ? scopes : [{ task: '(tasks unknown)', do: null, ignore: [] }];
  const touches = (schema: string, like = false) => effective.some((s) => touchesScope(schema, like, s));
  const out: string[] = [];
  for (const s of servers) {
    const at = `${s.role} ${s.address}`;
    const remove = (how: string) => `remove it (${how}) or choose another instance`;
    for (const f of s.applier) {
      const on = `${f.name}=(${f.rule})${f.channel === '(global)' ? ' (global)' : f.channel ? ` on channel '${f.channel}'` : ''} on ${at}`;
      const clear = s.flavor === 'mysql' ? `STOP REPLICA SQL_THREAD; CHANGE REPLICATION FILTER ${f.name}=()${f.channel && f.channel !== '(global)' ? ` FOR CHANNEL '${f.channel}'` : ''}; START REPLICA SQL_THREAD, and from the server's configuration` : `SET GLOBAL ${f.name.toLowerCase()}='' with the replica stopped, and from the server's configuration`;
      const name = f.name.toUpperCase();
      if (/^REPLICATE_(WILD_)?DO_(DB|TABLE)$/.test(name)) {
        out.push(`${on}: a replica applies only what this filter names and commits everything else as empty transactions that keep their GTIDs, so DM would skip those changes without an error; ${remove(clear)}`);
      } else if (name === 'REPLICATE_IGNORE_DB') {
        const hit = split(f.rule).filter((x) => touches(x));
        out.push(
          `${on}: ${hit.length ? `it skips changes of ${hit.join(', ')}, which the tasks replicate, ` : 'a DDL statement is filtered by the default database (USE) it runs in, so a DDL on a replicated table issued from an ignored schema is skipped, '}committing an empty transaction that keeps its GTID, so DM would lose them without an error; ${remove(`${clear}; REPLICATE_WILD_IGNORE_TABLE=('<db>.%') filters by the tables a statement touches instead`)}`,
        );
      } else if (name === 'REPLICATE_IGNORE_TABLE' || name === 'REPLICATE_WILD_IGNORE_TABLE') {
        const like = name === 'REPLICATE_WILD_IGNORE_TABLE';
        const hit = split(f.rule).filter((x) => touches(x.split('.')[0] ?? x, like));
        if (hit.length) out.push(`${on}: it skips changes of ${hit.join(', ')}, in schemas the tasks replicate (${scopeText(effective)}), committing empty transactions that keep their GTIDs, so DM would lose them without an error; ${remove(clear)}`);
      } else if (name === 'REPLICATE_REWRITE_DB') {
        const pairs = rewritePairs(f.rule);
        const hit = pairs.filter(([from, to]) => touches(from) || touches(to));
        if (hit.length || pairs.length === 0) {
          out.push(`${on}: it applies the changes of one schema to another (${(hit.length ? hit : pairs).map(([a, b]) => `${a} → ${b}`).join(', ') || f.rule}), so DM would see them under the wrong schema, losing them in one and inventing them in the other; ${remove(clear)}`);
        }
      } else if (name !== 'REPLICATE_IGNORE_SERVER_IDS') {
        out.push(`${on}: a replication filter this check does not know, so it cannot prove that it hides nothing DM needs; ${remove(clear)}`);
      }
    }
    if (s.binlogDoDb) out.push(`binlog-do-db=${s.binlogDoDb} on ${at}: the server writes to its binary log only changes of those schemas (for DDL, by the default database it runs in), so DM, reading this binary log, would miss the rest without an error; remove it from the server's configuration (a restart) or choose another instance`);
    if (s.binlogIgnoreDb) {
      const hit = split(s.binlogIgnoreDb).filter((x) => touches(x));
      out.push(
        `binlog-ignore-db=${s.binlogIgnoreDb} on ${at}: ${hit.length ? `changes of ${hit.join(', ')}, which the tasks replicate, are` : 'a DDL statement is judged by the default database (USE) it runs in, so a DDL on a replicated table issued from an ignored schema is'} left out of the binary log DM would read, without an error; remove it from the server's configuration (a restart) or choose another instance`,
      );
    }
    const skip = s.skipErrors.trim();
    if (skip !== '' && skip.toUpperCase() !== 'OFF') {
      const variable = s.flavor === 'mysql' ? 'replica_skip_errors' : 'slave_skip_errors';
      out.push(`${variable}=${skip} on ${at}: a transaction that fails with one of those errors is committed without its changes (its GTID kept), so DM would skip them without an error; set ${variable} to OFF (in the server's configuration, then restart it) or choose another instance`);
    }
  }
  return out;
}
