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
 * already happened. After the first change, a failure undoes what was done,
 * in reverse (move the VIP back, resume on the old instance), in a scope
 * that cancellation cannot interrupt; a failed undo is surfaced, never
 * swallowed, and the status says what an operator must do.
 */
import { ApplicationFailure, sleep } from '@temporalio/workflow';
import { SwitchErrorType } from '../common/switch/errors.js';
import { validateVipSwitchInput, type VipSwitchInput, type VipSwitchParsed, type VipSwitchRequest } from '../common/switch/input.js';
import type { Gate, SwitchStatus } from '../common/switch/status.js';
import type { SourceState } from '../activities/dm.js';
import { dm, longDm, mysql, undoDm, undoVip, vip } from './activities.js';
import type { Gates } from './approvals.js';
import { withTarget } from './candidates.js';
import { businessFailure, describe, failure, guarded, type Undo } from './compensation.js';
import { runSwitch } from './lifecycle.js';
import { endDryRun, freezeLimit, gtidCheck, preflight, recheckAfterGate, recheckFrozen, refuse, sameGtids, sameHost, startFreeze, type ErrantPolicy } from './phases.js';
import type { Tracker } from './tracker.js';
import { hasPessimistic, NO_SHARDS, shardPreflight } from './shards.js';
import {
  frozenSharerTasks,
  frozenWithSharers,
  planWithSharers,
  labelled,
  pauseSharers,
  resumeSharers,
  rolledBackWithSharers,
  verifySharers,
  vipSharers,
} from './shared-vip.js';
import { checkRolledBack, sourceWorker, verify } from './verify.js';
import { keepOperatorPaused, leaveFinished } from './paused-tasks.js';

export async function vipSwitch(request: VipSwitchRequest): Promise<SwitchStatus> {
  return runSwitch('vip-switch', request, validateVipSwitchInput, steps);
}

