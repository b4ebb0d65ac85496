/**
 * One VIP, several DM sources: moving the VIP moves every source whose
 * source config connects to it (in any DM cluster the worker knows), not
 * only the one being switched. A VIP switch therefore finds them all at
 * preflight and either
 *   - refuses, before any change, naming them (they were not named in the
 *     request's `sharedWith`): the DBA drains the VIP's holder instead, or
 *     names them; or
 *   - with every one named, moves them together: each is checked against the
 *     new instance before the pause, its running tasks are paused with the
 *     switch's own, re-checked frozen (with the same catch-up wait), resumed
 *     after the one VIP move and verified. Their undo is on the same stack:
 *     a failure resumes them on the old instance after the VIP moved back.
 * A drain (workflows/drain.ts) groups the sources it finds behind one VIP
 * into one such switch.
 */
import { normalizeAddress } from '../common/switch/addresses.js';
import { failure, SwitchErrorType } from '../common/switch/errors.js';
import type { Endpoint, SourceState, SourceTask } from '../common/switch/types.js';
import type { VipSwitchInput } from '../common/switch/input.js';
import { dm, longDm, net, undoDm } from './activities.js';
import { businessFailure, guarded, type Undo } from './compensation.js';
import { gtidCheck, refusals, type ErrantPolicy } from './gtid-check.js';
import { refuse, type PreflightResult } from './preflight.js';
import type { RollbackCheck, Tracker } from './tracker.js';
import { checkRolledBack, verify, type RollbackExpectation } from './verify.js';

export interface Sharer {
  dmCluster: string;
  sourceId: string;
  /** `host:port` its source config connects to. */
  reads: string;
  state: SourceState;
  /** Its tasks running at preflight: the ones paused and resumed (a task an operator paused stays paused). */
  running: string[];
}

const key = (s: { dmCluster: string; sourceId: string }) => `${s.dmCluster}/${s.sourceId}`;

type Reader = { dmCluster: string; sourceId: string; from: Endpoint };

/** Every other source of the known DM clusters whose source config connects to the VIP (or a name resolving to it). */
export async function otherVipReaders(input: {
  dmCluster: string;
  sourceId: string;
  vip: { address: string };
}): Promise<Reader[]> {
  const clusters = await dm.dmClusters();
  const lists = await Promise.all(
    clusters.map(async (dmCluster) => ({ dmCluster, sources: await dm.dmListSources({ dmCluster }) })),
  );
  const names = [...new Set([input.vip.address, ...lists.flatMap((l) => l.sources.map((s) => s.from.host))])];
  const resolved = await net.netResolveHosts({ hosts: names });
  const addresses = (n: string) => new Set([normalizeAddress(n), ...(resolved[n] ?? []).map(normalizeAddress)]);
  const vipAt = addresses(input.vip.address);
  const out: Reader[] = [];
  for (const { dmCluster, sources } of lists) {
    for (const s of sources) {
      if (dmCluster === input.dmCluster && s.sourceId === input.sourceId) continue;
      const reads = [...addresses(s.from.host)].some((a) => vipAt.has(a));
      if (reads) out.push({ dmCluster, sourceId: s.sourceId, from: s.from });
    }
  }
  return out;
}

/**
 * Preflight (nothing changes here): the other sources reading the VIP. None: []. Found but not all named in
 * `sharedWith`, or named but not reading it: refused. All named: each must be movable with this one (GTID mode, no
 * relay, the same port, and its tasks' positions held by the new instance), else refused naming it.
 */
