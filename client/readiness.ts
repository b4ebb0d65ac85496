/**
 * The readiness drills' Schedule (one per DM cluster) and their latest table, as `dm-switch readiness` and the
 * worker's metrics read it: the newest drill the schedule started that has finished, from its result (one still
 * running is shown from its query only when none has finished yet).
 */
import { readFile } from 'node:fs/promises';
import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  WorkflowExecutionStatusName,
  type Client,
} from '@temporalio/client';
import { parse as parseYaml } from 'yaml';
import { validate, validateAddressSwitchInput, validateVipSwitchInput } from '../common/switch/input.js';
import {
  DRILL_WORKFLOW,
  DrillInputSchema,
  readinessScheduleId,
  type DrillInput,
  type ReadinessReport,
} from '../common/switch/readiness.js';

export const READINESS_SCHEDULE_PREFIX = 'dm-switch-readiness/';

/** Why a drill's input cannot be scheduled. */
export class ReadinessInputError extends Error {}

/** The drill's input from a file (JSON or YAML), validated; `cluster` overrides its dmCluster. */
export async function readDrillInput(path: string, cluster?: string): Promise<DrillInput> {
  const text = await readFile(path, 'utf8');
  const raw = parseYaml(text) as Record<string, unknown> | null;
  const v = validate(DrillInputSchema, { ...(raw ?? {}), ...(cluster ? { dmCluster: cluster } : {}) });
  if (!v.ok) throw new ReadinessInputError(`${path}: ${v.problems.join('; ')}`);
  // each source's request as its drill will run it (the drill's cluster, a dry run), checked now rather than
  // reported by every drill from now on; and one request per source, or two rows would claim the same source
  const problems: string[] = [];
  const seen = new Set<string>();
  v.value.sources.forEach((source, i) => {
    const req = {
      ...source.switch,
      dmCluster: v.value.dmCluster,
      options: { ...((source.switch.options as object | undefined) ?? {}), dryRun: true },
    };
    const r = source.kind === 'vip' ? validateVipSwitchInput(req) : validateAddressSwitchInput(req);
    const id = String(source.switch.sourceId ?? `(no sourceId)`);
    if (!r.ok) problems.push(`sources[${i}] (${id}): ${r.problems.join('; ')}`);
    if (seen.has(id)) problems.push(`sources[${i}]: source ${id} is listed twice; keep one request for it`);
    seen.add(id);
  });
  if (problems.length) throw new ReadinessInputError(`${path}: ${problems.join('; ')}`);
  return v.value;
}

/** `15m`, `1h`, `90s`, `2h30m` → seconds (at least 60: a drill reads every source). */
export function intervalSeconds(text: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text.trim());
  const s = m && text.trim() ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : NaN;
  if (!Number.isFinite(s) || s < 60)
    throw new ReadinessInputError(`--every must be an interval of at least 60 s such as 15m, 1h or 90s, not "${text}"`);
  return s;
}

/**
 * Creates the cluster's schedule, or updates it in place (same ID): running it again with the same input changes
 * nothing; another interval or file replaces the old one. Overlapping drills are skipped, not queued.
 */
export async function scheduleReadiness(
  client: Client,
  input: DrillInput,
  everySeconds: number,
  taskQueue: string,
): Promise<{ scheduleId: string; created: boolean }> {
  const scheduleId = readinessScheduleId(input.dmCluster);
  const action = {
    type: 'startWorkflow' as const,
    workflowType: DRILL_WORKFLOW,
    workflowId: scheduleId,
    taskQueue,
    args: [input],
    staticSummary: `Readiness drill of DM cluster ${input.dmCluster}: every listed source's switch as a dry run`,
  };
  const spec = { intervals: [{ every: `${everySeconds}s` }] };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1m' };
  const handle = client.schedule.getHandle(scheduleId);
  try {
    await handle.update((prev) => ({ ...prev, spec, action, policies: { ...prev.policies, ...policies } }));
    return { scheduleId, created: false };
  } catch (e) {
    if (!(e instanceof ScheduleNotFoundError)) throw e;
  }
  await client.schedule.create({ scheduleId, spec, action, policies });
  return { scheduleId, created: true };
}

