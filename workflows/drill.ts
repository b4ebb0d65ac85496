/**
 * Readiness drills: could each source be switched right now, and to where?
 *
 *   readinessDrill (started by the cluster's Schedule) → for every listed source, a child sourceDrill →
 *   the table: ready or not, the chosen target, every reason (typed), when it was checked.
 *
 * A source's drill runs that source's own switch steps (workflows/vip-switch.ts, address-switch.ts) as a dry run:
 * target choice, preflight, the GTID rules, the blind-spot settings, the VIP provider's check — every check the real
 * switch makes before its first change, and nothing after (a dry run ends before the pause; its undo list stays
 * empty). It runs under the drill's own workflow ID (never dm-switch/<cluster>/<source>, the switch's), takes no lock
 * and sets no search attribute of a switch, so a real switch started during a drill starts as if no drill ran, and no
 * drill is listed or counted as a switch.
 *
 * One child per source keeps every history small: the parent's holds a start and an end per source, each child's the
 * reads of one source's checks, however many sources the cluster has.
 */
import {
  ApplicationFailure,
  defineQuery,
  executeChild,
  ParentClosePolicy,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  DrillInputSchema,
  drillSourceWorkflowId,
  readinessOf,
  ReasonKind,
  type DrillSource,
  type ReadinessReport,
  type SourceReadiness,
} from '../common/switch/readiness.js';
import { SwitchErrorType } from '../common/switch/errors.js';
import { validate, validateAddressSwitchInput, validateVipSwitchInput } from '../common/switch/input.js';
import { statusQuery } from '../common/switch/messages.js';
import type { SwitchStatus } from '../common/switch/status.js';
import { dm } from './activities.js';
import { Gates } from './approvals.js';
import { steps as addressSteps } from './address-switch.js';
import { compensate, type Undo } from './compensation.js';
import { steps as vipSteps } from './vip-switch.js';
import { Tracker } from './tracker.js';

/** The drill's table as it stands: the sources checked so far (the schedule's last result has them all). */
export const readinessQuery = defineQuery<ReadinessReport>('readiness');
/** The same answer under the name every dm-switch workflow answers (`temporal workflow query --name status`). */
const drillStatusQuery = defineQuery<ReadinessReport>('status');

/** Sources checked at once: each drill is a handful of reads; this bounds the load on DM and the upstreams. */
const CONCURRENCY = 4;

export async function readinessDrill(request: unknown): Promise<ReadinessReport> {
  const v = validate(DrillInputSchema, request);
  if (!v.ok)
    throw ApplicationFailure.create({
      message: `invalid readiness drill input: ${v.problems.join('; ')}`,
      type: SwitchErrorType.InvalidInput,
      nonRetryable: true,
    });
  const input = v.value;
  const report: ReadinessReport = {
    dmCluster: input.dmCluster,
    startedAt: new Date().toISOString(),
    finishedAt: '',
    sources: [],
  };
  setHandler(readinessQuery, () => report);
  setHandler(drillStatusQuery, () => report);
  const id = workflowInfo().workflowId;
  const results: SourceReadiness[] = new Array(input.sources.length);
  let next = 0;
  const lane = async () => {
    while (next < input.sources.length) {
      const i = next++;
      const source = input.sources[i]!;
      const sourceId = String(source.switch.sourceId ?? `(source ${i + 1})`);
      results[i] = await executeChild(sourceDrill, {
        workflowId: drillSourceWorkflowId(id, sourceId),
        args: [{ dmCluster: input.dmCluster, source }],
        // read-only: nothing to wait for or undo when the drill ends early
        parentClosePolicy: ParentClosePolicy.TERMINATE,
        staticSummary: `Readiness drill (dry run) of DM source ${sourceId}, cluster ${input.dmCluster}`,
      });
      report.sources = results.filter((x) => x !== undefined);
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, input.sources.length) }, lane));
  report.sources = [...results, ...(await unlisted(input.dmCluster, results))];
  report.finishedAt = new Date().toISOString();
  return report;
}

/**
 * Every source DM has that the drill's file does not list, as not ready: a table of ready rows must not hide a
 * source nobody checks (one added to DM after the file was written). DM unreadable: said as one row of its own.
 */