export async function vipSharers(
  t: Tracker,
  input: VipSwitchInput,
  pf: Pick<PreflightResult, 'newFacts' | 'oldFacts' | 'source'>,
  policy: ErrantPolicy,
): Promise<Sharer[]> {
  const { address } = input.vip;
  const others = await otherVipReaders(input);
  const named = new Set((input.sharedWith ?? []).map(key));
  const found = new Set(others.map(key));
  const list = others.map((o) => `${key(o)} (reads ${o.from.host}:${o.from.port})`).join(', ');
  const unnamed = others.filter((o) => !named.has(key(o)));
  if (unnamed.length) {
    refuse(
      t,
      SwitchErrorType.PreflightFailed,
      `the VIP ${address} is also read by DM source(s) ${list}: moving it moves them too, ` +
        'under their running tasks and unchecked; nothing was changed. ' +
        `Drain the VIP's holder instead (dm-switch drain <holder> --vip ${address}): it moves every source ` +
        'reading the VIP with one VIP move, each paused, checked and verified; or name them all in sharedWith',
    );
  }
  const stray = [...named].filter((k) => !found.has(k));
  if (stray.length) {
    const readers = others.length
      ? `the sources reading it besides ${input.sourceId}: ${list}`
      : 'no other source reads it';
    refuse(
      t,
      SwitchErrorType.PreflightFailed,
      `sharedWith names ${stray.join(', ')}, which do(es) not read the VIP ${address} (${readers}); ` +
        'nothing was changed',
    );
  }
  if (others.length === 0) return [];
  t.decide(
    'info',
    `the VIP ${address} is also read by ${list}: they move with ${input.sourceId} (named in sharedWith), ` +
      'paused, checked and verified with it',
  );
  const sharers: Sharer[] = [];
  for (const o of others) {
    const state = await dm.dmSourceState({ dmCluster: o.dmCluster, sourceId: o.sourceId });
    const also = `source ${key(o)} reads the VIP ${address} too`;
    const why = sharerProblem(state, o.from.port, pf.source);
    if (why) {
      const text = `${also}, and cannot move with ${input.sourceId}: ${why}; nothing was changed`;
      refuse(t, SwitchErrorType.PreflightFailed, text);
    }
    const when = `before pause, source ${key(o)}`;
    const readings = { flavor: state.flavor, tasks: state.tasks, facts: pf.newFacts, old: pf.oldFacts, when };
    const check = gtidCheck(t, readings, policy);
    if (check.verdict === 'refuse') {
      const why = refusals(check).join('; ');
      const text = `${also}, and the new instance cannot serve it: ${why}; nothing was changed`;
      refuse(t, SwitchErrorType.GtidRefused, text);
    }
    const running = state.tasks.filter((x) => x.stage === 'Running').map((x) => x.name);
    const reads = `${o.from.host}:${o.from.port}`;
    sharers.push({ dmCluster: o.dmCluster, sourceId: o.sourceId, reads, state, running });
  }
  return sharers;
}

function sharerProblem(s: SourceState, port: number, main: SourceState): string | null {
  if (!s.enableGtid) return 'it does not run in GTID mode';
  if (s.relay) return 'its relay log is enabled (a shared VIP moves only sources without relay); stop its relay first';
  if (s.flavor !== main.flavor) return `it is ${s.flavor}, the switched source ${main.flavor}`;
  if (port !== main.from.port) return `it connects to port ${port}, not ${main.from.port}: a server no check looked at`;
  return null;
}

/** Pauses the running tasks of every sharer (their resume registered first, on the switch's undo stack). */
export async function pauseSharers(t: Tracker, undo: Undo[], sharers: Sharer[]): Promise<void> {
  for (const s of sharers) {
    if (!s.running.length) continue;
    const req = { dmCluster: s.dmCluster, sourceId: s.sourceId, tasks: s.running, timeoutSeconds: 120 };
    const resume: Undo = {
      name: `resume-task ${s.running.join(', ')} of source ${key(s)}`,
      byHand:
        `dmctl --master-addr=<dm-master of ${s.dmCluster}> resume-task -s ${s.sourceId} <task>` +
        `   # for ${s.running.join(', ')}`,
      run: () => undoDm.dmResumeTasks({ ...req, timeoutSeconds: 60 }),
    };
    await guarded(undo, resume, () => longDm(120).dmPauseTasks(req));
    t.step(`pause-task ${s.running.join(', ')} of source ${key(s)} (reads the same VIP)`, 'done', 'every task Paused');
  }
}

/** The sharers' tasks, frozen: for the re-check (named cluster/source/task, so the decisions say whose they are). */
export async function frozenSharerTasks(sharers: Sharer[]): Promise<Map<Sharer, SourceTask[]>> {
  const out = new Map<Sharer, SourceTask[]>();
  for (const s of sharers) {
    const now = await dm.dmSourceState({ dmCluster: s.dmCluster, sourceId: s.sourceId });
    out.set(
      s,
      now.tasks.filter((x) => s.running.includes(x.name)),
    );
  }
  return out;
}

/** A task DM was frozen with: the switched source's own, or (with `sharer`) one of another reader of the VIP. */
export type FrozenTask = SourceTask & {
  /** `<dmCluster>/<sourceId>` of the other reader the task belongs to; absent for the switched source's tasks. */
  sharer?: string;
};

/** The other readers' tasks, each named and marked with its reader, beside the switched source's own. */
export const labelled = (frozen: Map<Sharer, SourceTask[]>): FrozenTask[] =>
  [...frozen].flatMap(([s, tasks]) => tasks.map((x) => ({ ...x, name: `${key(s)}/${x.name}`, sharer: key(s) })));

