/**
 * Procedure B of the runbook, as a durable workflow: DM reads the source at
 * the instance's own address; re-point the source to the new instance.
 *
 *   preflight → save the task and source configs → GTID check → stop every
 *   task (checkpoints kept) and relay → re-take gtid-S from the checkpoints
 *   and re-check (wait for a lagging new instance, bounded) → operate-source
 *   stop → operate-source create with the new address → start-task each task
 *   from its saved config → start-relay if it was on → verify.
 *
 * Shares its phases, verification and compensation with the VIP switch.
 * Saving the tasks' configurations and reading their positions is in
 * workflows/address-tasks.ts; the checks and undos on DM's source are in
 * workflows/address-source.ts.
 * Every effect is an idempotent activity, and preflight reads the real state,
 * so a switch done partly by hand (tasks stopped, old source removed, new
 * source created) is adopted and finished. Passwords never enter history:
 * DM masks them in the saved configs, and the worker puts them back from
 * credential references.
 */
import { SwitchErrorType } from '../common/switch/errors.js';
import type { Flavor, SourceState, SourceTask } from '../common/switch/types.js';
import {
  validateAddressSwitchInput,
  type AddressSwitchInput,
  type AddressSwitchParsed,
  type AddressSwitchRequest,
} from '../common/switch/input.js';
import { addressGates, byHand, DMCTL, renderPlan } from '../common/switch/runbook.js';
import type { Gate, SwitchStatus } from '../common/switch/status.js';
import { dm, longDm, mysql, undoDm } from './activities.js';
import { expectSourceReads, readsOldInstance, restoreSource, resumeOthers, stopNewSource } from './address-source.js';
import type { Gates } from './approvals.js';
import { alreadyReads, endNothingToDo } from './already-done.js';
import { withTarget } from './candidates.js';
import { guarded, type Undo } from './compensation.js';
import { endDryRun, runSwitch } from './lifecycle.js';
import { startRelay } from './relay.js';
import { currentTasks, saveConfigs, type AddressState } from './address-tasks.js';
import { freezeLimit, startFreeze } from './freeze.js';
import { gtidCheck, recheckAfterGate, recheckFrozen, refusals, sameGtids, type GtidCheckResult } from './gtid-check.js';
import { preflight, refuse, type PreflightResult } from './preflight.js';
import { settingsRecheck, type SettingsRecheck } from './settings-recheck.js';
import type { Tracker } from './tracker.js';
import { checkRolledBack, verify } from './verify.js';

export async function addressSwitch(request: AddressSwitchRequest): Promise<SwitchStatus> {
  return runSwitch('address-switch', request, validateAddressSwitchInput, steps);
}

/** The runbook's steps, in order; each names what it does. */
export async function steps(
  t: Tracker,
  gates: Gates,
  parsed: AddressSwitchParsed,
  undo: Undo[],
): Promise<SwitchStatus> {
  // candidates or discover: the best target is chosen first, before any change (workflows/candidates.ts)
  const input: AddressSwitchInput = await withTarget(t, gates, parsed, {});
  const s = await readState(t, input);
  if (s.alreadyDone) return endNothingToDo(t, input.options.dryRun, s.alreadyDone);
  await saveConfigs(t, s);
  const first = await decide(t, s);
  showPlan(t, gates, s, first);
  if (input.options.dryRun) return endDryRun(t, gates, first.verdict);

  await gates.pass('before-freeze');
  if (first.errant) s.policy.approved = first.errant;
  const relayGtid = await stopDm(t, undo, s);
  const frozen = await recheckWithDmStopped(t, s, relayGtid);
  await passStoppedGate(t, gates, s, frozen, 'before-switch');
  await swapSource(t, undo, s);
  await passStoppedGate(t, gates, s, frozen, 'before-resume');
  await startDm(t, undo, s);
  await verifySwitched(t, s, frozen);
  return t.status;
}

