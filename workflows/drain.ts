/**
 * Draining a host, and the return: beyond the runbook, which
 * moves one source at a time by hand.
 *
 *   drainHost:    find every DM source, across the DM clusters, that reads
 *                 the host (its own address, or a VIP it holds) → plan: a
 *                 dry run of each source's switch, which chooses its target
 *                 among the candidates and runs every check → [one approval
 *                 of the whole plan] → the switches, as child workflows under
 *                 their sources' own IDs, at most `concurrency` at once →
 *                 read again who still reads the host.
 *   returnToHost: the same for the sources a drain moved, back to the host.
 *
 * Each source's switch is the ordinary vipSwitch / addressSwitch with its
 * own checks, compensation and outcome; the switch the plan showed is the
 * one that runs (the target approved is named as its newInstance). A source
 * whose switch already runs is joined (waited for), never doubled. One
 * source's failure stops the others only with stopOnFailure. Cancelling the
 * drain cancels its switches, which undo what they did; it waits for them.
 * The outcome is read from the real state at the end, not from the steps.
 */
import {
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  drainWorkflowId,
  DrainInputSchema,
  HOST_GATES,
  ReturnInputSchema,
  type DrainInput,
  type HostGate,
  type HostStatus,
  type ReturnInput,
} from '../common/switch/drain.js';
import { SwitchErrorType } from '../common/switch/errors.js';
import { switchWorkflowId } from '../common/switch/ids.js';
import { validate } from '../common/switch/input.js';
import { hostGates, renderHostPlan } from '../common/switch/runbook.js';
import { Gates } from './approvals.js';
import { follow, groupSharedVips, nameOf, planSteps, pool, type Move } from './drain-moves.js';
import { readers } from './drain-readers.js';
import { HostRecord, type RawHostRequest } from './drain-record.js';
import { execute, plan } from './drain-switches.js';

/**
 * Same names as a switch's: `temporal workflow query --name status`, `dm-switch status`, `dm-switch approve` work
 * alike.
 */
export const hostStatusQuery = defineQuery<HostStatus>('status');

type CommonInput = DrainInput | ReturnInput;

export async function drainHost(request: unknown): Promise<HostStatus> {
  return runHost('drain', request, async (h, input: DrainInput) => {
    const found = await readers(h, input.host, input.port, input.dmClusters, input.vips);
    return found.map((f) => ({
      source: f.source,
      oldInstance: { host: input.host, port: input.port, credentials: input.credentials },
      ...(f.vip ? { vip: f.vip } : {}),
    }));
  });
}

export async function returnToHost(request: unknown): Promise<HostStatus> {
  return runHost('return', request, async (_h, input: ReturnInput) =>
    input.sources.map((s) => {
      const from = `${s.from.host}:${s.from.port}`;
      return {
        source: {
          dmCluster: s.dmCluster,
          sourceId: s.sourceId,
          procedure: s.procedure,
          reads: s.procedure === 'vip' ? `VIP ${s.vip!.address} (on ${from})` : from,
          ...(s.vip ? { vip: s.vip } : {}),
          workflowId: switchWorkflowId(s.dmCluster, s.sourceId),
          plan: 'switch' as const,
          reasons: [],
        },
        oldInstance: s.from,
        ...(s.vip ? { vip: s.vip } : {}),
        newInstance: { host: input.host, port: input.port, credentials: input.credentials },
      };
    }),
  );
}

/** The drain (or the return), step by step: validate, mark, find, plan, approve, switch, read again. */
async function runHost<I extends CommonInput>(
  kind: HostStatus['kind'],
  request: unknown,
  find: (h: HostRecord, input: I) => Promise<Move[]>,
): Promise<HostStatus> {
  const h = new HostRecord(kind, request as RawHostRequest | undefined);
  setHandler(hostStatusQuery, () => h.status);
  const v = validate((kind === 'drain' ? DrainInputSchema : ReturnInputSchema) as never, request) as
    { ok: true; value: I } | { ok: false; problems: string[] };
  const gates = planGate(h, v.ok ? v.value : null);
  if (!v.ok) return refuseAll(h, `invalid input, nothing was changed: ${v.problems.join('; ')}`);
  try {
    return await hostSteps(kind, h, v.value, gates, find);
  } finally {
    // the plan's notification still in flight is waited for, as a switch's (workflows/lifecycle.ts)
    await gates.noticesSent();
  }
}

