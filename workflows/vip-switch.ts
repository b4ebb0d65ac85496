/**
 * Procedure A of the runbook, as a durable workflow: DM reads the source
 * through a VIP; move the VIP to the new instance with DM paused.
 *
 *   preflight → GTID check → pause every task (confirm Paused) → re-take
 *   gtid-S frozen and re-check (wait for a lagging new instance, bounded) →
 *   move the VIP → resume → verify.
 *
 * Deterministic orchestration only: every effect is an idempotent activity,
 * so a crash anywhere replays to the same point and repeats nothing that
 * already happened. After the first change, a failure undoes what was done,
 * in reverse (move the VIP back, resume on the old instance), in a scope
 * that cancellation cannot interrupt; a failed undo is surfaced, never
 * swallowed, and the status says what an operator must do.
 */
import { ActivityFailure, ApplicationFailure, CancellationScope, isCancellation, patched, setHandler, sleep } from '@temporalio/workflow';
import type { SourceTask } from '../activities/dm.js';
import { parseGtidSet } from '../common/gtid/index.js';
import { SwitchErrorType } from '../common/switch/errors.js';
import { validateVipSwitchInput, type VipSwitchInput, type VipSwitchRequest } from '../common/switch/input.js';
import { statusQuery } from '../common/switch/messages.js';
import type { SwitchStatus } from '../common/switch/status.js';
import { dm, longDm, longMysql, mysql, vip } from './activities.js';
import { gtidCheck, preflight, refuse } from './phases.js';
import { Tracker } from './tracker.js';

interface Undo {
  name: string;
  /** The command an operator runs if this undo fails. */
  byHand: string;
  run: () => Promise<unknown>;
}

export async function vipSwitch(request: VipSwitchRequest): Promise<SwitchStatus> {
  const raw = request as Partial<VipSwitchRequest> | undefined;
  const t = new Tracker({
    kind: 'vip-switch',
    dmCluster: typeof raw?.dmCluster === 'string' ? raw.dmCluster : 'default',
    sourceId: typeof raw?.sourceId === 'string' ? raw.sourceId : '(invalid input)',
    dryRun: raw?.options?.dryRun === true,
    requestedBy: typeof raw?.requestedBy === 'string' ? raw.requestedBy : undefined,
    reason: typeof raw?.reason === 'string' ? raw.reason : undefined,
  });
  setHandler(statusQuery, () => t.status);

  const v = validateVipSwitchInput(request);
  if (!v.ok) refuse(t, SwitchErrorType.InvalidInput, `invalid input, nothing was changed: ${v.problems.join('; ')}`);
  const input = v.value;
  return run(t, input);
}

async function run(t: Tracker, input: VipSwitchInput): Promise<SwitchStatus> {
  const undo: Undo[] = [];
  try {
    return await steps(t, input, undo);
  } catch (err) {
    return compensate(t, undo, err);
  }
}