async function steps(t: Tracker, gates: Gates, parsed: VipSwitchParsed, undo: Undo[]): Promise<SwitchStatus> {
  // candidates or discover: the best target is chosen first, before any change (workflows/candidates.ts)
  const input: VipSwitchInput = await withTarget(t, gates, parsed, { vip: parsed.vip });
  const { dmCluster, sourceId, newInstance, oldInstance, options } = input;
  const newTarget = { host: newInstance.host, port: newInstance.port };
  const oldTarget = oldInstance ? { host: oldInstance.host, port: oldInstance.port } : null;

  // --- preflight: read the real state; nothing changes here ---------------
  const pf = await preflight(t, { dmCluster, sourceId, newInstance, oldInstance });
  const flavor = pf.source.flavor;
  const taskNames = leaveFinished(t, sourceId, pf.source.tasks, pf.source.tasks.map((x) => x.name), 'vip');
  if (t.safety) await readsThroughVip(t, input, pf.source);
  const holder = await vip.vipLocate({ provider: input.vip.provider, address: input.vip.address, candidates: [newTarget, ...(oldTarget ? [oldTarget] : [])] });
  const vipAlreadyMoved = holder === newInstance.host;
  // what runs again after the switch (or its undo): every task but those an operator had paused. With the VIP
  // already on the new instance, a task paused by request is the half-done switch's own pause (the runbook
  // pauses, then moves the VIP): it is resumed with the others
  const runNames = vipAlreadyMoved ? taskNames : keepOperatorPaused(t, sourceId, pf.source.tasks, taskNames, 'vip');
  if (vipAlreadyMoved) {
    t.decide('info', `the VIP ${input.vip.address} already points at the new instance ${newInstance.host}: a switch was half done; carrying on from there (tasks paused by request are that switch's pause, and are resumed)`);
  } else if (holder === null) {
    t.decide('warn', `no instance holds the VIP ${input.vip.address} now`);
  } else if (oldTarget && holder !== oldTarget.host) {
    t.decide('warn', `the VIP ${input.vip.address} points at ${holder}, which is neither the old (${oldTarget.host}) nor the new instance`);
  } else {
    t.decide('info', `the VIP ${input.vip.address} points at ${holder}`);
  }

  const shards = t.shards ? await shardPreflight(t, { dmCluster, sourceId, tasks: taskNames, accept: options.acceptShardDdlLock }) : NO_SHARDS;

  // --- GTID check before pausing (DM still moves; re-checked once frozen) --
  t.phase('gtid-check');
  const policy: ErrantPolicy = { accept: options.acceptErrantTransactions, approved: null };
  const first = gtidCheck(t, { flavor, tasks: pf.source.tasks, facts: pf.newFacts, old: pf.oldFacts, when: 'before pause' }, policy);
  if (first.verdict === 'refuse') refuse(t, SwitchErrorType.GtidRefused, `switch refused, nothing was changed: ${(t.safety ? first.refusals : first.reasons.filter((r) => !r.includes('⊆ gtid-E: the new instance holds'))).join('; ')}`);
  // the VIP moves every source that reads it: the others are refused unless named, then moved with this one
  const sharers = await vipSharers(t, input, pf, policy);

  t.status.plan = [
    `pause-task ${taskNames.join(', ') || '(no tasks)'} on source ${sourceId} and confirm Paused` + (pf.source.relay ? `; ${t.safety ? 'pause-relay (to read its position frozen), then ' : ''}stop-relay (relay reads the upstream through the VIP too)` : ''),
    're-take gtid-S with DM frozen and re-check gtid-P ⊆ gtid-S ⊆ gtid-E' + (first.verdict === 'wait' ? `, waiting up to ${options.catchUpTimeoutSeconds} s for the new instance to catch up` : ''),
    vipAlreadyMoved ? `leave the VIP ${input.vip.address} on ${newInstance.host} (already there)` : `move the VIP ${input.vip.address} from ${holder ?? 'nobody'} to ${newInstance.host}`,
    (pf.source.relay ? 'start-relay, then ' : '') + `resume-task ${runNames.join(', ') || '(no tasks)'}` +
      (runNames.length < taskNames.length ? ` (not ${taskNames.filter((n) => !runNames.includes(n)).join(', ')}: paused by an operator)` : ''),
    'verify: every task Running in Sync without errors, syncerBinlogGtid not behind the frozen position, DM reading from the new instance' + (pf.source.relay ? ', relay on a new sub-directory and caught up' : ''),
  ];
  planWithSharers(t.status.plan, sharers);
  // what each approval gate waits before, as the approver reads it: with other sources reading the VIP, every task
  // the switch pauses (theirs too), so that what is frozen is what the approver sees
  const frozenAll = frozenWithSharers(sourceId, taskNames, sharers);
  const moveText = vipAlreadyMoved
    ? `the VIP ${input.vip.address} is already on ${newInstance.host}; next: resume the tasks`
    : `move the VIP ${input.vip.address} from ${holder ?? 'nobody'} to ${newInstance.host}`;
  const resumedAll = frozenWithSharers(sourceId, runNames, sharers);
  const reading = `now reading ${newInstance.host} through ${input.vip.address}`;
  gates.describe({
    'before-freeze': frozenAll
      ? `pause ${frozenAll} to move the VIP ${input.vip.address} to ${newInstance.host}`
      : `pause the tasks of source ${sourceId} (${taskNames.join(', ') || 'none'}) ` +
        `to move the VIP ${input.vip.address} to ${newInstance.host}`,
    'before-switch': moveText + (frozenAll ? `, with DM frozen: paused now are ${frozenAll}` : ''),
    'before-resume': resumedAll
      ? `resume ${resumedAll}, ${reading}; paused now are ${frozenAll}`
      : `resume the tasks of source ${sourceId} (${runNames.join(', ') || 'none'}), ${reading}`,
  });
  if (first.errant) gates.require('before-freeze', `APPROVE ONLY IF THESE BELONG DOWNSTREAM: ${first.errantText}`);
  if (options.dryRun) return endDryRun(t, gates, first.verdict);

  await gates.pass('before-freeze');
  if (first.errant) policy.approved = first.errant;

  const tasksReq = (timeoutSeconds: number) => ({ dmCluster, sourceId, tasks: taskNames, timeoutSeconds });
  // --- pause every task and confirm ---------------------------------------
  t.phase('pausing');
  const freeze = t.safety ? startFreeze(options.maxFreezeSeconds) : null;
  const relayWasRunning = pf.source.relay !== null;
  // compensation checks that it left what preflight found: the VIP's holder, every task and relay running, DM reading it
  const before = holder === newInstance.host ? newInstance : holder !== null && oldTarget && holder === oldTarget.host && pf.oldFacts ? oldInstance! : null;
  // and, the VIP being theirs too, that every source reading it runs on that instance again (shared-vip.ts)
  const notBefore = before === newInstance ? (oldInstance ?? null) : newInstance;
  const sharersBack = (o?: { once: boolean }) => ({
    reads: before,
    notReads: notBefore,
    timeoutSeconds: o?.once ? 0 : options.verifyTimeoutSeconds,
    inActivities: t.polls,
  });
  t.rollbackCheck = (o) =>
    rolledBackWithSharers(() => checkRolledBack({
      dmCluster,
      sourceId,
      tasks: pf.source.tasks.filter((x) => x.stage === 'Running').map((x) => x.name),
      relay: relayWasRunning,
      reads: before,
      notReads: before === newInstance ? (oldInstance ?? null) : newInstance,
      vip: { provider: input.vip.provider, address: input.vip.address, holder, candidates: [newTarget, ...(oldTarget ? [oldTarget] : [])] },
      timeoutSeconds: o?.once ? 0 : options.verifyTimeoutSeconds,
      inActivities: t.polls,
    }), sharers, sharersBack(o));
  const resumeUndo: Undo = {
    name: `resume-task ${runNames.join(', ')}`,
    byHand: `dmctl --master-addr=<dm-master> resume-task -s ${sourceId} <task>   # for ${runNames.join(', ')}`,
    run: () => (t.honest ? undoDm : dm).dmResumeTasks({ ...tasksReq(60), tasks: runNames }),
  };
  if (taskNames.length) {
    const paused = await guarded(t, undo, resumeUndo, () => longDm(120).dmPauseTasks(tasksReq(120)), () => resumeUndo);
    t.tasks(paused);
    t.step(`pause-task ${taskNames.join(', ')}`, 'done', 'every task Paused');
  }

  // --- relay reads the upstream too: stop it while the VIP moves -------------
  let relayGtid: string | null = null;
  if (relayWasRunning) {
    const startRelayUndo: Undo = {
      name: `start-relay -s ${sourceId}`,
      byHand: `dmctl --master-addr=<dm-master> start-relay -s ${sourceId}`,
      run: () => (t.honest ? undoDm : dm).dmStartRelay({ dmCluster, sourceId }),
    };
    const stopped = await guarded(t, undo, startRelayUndo, () => dm.dmStopRelay({ dmCluster, sourceId }), () => startRelayUndo);
    if (t.safety) relayGtid = stopped.frozen?.relayBinlogGtid || pf.source.relay?.relayBinlogGtid || null;
    t.step(`stop-relay -s ${sourceId}`, 'done', `relay was on sub-directory ${pf.source.relay?.relaySubDir}${relayGtid ? `; paused first, frozen at relayBinlogGtid ${relayGtid}` : ''}`);
  }
  await pauseSharers(t, undo, sharers);

  // --- frozen: re-take gtid-S and re-check; wait for a lagging instance -----
  t.phase('recheck');
  const [frozen, facts] = await Promise.all([dm.dmSourceState({ dmCluster, sourceId }), mysql.mysqlInspect(newInstance, t.safety ? { withSources: true } : undefined)]);
  t.tasks(frozen.tasks);
  const frozenTasks = frozen.tasks.filter((x) => taskNames.includes(x.name));
  const readings = { flavor, old: pf.oldFacts, relayGtid };
  const sharedFrozen = await frozenSharerTasks(sharers);
  const allFrozen = [...frozenTasks, ...labelled(sharedFrozen)];
  const frozenReadings = { ...readings, tasks: allFrozen, facts, when: 'frozen' };
  await recheckFrozen(t, frozenReadings, newInstance, options.catchUpTimeoutSeconds, policy, freeze);
  // after a gate inside the freeze: nothing may have moved while a person decided (the sharers' tasks neither)
  const stillPaused = async (gate: Gate) => {
    if (!t.safety || !gates.has(gate)) return;
    const now = await dm.dmSourceState({ dmCluster, sourceId });
    const theirs = labelled(await frozenSharerTasks(sharers));
    await recheckAfterGate(t, gate, readings, newInstance, allFrozen, [...now.tasks, ...theirs], (f, x) => {
      if (!x) return `task ${f.name} is no longer on ${f.name.includes('/') ? 'its source' : `source ${sourceId}`}`;
      if (x.stage !== 'Paused') return `task ${f.name} is ${x.stage}, not Paused`;
      return sameGtids(flavor, x.syncerBinlogGtid, f.syncerBinlogGtid) ? null : `task ${f.name}'s gtid-S moved from ${f.syncerBinlogGtid} to ${x.syncerBinlogGtid}`;
    }, policy);
  };
  await gates.pass('before-switch', freezeLimit(freeze, 'before-switch'));
  await stillPaused('before-switch');

  // --- move the VIP ---------------------------------------------------------
  t.phase('moving-vip');
  // DM's pooled connections to the old instance: closed by the server now, they are replaced through the VIP after the
  // move; cut by the move, DM's first use of one on resume fails, and a pessimistic shard task then loses its sharding groups
  const closedIdle = t.shards && pf.oldFacts && oldInstance && !vipAlreadyMoved ? await closeDmIdleConnections(t, input, pf.source.from.user) : false;
  const moveBack: Undo = {
    name: `move VIP ${input.vip.address} back to ${oldTarget?.host ?? holder ?? 'its holder before the switch'}`,
    byHand: moveBackByHand(input, holder, oldTarget, pf.oldFacts !== null, taskNames),
    run: () => moveVipBack(t, input, { holder, oldTarget, newTarget, oldAlive: pf.oldFacts !== null, tasks: taskNames, relay: relayWasRunning }),
  };
  const moved = await guarded(
    t,
    undo,
    vipAlreadyMoved ? null : moveBack,
    () => vipMoveOrFail(input, oldTarget, newTarget),
    (m) =>
      !m.alreadyThere && oldTarget
        ? {
            name: `move VIP ${input.vip.address} back to ${oldTarget.host}`,
            byHand: `move the VIP ${input.vip.address} back to ${oldTarget.host} with provider "${input.vip.provider}"`,
            run: () => vip.vipMove({ provider: input.vip.provider, address: input.vip.address, from: newTarget, to: oldTarget }),
          }
        : null,
  );
  t.step(`move VIP ${input.vip.address} to ${newInstance.host}`, moved.alreadyThere ? 'skipped' : 'done', moved.alreadyThere ? 'already there' : `now on ${moved.holder}`);

  if (t.shards && hasPessimistic(shards) && !closedIdle && !vipAlreadyMoved) {
    // DM's idle connections to the old instance could not be closed: wait until TCP keep-alive (15 s in DM's MySQL
    // driver) has sent a probe on each through the VIP, which the new holder answers with a reset, so DM's pool drops them
    t.decide('info', `waiting ${KEEPALIVE_SECONDS} s before resuming: DM's idle connections to the old instance could not be closed, and a pessimistic shard-merge task loses its sharding groups if DM's first use of one on resume fails; by then TCP keep-alive has had the new holder of the VIP reset them`);
    await sleep(`${KEEPALIVE_SECONDS}s`);
  }
  await gates.pass('before-resume', freezeLimit(freeze, 'before-resume'));
  await stillPaused('before-resume');

  // --- resume and verify ------------------------------------------------------
  t.phase('resuming');
  if (relayWasRunning) {
    const stopRelayUndo: Undo = {
      name: `stop-relay -s ${sourceId} (before moving back)`,
      byHand: `dmctl --master-addr=<dm-master> stop-relay -s ${sourceId}`,
      run: () => (t.honest ? undoDm : dm).dmStopRelay({ dmCluster, sourceId }),
    };
    const relay = await guarded(t, undo, stopRelayUndo, () => dm.dmStartRelay({ dmCluster, sourceId }), () => stopRelayUndo);
    t.step(`start-relay -s ${sourceId}`, 'done', relay ? `relay ${relay.stage} on sub-directory ${relay.relaySubDir}` : 'relay status not yet reported');
  }
  if (runNames.length) {
    const pauseUndo: Undo = {
      name: `pause-task ${taskNames.join(', ')} (before moving back)`,
      byHand: `dmctl --master-addr=<dm-master> pause-task -s ${sourceId} <task>`,
      run: () => (t.honest ? undoDm : longDm(120)).dmPauseTasks(tasksReq(120)),
    };
    t.tasks(await guarded(t, undo, pauseUndo, () => dm.dmResumeTasks({ ...tasksReq(60), tasks: runNames }), () => pauseUndo));
    t.step(`resume-task ${runNames.join(', ')}`, 'done');
  }
  await resumeSharers(t, undo, sharers);
  t.phase('verifying');
  const resumed = frozenTasks.filter((x) => runNames.includes(x.name));
  await verify(t, { ...input, shards, flavor: pf.source.flavor }, resumed, pf.source.relay?.relaySubDir ?? null, relayWasRunning, pf.oldFacts && oldInstance ? oldInstance : null);
  await verifySharers(t, input, sharedFrozen, pf.oldFacts && oldInstance ? oldInstance : null);
  t.decide('go', `switched: DM reads source ${sourceId} from ${newInstance.host}:${newInstance.port} through ${input.vip.address}`);
  t.finish('switched');
  return t.status;
}