async function hostSteps<I extends CommonInput>(
  kind: HostStatus['kind'],
  h: HostRecord,
  input: I,
  gates: Gates<HostGate>,
  find: (h: HostRecord, input: I) => Promise<Move[]>,
): Promise<HostStatus> {
  h.status.input = input;
  h.status.host = input.host;
  h.status.port = input.port;
  const wrongId = misnamed(kind, input);
  if (wrongId) return refuseAll(h, wrongId);

  markMaintenance(h, input);
  const moves = await findMoves(h, input, find);
  if (moves.length === 0) {
    const none = kind === 'drain' ? `no DM source reads ${input.host}:${input.port}: nothing to move` : null;
    h.decide('go', none ?? 'nothing to move back');
    return h.finish(kind === 'drain' ? 'drained' : 'returned');
  }
  await planMoves(h, input, moves, gates);
  const waiting = moves.some((m) => m.source.plan === 'switch' || m.source.plan === 'joined');
  if (waiting) {
    const refusal = await approvePlan(h, input, gates);
    if (refusal) return refuseAll(h, refusal);
  }
  if (input.options.dryRun) return h.finish('planned');
  await switchAll(h, input, moves);
  return conclude(h, input, moves);
}

/** The plan's gate, decided as a switch's gates are (workflows/approvals.ts); it waits only with `approve`. */
function planGate(h: HostRecord, input: CommonInput | null): Gates<HostGate> {
  const scope = { gates: HOST_GATES, what: h.status.kind, noGates: "its input's approve is false" };
  const config = { gates: input?.approve ? HOST_GATES : [], timeoutSeconds: input?.approvalTimeoutSeconds ?? 3_600 };
  return new Gates<HostGate>(h, config, scope);
}

/** Why the workflow ID does not fit the request (one drain of a host at a time), or null. */
function misnamed(kind: HostStatus['kind'], input: CommonInput): string | null {
  const want = drainWorkflowId(kind, input.host, input.port);
  const id = workflowInfo().workflowId;
  if (id === want) return null;
  const command = kind === 'drain' ? 'drain' : 'undrain';
  return (
    `this ${kind} runs under workflow ID "${id}", but a ${kind} of ${input.host}:${input.port} must run under ` +
    `"${want}", so that no two run at once; nothing was changed. Start it again with that ID (dm-switch ` +
    `${command} does)`
  );
}

/**
 * What the drain's existence means to every other switch (activities/host-marks.ts reads it from Temporal): the
 * host is under maintenance, so no switch chooses it as a target, until an undrain of it starts.
 */
function markMaintenance(h: HostRecord, input: CommonInput): void {
  const at = `${input.host}:${input.port}`;
  const planOnly = input.options.dryRun ? ' (while this plan-only drain runs)' : '';
  h.status.maintenance =
    h.status.kind === 'drain'
      ? `${at} is under maintenance from this drain's start until \`dm-switch undrain ${at}\`: ` +
        `no switch chooses it as a target${planOnly}`
      : `this return lifts the maintenance mark of ${at}: switches may choose it as a target again`;
  h.decide('info', h.status.maintenance);
}

/** Who is to move, grouped by the VIP they read. */
async function findMoves<I extends CommonInput>(
  h: HostRecord,
  input: I,
  find: (h: HostRecord, input: I) => Promise<Move[]>,
): Promise<Move[]> {
  h.phase('finding');
  const moves = await find(h, input);
  h.status.sources = moves.map((m) => m.source);
  groupSharedVips(h, moves);
  if (moves.length) {
    const each = (m: Move) => `${nameOf(m.source)} (${m.source.procedure}, reads ${m.source.reads})`;
    h.decide('info', `${moves.length} source(s) to move: ${moves.map(each).join(', ')}`);
  }
  return moves;
}

/** Each source's own switch, as a dry run, chooses its target and checks everything: the plan. */
async function planMoves(h: HostRecord, input: CommonInput, moves: Move[], gates: Gates<HostGate>): Promise<void> {
  h.phase('planning');
  await pool(moves, input.concurrency, (m) => plan(h, input, m));
  for (const m of moves) if (m.leader) follow(m, 'plan');
  const steps = planSteps(moves);
  h.status.plan = renderHostPlan(steps);
  gates.describe(hostGates({ kind: h.status.kind, at: `${input.host}:${input.port}`, steps }));
  const switching = moves.some((m) => m.source.plan === 'switch');
  h.decide(switching ? 'info' : 'warn', `plan: ${h.status.plan.join('; ')}`);
}