async function unlisted(dmCluster: string, checked: SourceReadiness[]): Promise<SourceReadiness[]> {
  const row = (sourceId: string, kind: ReasonKind, text: string): SourceReadiness => ({
    dmCluster,
    sourceId,
    procedure: null,
    ready: false,
    target: null,
    reasons: [{ kind, text }],
    checkedAt: new Date().toISOString(),
    workflowId: workflowInfo().workflowId,
  });
  let known: string[];
  try {
    known = (await dm.dmListSources({ dmCluster })).map((s) => s.sourceId);
  } catch (e) {
    const why = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
    return [row('(all of DM)', ReasonKind.drillFailed, `could not list DM cluster ${dmCluster}'s sources: ${why}`)];
  }
  const listed = new Set(checked.map((c) => c.sourceId));
  return known
    .filter((id) => !listed.has(id))
    .map((id) =>
      row(
        id,
        ReasonKind.notInDrill,
        `DM cluster ${dmCluster} has source ${id}, but the drill's file gives no switch request for it, so ` +
          'nobody checks whether it could be switched; add it to the file (its kind and switch request)',
      ),
    );
}

/** One source's drill: its switch as a dry run under this workflow's ID, then the source's tasks for errors. */
export async function sourceDrill(req: { dmCluster: string; source: DrillSource }): Promise<SourceReadiness> {
  const { dmCluster, source } = req;
  const raw = source.switch as { sourceId?: unknown; options?: Record<string, unknown> };
  const sourceId = typeof raw.sourceId === 'string' ? raw.sourceId : '(invalid input)';
  const kind = source.kind === 'vip' ? 'vip-switch' : 'address-switch';
  const drillId = workflowInfo().parent?.workflowId ?? workflowInfo().workflowId;
  const request = {
    ...source.switch,
    dmCluster,
    options: { ...(raw.options ?? {}), dryRun: true },
    requestedBy: `readiness drill ${drillId}`.slice(0, 200),
    reason: 'readiness drill: every check of a switch, no change',
  };
  const t = new Tracker({ kind, dmCluster, sourceId, dryRun: true, requestedBy: request.requestedBy }, { drill: true });
  setHandler(statusQuery, () => t.status);
  const undo: Undo[] = [];
  try {
    if (source.kind === 'vip') {
      const v = validateVipSwitchInput(request);
      if (!v.ok) return invalid(t, dmCluster, sourceId, source, v.problems);
      await vipSteps(t, new Gates(t, v.value.approvals), v.value, undo);
    } else {
      const v = validateAddressSwitchInput(request);
      if (!v.ok) return invalid(t, dmCluster, sourceId, source, v.problems);
      await addressSteps(t, new Gates(t, v.value.approvals), v.value, undo);
    }
  } catch (err) {
    // a refusal is the drill's answer; any other failure is recorded as the reason the drill could not tell.
    // A dry run ends before the first change, so there is nothing to undo (compensate records and rethrows)
    await compensate(t, undo, err).catch(() => undefined);
  }
  const tasks = await dm
    .dmFindSource({ dmCluster, sourceId })
    .then((s) => s?.tasks ?? [])
    .catch(() => []);
  const inError = tasks.filter((x) => x.errors.length > 0).map((x) => ({ name: x.name, errors: x.errors }));
  return { ...base(t.status, source), ...readinessOf(t.status, inError) };
}

function base(s: SwitchStatus, source: DrillSource): Omit<SourceReadiness, 'ready' | 'target' | 'reasons'> {
  return {
    dmCluster: s.dmCluster,
    sourceId: s.sourceId,
    procedure: source.kind,
    checkedAt: new Date().toISOString(),
    workflowId: workflowInfo().workflowId,
  };
}

function invalid(
  t: Tracker,
  dmCluster: string,
  sourceId: string,
  source: DrillSource,
  problems: string[],
): SourceReadiness {
  const text = `the drill's switch request is invalid: ${problems.join('; ')}`;
  t.status.failureType = SwitchErrorType.InvalidInput;
  t.decide('refuse', text);
  t.finish('refused');
  return {
    ...base(t.status, source),
    dmCluster,
    sourceId,
    ready: false,
    target: null,
    reasons: [{ kind: ReasonKind.invalidInput, text }],
  };
}