/** Preflight: DM and the instances, read; nothing changes here. */
async function readState(t: Tracker, input: AddressSwitchInput): Promise<AddressState> {
  const { dmCluster, sourceId, newInstance, oldInstance, options } = input;
  const sourceCredentials = input.sourceCredentials ?? newInstance.credentials;
  const pf = await preflight(t, { dmCluster, sourceId, newInstance, oldInstance }, { sourceMayBeMissing: true });
  const source = pf.source;
  const reads = (x: SourceState) => x.from.host === newInstance.host && x.from.port === newInstance.port;
  const alreadySwapped = source !== null && reads(source);
  // re-pointed already: either DM reads the new instance (nothing to do) or a switch was half done
  const there =
    source && alreadySwapped
      ? await alreadyReads({
          dmCluster,
          sourceId,
          source,
          target: newInstance,
          targetUuid: pf.newFacts.serverUuid,
          old: pf.oldFacts && oldInstance ? oldInstance : null,
          missingTasks: Object.keys(input.taskConfigs ?? {}).filter((n) => !source.tasks.some((x) => x.name === n)),
        })
      : null;
  const alreadyDone = there?.done
    ? `source ${sourceId} from ${newInstance.host}:${newInstance.port} (${there.seen})`
    : null;
  if (there && !there.done) {
    t.decide(
      'info',
      `source ${sourceId} already reads the new instance ${newInstance.host}:${newInstance.port}, but ` +
        `${there.why.join('; ')}: a switch was half done; carrying on from there`,
    );
  } else if (alreadyDone) {
    t.decide('info', `source ${sourceId} already reads the new instance ${newInstance.host}:${newInstance.port}`);
  }
  // the switch re-points what DM reads: the source must read the old instance named in the input
  if (oldInstance && source && !alreadySwapped) await readsOldInstance(t, source, oldInstance, pf.oldFacts);
  return {
    alreadyDone,
    input,
    pf,
    source,
    flavor: source?.flavor ?? pf.newFacts.flavor,
    alreadySwapped,
    sourceCredentials,
    newEndpoint: { host: newInstance.host, port: newInstance.port, credentials: sourceCredentials },
    inDm: source?.tasks.map((x) => x.name) ?? [],
    given: [],
    saved: { source: null, tasks: [] },
    runNames: [],
    runTasks: [],
    finished: [],
    relayOn: source?.relay != null,
    shards: { tasks: {}, acceptedLocks: [] },
    held: [],
    policy: { accept: options.acceptErrantTransactions, approved: null },
    freeze: null,
    flush: null,
  };
}

/** The GTID rules before stopping (DM still moves; re-checked once stopped). */
async function decide(t: Tracker, s: AddressState): Promise<GtidCheckResult> {
  t.phase('gtid-check');
  const allRunning = s.source !== null && s.inDm.length === s.saved.tasks.length;
  const tasks = allRunning ? s.source!.tasks : await currentTasks(t, s, 'before stop');
  const first = gtidCheck(
    t,
    { flavor: s.flavor, tasks, facts: s.pf.newFacts, old: s.pf.oldFacts, when: 'before stop' },
    s.policy,
  );
  if (first.verdict === 'refuse') {
    refuse(t, SwitchErrorType.GtidRefused, `switch refused, nothing was changed: ${refusals(first).join('; ')}`);
  }
  return first;
}

/** The plan and what each gate waits before, shown before any change. */
function showPlan(t: Tracker, gates: Gates, s: AddressState, first: GtidCheckResult): void {
  const { input, source, inDm, runNames, relayOn, alreadySwapped } = s;
  const { sourceId, newInstance, options } = input;
  const to = { host: newInstance.host, port: newInstance.port };
  const from = source ? source.from : null;
  t.status.plan = renderPlan([
    ...(s.held.length ? [{ step: 'pause-other-shards' as const, held: s.held }] : []),
    { step: 'stop-tasks', sourceId, tasks: inDm, relay: relayOn },
    {
      step: 'recheck',
      gtidS: 'checkpoints',
      catchUpSeconds: first.verdict === 'wait' ? options.catchUpTimeoutSeconds : null,
    },
    { step: 'swap-source', sourceId, from, to, alreadySwapped },
    { step: 'start-tasks', sourceId, tasks: runNames, relay: relayOn },
    { step: 'verify', relay: relayOn },
  ]);
  gates.describe(addressGates({ sourceId, tasks: inDm, runTasks: runNames, from, to, alreadySwapped, relay: relayOn }));
  if (first.errant) gates.require('before-freeze', `APPROVE ONLY IF THESE BELONG DOWNSTREAM: ${first.errantText}`);
}

