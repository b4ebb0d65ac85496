/**
 * The worker's log on a person's console (`npm start`): one line per event,
 * `time LEVEL message [workflow activity] key=value…`, without what only
 * a machine reads (task tokens, run IDs, namespace, task queue) and without
 * the workflow bundle's webpack statistics.
 *
 *   DM_SWITCH_LOG_DETAILS=1   every field of every event, as the worker's JSON lines (worker/observability.ts),
 *                             the bundle's statistics included (`npm start -- --verbose` sets it)
 *   DM_SWITCH_LOG_LEVEL       as for the worker: TRACE, DEBUG, INFO (default), WARN, ERROR
 */
import type { LogEntry } from '@temporalio/worker';

/** Fields a person does not read on a console; DM_SWITCH_LOG_DETAILS=1 shows them. */
const MACHINE_FIELDS = new Set([
  'sdkComponent',
  'taskQueue',
  'namespace',
  'runId',
  'workflowRunId',
  'taskToken',
  'activityId',
  'isLocal',
  'workflowType',
  'workflowId',
  'activityType',
]);

/** webpack's statistics of the workflow bundle, logged by the SDK at INFO each time a worker starts. */
function isBundleStatistics(entry: LogEntry): boolean {
  return entry.level !== 'ERROR' && /^asset workflow-bundle/.test(entry.message) && /\bwebpack\b/.test(entry.message);
}

function value(v: unknown): string {
  const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  return /[\s"]/.test(s) || s === '' ? JSON.stringify(s) : s;
}

/** One line for a log entry, or undefined for one a console leaves out (the bundle's statistics). */
export function consoleLogLine(entry: LogEntry): string | undefined {
  if (isBundleStatistics(entry)) return undefined;
  const meta = (entry.meta ?? {}) as Record<string, unknown>;
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString().slice(11, 23);
  const [first = '', ...more] = entry.message.split('\n');
  const about = [meta.workflowId, meta.activityType].filter((v) => typeof v === 'string' && v).join(' ');
  const fields = Object.entries(meta)
    .filter(([k, v]) => !MACHINE_FIELDS.has(k) && v !== undefined && !(k === 'attempt' && v === 1))
    .map(([k, v]) => `${k}=${value(v)}`);
  return [
    time,
    entry.level.padEnd(5),
    first + (more.length ? ` (${more.length} more lines: DM_SWITCH_LOG_DETAILS=1)` : ''),
    ...(about ? [`[${about}]`] : []),
    ...fields,
  ].join(' ');
}

/** DM_SWITCH_LOG_DETAILS set to anything but empty, 0 or false. */
export function logDetails(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.DM_SWITCH_LOG_DETAILS?.trim().toLowerCase();
  return !!v && v !== '0' && v !== 'false';
}