/** Removes the cluster's schedule (its past drills stay in Temporal's history); false when there was none. */
export async function deleteReadiness(client: Client, dmCluster: string): Promise<boolean> {
  try {
    await client.schedule.getHandle(readinessScheduleId(dmCluster)).delete();
    return true;
  } catch (e) {
    if (e instanceof ScheduleNotFoundError) return false;
    throw e;
  }
}

/** Starts a drill now, besides the schedule's own times (skipped if one is running). */
export async function triggerReadiness(client: Client, dmCluster: string): Promise<void> {
  await client.schedule.getHandle(readinessScheduleId(dmCluster)).trigger(ScheduleOverlapPolicy.SKIP);
}

export interface LatestReadiness {
  scheduleId: string;
  /** The schedule's interval, in seconds (null when it has none). */
  everySeconds: number | null;
  report: ReadinessReport | null;
  /** The drill the report is from. */
  drill: { workflowId: string; runId: string; status: string } | null;
  /** A drill runs now. */
  running: boolean;
}

/** The latest finished drill of `dmCluster`'s schedule (null report: none finished and none running yet). */
export async function latestReadiness(client: Client, dmCluster: string): Promise<LatestReadiness | null> {
  const scheduleId = readinessScheduleId(dmCluster);
  let d;
  try {
    d = await client.schedule.getHandle(scheduleId).describe();
  } catch (e) {
    if (e instanceof ScheduleNotFoundError) return null;
    throw e;
  }
  const every = d.spec.intervals?.[0]?.every;
  const everySeconds = typeof every === 'number' ? every / 1000 : every ? msOf(String(every)) / 1000 : null;
  const out: LatestReadiness = { scheduleId, everySeconds, report: null, drill: null, running: false };
  out.running = d.info.runningActions.length > 0;
  let runningFallback: LatestReadiness['drill'] = null;
  for (const a of [...d.info.recentActions].reverse()) {
    const { workflowId, firstExecutionRunId: runId } = a.action.workflow;
    const h = client.workflow.getHandle(workflowId, runId);
    const desc = await h.describe().catch(() => null);
    if (!desc) continue;
    const status: WorkflowExecutionStatusName = desc.status.name;
    if (status === 'COMPLETED') {
      out.report = (await h.result()) as ReadinessReport;
      out.drill = { workflowId, runId, status };
      return out;
    }
    if (status === 'RUNNING' && !runningFallback) runningFallback = { workflowId, runId, status };
  }
  if (runningFallback) {
    const h = client.workflow.getHandle(runningFallback.workflowId, runningFallback.runId);
    out.report = await h.query<ReadinessReport>('readiness').catch(() => null);
    out.drill = runningFallback;
  }
  return out;
}

/** Every cluster that has a drill schedule in the namespace. */
export async function readinessClusters(client: Client): Promise<string[]> {
  const out: string[] = [];
  for await (const s of client.schedule.list())
    if (s.scheduleId.startsWith(READINESS_SCHEDULE_PREFIX))
      out.push(s.scheduleId.slice(READINESS_SCHEDULE_PREFIX.length));
  return out;
}

function msOf(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
  if (!m) return NaN;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  return Number(m[1]) * unit;
}

/** The table as text: one line per source, then each reason under it. */
export function renderReadiness(l: LatestReadiness, now = Date.now()): string {
  const r = l.report;
  if (!r) return `${l.scheduleId}: no drill has finished yet${l.running ? ' (one is running)' : ''}`;
  const head = `Readiness of DM cluster ${r.dmCluster} (drill ${l.drill?.workflowId ?? '?'}, ${l.drill?.status})`;
  const rows = [['SOURCE', 'READY', 'TARGET', 'CHECKED', 'REASONS']];
  for (const s of r.sources) {
    const age = Math.round((now - Date.parse(s.checkedAt)) / 1000);
    const kinds = [...new Set(s.reasons.map((x) => x.kind))].join(',');
    const target = s.target ? `${s.target}${s.catchUp ? ' (after catch-up)' : ''}` : '-';
    rows.push([s.sourceId, s.ready ? 'yes' : 'NO', target, `${s.checkedAt} (${age} s ago)`, kinds || '-']);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) =>
    row
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
  const why = r.sources.flatMap((s) =>
    s.reasons.map((x) => `  ${s.sourceId}: [${x.kind}]${x.candidate ? ` ${x.candidate}:` : ''} ${x.text}`),
  );
  return [head, ...lines, ...(why.length ? ['', 'Reasons:', ...why] : [])].join('\n');
}