/** The undo of stopping the tasks: start them again on the old instance (then relay), reading the real state. */
function startOnOld(t: Tracker, s: AddressState): Undo {
  const { dmCluster, sourceId, taskCredentials } = s.input;
  const { runNames, relayOn } = s;
  return {
    name:
      `start-task -s ${sourceId} ${runNames.join(', ')} (on the old ` +
      `instance)${relayOn ? `, then start-relay -s ${sourceId}` : ''}`,
    byHand: byHand.startTasks(sourceId, runNames, relayOn),
    run: async () => {
      // start-task only on the source as it was: reading the old instance again
      if (s.source && !s.alreadySwapped) await expectSourceReads(dmCluster, sourceId, s.source.from);
      await undoDm.dmStartTasks({ dmCluster, sourceId, tasks: s.runTasks, credentials: taskCredentials });
      if (!relayOn) return;
      await undoDm.dmAwaitSyncing({ dmCluster, sourceId, tasks: runNames, timeoutSeconds: 120 });
      await undoDm.dmStartRelay({ dmCluster, sourceId });
      // start-relay re-creates the relay sub-directory under running tasks: a task DM then shows Running may read
      // nothing
      if (!runNames.length) return;
      const caught = await undoDm.dmAwaitTasksCaughtUp({ dmCluster, sourceId, tasks: runNames, timeoutSeconds: 150 });
      for (const x of caught.reopened) {
        t.decide(
          'warn',
          `task ${x.task} showed Running after start-relay but read nothing (it lacked ${x.lacked} of what the old ` +
            'instance had): paused and resumed it, so that DM reads its relay log again from the checkpoint',
        );
      }
    },
  };
}

/**
 * Stop every task (checkpoints kept) and relay (paused first, to read its
 * position frozen); a shard-merge task's other sources are paused first.
 * Returns relay's frozen position. Compensation's check of the state before
 * the switch is set here.
 */
async function stopDm(t: Tracker, undo: Undo[], s: AddressState): Promise<string | null> {
  const { input, source, alreadySwapped, pf, inDm, relayOn, held } = s;
  const { dmCluster, sourceId, newInstance, oldInstance, options } = input;
  // compensation checks that it left what preflight found: the source config, every task and relay running, DM
  // reading it
  if (source) {
    t.rollbackCheck = (o) =>
      checkRolledBack({
        dmCluster,
        sourceId,
        tasks: source.tasks.filter((x) => x.stage === 'Running').map((x) => x.name),
        relay: relayOn,
        reads: alreadySwapped ? newInstance : pf.oldFacts && oldInstance ? oldInstance : null,
        notReads: alreadySwapped ? null : newInstance,
        from: source.from,
        timeoutSeconds: o?.once ? 0 : options.verifyTimeoutSeconds,
        ...(s.flush ? { flushSeconds: s.flush.seconds } : {}),
      });
  }
  t.phase('stopping');
  // a stopped subtask is out of DM's shard DDL coordination, and a DDL another shard ran meanwhile would reach
  // downstream without this source: the other sources wait
  if (held.length) {
    undo.push({
      name:
        `resume the other sources of the shard-merge task(s): ` +
        `${held.map((h) => `${h.task}@${h.source}`).join(', ')}`,
      byHand: held.map((h) => `${DMCTL} resume-task -s ${h.source} ${h.task}`).join('; '),
      run: () => resumeOthers(dmCluster, held, true),
    });
    for (const h of held)
      await longDm(120).dmPauseTasks({ dmCluster, sourceId: h.source, tasks: [h.task], timeoutSeconds: 120 });
    t.step(
      `pause-task ${held.map((h) => `-s ${h.source} ${h.task}`).join(', ')} (the other ` +
        `shards, while this source is stopped)`,
      'done',
    );
  }
  s.freeze = startFreeze(options.maxFreezeSeconds);
  if (inDm.length) {
    const stop = () => longDm(120).dmStopTasks({ dmCluster, sourceId, tasks: inDm, timeoutSeconds: 120 });
    await guarded(undo, startOnOld(t, s), stop);
    t.step(`stop-task -s ${sourceId} ${inDm.join(', ')}`, 'done', 'checkpoints kept');
  }
  if (!relayOn) return null;
  // with tasks, their undo starts relay after them; without, relay is started on its own
  const startRelayUndo: Undo | null = inDm.length
    ? null
    : {
        name: `start-relay -s ${sourceId}`,
        byHand: byHand.startRelay(sourceId),
        run: () => undoDm.dmStartRelay({ dmCluster, sourceId }),
      };
  const stopped = await guarded(undo, startRelayUndo, () => dm.dmStopRelay({ dmCluster, sourceId }));
  const relayGtid = stopped.frozen?.relayBinlogGtid || source?.relay?.relayBinlogGtid || null;
  t.step(
    `stop-relay -s ${sourceId}`,
    'done',
    relayGtid ? `paused first, frozen at relayBinlogGtid ${relayGtid}` : undefined,
  );
  return relayGtid;
}