async function steps(t: Tracker, input: VipSwitchInput, undo: Undo[]): Promise<SwitchStatus> {
  const { dmCluster, sourceId, newInstance, oldInstance, options } = input;
  const newTarget = { host: newInstance.host, port: newInstance.port };
  const oldTarget = oldInstance ? { host: oldInstance.host, port: oldInstance.port } : null;

  // --- preflight: read the real state; nothing changes here ---------------
  const pf = await preflight(t, { dmCluster, sourceId, newInstance, oldInstance });
  const flavor = pf.source.flavor;
  const taskNames = pf.source.tasks.map((x) => x.name);
  const holder = await vip.vipLocate({ provider: input.vip.provider, address: input.vip.address, candidates: [newTarget, ...(oldTarget ? [oldTarget] : [])] });
  const vipAlreadyMoved = holder === newInstance.host;
  if (vipAlreadyMoved) {
    t.decide('info', `the VIP ${input.vip.address} already points at the new instance ${newInstance.host}: a switch was half done; carrying on from there`);
  } else if (holder === null) {
    t.decide('warn', `no instance holds the VIP ${input.vip.address} now`);
  } else if (oldTarget && holder !== oldTarget.host) {
    t.decide('warn', `the VIP ${input.vip.address} points at ${holder}, which is neither the old (${oldTarget.host}) nor the new instance`);
  } else {
    t.decide('info', `the VIP ${input.vip.address} points at ${holder}`);
  }

  // --- GTID check before pausing (DM still moves; re-checked once frozen) --
  t.phase('gtid-check');
  const first = gtidCheck(t, flavor, pf.source.tasks, pf.newFacts, 'before pause');
  if (first.verdict === 'refuse') refuse(t, SwitchErrorType.GtidRefused, `switch refused, nothing was changed: ${first.reasons.filter((r) => !r.includes('⊆ gtid-E: the new instance holds')).join('; ')}`);

  t.status.plan = [
    `pause-task ${taskNames.join(', ') || '(no tasks)'} on source ${sourceId} and confirm Paused` + (pf.source.relay ? `; stop-relay (relay reads the upstream through the VIP too)` : ''),
    're-take gtid-S with DM frozen and re-check gtid-P ⊆ gtid-S ⊆ gtid-E' + (first.verdict === 'wait' ? `, waiting up to ${options.catchUpTimeoutSeconds} s for the new instance to catch up` : ''),
    vipAlreadyMoved ? `leave the VIP ${input.vip.address} on ${newInstance.host} (already there)` : `move the VIP ${input.vip.address} from ${holder ?? 'nobody'} to ${newInstance.host}`,
    (pf.source.relay ? 'start-relay, then ' : '') + `resume-task ${taskNames.join(', ') || '(no tasks)'}`,
    'verify: every task Running in Sync without errors, syncerBinlogGtid not behind the frozen position, DM reading from the new instance' + (pf.source.relay ? ', relay on a new sub-directory and caught up' : ''),
  ];
  if (options.dryRun) {
    t.decide('info', `dry run: every check done, nothing changed; verdict ${first.verdict}`);
    t.finish('dry-run');
    return t.status;
  }

  const tasksReq = (timeoutSeconds: number) => ({ dmCluster, sourceId, tasks: taskNames, timeoutSeconds });
  // --- pause every task and confirm ---------------------------------------
  t.phase('pausing');
  if (taskNames.length) {
    const paused = await longDm(120).dmPauseTasks(tasksReq(120));
    t.tasks(paused);
    t.step(`pause-task ${taskNames.join(', ')}`, 'done', 'every task Paused');
    undo.push({
      name: `resume-task ${taskNames.join(', ')}`,
      byHand: `dmctl --master-addr=<dm-master> resume-task -s ${sourceId} <task>   # for ${taskNames.join(', ')}`,
      run: () => dm.dmResumeTasks(tasksReq(60)),
    });
  }

  // --- relay reads the upstream too: stop it while the VIP moves -------------
  const relayWasRunning = pf.source.relay !== null;
  if (relayWasRunning) {
    await dm.dmStopRelay({ dmCluster, sourceId });
    t.step(`stop-relay -s ${sourceId}`, 'done', `relay was on sub-directory ${pf.source.relay?.relaySubDir}`);
    undo.push({
      name: `start-relay -s ${sourceId}`,
      byHand: `dmctl --master-addr=<dm-master> start-relay -s ${sourceId}`,
      run: () => dm.dmStartRelay({ dmCluster, sourceId }),
    });
  }

  // --- frozen: re-take gtid-S and re-check; wait for a lagging instance -----
  t.phase('recheck');
  const [frozen, facts] = await Promise.all([dm.dmSourceState({ dmCluster, sourceId }), mysql.mysqlInspect(newInstance)]);
  t.tasks(frozen.tasks);
  if (!facts.reachable) throw failure(`the new instance ${facts.address} became unreachable: ${facts.error}`, SwitchErrorType.PreflightFailed);
  const frozenTasks = frozen.tasks.filter((x) => taskNames.includes(x.name));
  let check = gtidCheck(t, flavor, frozenTasks, facts, 'frozen');
  if (check.verdict === 'wait') {
    t.phase('catching-up');
    const r = await longMysql(options.catchUpTimeoutSeconds).mysqlWaitForGtids({ instance: newInstance, flavor, gtidSet: check.gtidS, timeoutSeconds: options.catchUpTimeoutSeconds });
    if (!r.caughtUp) {
      throw failure(`the new instance did not catch up within ${options.catchUpTimeoutSeconds} s; still missing ${r.missing}`, SwitchErrorType.CatchUpTimeout);
    }
    t.decide('go', `the new instance caught up after ${r.waitedSeconds} s`);
    const again = await mysql.mysqlInspect(newInstance);
    if (!again.reachable) throw failure(`the new instance ${again.address} became unreachable: ${again.error}`, SwitchErrorType.PreflightFailed);
    check = gtidCheck(t, flavor, frozenTasks, again, 'after catch-up');
  }
  if (check.verdict !== 'go') throw failure(`GTID re-check with DM frozen failed: ${check.reasons.join('; ')}`, SwitchErrorType.GtidRefused);

  // --- move the VIP ---------------------------------------------------------
  t.phase('moving-vip');
  const moved = await vip.vipMove({ provider: input.vip.provider, address: input.vip.address, from: oldTarget, to: newTarget });
  t.step(`move VIP ${input.vip.address} to ${newInstance.host}`, moved.alreadyThere ? 'skipped' : 'done', moved.alreadyThere ? 'already there' : `now on ${moved.holder}`);
  if (!moved.alreadyThere && oldTarget) {
    undo.push({
      name: `move VIP ${input.vip.address} back to ${oldTarget.host}`,
      byHand: `move the VIP ${input.vip.address} back to ${oldTarget.host} with provider "${input.vip.provider}"`,
      run: () => vip.vipMove({ provider: input.vip.provider, address: input.vip.address, from: newTarget, to: oldTarget }),
    });
  }

  // --- resume and verify ------------------------------------------------------
  t.phase('resuming');
  if (relayWasRunning) {
    const relay = await dm.dmStartRelay({ dmCluster, sourceId });
    t.step(`start-relay -s ${sourceId}`, 'done', relay ? `relay ${relay.stage} on sub-directory ${relay.relaySubDir}` : 'relay status not yet reported');
    undo.push({
      name: `stop-relay -s ${sourceId} (before moving back)`,
      byHand: `dmctl --master-addr=<dm-master> stop-relay -s ${sourceId}`,
      run: () => dm.dmStopRelay({ dmCluster, sourceId }),
    });
  }
  if (taskNames.length) {
    t.tasks(await dm.dmResumeTasks(tasksReq(60)));
    t.step(`resume-task ${taskNames.join(', ')}`, 'done');
    undo.push({
      name: `pause-task ${taskNames.join(', ')} (before moving back)`,
      byHand: `dmctl --master-addr=<dm-master> pause-task -s ${sourceId} <task>`,
      run: () => longDm(120).dmPauseTasks(tasksReq(120)),
    });
  }
  t.phase('verifying');
  await verify(t, input, frozenTasks, pf.source.relay?.relaySubDir ?? null, relayWasRunning);
  t.decide('go', `switched: DM reads source ${sourceId} from ${newInstance.host}:${newInstance.port} through ${input.vip.address}`);
  t.finish('switched');
  return t.status;
}

