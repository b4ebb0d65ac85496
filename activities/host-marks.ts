/**
 * Hosts under maintenance: a host is marked from the moment a drain of it
 * starts until `dm-switch undrain` (a return to it) starts. The mark is the
 * drain workflow itself (`dm-switch-drain/<host>:<port>`, one per host), read
 * from Temporal: its latest run is running, or ended `drained` or
 * `not-drained` (the sources it moved are off the host, and the DBA took it
 * down or is about to), and no return to the host started after it. A drain
 * that was refused, only planned (dry run), cancelled (its switches undid
 * what they did) or failed marks nothing.
 *
 * Read by the switches' target choice (workflows/host-marks.ts), so that no
 * switch, and no drain of another host, moves a source onto a host that is
 * being drained; and by `dm-switch list` and status.
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client, type WorkflowExecutionInfo } from '@temporalio/client';
import { drainWorkflowId } from '../common/switch/drain.js';
import { normalizeAddress } from '../common/switch/addresses.js';
import { SA } from '../common/switch/search-attributes.js';
import type { Endpoint } from '../common/switch/types.js';
import { resolveAll } from './net.js';

export interface HostMark {
  host: string;
  port: number;
  /** The drain that marks it. */
  workflowId: string;
  runId: string;
  /** When that drain started. */
  since: string;
  /** `draining` while it runs; its outcome once it ended. */
  state: 'draining' | 'drained' | 'not-drained';
}

const MARKING_OUTCOMES = new Set(['drained', 'not-drained']);
/** A return that is running, or ended having tried to move the sources back, lifts the mark. */
const LIFTING_OUTCOMES = new Set(['returned', 'not-returned']);
const DRAIN_PREFIX = 'dm-switch-drain/';

/** host:port from a drain's workflow ID; null for any other ID. */
function hostOf(workflowId: string): Endpoint | null {
  if (!workflowId.startsWith(DRAIN_PREFIX)) return null;
  const rest = workflowId.slice(DRAIN_PREFIX.length);
  const i = rest.lastIndexOf(':');
  const port = Number(rest.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port)) return null;
  return { host: rest.slice(0, i), port };
}

async function latest(client: Client, workflowId: string) {
  try {
    return await client.workflow.getHandle(workflowId).describe();
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return null;
    throw e;
  }
}

/** The mark a drain's workflow ID stands for now, or null. Its latest run is described by ID (read consistently). */
export async function markOf(client: Client, workflowId: string): Promise<HostMark | null> {
  const at = hostOf(workflowId);
  if (!at) return null;
  const d = await latest(client, workflowId);
  if (!d || d.type !== 'drainHost') return null;
  let run: { runId: string; startTime: Date; state: HostMark['state'] } | null = marking(d);
  if (!run && d.status.name !== 'RUNNING') {
    // a plan-only (or refused, cancelled) drain after one that emptied the host leaves the host marked
    for await (const w of client.workflow.list({ query: `WorkflowId = ${JSON.stringify(workflowId)}`, pageSize: 50 })) {
      const m = w.type === 'drainHost' ? marking(w) : null;
      if (m && (!run || m.startTime > run.startTime)) run = m;
    }
  }
  if (!run) return null;
  const back = await latest(client, drainWorkflowId('return', at.host, at.port));
  if (back && back.type === 'returnToHost' && back.startTime > run.startTime) {
    const o = back.typedSearchAttributes.get(SA.outcome);
    const lifted = back.status.name === 'RUNNING' || (back.status.name === 'COMPLETED' && o && LIFTING_OUTCOMES.has(o));
    if (lifted) return null;
  }
  return { ...at, workflowId, runId: run.runId, since: run.startTime.toISOString(), state: run.state };
}

/** A drain's run that marks its host: running, or ended having emptied it (as far as it could). */
type Run = Pick<WorkflowExecutionInfo, 'typedSearchAttributes' | 'status' | 'runId' | 'startTime'>;
function marking(w: Run): { runId: string; startTime: Date; state: HostMark['state'] } | null {
  const outcome = w.typedSearchAttributes.get(SA.outcome);
  if (w.status.name === 'RUNNING') return { runId: w.runId, startTime: w.startTime, state: 'draining' };
  if (w.status.name === 'COMPLETED' && outcome && MARKING_OUTCOMES.has(outcome)) {
    return { runId: w.runId, startTime: w.startTime, state: outcome as HostMark['state'] };
  }
  return null;
}

/**
 * Every marked host: the drains Temporal lists (visibility, which may lag a
 * second behind a drain just started), and the drains of `also` by their
 * IDs (read consistently, so a drain of a candidate is seen at once).
 */
export async function hostMarks(client: Client, also: Endpoint[] = []): Promise<HostMark[]> {
  const ids = new Set(also.map((h) => drainWorkflowId('drain', h.host, h.port)));
  for await (const w of client.workflow.list({ query: 'WorkflowType = "drainHost"', pageSize: 200 })) {
    ids.add(w.workflowId);
    if (ids.size > 2_000) break;
  }
  const marks = await Promise.all([...ids].map((id) => markOf(client, id)));
  return marks.filter((m): m is HostMark => m !== null);
}

export function describeMark(m: HostMark): string {
  const what = m.state === 'draining' ? 'is being drained' : `was drained (${m.state})`;
  const at = `${m.host}:${m.port}`;
  const until = `it is under maintenance until \`dm-switch undrain ${at}\``;
  return `host ${at} ${what} by ${m.workflowId} since ${m.since}: ${until}`;
}

type MarkReason = { mark: HostMark; reason: string };

export function createHostMarkActivities(client: () => Client = () => Context.current().client) {
  return {
    /**
     * For each target, the mark of the host it is on (the same port, the same
     * host under any name that resolves to a common address), or null.
     */
    async hostMarksOf(req: { targets: Endpoint[] }): Promise<Array<MarkReason | null>> {
      const marks = await hostMarks(client(), req.targets);
      const addrs = async (h: string) =>
        new Set([normalizeAddress(h), ...(await resolveAll(h).catch(() => [] as string[]))]);
      const markAddrs = await Promise.all(marks.map((m) => addrs(m.host)));
      return Promise.all(
        req.targets.map(async (t) => {
          const mine = await addrs(t.host);
          const i = marks.findIndex((m, k) => m.port === t.port && [...markAddrs[k]!].some((a) => mine.has(a)));
          return i < 0 ? null : { mark: marks[i]!, reason: describeMark(marks[i]!) };
        }),
      );
    },
  };
}

export type HostMarkActivities = ReturnType<typeof createHostMarkActivities>;
