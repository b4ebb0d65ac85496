/**
 * Procedure A of the runbook, as a durable workflow: DM reads the source
 * through a VIP; move the VIP to the new instance with DM paused.
 *
 *   preflight → GTID check → [before-freeze] → pause every task (confirm
 *   Paused) → re-take gtid-S frozen and re-check (wait for a lagging new
 *   instance, bounded) → [before-switch] → move the VIP → [before-resume] →
 *   resume → verify.
 *
 * The [gates] wait for a person only when the input names them
 * (approvals.gates); one not named adds nothing to the history.
 *
 * Deterministic orchestration only: every effect is an idempotent activity,
 * so a crash anywhere replays to the same point and repeats nothing that
 * already happened. Every undo is registered before its change and reads the
 * real state when it runs; after the first change, a failure undoes what was
 * done, in reverse (move the VIP back, resume on the old instance), in a
 * scope that cancellation cannot interrupt; a failed undo is surfaced, never
 * swallowed, and the status says what an operator must do.
 */
import { sleep } from '@temporalio/workflow';
import { SwitchErrorType } from '../common/switch/errors.js';
import type { Endpoint, Flavor, SourceTask } from '../common/switch/types.js';
import {
  validateVipSwitchInput,
  type VipSwitchInput,
  type VipSwitchParsed,
  type VipSwitchRequest,
} from '../common/switch/input.js';
import { byHand, renderPlan, vipGates, vipMoveBackByHand } from '../common/switch/runbook.js';
import type { Gate, SwitchStatus } from '../common/switch/status.js';
import { dm, longDm, mysql, undoDm, vip } from './activities.js';
import type { Gates } from './approvals.js';
import { alreadyReads, endNothingToDo } from './already-done.js';
import { withTarget } from './candidates.js';
import { guarded, type Undo } from './compensation.js';
import { endDryRun, runSwitch } from './lifecycle.js';
import { startRelay } from './relay.js';
import { freezeLimit, startFreeze, type Freeze } from './freeze.js';
import {
  gtidCheck,
  recheckAfterGate,
  recheckFrozen,
  refusals,
  sameGtids,
  type ErrantPolicy,
  type GtidCheckResult,
} from './gtid-check.js';
import { preflight, refuse, type PreflightResult } from './preflight.js';
import { keepOperatorPaused, leaveFinished } from './paused-tasks.js';
import { settingsRecheck, type SettingsRecheck } from './settings-recheck.js';
import { flushPreflight, type FlushWait } from './flush-interval.js';
import { hasPessimistic, NO_SHARDS, shardPreflight, type ShardTasks } from './shards.js';
import {
  frozenSharerTasks,
  frozenWithSharers,
  labelled,
  pauseSharers,
  resumeSharers,
  rolledBackWithSharers,
  sharerTasks,
  verifySharers,
  vipSharers,
  type FrozenTask,
  type Sharer,
} from './shared-vip.js';
import type { Tracker } from './tracker.js';
import { checkRolledBack, verify } from './verify.js';
import { validatorCheck } from './validator-reads.js';
import {
  closeDmIdleConnections,
  KEEPALIVE_SECONDS,
  lookUpIdleOwner,
  moveVipBack,
  readsThroughVip,
  vipMoveOrFail,
  type IdleOwnerLookup,
} from './vip-move.js';

export async function vipSwitch(request: VipSwitchRequest): Promise<SwitchStatus> {
  return runSwitch('vip-switch', request, validateVipSwitchInput, steps);
}

