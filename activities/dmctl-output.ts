/**
 * Reading what dmctl prints. dmctl answers in JSON on stdout, but:
 * - it exits 0 when an operation fails: the verdict is in `result` (top level),
 *   `sources[].result` and, for batch operations, `tasks[].result`;
 * - start-task's `checkResult` (the precheck report, last field of the object)
 *   is embedded raw: newlines, tabs and unescaped quotes inside a string,
 *   which no JSON parser accepts, so it is cut out and kept as text;
 * - other strings may carry raw control characters too;
 * - failures of dmctl itself (bad flags, dm-master unreachable) may come as
 *   plain text, sometimes before a JSON object.
 */

export type DmctlJson = { result?: boolean; msg?: string } & Record<string, unknown>;

/** Escapes raw control characters inside JSON strings so that JSON.parse accepts dmctl's output. */
export function repairJson(text: string): string {
  let out = '';
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (inString) {
      if (c === '\\') {
        out += c + (text[i + 1] ?? '');
        i++;
        continue;
      }
      if (c === '"') inString = false;
      else if (c === '\n') {
        out += '\\n';
        continue;
      } else if (c === '\r') {
        out += '\\r';
        continue;
      } else if (c === '\t') {
        out += '\\t';
        continue;
      }
    } else if (c === '"') {
      inString = true;
    }
    out += c;
  }
  return out;
}

/** The JSON object dmctl printed, or `{ result: false, msg }` carrying its text when it printed none. */
export function parseDmctlOutput(stdout: string, stderr = '', exitCode?: number): DmctlJson {
  const start = stdout.indexOf('{');
  if (start >= 0) {
    const body = stdout.slice(start, stdout.lastIndexOf('}') + 1);
    const parsed = tryParse(body) ?? tryParse(repairJson(body)) ?? withRawCheckResult(body);
    if (parsed) return parsed;
  }
  const text = `${stdout}\n${stderr}`.trim();
  return { result: false, msg: `dmctl${exitCode === undefined ? '' : ` (exit ${exitCode})`}: ${text || 'no output'}` };
}

function tryParse(text: string): DmctlJson | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as DmctlJson;
  } catch {
    /* not JSON */
  }
  return undefined;
}

/** Parses the object without its raw `"checkResult": "…"` tail, then puts the tail back as plain text. */
function withRawCheckResult(body: string): DmctlJson | undefined {
  const key = /,\s*"checkResult"\s*:\s*"/.exec(body);
  if (!key) return undefined;
  const valueStart = key.index + key[0].length;
  const valueEnd = body.lastIndexOf('"', body.lastIndexOf('}'));
  if (valueEnd < valueStart) return undefined;
  const rest = tryParse(repairJson(`${body.slice(0, key.index)}\n}`));
  if (!rest) return undefined;
  return { ...rest, checkResult: body.slice(valueStart, valueEnd) };
}

export interface DmctlFailure {
  scope: 'dmctl' | 'source' | 'task';
  name?: string;
  msg: string;
}

/** Every failure a dmctl answer reports, at any level; empty when the operation succeeded everywhere. */
export function dmctlFailures(r: DmctlJson): DmctlFailure[] {
  const failures: DmctlFailure[] = [];
  const sources = Array.isArray(r.sources) ? (r.sources as Array<{ result?: boolean; msg?: string; source?: string }>) : [];
  const tasks = Array.isArray(r.tasks) ? (r.tasks as Array<{ result?: boolean; msg?: string; task?: string; op?: string }>) : [];
  for (const s of sources) if (s.result === false) failures.push({ scope: 'source', name: s.source, msg: s.msg ?? '' });
  for (const t of tasks) if (t.result === false) failures.push({ scope: 'task', name: t.task, msg: t.msg ?? '' });
  if (r.result !== true && failures.length === 0) failures.push({ scope: 'dmctl', msg: r.msg || 'dmctl reported result=false without a message' });
  return failures;
}