/** Resumes the sharers' tasks after the VIP move (their pause registered first, for a move back). */
export async function resumeSharers(t: Tracker, undo: Undo[], sharers: Sharer[]): Promise<void> {
  for (const s of sharers) {
    if (!s.running.length) continue;
    const req = { dmCluster: s.dmCluster, sourceId: s.sourceId, tasks: s.running };
    const pause: Undo = {
      name: `pause-task ${s.running.join(', ')} of source ${key(s)} (before moving back)`,
      byHand: `dmctl --master-addr=<dm-master of ${s.dmCluster}> pause-task -s ${s.sourceId} <task>`,
      run: () => undoDm.dmPauseTasks({ ...req, timeoutSeconds: 120 }),
    };
    t.tasks(await guarded(undo, pause, () => dm.dmResumeTasks({ ...req, timeoutSeconds: 60 })));
    t.step(`resume-task ${s.running.join(', ')} of source ${key(s)}`, 'done');
  }
}

/** Verifies each sharer as the switch its own: running, not behind its frozen position, reading the new instance. */
export async function verifySharers(
  t: Tracker,
  input: VipSwitchInput,
  frozen: Map<Sharer, SourceTask[]>,
  oldInstance: VipSwitchInput['oldInstance'] | null,
): Promise<void> {
  const to = `${input.newInstance.host}:${input.newInstance.port}`;
  for (const [s, tasks] of frozen) {
    const target = { ...input, dmCluster: s.dmCluster, sourceId: s.sourceId, flavor: s.state.flavor };
    try {
      await verify(t, target, tasks, null, false, oldInstance ?? null);
    } catch (e) {
      // the failure names whose verification it is: the switched source's own says nothing of a source
      const app = businessFailure(e);
      if (!app) throw e;
      const type = (app.type ?? SwitchErrorType.VerificationFailed) as SwitchErrorType;
      throw failure(`source ${key(s)} (reads the same VIP), verified after the switch: ${app.message}`, type);
    }
    t.decide('go', `source ${key(s)} reads ${s.reads} from ${to} too, verified`);
  }
}

/**
 * What the switch freezes, as an approver reads it: the switched source's tasks and, reading the same VIP, each
 * sharer's running tasks (paused with them). '' when no other source reads the VIP.
 */
export function frozenWithSharers(sourceId: string, tasks: string[], sharers: Sharer[]): string {
  const others = sharers.filter((s) => s.running.length);
  if (!others.length) return '';
  const own = `${tasks.join(', ') || 'no task'} of source ${sourceId}`;
  const theirs = others.map((s) => `${s.running.join(', ')} of source ${key(s)} (reads the same VIP)`);
  return `tasks ${[own, ...theirs].join('; ')}`;
}

/**
 * The check before `rolled-back` (Tracker's rollbackCheck), over every source the switch paused: the switched
 * source's own check (`own`, which also reads the VIP's holder: one VIP) and, for each sharer, the same reading of
 * the real state: the tasks the switch paused Running again without errors (those an operator had paused are not its
 * to run), a binlog dump connection from the sharer's own dm-worker on the instance DM read before and none left on
 * the new one, and what its tasks applied downstream held by that instance. Read side by side; whatever differs is
 * named with its source (DM cluster/source), so a switch that cannot bring a sharer back ends `needs-operator`
 * saying whose task and what.
 */
export async function rolledBackWithSharers(
  own: () => Promise<RollbackCheck>,
  sharers: Sharer[],
  e: Pick<RollbackExpectation, 'reads' | 'notReads' | 'timeoutSeconds'>,
): Promise<RollbackCheck> {
  if (!sharers.length) return own();
  const [main, ...theirs] = await Promise.all([
    own(),
    ...sharers.map((s) =>
      checkRolledBack({ ...e, dmCluster: s.dmCluster, sourceId: s.sourceId, tasks: s.running, relay: false }),
    ),
  ]);
  const named = theirs.map((c, i) => {
    const s = sharers[i]!;
    const of = `source ${key(s)}: `;
    return {
      observed: `${of}${c.observed}`,
      problems: c.problems.map((p) => `${of}${p}`),
      // the commands go to the sharer's own DM cluster
      fix: c.fix.map((f) => f.split('<dm-master>').join(`<dm-master of ${s.dmCluster}>`)),
    };
  });
  return {
    observed: [main.observed, ...named.map((n) => n.observed)].join('; '),
    problems: [...main.problems, ...named.flatMap((n) => n.problems)],
    fix: [...new Set([...main.fix, ...named.flatMap((n) => n.fix)])],
  };
}

/** Each sharer's running tasks, as the plan names them beside the switched source's (paused, resumed, verified). */
export function sharerTasks(sharers: Sharer[]): string[] {
  return sharers.filter((s) => s.running.length).map((s) => `${s.running.join(', ')} of source ${key(s)}`);
}