/** The runbook's steps, in order; each names what it does. */
export async function steps(t: Tracker, gates: Gates, parsed: VipSwitchParsed, undo: Undo[]): Promise<SwitchStatus> {
  // candidates or discover: the best target is chosen first, before any change (workflows/candidates.ts)
  const input: VipSwitchInput = await withTarget(t, gates, parsed, { vip: parsed.vip });
  const s = await readState(t, input);
  if (s.alreadyDone) return endNothingToDo(t, input.options.dryRun, s.alreadyDone);
  const first = await decide(t, s);
  showPlan(t, gates, s, first);
  if (input.options.dryRun) return endDryRun(t, gates, first.verdict);

  await gates.pass('before-freeze');
  if (first.errant) s.policy.approved = first.errant;
  const freeze = startFreeze(input.options.maxFreezeSeconds);
  const relayGtid = await pauseDm(t, undo, s);
  // Which dm-worker serves the source (two DM reads) is read alongside the frozen re-check, not after it; only the
  // closing of DM's idle connections waits on it, which still runs after every DM read of the freeze and right
  // before the move (lookUpIdleOwner never rejects). An answer older than a few seconds (a catch-up wait, a person
  // at before-switch) is read again then: DM may have moved the source to another dm-worker meanwhile.
  const owner = closesIdle(s) && !gates.has('before-switch') ? lookUpIdleOwner(input) : undefined;
  const ownerAt = Date.now();
  const frozen = await recheckWithDmFrozen(t, s, relayGtid, freeze);
  await passFrozenGate(t, gates, s, frozen, 'before-switch', freeze);
  await moveTheVip(t, undo, s, Date.now() - ownerAt <= FRESH_LOOKUP_MS ? owner : undefined);
  await passFrozenGate(t, gates, s, frozen, 'before-resume', freeze);
  const running = await resumeDm(t, undo, s);
  await verifySwitched(t, s, frozen, running);
  return t.status;
}

/** What preflight read, and what the switch decided from it before any change. */
interface VipState {
  /** DM already reads the new instance, nothing half done: what it reads, in words (else null). */
  alreadyDone: string | null;
  input: VipSwitchInput;
  pf: PreflightResult;
  newTarget: Endpoint;
  oldTarget: Endpoint | null;
  /** Who held the VIP at preflight. */
  holder: string | null;
  /** host:port the VIP leads to before the move (null: not known). */
  oldAt: string | null;
  vipAlreadyMoved: boolean;
  /** Every task of the source that reads the upstream (not a finished full load). */
  taskNames: string[];
  /** The tasks resumed after the switch (or its undo): all but those an operator had paused. */
  runNames: string[];
  relayOn: boolean;
  shards: ShardTasks;
  sharers: Sharer[];
  policy: ErrantPolicy;
  /** The tasks' longest checkpoint-flush-interval, read at preflight (null: no task read). */
  flush: FlushWait | null;
}

/** Preflight: DM, the new and old instances, the VIP's holder and the shard-merge tasks; nothing changes. */
async function readState(t: Tracker, input: VipSwitchInput): Promise<VipState> {
  const { dmCluster, sourceId, newInstance, oldInstance, options } = input;
  const newTarget = { host: newInstance.host, port: newInstance.port };
  const oldTarget = oldInstance ? { host: oldInstance.host, port: oldInstance.port } : null;
  const pf = await preflight(t, { dmCluster, sourceId, newInstance, oldInstance });
  const taskNames = leaveFinished(
    t,
    sourceId,
    pf.source.tasks,
    pf.source.tasks.map((x) => x.name),
    'vip',
  );
  await readsThroughVip(t, input, pf.source);
  const candidates = [newTarget, ...(oldTarget ? [oldTarget] : [])];
  const holder = await vip.vipLocate({ provider: input.vip.provider, address: input.vip.address, candidates });
  const vipAlreadyMoved = holder === newInstance.host;
  // With the VIP already on the new instance, a task paused by request is the half-done switch's own pause (the
  // runbook pauses, then moves the VIP): it is resumed with the others
  const runNames = vipAlreadyMoved ? taskNames : keepOperatorPaused(t, sourceId, pf.source.tasks, taskNames, 'vip');
  const where = `the VIP ${input.vip.address}`;
  // the VIP on the new instance: either DM already reads it (nothing to do) or a switch was half done
  const there = vipAlreadyMoved
    ? await alreadyReads({
        dmCluster,
        sourceId,
        source: pf.source,
        target: newInstance,
        targetUuid: pf.newFacts.serverUuid,
        old: pf.oldFacts && oldInstance ? oldInstance : null,
        vip: input.vip,
      })
    : null;
  const alreadyDone = there?.done
    ? `source ${sourceId} from ${newInstance.host}:${newInstance.port} through ${where} (${there.seen})`
    : null;
  if (there && !there.done) {
    t.decide(
      'info',
      `${where} already points at the new instance ${newInstance.host}, but ${there.why.join('; ')}: a switch was ` +
        "half done; carrying on from there (tasks paused by request are that switch's pause, and are resumed)",
    );
  } else if (alreadyDone) {
    t.decide('info', `${where} already points at the new instance ${newInstance.host}`);
  } else if (holder === null) {
    t.decide('warn', `no instance holds ${where} now`);
  } else if (oldTarget && holder !== oldTarget.host) {
    t.decide('warn', `${where} points at ${holder}, which is neither the old (${oldTarget.host}) nor the new instance`);
  } else {
    t.decide('info', `${where} points at ${holder}`);
  }
  // a task's validator keeps its own binlog connection through the pause: refused before any change
  const old = holder !== null && holder !== newInstance.host ? holder : (oldInstance?.host ?? null);
  const oldAt = old && `${old}:${oldInstance?.port ?? pf.source.from.port}`;
  if (!alreadyDone) {
    const { worker, tasks } = pf.source;
    validatorCheck(t, { sourceId, worker, tasks, vip: input.vip.address, oldInstance: oldAt });
  }
  const policy: ErrantPolicy = { accept: options.acceptErrantTransactions, approved: null };
  const relayOn = pf.source.relay !== null;
  // nothing to do: no shard-merge check either (nothing is paused)
  const shards = alreadyDone
    ? NO_SHARDS
    : await shardPreflight(t, { dmCluster, sourceId, tasks: taskNames, accept: options.acceptShardDdlLock });
  const verifyTimeoutSeconds = options.verifyTimeoutSeconds;
  const flush = alreadyDone
    ? null
    : await flushPreflight(t, { dmCluster, sourceId, tasks: taskNames, verifyTimeoutSeconds });
  return {
    alreadyDone,
    input,
    pf,
    newTarget,
    oldTarget,
    holder,
    oldAt,
    vipAlreadyMoved,
    taskNames,
    runNames,
    relayOn,
    shards,
    sharers: [],
    policy,
    flush,
  };
}

