/**
 * Templates in a webhook rule's `switch:` values, so that one rule covers
 * every source: `sourceId: "{{ labels.dm_source }}"`.
 *
 * The grammar is deliberately tiny (no expressions, no code):
 *
 *   value    := ( text | template )*
 *   template := "{{" ref ( "|" filter )* "}}"        spaces and tabs allowed around each part
 *   ref      := ( "labels" | "annotations" ) "." name
 *   name     := [A-Za-z_][A-Za-z0-9_]*               a Prometheus label name
 *   filter   := "host" | "port" | "number"
 *   text     := any characters, but no "{{" and no "}}" (there is no escape)
 *
 * A value that is exactly one template (nothing around it) whose last filter
 * is `port` or `number` yields a number; every other value yields a string.
 *
 * Labels are set by whoever can raise an alert, so the alert's values are
 * data: templates are parsed from the policy only, and a value is put in as
 * it is, never parsed again. A label holding "{{ labels.x }}" stays that text.
 */

export const TEMPLATE_ROOTS = ['labels', 'annotations'] as const;
export type TemplateRoot = (typeof TEMPLATE_ROOTS)[number];

/** What a value is checked with at policy load, in place of what an alert will give. */
export const SAMPLE_STRING = 'sample';
/** Fits every number of a switch request (port, the …Seconds options and approvals.timeoutSeconds). */
export const SAMPLE_NUMBER = 3306;

class FilterError extends Error {}

/** Splits "host:port", "[IPv6]:port", "host", "[IPv6]" and a bare IPv6 address (no port). */
function splitHostPort(value: string): { host: string; port?: string } {
  if (value.startsWith('[')) {
    const m = /^\[([^\]]*)\](?::(.*))?$/.exec(value);
    if (!m) throw new FilterError('is not [IPv6 address]:port');
    return { host: m[1]!, ...(m[2] !== undefined ? { port: m[2] } : {}) };
  }
  const colon = value.indexOf(':');
  if (colon < 0) return { host: value };
  // more than one colon and no brackets: an IPv6 address, whose port could not be told apart
  if (value.indexOf(':', colon + 1) >= 0) return { host: value };
  return { host: value.slice(0, colon), port: value.slice(colon + 1) };
}

const FILTERS = {
  host: (v: string) => {
    const { host } = splitHostPort(v);
    if (!host) throw new FilterError('has no host before the port');
    return host;
  },
  port: (v: string) => {
    const { port } = splitHostPort(v);
    if (port === undefined) throw new FilterError('has no port (write host:port, or [IPv6 address]:port)');
    if (!/^[0-9]{1,5}$/.test(port)) throw new FilterError(`has a port "${port}" that is not a number`);
    return port;
  },
  number: (v: string) => {
    if (!/^[0-9]{1,15}$/.test(v)) throw new FilterError('is not a whole number');
    return v;
  },
} as const satisfies Record<string, (value: string) => string>;
export type TemplateFilter = keyof typeof FILTERS;
export const TEMPLATE_FILTERS = Object.keys(FILTERS) as TemplateFilter[];
const NUMBER_FILTERS: readonly TemplateFilter[] = ['port', 'number'];

export interface TemplateRef {
  root: TemplateRoot;
  name: string;
  filters: TemplateFilter[];
  /** The template as written in the policy, for messages. */
  text: string;
}
export interface Template {
  /** Literal text and references, in order. */
  segments: Array<string | TemplateRef>;
  /** Exactly one template ending in a number filter: the value is a number. */
  numeric: boolean;
}