/**
 * The switch moves what DM reads: the source's `from.host` is the VIP, or a
 * name that resolves to it. Otherwise moving the VIP would change nothing
 * DM reads (or something else that reads through it): refused, naming both.
 */
async function readsThroughVip(t: Tracker, input: VipSwitchInput, source: SourceState): Promise<void> {
  const vipAddress = input.vip.address;
  // through the VIP, DM reaches whichever server listens on from.port of the VIP's holder: checks on another port
  // would judge a server DM never reads, and DM would read one nobody checked
  const ports = [
    { what: 'new instance', ref: input.newInstance },
    ...(input.oldInstance ? [{ what: 'old instance', ref: input.oldInstance }] : []),
  ].filter((x) => x.ref.port !== source.from.port);
  if (ports.length) {
    const { host, port } = source.from;
    const many = ports.length > 1 ? 's' : '';
    const given = ports.map((x) => `the ${x.what} is given at ${x.ref.host}:${x.ref.port}`).join(' and ');
    const reached = ports.map((x) => `${x.ref.host}:${port}`).join(' and ');
    refuse(
      t,
      SwitchErrorType.PreflightFailed,
      `source ${input.sourceId} reads ${host}:${port}, so through the VIP DM reaches port ${port} of the instance ` +
        `that holds it, but ${given}: every check would run on ${many ? 'servers' : 'a server'} DM does not read, ` +
        `and DM would read ${reached}, which nobody checked; nothing was changed. Give the instance${many} at port ` +
        `${port} (the server${many} DM will read through the VIP), or change the port in DM's source config first`,
    );
  }
  if (await sameHost(source.from.host, vipAddress)) {
    t.decide('go', `source ${input.sourceId} reads ${source.from.host}:${source.from.port}, which is the VIP ${vipAddress}: moving it moves what DM reads`);
    return;
  }
  refuse(
    t,
    SwitchErrorType.PreflightFailed,
    `source ${input.sourceId} reads ${source.from.host}:${source.from.port}, not the VIP ${vipAddress} (nor a name that resolves to it): moving the VIP would not move what DM reads; nothing was changed. Give the VIP that DM's source config connects to, or re-point the source with an address switch (addressSwitch)`,
  );
}