/** The GTID rules before pausing (DM still moves; re-checked once frozen), and the VIP's other readers. */
async function decide(t: Tracker, s: VipState): Promise<GtidCheckResult> {
  const { pf } = s;
  t.phase('gtid-check');
  const readings = { flavor: pf.source.flavor, tasks: pf.source.tasks, facts: pf.newFacts, old: pf.oldFacts };
  const first = gtidCheck(t, { ...readings, when: 'before pause' }, s.policy);
  if (first.verdict === 'refuse') {
    refuse(t, SwitchErrorType.GtidRefused, `switch refused, nothing was changed: ${refusals(first).join('; ')}`);
  }
  // the VIP moves every source that reads it: the others are refused unless named, then moved with this one
  s.sharers = await vipSharers(t, s.input, pf, s.policy);
  // their tasks' validators would stay on the old instance too
  for (const o of s.sharers) {
    const { dmCluster, sourceId, state } = o;
    const { worker, tasks } = state;
    validatorCheck(t, { sourceId, dmCluster, worker, tasks, vip: s.input.vip.address, oldInstance: s.oldAt });
  }
  return first;
}

/** The plan and what each gate waits before, shown before any change. */
function showPlan(t: Tracker, gates: Gates, s: VipState, first: GtidCheckResult): void {
  const { input, taskNames, runNames, relayOn } = s;
  const to = input.newInstance.host;
  const catchUpSeconds = first.verdict === 'wait' ? input.options.catchUpTimeoutSeconds : null;
  // the VIP's other readers are paused, re-checked, resumed and verified with this source
  const coReaders = sharerTasks(s.sharers);
  const leftPaused = taskNames.filter((n) => !runNames.includes(n));
  t.status.plan = renderPlan([
    { step: 'pause-tasks', sourceId: input.sourceId, tasks: taskNames, relay: relayOn, coReaders },
    { step: 'recheck', gtidS: 'query-status', catchUpSeconds, coReaders },
    { step: 'move-vip', vip: input.vip.address, from: s.holder, to, alreadyThere: s.vipAlreadyMoved },
    { step: 'resume-tasks', tasks: runNames, leftPaused, relay: relayOn, coReaders },
    { step: 'verify', relay: relayOn, coReaders },
  ]);
  // what each gate waits before, as the approver reads it: every task the switch pauses (the other readers' too)
  const frozen = frozenWithSharers(input.sourceId, taskNames, s.sharers);
  const resumed = frozenWithSharers(input.sourceId, runNames, s.sharers);
  gates.describe(
    vipGates({
      sourceId: input.sourceId,
      tasks: taskNames,
      runTasks: runNames,
      vip: input.vip.address,
      holder: s.holder,
      to,
      alreadyThere: s.vipAlreadyMoved,
      ...(frozen ? { frozen, resumed } : {}),
    }),
  );
  if (first.errant) gates.require('before-freeze', `APPROVE ONLY IF THESE BELONG DOWNSTREAM: ${first.errantText}`);
}