export class TemplateSyntaxError extends Error {
  override readonly name = 'TemplateSyntaxError';
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function parseRef(inner: string, text: string): TemplateRef {
  const [head, ...rest] = inner.split('|').map((p) => p.trim());
  const dot = head!.indexOf('.');
  const root = dot < 0 ? head! : head!.slice(0, dot);
  const name = dot < 0 ? '' : head!.slice(dot + 1);
  if (!(TEMPLATE_ROOTS as readonly string[]).includes(root)) {
    throw new TemplateSyntaxError(
      `${text}: unknown variable root "${root}"; write {{ labels.NAME }} or {{ annotations.NAME }}`,
    );
  }
  if (!NAME.test(name))
    throw new TemplateSyntaxError(
      `${text}: "${name}" is not a label or annotation name; use letters, digits and "_" (not starting with a digit)`,
    );
  const filters = rest.map((f) => {
    if (!Object.hasOwn(FILTERS, f))
      throw new TemplateSyntaxError(`${text}: unknown filter "${f}"; the filters are ${TEMPLATE_FILTERS.join(', ')}`);
    return f as TemplateFilter;
  });
  return { root: root as TemplateRoot, name, filters, text };
}

/**
 * The templates of one string, or undefined when it has none; throws TemplateSyntaxError for anything the grammar does
 * not allow.
 */
export function parseTemplate(value: string): Template | undefined {
  if (!value.includes('{{') && !value.includes('}}')) return undefined;
  const segments: Template['segments'] = [];
  let at = 0;
  while (at < value.length) {
    const open = value.indexOf('{{', at);
    const text = value.slice(at, open < 0 ? value.length : open);
    if (text.includes('}}')) throw new TemplateSyntaxError(`"}}" without an opening "{{" in ${JSON.stringify(value)}`);
    if (text) segments.push(text);
    if (open < 0) break;
    const close = value.indexOf('}}', open + 2);
    if (close < 0) throw new TemplateSyntaxError(`"{{" without a closing "}}" in ${JSON.stringify(value)}`);
    const inner = value.slice(open + 2, close);
    const written = value.slice(open, close + 2);
    if (inner.includes('{{')) throw new TemplateSyntaxError(`templates do not nest: ${written}`);
    segments.push(parseRef(inner, written));
    at = close + 2;
  }
  const only = segments.length === 1 ? segments[0] : undefined;
  const numeric = typeof only === 'object' && NUMBER_FILTERS.includes(only.filters[only.filters.length - 1]!);
  return { segments, numeric };
}

export type TemplatePath = Array<string | number>;
/** The key of a value as the workflow input's validation names it ("oldInstance.port", "candidates.0.host"). */
export const pathKey = (path: TemplatePath) => path.join('.');

function mapStrings(value: unknown, path: TemplatePath, fn: (s: string, path: TemplatePath) => unknown): unknown {
  if (typeof value === 'string') return fn(value, path);
  if (Array.isArray(value)) return value.map((v, i) => mapStrings(v, [...path, i], fn));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, mapStrings(v, [...path, k], fn)]),
    );
  }
  return value;
}

function walkKeys(value: unknown, path: TemplatePath, fn: (key: string, v: unknown, path: TemplatePath) => void): void {
  if (Array.isArray(value)) value.forEach((v, i) => walkKeys(v, [...path, i], fn));
  else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      fn(k, v, [...path, k]);
      walkKeys(v, [...path, k], fn);
    }
  }
}

export interface TemplateProblem {
  path: string;
  message: string;
}

/**
 * Every template in `value` (a rule's switch request), and every problem with
 * them: syntax, unknown roots and filters, templates in keys, templates under
 * `forbidden` top-level keys, and a template YAML took for a mapping because
 * it was not quoted.
 */