/** Every task Running/Sync without errors, never behind the frozen gtid-S, and DM reading from the new instance. */
async function verify(t: Tracker, input: VipSwitchInput, frozen: SourceTask[], oldRelayDir: string | null, relayOn: boolean): Promise<void> {
  const { dmCluster, sourceId, newInstance, options } = input;
  const names = frozen.map((x) => x.name);
  if (names.length) {
    const running = await longDm(options.verifyTimeoutSeconds).dmAwaitSyncing({ dmCluster, sourceId, tasks: names, timeoutSeconds: options.verifyTimeoutSeconds });
    t.tasks(running);
    const state = await dm.dmSourceState({ dmCluster, sourceId });
    for (const task of frozen) {
      const now = state.tasks.find((x) => x.name === task.name);
      const before = parseGtidSet(state.flavor, task.syncerBinlogGtid);
      const after = parseGtidSet(state.flavor, now?.syncerBinlogGtid ?? '');
      t.gtid(`gtid-S task ${task.name} (after resume)`, now?.syncerBinlogGtid ?? '');
      if (!before.isSubsetOf(after)) throw failure(`task ${task.name}'s syncerBinlogGtid went backwards after resume: lacks ${before.subtract(after).toCompactString()}`, SwitchErrorType.VerificationFailed);
    }
    t.decide('go', `tasks ${names.join(', ')} Running in Sync without errors, positions not behind the frozen gtid-S`);

    // Replication must move forward from the new instance. Patched in, so that
    // switches started before this check existed replay without it.
    if (patched('verify-moves-forward')) await movesForward(t, input, frozen, state.flavor);
  }
  // DM must now read from the new instance: its binlog dump connection shows up there.
  const deadline = Date.now() + options.verifyTimeoutSeconds * 1000;
  for (;;) {
    const clients = await mysql.mysqlBinlogDumpClients(newInstance);
    const state = relayOn ? await dm.dmSourceState({ dmCluster, sourceId }) : null;
    const relayOk = !relayOn || (state?.relay != null && state.relay.relaySubDir !== oldRelayDir && state.relay.relayCatchUpMaster);
    if (clients.length > 0 && relayOk) {
      t.decide('go', `the new instance serves ${clients.length} binlog dump connection(s) (${clients.map((c) => `${c.user}@${c.host}`).join(', ')})${relayOn ? `; relay switched to sub-directory ${state?.relay?.relaySubDir} and caught up` : ''}`);
      return;
    }
    if (names.length === 0 && !relayOn) {
      t.decide('info', 'no task and no relay reads the source, so no binlog dump connection is expected');
      return;
    }
    if (Date.now() > deadline) {
      throw failure(
        clients.length === 0
          ? `DM does not read from the new instance: no binlog dump connection on ${newInstance.host}:${newInstance.port} after ${options.verifyTimeoutSeconds} s`
          : `relay did not switch to a new sub-directory and catch up within ${options.verifyTimeoutSeconds} s (now ${JSON.stringify(state?.relay)})`,
        SwitchErrorType.VerificationFailed,
      );
    }
    await sleep('1s');
  }
}