/**
 * Pause every task (confirmed Paused), stop relay (paused first, to read its
 * position frozen) and pause the VIP's other readers; returns relay's frozen
 * position. Compensation's check of the state before the switch is set here.
 */
async function pauseDm(t: Tracker, undo: Undo[], s: VipState): Promise<string | null> {
  const { input, pf, taskNames, runNames, holder, newTarget, oldTarget } = s;
  const { dmCluster, sourceId, newInstance, oldInstance, options } = input;
  t.phase('pausing');
  // compensation checks that it left what preflight found: the VIP's holder, every task and relay running, DM
  // reading it
  const oldHeld = holder !== null && oldTarget !== null && holder === oldTarget.host && pf.oldFacts !== null;
  const before = holder === newInstance.host ? newInstance : oldHeld ? oldInstance! : null;
  const notBefore = before === newInstance ? (oldInstance ?? null) : newInstance;
  // and, the VIP being theirs too, that every source reading it runs on that instance again (shared-vip.ts)
  const own = (timeoutSeconds: number) =>
    checkRolledBack({
      dmCluster,
      sourceId,
      tasks: pf.source.tasks.filter((x) => x.stage === 'Running').map((x) => x.name),
      relay: s.relayOn,
      reads: before,
      notReads: notBefore,
      vip: {
        provider: input.vip.provider,
        address: input.vip.address,
        holder,
        candidates: [newTarget, ...(oldTarget ? [oldTarget] : [])],
      },
      timeoutSeconds,
      ...(s.flush ? { flushSeconds: s.flush.seconds } : {}),
    });
  t.rollbackCheck = (o) => {
    const timeoutSeconds = o?.once ? 0 : options.verifyTimeoutSeconds;
    return rolledBackWithSharers(() => own(timeoutSeconds), s.sharers, {
      reads: before,
      notReads: notBefore,
      timeoutSeconds,
    });
  };
  if (taskNames.length) {
    const resumeUndo: Undo = {
      name: `resume-task ${runNames.join(', ')}`,
      byHand: byHand.resumeTasks(sourceId, runNames),
      run: () => undoDm.dmResumeTasks({ dmCluster, sourceId, tasks: runNames, timeoutSeconds: 60 }),
    };
    const req = { dmCluster, sourceId, tasks: taskNames, timeoutSeconds: 120 };
    t.tasks(await guarded(undo, resumeUndo, () => longDm(120).dmPauseTasks(req)));
    t.step(`pause-task ${taskNames.join(', ')}`, 'done', 'every task Paused');
  }
  // relay reads the upstream through the VIP too: stopped while the VIP moves
  let relayGtid: string | null = null;
  if (s.relayOn) {
    const startRelayUndo: Undo = {
      name: `start-relay -s ${sourceId}`,
      byHand: byHand.startRelay(sourceId),
      run: () => undoDm.dmStartRelay({ dmCluster, sourceId }),
    };
    const stopped = await guarded(undo, startRelayUndo, () => dm.dmStopRelay({ dmCluster, sourceId }));
    relayGtid = stopped.frozen?.relayBinlogGtid || pf.source.relay?.relayBinlogGtid || null;
    const frozenAt = relayGtid ? `; paused first, frozen at relayBinlogGtid ${relayGtid}` : '';
    t.step(
      `stop-relay -s ${sourceId}`,
      'done',
      `relay was on sub-directory ${pf.source.relay?.relaySubDir}${frozenAt}`,
    );
  }
  await pauseSharers(t, undo, s.sharers);
  return relayGtid;
}