/** A probe of DM's MySQL driver's TCP keep-alive (Go's default: after 15 s idle, then every 15 s) with margin. */
const KEEPALIVE_SECONDS = 35;

/** Closes the idle connections of the source's dm-worker on the old instance (activities/mysql.ts says why); true when all could be. */
async function closeDmIdleConnections(t: Tracker, input: VipSwitchInput, user: string): Promise<boolean> {
  const w = await sourceWorker(input.dmCluster, input.sourceId);
  if (!w || !input.oldInstance) return false;
  const r = await mysql.mysqlCloseIdleConnections({ instance: input.oldInstance, user, hosts: w.addresses });
  t.step(`close the idle connections of ${w.describe} on the old instance`, r.refused.length ? 'failed' : 'done', `${r.closed.length} closed (DM opens new ones through the VIP after the move)${r.refused.length ? `; not closed: ${r.refused.join('; ')}` : ''}`);
  if (r.refused.length) t.decide('warn', `could not close some of DM's idle connections on the old instance (${r.refused.join('; ')}); DM's first use of one after resume may fail with "invalid connection"`);
  return r.refused.length === 0;
}

/** The VIP moved, or VipMoveFailed naming the provider's words once its retries are spent. */
async function vipMoveOrFail(input: VipSwitchInput, from: { host: string; port: number } | null, to: { host: string; port: number }) {
  try {
    return await vip.vipMove({ provider: input.vip.provider, address: input.vip.address, from, to });
  } catch (e) {
    const app = businessFailure(e);
    if (app?.type === SwitchErrorType.InvalidInput) throw e;
    throw failure(`moving the VIP ${input.vip.address} to ${to.host} failed (provider "${input.vip.provider}"): ${describe(e)}`, SwitchErrorType.VipMoveFailed);
  }
}