/** Every task's position comes to include what the new instance had executed when DM resumed. */
async function movesForward(t: Tracker, input: VipSwitchInput, frozen: SourceTask[], flavor: 'mysql' | 'mariadb'): Promise<void> {
  const { dmCluster, sourceId, newInstance, options } = input;
  const target = await mysql.mysqlInspect(newInstance);
  if (!target.reachable) throw failure(`the new instance ${target.address} became unreachable while verifying: ${target.error}`, SwitchErrorType.VerificationFailed);
  t.gtid(`gtid-E new instance (at resume)`, target.gtidExecuted);
  const want = parseGtidSet(flavor, target.gtidExecuted);
  const until = Date.now() + options.verifyTimeoutSeconds * 1000;
  for (;;) {
    const now = await dm.dmSourceState({ dmCluster, sourceId });
    const behind = frozen
      .map((task) => ({ task: task.name, lacks: want.subtract(parseGtidSet(now.flavor, now.tasks.find((x) => x.name === task.name)?.syncerBinlogGtid ?? '')) }))
      .filter((x) => !x.lacks.isEmpty());
    if (behind.length === 0) {
      for (const task of frozen) t.gtid(`gtid-S task ${task.name} (caught up with the new instance)`, now.tasks.find((x) => x.name === task.name)?.syncerBinlogGtid ?? '');
      t.decide('go', `replication moves forward from the new instance (server_uuid ${target.serverUuid}): every task has replicated its gtid_executed as of resume`);
      break;
    }
    if (Date.now() > until) {
      throw failure(`replication did not move forward from the new instance within ${options.verifyTimeoutSeconds} s: ${behind.map((b) => `task ${b.task} still lacks ${b.lacks.toCompactString()}`).join('; ')}`, SwitchErrorType.VerificationFailed);
    }
    await sleep('1s');
  }
}

/** The business failure inside `err` (activities' failures arrive wrapped in ActivityFailure). */
function businessFailure(err: unknown): ApplicationFailure | null {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof ActivityFailure && err.cause instanceof ApplicationFailure) return err.cause;
  return null;
}
function describe(err: unknown): string {
  const app = businessFailure(err);
  if (app) return app.message;
  if (err instanceof ActivityFailure && err.cause) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

/**
 * Runs the undo steps in reverse, in a scope cancellation cannot interrupt,
 * and always throws: the original failure (typed) when everything was undone,
 * CompensationFailed when an undo failed.
 */
async function compensate(t: Tracker, undo: Undo[], err: unknown): Promise<never> {
  const cause = describe(err);
  const cancelled = isCancellation(err);
  const type = businessFailure(err)?.type ?? SwitchErrorType.DmOperationFailed;
  const rethrow = (): never => {
    if (cancelled) throw err;
    throw ApplicationFailure.create({ message: cause, type, nonRetryable: true });
  };
  if (undo.length === 0) {
    if (t.status.outcome === undefined) {
      t.decide('refuse', `${cancelled ? 'cancelled' : 'failed'} before any change, nothing to undo: ${cause}`);
      t.finish('refused');
    }
    return rethrow();
  }
  t.phase('compensating');
  t.decide('info', `${cancelled ? 'cancelled' : 'failed'} after a change (${cause}); undoing ${undo.length} step(s)`);
  const failedUndos: string[] = [];
  await CancellationScope.nonCancellable(async () => {
    for (const step of [...undo].reverse()) {
      if (failedUndos.length > 0) {
        // later undos depend on earlier ones (resume only once the VIP is back): stop here
        t.compensated(step.name, 'skipped', 'an earlier undo step failed');
        t.status.operatorActions.push(step.byHand);
        continue;
      }
      try {
        await step.run();
        t.compensated(step.name, 'done');
      } catch (e) {
        const msg = describe(e);
        t.compensated(step.name, 'failed', msg);
        failedUndos.push(`${step.name}: ${msg}`);
        t.status.operatorActions.push(step.byHand);
      }
    }
  });
  if (failedUndos.length > 0) {
    t.decide('refuse', `undo failed; an operator must finish: ${failedUndos.join('; ')}`);
    t.finish('needs-operator');
    throw ApplicationFailure.create({
      message: `switch failed (${cause}) and could not be undone (${failedUndos.join('; ')}); the status query's operatorActions say what to run`,
      type: SwitchErrorType.CompensationFailed,
      nonRetryable: true,
      details: [t.status.operatorActions],
    });
  }
  t.decide('info', 'every change was undone: DM reads from the old instance again');
  t.finish('rolled-back');
  return rethrow();
}

function failure(message: string, type: SwitchErrorType): ApplicationFailure {
  return ApplicationFailure.create({ message, type, nonRetryable: true });
}