/** DM as stopped: the positions the re-check and the gates compare against. */
interface Stopped {
  tasks: SourceTask[];
  readings: { flavor: Flavor; old: PreflightResult['oldFacts']; relayGtid: string | null };
  /** Filters and binary log settings, judged again on the frozen reads and after every gate. */
  settings: SettingsRecheck;
}

/** Re-take gtid-S from the checkpoints and re-check; wait (bounded by the freeze) for a lagging new instance. */
async function recheckWithDmStopped(t: Tracker, s: AddressState, relayGtid: string | null): Promise<Stopped> {
  const { dmCluster, sourceId, newInstance, options } = s.input;
  t.phase('recheck');
  const [tasks, facts] = await Promise.all([
    currentTasks(t, s, 'frozen'),
    mysql.mysqlInspect(newInstance, { withSources: true }),
  ]);
  const readings = { flavor: s.flavor, old: s.pf.oldFacts, relayGtid };
  // a stopped task is not listed by DM: its schemas come from the configuration saved before the stop
  const names = s.saved.tasks.map((x) => x.name);
  const settings = settingsRecheck({ dmCluster, sourceId }, names, s.pf, s.saved.tasks);
  const frozen = { ...readings, tasks, facts, when: 'frozen' };
  await recheckFrozen(t, frozen, newInstance, options.catchUpTimeoutSeconds, s.policy, s.freeze, settings);
  return { tasks, readings, settings };
}

/** A gate inside the freeze, then (if it waited for a person) proof that nothing moved meanwhile. */
async function passStoppedGate(t: Tracker, gates: Gates, s: AddressState, frozen: Stopped, gate: Gate): Promise<void> {
  await gates.pass(gate, freezeLimit(s.freeze, gate));
  if (!gates.has(gate)) return;
  const now = await currentTasks(t, s, `after gate ${gate}`);
  await recheckAfterGate(
    t,
    gate,
    frozen.readings,
    s.input.newInstance,
    frozen.tasks,
    now,
    (f, x) => {
      if (x && x.stage !== 'Stopped') return `task ${f.name} runs again (${x.stage})`;
      if (sameGtids(s.flavor, x?.syncerBinlogGtid ?? '', f.syncerBinlogGtid)) return null;
      return `task ${f.name}'s checkpoint moved from ${f.syncerBinlogGtid} to ${x?.syncerBinlogGtid ?? '(none)'}`;
    },
    s.policy,
    frozen.settings,
  );
}

