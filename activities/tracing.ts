/**
 * Spans inside activities: one per dmctl call and one per MySQL connection and query, children of the
 * activity's span (worker/tracing.ts), each with the DM source the activity works on, the instance or
 * DM cluster it talks to and its outcome. Through the OpenTelemetry API only: when the worker exports
 * no traces (the default), no tracer provider is registered and these spans are no-ops.
 *
 * Never a secret in an attribute: no password, no dmctl answer (a source's configuration carries its
 * password), no query parameter and no statement that could carry a credential (redactStatement).
 */
import { context, createContextKey, SpanStatusCode, trace, type Attributes, type Context } from '@opentelemetry/api';

/** The attribute names every span of a switch uses. */
export const ATTR = {
  source: 'dm_switch.source',
  cluster: 'dm_switch.dm_cluster',
  /** host:port of the MySQL instance (as the request names it), or dm-master's address for dmctl. */
  instance: 'dm_switch.instance',
  outcome: 'dm_switch.outcome',
  /** The workflow's outcome (switched, rolled-back, refused, needs-operator, …). */
  switchOutcome: 'dm_switch.switch_outcome',
} as const;

const SOURCE = createContextKey('dm-switch source');
const CLUSTER = createContextKey('dm-switch DM cluster');

export const tracer = () => trace.getTracer('dm-switch');

/** Runs `fn` with the DM source and cluster of the activity in the context, for the spans inside it. */
export function withSwitchContext<T>(about: { source?: string; cluster?: string }, fn: () => T): T {
  let ctx: Context = context.active();
  if (about.source) ctx = ctx.setValue(SOURCE, about.source);
  if (about.cluster) ctx = ctx.setValue(CLUSTER, about.cluster);
  return context.with(ctx, fn);
}

function switchAttributes(): Attributes {
  const ctx = context.active();
  const source = ctx.getValue(SOURCE);
  const cluster = ctx.getValue(CLUSTER);
  return {
    ...(typeof source === 'string' ? { [ATTR.source]: source } : {}),
    ...(typeof cluster === 'string' ? { [ATTR.cluster]: cluster } : {}),
  };
}

/**
 * Runs `fn` in a span named `name` (a child of the active one): `attributes` plus the activity's source and
 * cluster; the outcome is `ok`, what `outcome` says of the result, or `error` with the error's class (not its
 * message, which may quote a server's answer).
 */
export async function inSpan<T>(
  name: string,
  attributes: Attributes,
  fn: () => Promise<T>,
  outcome?: (result: T) => string,
): Promise<T> {
  return tracer().startActiveSpan(name, { attributes: { ...switchAttributes(), ...attributes } }, async (span) => {
    try {
      const result = await fn();
      const o = outcome?.(result) ?? 'ok';
      span.setAttribute(ATTR.outcome, o);
      if (o !== 'ok') span.setStatus({ code: SpanStatusCode.ERROR, message: o });
      return result;
    } catch (e) {
      const code = (e as { code?: unknown; type?: unknown }).code ?? (e as { type?: unknown }).type;
      const kind = typeof code === 'string' ? code : ((e as Error)?.name ?? 'Error');
      span.setAttribute(ATTR.outcome, 'error');
      span.setAttribute('error.type', kind);
      span.setStatus({ code: SpanStatusCode.ERROR, message: kind });
      throw e;
    } finally {
      span.end();
    }
  });
}

/** Words that may start or carry a credential in a statement (CREATE USER … IDENTIFIED BY, SET PASSWORD, …). */
const CREDENTIAL_SQL = /password|identified|secret|credential|\bauth|\bkey\b|\bcipher|\bssl_|master_user|source_user/i;
/** A literal in a statement: a quoted string or a hexadecimal/binary one. */
const LITERAL = /'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\b[xb]'[^']*'/gi;

/**
 * The statement as a span may show it: the text the worker wrote (its parameters are never shown), with its string
 * literals replaced by `?` so no value from a server or a request is carried, and none at all when it names a
 * credential.
 */
export function redactStatement(sql: string): string {
  if (CREDENTIAL_SQL.test(sql)) return '(not shown: the statement concerns a credential)';
  const text = sql.replace(LITERAL, '?').replace(/\s+/g, ' ').trim();
  return text.length > 500 ? `${text.slice(0, 500)}…` : text;
}

/** What a traced MySQL connection needs: its `query` (mysql2/promise's Connection). */
interface Queryable {
  query: (...args: never[]) => Promise<unknown>;
}

/**
 * Makes every query on `c` a span `mysql query` on `instance` (host:port as the request names it), with the
 * statement as redactStatement leaves it and the number of rows it returned. Returns `c`.
 */
export function traceQueries<C extends Queryable>(c: C, instance: string): C {
  const query = c.query.bind(c) as (...args: unknown[]) => Promise<unknown>;
  const traced = (...args: unknown[]) => {
    const sql = typeof args[0] === 'string' ? args[0] : String((args[0] as { sql?: unknown })?.sql ?? '');
    return inSpan(
      'mysql query',
      { 'db.system': 'mysql', [ATTR.instance]: instance, 'db.statement': redactStatement(sql) },
      () => query(...args),
    );
  };
  c.query = traced as C['query'];
  return c;
}