function moveBackByHand(input: VipSwitchInput, holder: string | null, oldTarget: { host: string } | null, oldAlive: boolean, tasks: string[]): string {
  const pause = `with every task of source ${input.sourceId} paused (dmctl --master-addr=<dm-master> pause-task -s ${input.sourceId} <task>   # for ${tasks.join(', ') || 'none'}) and relay stopped`;
  if (oldTarget && holder === oldTarget.host && oldAlive) return `${pause}, move the VIP ${input.vip.address} back to ${oldTarget.host} with provider "${input.vip.provider}"; then start relay and resume the tasks`;
  return `decide where the VIP ${input.vip.address} belongs: before the switch it was on ${holder ?? 'nobody'}${oldTarget && holder === oldTarget.host && !oldAlive ? ` (the old instance, which did not answer)` : ''}; the tasks are paused. To carry on with the new instance, resume them (dmctl --master-addr=<dm-master> resume-task -s ${input.sourceId} <task>); to go back, ${pause}, move the VIP, then resume`;
}

/**
 * The undo of the VIP move, from the real state: where the VIP is now, and
 * where it was before the switch (preflight's answer, not the move's). It
 * moves the VIP back only to the old instance that held it and answered at
 * preflight, and only once every task of the source is confirmed Paused and
 * relay stopped (never two instances' streams into one task). A VIP that
 * never reached the new instance is left where it is. A VIP that cannot go
 * back (the old instance was down, or never held it) stops compensation
 * here: the tasks stay paused and an operator decides.
 */