/** DM as frozen: the positions the re-check and the gates compare against. */
interface Frozen {
  /** This source's tasks. */
  tasks: SourceTask[];
  /** The tasks of the VIP's other readers, by reader. */
  sharers: Map<Sharer, SourceTask[]>;
  /** This source's tasks and the other readers' (labelled with their source): what a gate must find unmoved. */
  all: FrozenTask[];
  readings: { flavor: Flavor; old: PreflightResult['oldFacts']; relayGtid: string | null };
  /** Filters and binary log settings, judged again on the frozen reads and after every gate. */
  settings: SettingsRecheck;
}

/** Re-take gtid-S with DM frozen and re-check; wait (bounded by the freeze) for a lagging new instance. */
async function recheckWithDmFrozen(t: Tracker, s: VipState, relayGtid: string | null, freeze: Freeze): Promise<Frozen> {
  const { dmCluster, sourceId, newInstance, options } = s.input;
  t.phase('recheck');
  const [state, facts] = await Promise.all([
    dm.dmSourceState({ dmCluster, sourceId }),
    mysql.mysqlInspect(newInstance, { withSources: true }),
  ]);
  t.tasks(state.tasks);
  const tasks = state.tasks.filter((x) => s.taskNames.includes(x.name));
  const readings = { flavor: s.pf.source.flavor, old: s.pf.oldFacts, relayGtid };
  const sharers = await frozenSharerTasks(s.sharers);
  const all = [...tasks, ...labelled(sharers)];
  const settings = settingsRecheck({ dmCluster, sourceId }, s.taskNames, s.pf);
  const frozen = { ...readings, tasks: all, facts, when: 'frozen' };
  await recheckFrozen(t, frozen, newInstance, options.catchUpTimeoutSeconds, s.policy, freeze, settings);
  return { tasks, sharers, all, readings, settings };
}

/** A gate inside the freeze, then (if it waited for a person) proof that nothing moved meanwhile. */
async function passFrozenGate(t: Tracker, gates: Gates, s: VipState, frozen: Frozen, gate: Gate, freeze: Freeze) {
  await gates.pass(gate, freezeLimit(freeze, gate));
  if (!gates.has(gate)) return;
  const { dmCluster, sourceId, newInstance } = s.input;
  const flavor = s.pf.source.flavor;
  // nothing may have moved while a person decided: the other readers' tasks neither
  const [now, theirs] = await Promise.all([dm.dmSourceState({ dmCluster, sourceId }), frozenSharerTasks(s.sharers)]);
  const all = [...now.tasks, ...labelled(theirs)];
  await recheckAfterGate(
    t,
    gate,
    frozen.readings,
    newInstance,
    frozen.all,
    all,
    (f, x) => {
      if (!x) return `task ${f.name} is no longer on ${f.sharer ? 'its source' : `source ${sourceId}`}`;
      if (x.stage !== 'Paused') return `task ${f.name} is ${x.stage}, not Paused`;
      if (sameGtids(flavor, x.syncerBinlogGtid, f.syncerBinlogGtid)) return null;
      return `task ${f.name}'s gtid-S moved from ${f.syncerBinlogGtid} to ${x.syncerBinlogGtid}`;
    },
    s.policy,
    frozen.settings,
  );
}

/** How old the answer to which dm-worker serves the source may be when the move closes its idle connections. */
const FRESH_LOOKUP_MS = 5000;

/** Whether the move closes DM's idle connections to the old instance first: it answered, and still holds the VIP. */
function closesIdle(s: VipState): boolean {
  return s.pf.oldFacts !== null && !!s.input.oldInstance && !s.vipAlreadyMoved;
}

/**
 * Move the VIP, its undo registered first. DM's pooled connections to the old
 * instance are closed first: closed by the server, they are replaced through
 * the VIP after the move; cut by the move, DM's first use of one on resume
 * fails, and a pessimistic shard-merge task then loses its sharding groups.
 */