/**
 * One approval of the whole plan, at the gate `plan` (with `approve`; a plan only says it would wait). Returns
 * why the drain ends refused when the plan was rejected or nobody decided in time, else null.
 */
async function approvePlan(h: HostRecord, input: CommonInput, gates: Gates<HostGate>): Promise<string | null> {
  try {
    await gates.pass('plan');
    return null;
  } catch (e) {
    if (isCancellation(e)) {
      // cancelled while the plan waited: nothing changed, the gate is closed; the host is under no maintenance
      if (h.status.kind === 'drain') delete h.status.maintenance;
      h.touch();
      throw e;
    }
    const type = e instanceof ApplicationFailure ? e.type : undefined;
    if (type === SwitchErrorType.ApprovalTimedOut)
      return `the plan was not decided within ${input.approvalTimeoutSeconds} s; nothing was changed`;
    if (type !== SwitchErrorType.Rejected) throw e;
    return `the plan was rejected by ${h.status.approvals.at(-1)?.by}; nothing was changed`;
  }
}

/** The switches, at most `concurrency` at once; cancelled, they undo what they did and the end is read. */
async function switchAll(h: HostRecord, input: CommonInput, moves: Move[]): Promise<void> {
  h.phase('switching');
  let stop = false;
  try {
    await pool(moves, input.concurrency, async (m) => {
      if (m.source.plan === 'refused') return;
      if (stop) {
        m.source.outcome = 'not-started';
        m.source.reasons.push('not started: an earlier switch did not end switched and stopOnFailure is set');
        return;
      }
      if (m.leader) return;
      await execute(h, input, m);
      if (m.source.outcome !== 'switched' && input.stopOnFailure) stop = true;
    });
    for (const m of moves) if (m.leader) follow(m, 'outcome');
  } catch (e) {
    if (!isCancellation(e)) throw e;
    if (h.status.kind === 'drain') delete h.status.maintenance;
    // cancelled: every switch it started was asked to cancel and has undone what it did (waited for); say where it
    // stands
    await CancellationScope.nonCancellable(() => conclude(h, input, moves));
    throw e;
  }
}

/** The end: who reads the host now, read from DM (not from the switches' outcomes). */
async function conclude(h: HostRecord, input: CommonInput, moves: Move[]): Promise<HostStatus> {
  h.phase('checking');
  const d = input as DrainInput;
  const vips = h.status.kind === 'drain' ? d.vips : moves.flatMap((m) => (m.vip ? [m.vip] : []));
  const clusters = h.status.kind === 'drain' ? d.dmClusters : [...new Set(moves.map((m) => m.source.dmCluster))];
  const now = await readers(h, input.host, input.port, clusters, vips);
  const at = `${input.host}:${input.port}`;
  if (h.status.kind === 'drain') {
    const reading = [...new Set(now.map((f) => nameOf(f.source)))];
    h.status.left = reading;
    if (reading.length === 0) {
      h.decide('go', `no DM source reads ${at} any more: it can be taken down`);
      return h.finish('drained');
    }
    const still = `${reading.length} source(s) still read ${at}: ${reading.join(', ')}`;
    h.decide('warn', `${still}; it is not free of DM readers`);
    return h.finish('not-drained');
  }
  // a return claims only what it saw: a source behind a VIP nobody could locate is not counted as back
  const back = new Set(now.filter((f) => !f.uncertain).map((f) => nameOf(f.source)));
  h.status.left = moves.map((m) => nameOf(m.source)).filter((k) => !back.has(k));
  if (h.status.left.length === 0) {
    h.decide('go', `every source reads ${at} again`);
    return h.finish('returned');
  }
  h.decide('warn', `${h.status.left.length} source(s) do not read ${at}: ${h.status.left.join(', ')}`);
  return h.finish('not-returned');
}

function refuseAll(h: HostRecord, why: string): HostStatus {
  h.decide('refuse', why);
  return h.finish('refused');
}