/** operate-source stop, then create reading the new instance; each undo registered before its change. */
async function swapSource(t: Tracker, undo: Undo[], s: AddressState): Promise<void> {
  const { input, source, flavor, saved, newEndpoint, relayOn } = s;
  const { dmCluster, sourceId, newInstance } = input;
  t.phase('swapping-source');
  if (s.alreadySwapped) return;
  // a source (re-)created with relay off gets its tasks started first, then relay, so DM starts relay from their
  // checkpoints
  const relayOff = relayOn ? { enableRelay: false } : {};
  if (source) {
    const from = { host: source.from.host, port: source.from.port, credentials: s.sourceCredentials };
    const restoreOld: Undo = {
      name: `operate-source create ${sourceId} reading ${source.from.host}:${source.from.port} again`,
      byHand: byHand.createSource(),
      run: () => restoreSource(t, { dmCluster, sourceId, flavor, baseConfig: saved.source, from, ...relayOff }),
    };
    await guarded(undo, restoreOld, () => dm.dmStopSource({ dmCluster, sourceId }));
    t.step(`operate-source stop ${sourceId}`, 'done', `was reading ${source.from.host}:${source.from.port}`);
  }
  const stopNew: Undo = {
    name: `operate-source stop ${sourceId} (the new one)`,
    byHand: byHand.stopSource(sourceId),
    run: () => stopNewSource(t, { dmCluster, sourceId, from: newEndpoint }),
  };
  const noOldSource: Undo = {
    name: `keep source ${sourceId} on the new instance (there was no old source to restore)`,
    byHand:
      `decide where source ${sourceId} should read from: it now reads ${newInstance.host}:${newInstance.port}; ` +
      'DM had no source config for the old instance when this switch started',
    run: async () => {
      // only a source that was created is an operator's decision; none there is the state before the switch
      if (!(await undoDm.dmFindSource({ dmCluster, sourceId }))) return;
      throw new Error('no old source config to restore');
    },
  };
  const create = { dmCluster, sourceId, flavor, baseConfig: saved.source, from: newEndpoint, ...relayOff };
  const created = await guarded(undo, source ? stopNew : noOldSource, () => dm.dmCreateSource(create));
  const done = created === 'created';
  const what = `operate-source create ${sourceId} reading ${newInstance.host}:${newInstance.port}`;
  t.step(what, done ? 'done' : 'skipped', done ? 'enable-gtid: true' : 'already there');
}

/**
 * Start the tasks from their saved configs, then relay (DM starts relay from
 * the oldest checkpoint of the source's tasks, which the GTID rules checked),
 * then the other shards again.
 */
async function startDm(t: Tracker, undo: Undo[], s: AddressState): Promise<void> {
  const { dmCluster, sourceId, taskCredentials } = s.input;
  const { runNames, relayOn, held } = s;
  t.phase('starting');
  if (runNames.length) {
    undo.push({
      name: `stop-task -s ${sourceId} ${runNames.join(', ')} (before going back)`,
      byHand: byHand.stopTasks(sourceId),
      run: () => undoDm.dmStopTasks({ dmCluster, sourceId, tasks: runNames, timeoutSeconds: 120 }),
    });
    t.tasks(await dm.dmStartTasks({ dmCluster, sourceId, tasks: s.runTasks, credentials: taskCredentials }));
    t.step(
      `start-task -s ${sourceId} ${runNames.join(', ')}`,
      'done',
      'from the saved configurations; each resumes from its checkpoint',
    );
  }
  if (relayOn) {
    // Starting relay restarts every subtask of the source; a subtask still starting then may come back Running but
    // never read again (seen once after a rollback: Running, no error, its position still the checkpoint's). So
    // relay waits for them.
    if (runNames.length)
      await longDm(120).dmAwaitSyncing({ dmCluster, sourceId, tasks: runNames, timeoutSeconds: 120 });
    await startRelay(t, undo, { dmCluster, sourceId }, 'going back');
  }
  if (held.length) {
    await resumeOthers(dmCluster, held);
    const which = held.map((h) => `-s ${h.source} ${h.task}`).join(', ');
    t.step(
      `resume-task ${which} (the other shards)`,
      'done',
      'this source takes part in their shard DDL coordination again',
    );
  }
}

/** The claimed end state, read: every task replicating from the new instance. */
async function verifySwitched(t: Tracker, s: AddressState, frozen: Stopped): Promise<void> {
  const { input, pf, source } = s;
  const { sourceId, newInstance, oldInstance } = input;
  t.phase('verifying');
  // a half-done switch may already have relay on the new instance: then any sub-directory of it will do
  const oldRelayDir = s.alreadySwapped ? null : (source?.relay?.relaySubDir ?? null);
  const resumed = frozen.tasks.filter((x) => s.runNames.includes(x.name));
  const old = pf.oldFacts && oldInstance ? oldInstance : null;
  const target = { ...input, shards: s.shards, flavor: s.flavor, flushSeconds: s.flush?.seconds };
  await verify(t, target, resumed, oldRelayDir, s.relayOn, old);
  t.decide('go', `switched: DM reads source ${sourceId} from ${newInstance.host}:${newInstance.port}`);
  t.finish('switched');
}