async function moveVipBack(
  t: Tracker,
  input: VipSwitchInput,
  s: { holder: string | null; oldTarget: { host: string; port: number } | null; newTarget: { host: string; port: number }; oldAlive: boolean; tasks: string[]; relay: boolean },
): Promise<string> {
  const { provider, address } = input.vip;
  const candidates = [s.newTarget, ...(s.oldTarget ? [s.oldTarget] : [])];
  const now = await undoVip.vipLocate({ provider, address, candidates });
  if (now !== s.newTarget.host) {
    t.decide('info', `the VIP ${address} is on ${now ?? 'nobody'}, not on the new instance: it was not moved, nothing to move back`);
    return 'not moved';
  }
  if (!s.oldTarget || s.holder !== s.oldTarget.host) {
    throw ApplicationFailure.create({
      message: `the VIP ${address} is on the new instance ${s.newTarget.host}; before the switch ${s.holder ? `it was on ${s.holder}, which is not the old instance given` : 'nobody held it'}, so it is not moved back; the tasks stay paused`,
      type: SwitchErrorType.CompensationFailed,
      nonRetryable: true,
    });
  }
  if (!s.oldAlive) {
    throw ApplicationFailure.create({
      message: `the VIP ${address} is on the new instance ${s.newTarget.host}; the old instance ${s.oldTarget.host} did not answer at preflight, so the VIP is not moved back to it; the tasks stay paused`,
      type: SwitchErrorType.CompensationFailed,
      nonRetryable: true,
    });
  }
  // never move the VIP under a running task or relay: confirm them paused (idempotent) first
  if (s.tasks.length) await undoDm.dmPauseTasks({ dmCluster: input.dmCluster, sourceId: input.sourceId, tasks: s.tasks, timeoutSeconds: 120 });
  if (s.relay) await undoDm.dmStopRelay({ dmCluster: input.dmCluster, sourceId: input.sourceId });
  const r = await undoVip.vipMove({ provider, address, from: s.newTarget, to: s.oldTarget });
  t.decide('info', `moved the VIP ${address} back to ${s.oldTarget.host}${r.alreadyThere ? ' (it was already there)' : ''}, with every task Paused${s.relay ? ' and relay stopped' : ''}`);
  return r.holder ?? '';
}