export function findTemplates(
  value: unknown,
  forbidden: Record<string, string> = {},
): { templates: Map<string, Template>; problems: TemplateProblem[] } {
  const templates = new Map<string, Template>();
  const problems: TemplateProblem[] = [];
  mapStrings(value, [], (s, path) => {
    try {
      const t = parseTemplate(s);
      if (!t) return s;
      const why = Object.hasOwn(forbidden, String(path[0])) ? forbidden[String(path[0])] : undefined;
      if (why) problems.push({ path: pathKey(path), message: `no templates here: ${why}` });
      else templates.set(pathKey(path), t);
    } catch (e) {
      if (!(e instanceof TemplateSyntaxError)) throw e;
      problems.push({ path: pathKey(path), message: e.message });
    }
    return s;
  });
  walkKeys(value, [], (key, v, path) => {
    // YAML reads an unquoted {{ labels.x }} as a mapping whose key is "{ labels.x }"
    if (v === null && /^\{.*\}$/.test(key))
      problems.push({
        path: pathKey(path.slice(0, -1)),
        message: `quote the template: write "{${key}}" (unquoted, YAML reads {${key}} as a mapping)`,
      });
    else if (key.includes('{{') || key.includes('}}'))
      problems.push({ path: pathKey(path), message: 'templates go in values, not in keys' });
  });
  return { templates, problems };
}

/**
 * `value` with every template replaced by a sample that fits (a number where a template yields one), for checking a
 * rule at load.
 */
export function sampleValue(value: unknown): unknown {
  return mapStrings(value, [], (s) => {
    const t = parseTemplate(s);
    if (!t) return s;
    if (t.numeric) return SAMPLE_NUMBER;
    return t.segments.map((seg) => (typeof seg === 'string' ? seg : SAMPLE_STRING)).join('');
  });
}

export interface AlertValues {
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
/** Where a rendered value came from: each template, with the label or annotation and its value. */
export interface TemplateOrigin {
  text: string;
  ref: string;
  value: string;
}
export type Rendered =
  { ok: true; value: unknown; origins: Map<string, TemplateOrigin[]> } | { ok: false; problems: TemplateProblem[] };

const MAX_SHOWN = 200;
/** A value from an alert, as a message shows it: quoted (control characters escaped), and cut if long. */
export function shown(value: string): string {
  return JSON.stringify(value.length <= MAX_SHOWN ? value : `${value.slice(0, MAX_SHOWN - 1)}…`);
}
const singular = (root: TemplateRoot) => (root === 'labels' ? 'label' : 'annotation');

/**
 * Renders every template of `value` once with the alert's labels and
 * annotations. A missing (or empty, which Prometheus treats alike) label or
 * annotation, or a value a filter cannot take, is a problem naming the key,
 * the template, and the value.
 */
export function renderValue(value: unknown, alert: AlertValues): Rendered {
  const problems: TemplateProblem[] = [];
  const origins = new Map<string, TemplateOrigin[]>();
  const out = mapStrings(value, [], (s, path) => {
    let t: Template | undefined;
    try {
      t = parseTemplate(s);
    } catch (e) {
      if (!(e instanceof TemplateSyntaxError)) throw e;
      problems.push({ path: pathKey(path), message: e.message });
      return s;
    }
    if (!t) return s;
    const from: TemplateOrigin[] = [];
    let failed = false;
    const parts = t.segments.map((seg) => {
      if (typeof seg === 'string') return seg;
      // own properties only: a label named "constructor" is not the object's
      const values = alert[seg.root];
      const raw =
        Object.hasOwn(values, seg.name) && typeof values[seg.name] === 'string' ? values[seg.name] : undefined;
      const ref = `${singular(seg.root)} ${seg.name}`;
      if (raw === undefined || raw === '') {
        problems.push({ path: pathKey(path), message: `${seg.text}: the alert has no ${ref}` });
        failed = true;
        return '';
      }
      from.push({ text: seg.text, ref, value: raw });
      try {
        return seg.filters.reduce((v, f) => FILTERS[f](v), raw);
      } catch (e) {
        if (!(e instanceof FilterError)) throw e;
        problems.push({ path: pathKey(path), message: `${seg.text}: ${ref} is ${shown(raw)}, which ${e.message}` });
        failed = true;
        return '';
      }
    });
    if (failed) return s;
    origins.set(pathKey(path), from);
    const text = parts.join('');
    return t.numeric ? Number(text) : text;
  });
  return problems.length ? { ok: false, problems } : { ok: true, value: out, origins };
}