async function moveTheVip(t: Tracker, undo: Undo[], s: VipState, owner?: IdleOwnerLookup): Promise<void> {
  const { input, pf, holder, oldTarget, newTarget, vipAlreadyMoved, taskNames } = s;
  t.phase('moving-vip');
  const oldAlive = pf.oldFacts !== null;
  const closedIdle = closesIdle(s) ? await closeDmIdleConnections(t, input, pf.source.from.user, owner) : false;
  const moveBack: Undo = {
    name: `move VIP ${input.vip.address} back to ${oldTarget?.host ?? holder ?? 'its holder before the switch'}`,
    byHand: vipMoveBackByHand({
      sourceId: input.sourceId,
      vip: input.vip.address,
      provider: input.vip.provider,
      holder,
      oldHost: oldTarget?.host ?? null,
      oldAlive,
      tasks: taskNames,
    }),
    run: () => moveVipBack(t, input, { holder, oldTarget, newTarget, oldAlive, tasks: taskNames, relay: s.relayOn }),
  };
  const moved = await guarded(undo, vipAlreadyMoved ? null : moveBack, () =>
    vipMoveOrFail(input, oldTarget, newTarget),
  );
  const detail = moved.alreadyThere ? 'already there' : `now on ${moved.holder}`;
  t.step(`move VIP ${input.vip.address} to ${input.newInstance.host}`, moved.alreadyThere ? 'skipped' : 'done', detail);

  if (hasPessimistic(s.shards) && !closedIdle && !vipAlreadyMoved) {
    // DM's idle connections to the old instance could not be closed: wait until TCP keep-alive (15 s in DM's MySQL
    // driver) has sent a probe on each through the VIP, which the new holder answers with a reset, so DM's pool
    // drops them
    t.decide(
      'info',
      `waiting ${KEEPALIVE_SECONDS} s before resuming: DM's idle connections to the old instance could not be ` +
        "closed, and a pessimistic shard-merge task loses its sharding groups if DM's first use of one on resume " +
        'fails; by then TCP keep-alive has had the new holder of the VIP reset them',
    );
    await sleep(`${KEEPALIVE_SECONDS}s`);
  }
}

/**
 * Start relay, resume the tasks (not those an operator paused) and await them Running in Sync in one activity (the
 * freeze ends there), then the VIP's other readers; returns what it saw, for verification to judge as it is.
 */
async function resumeDm(t: Tracker, undo: Undo[], s: VipState): Promise<SourceTask[] | undefined> {
  const { dmCluster, sourceId } = s.input;
  t.phase('resuming');
  if (s.relayOn) await startRelay(t, undo, { dmCluster, sourceId }, 'moving back');
  let running: SourceTask[] | undefined;
  if (s.runNames.length) {
    const pauseUndo: Undo = {
      name: `pause-task ${s.taskNames.join(', ')} (before moving back)`,
      byHand: byHand.pauseTasks(sourceId),
      run: () => undoDm.dmPauseTasks({ dmCluster, sourceId, tasks: s.taskNames, timeoutSeconds: 120 }),
    };
    const syncTimeoutSeconds = s.input.options.verifyTimeoutSeconds;
    const req = { dmCluster, sourceId, tasks: s.runNames, timeoutSeconds: 60, syncTimeoutSeconds };
    running = await guarded(undo, pauseUndo, () => longDm(60 + syncTimeoutSeconds).dmResumeTasksSyncing(req));
    t.tasks(running);
    t.step(`resume-task ${s.runNames.join(', ')}`, 'done', 'every task Running in Sync');
  }
  await resumeSharers(t, undo, s.sharers);
  return running;
}

/** The claimed end state, read: every task replicating from the new instance, and the VIP's other readers too. */
async function verifySwitched(t: Tracker, s: VipState, frozen: Frozen, running?: SourceTask[]): Promise<void> {
  const { input, pf } = s;
  t.phase('verifying');
  const resumed = frozen.tasks.filter((x) => s.runNames.includes(x.name));
  const old = pf.oldFacts && input.oldInstance ? input.oldInstance : null;
  const target = { ...input, shards: s.shards, flavor: pf.source.flavor, flushSeconds: s.flush?.seconds, running };
  await verify(t, target, resumed, pf.source.relay?.relaySubDir ?? null, s.relayOn, old);
  await verifySharers(t, input, frozen.sharers, old);
  const { sourceId, newInstance } = input;
  t.decide(
    'go',
    `switched: DM reads source ${sourceId} from ${newInstance.host}:${newInstance.port} through ${input.vip.address}`,
  );
  t.finish('switched');
}
