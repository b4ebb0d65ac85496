/**
 * The runbook's words, in one place: the plan a switch shows before it
 * changes anything, what each approval gate waits before, and the dmctl
 * commands an operator runs by hand when an undo cannot. The workflows
 * build typed values; this module renders them. Pure: no I/O, no clock.
 */
import type { Gate } from './status.js';
import type { Endpoint } from './types.js';

export const DMCTL = 'dmctl --master-addr=<dm-master>';

const at = (a: Endpoint) => `${a.host}:${a.port}`;
const list = (names: readonly string[], none = '(no tasks)') => names.join(', ') || none;

/** One step of a switch's plan, as the workflow decided it at preflight. */
export type PlanStep =
  | { step: 'pause-other-shards'; held: ReadonlyArray<{ source: string; task: string }> }
  | { step: 'pause-tasks'; sourceId: string; tasks: readonly string[]; relay: boolean; coReaders?: readonly string[] }
  | { step: 'stop-tasks'; sourceId: string; tasks: readonly string[]; relay: boolean }
  | {
      step: 'recheck';
      gtidS: 'query-status' | 'checkpoints';
      catchUpSeconds: number | null;
      coReaders?: readonly string[];
    }
  | { step: 'move-vip'; vip: string; from: string | null; to: string; alreadyThere: boolean }
  | { step: 'swap-source'; sourceId: string; from: Endpoint | null; to: Endpoint; alreadySwapped: boolean }
  | {
      step: 'resume-tasks';
      tasks: readonly string[];
      leftPaused: readonly string[];
      relay: boolean;
      coReaders?: readonly string[];
    }
  | { step: 'start-tasks'; sourceId: string; tasks: readonly string[]; relay: boolean }
  | { step: 'verify'; relay: boolean; coReaders?: readonly string[] };

const RECHECK = 're-check gtid-P ⊆ gtid-S ⊆ gtid-E';
const FROZEN_RELAY = 'pause-relay (to read its position frozen), then stop-relay';

/** One line per step, as the status's `plan` and the Temporal UI show it. */
export function renderPlan(steps: readonly PlanStep[]): string[] {
  return steps.map(renderStep);
}

function renderStep(s: PlanStep): string {
  switch (s.step) {
    case 'pause-other-shards':
      return (
        `pause-task ${s.held.map((h) => `-s ${h.source} ${h.task}`).join(', ')}: the shard-merge task's other ` +
        'sources wait while this source is stopped (resumed once it runs again)'
      );
    case 'pause-tasks':
      return (
        `pause-task ${list(s.tasks)} on source ${s.sourceId} and confirm Paused` +
        (s.relay ? `; ${FROZEN_RELAY} (relay reads the upstream through the VIP too)` : '') +
        (s.coReaders?.length ? `; pause-task ${s.coReaders.join('; ')} (reading the same VIP) and confirm Paused` : '')
      );
    case 'stop-tasks':
      return (
        `stop-task -s ${s.sourceId} ${list(s.tasks, '(no running task)')} (checkpoints kept)` +
        (s.relay ? `; ${FROZEN_RELAY}` : '')
      );
    case 'recheck':
      return (
        (s.gtidS === 'query-status' ? 're-take gtid-S with DM frozen' : 're-take gtid-S from the checkpoints') +
        ` and ${RECHECK}` +
        (s.catchUpSeconds !== null ? `, waiting up to ${s.catchUpSeconds} s for the new instance to catch up` : '') +
        (s.coReaders?.length ? ', their tasks too' : '')
      );
    case 'move-vip':
      return s.alreadyThere
        ? `leave the VIP ${s.vip} on ${s.to} (already there)`
        : `move the VIP ${s.vip} from ${s.from ?? 'nobody'} to ${s.to}`;
    case 'swap-source':
      if (s.alreadySwapped) return `leave source ${s.sourceId} as it is (already reads ${at(s.to)})`;
      return (
        (s.from ? `operate-source stop ${s.sourceId} (reading ${at(s.from)}), then ` : '') +
        `operate-source create ${s.sourceId} reading ${at(s.to)} with enable-gtid: true`
      );
    case 'resume-tasks':
      return (
        (s.relay ? 'start-relay, then ' : '') +
        `resume-task ${list(s.tasks)}` +
        (s.leftPaused.length ? ` (not ${s.leftPaused.join(', ')}: paused by an operator)` : '') +
        (s.coReaders?.length ? `; resume-task ${s.coReaders.join('; ')}` : '')
      );
    case 'start-tasks':
      return (
        `start-task -s ${s.sourceId} ${list(s.tasks)} from the saved configurations` +
        (s.relay ? `, then start-relay -s ${s.sourceId} (DM starts relay from the oldest checkpoint of the tasks)` : '')
      );
    case 'verify':
      return (
        'verify: every task Running in Sync without errors, positions not behind the frozen gtid-S, DM reading ' +
        'from the new instance' +
        (s.relay ? ', relay on a new sub-directory and caught up' : '') +
        (s.coReaders?.length
          ? `; the same for ${s.coReaders.join('; ')}, each read by its own dm-worker from the new instance`
          : '')
      );
  }
}

/** What the VIP switch's gates wait before, as the approver reads them. */
export function vipGates(p: {
  sourceId: string;
  tasks: readonly string[];
  runTasks: readonly string[];
  vip: string;
  holder: string | null;
  to: string;
  alreadyThere: boolean;
  /** With other sources reading the VIP: every task the switch pauses, and every one it resumes, theirs too. */
  frozen?: string;
  resumed?: string;
}): Record<Gate, string> {
  const move = p.alreadyThere
    ? `the VIP ${p.vip} is already on ${p.to}; next: resume the tasks`
    : `move the VIP ${p.vip} from ${p.holder ?? 'nobody'} to ${p.to}`;
  const reading = `now reading ${p.to} through ${p.vip}`;
  return {
    'before-freeze': p.frozen
      ? `pause ${p.frozen} to move the VIP ${p.vip} to ${p.to}`
      : `pause the tasks of source ${p.sourceId} (${list(p.tasks, 'none')}) to move the VIP ${p.vip} to ${p.to}`,
    'before-switch': move + (p.frozen ? `, with DM frozen: paused now are ${p.frozen}` : ''),
    'before-resume': p.resumed
      ? `resume ${p.resumed}, ${reading}; paused now are ${p.frozen}`
      : `resume the tasks of source ${p.sourceId} (${list(p.runTasks, 'none')}), ${reading}`,
  };
}

/** What the address switch's gates wait before, as the approver reads them. */
export function addressGates(p: {
  sourceId: string;
  tasks: readonly string[];
  runTasks: readonly string[];
  from: Endpoint | null;
  to: Endpoint;
  alreadySwapped: boolean;
  relay: boolean;
}): Record<Gate, string> {
  return {
    'before-freeze':
      `stop the tasks of source ${p.sourceId} (${list(p.tasks, 'none running')}) ` + `to re-point it to ${at(p.to)}`,
    'before-switch': p.alreadySwapped
      ? `source ${p.sourceId} already reads the new instance; next: start the tasks`
      : `re-point source ${p.sourceId} from ${p.from ? at(p.from) : '(removed)'} to ${at(p.to)}`,
    'before-resume':
      `${p.relay ? 'start relay and ' : ''}start task(s) ${list(p.runTasks, '(none)')} on source ${p.sourceId}, ` +
      `now reading ${at(p.to)}`,
  };
}

/** The dmctl commands an operator runs when an undo cannot (the status's operatorActions). */
export const byHand = {
  resumeTasks: (sourceId: string, tasks: readonly string[]) =>
    `${DMCTL} resume-task -s ${sourceId} <task>   # for ${list(tasks, 'none')}`,
  pauseTasks: (sourceId: string) => `${DMCTL} pause-task -s ${sourceId} <task>`,
  stopTasks: (sourceId: string) => `${DMCTL} stop-task -s ${sourceId} <task>`,
  startTasks: (sourceId: string, tasks: readonly string[], relay: boolean) =>
    `${DMCTL} start-task -s ${sourceId} <task file>   # for ${tasks.join(', ')}: the saved configuration in the ` +
    'status (savedConfigs), with the downstream password filled in' +
    (relay ? `; then ${DMCTL} start-relay -s ${sourceId}` : ''),
  startRelay: (sourceId: string) => `${DMCTL} start-relay -s ${sourceId}`,
  stopRelay: (sourceId: string) => `${DMCTL} stop-relay -s ${sourceId}`,
  createSource: () =>
    `${DMCTL} operate-source create <file>   # the saved source config in the status (savedConfigs.source), ` +
    'with from.password filled in',
  stopSource: (sourceId: string) => `${DMCTL} operate-source stop ${sourceId}`,
};

/** What an operator does with the VIP when moving it back cannot be done by the switch. */
export function vipMoveBackByHand(p: {
  sourceId: string;
  vip: string;
  provider: string;
  holder: string | null;
  oldHost: string | null;
  oldAlive: boolean;
  tasks: readonly string[];
}): string {
  const pause =
    `with every task of source ${p.sourceId} paused (${DMCTL} pause-task -s ${p.sourceId} <task>   # for ` +
    `${list(p.tasks, 'none')}) and relay stopped`;
  const heldByOld = p.oldHost !== null && p.holder === p.oldHost;
  if (heldByOld && p.oldAlive) {
    return (
      `${pause}, move the VIP ${p.vip} back to ${p.oldHost} with provider "${p.provider}"; ` +
      'then start relay and resume the tasks'
    );
  }
  return (
    `decide where the VIP ${p.vip} belongs: before the switch it was on ${p.holder ?? 'nobody'}` +
    (heldByOld ? ' (the old instance, which did not answer)' : '') +
    `; the tasks are paused. To carry on with the new instance, resume them (${DMCTL} resume-task -s ${p.sourceId} ` +
    `<task>); to go back, ${pause}, move the VIP, then resume`
  );
}

/** One source's line in a drain's (or a return's) plan, as the dry run of its switch decided it. */
export type HostPlanStep =
  | { step: 'switch'; source: string; procedure: 'vip' | 'address'; reads: string; to: string }
  /** It reads the same VIP as `leader`, whose switch moves it. */
  | { step: 'with'; source: string; leader: string; to: string }
  /** A switch of it already runs: it is waited for, never doubled. */
  | { step: 'join'; source: string; workflowId: string }
  | { step: 'stay'; source: string; why: string };

/** One line per source, as a drain's status's `plan` and its gate show it. */
export function renderHostPlan(steps: readonly HostPlanStep[]): string[] {
  return steps.map((s) => {
    switch (s.step) {
      case 'switch':
        return `${s.procedure} switch of ${s.source} (reads ${s.reads}) to ${s.to}`;
      case 'with':
        return `${s.source} moves with ${s.leader} (the same VIP), in its switch to ${s.to}`;
      case 'join':
        return `wait for the switch of ${s.source} that already runs (${s.workflowId}), not a second one`;
      case 'stay':
        return `${s.source} stays: ${s.why}`;
    }
  });
}

/** What a drain's (or a return's) one gate waits before, as the approver reads it. */
export function hostGates(p: {
  kind: 'drain' | 'return';
  at: string;
  steps: readonly HostPlanStep[];
}): Record<'plan', string> {
  const count = (step: HostPlanStep['step']) => p.steps.filter((s) => s.step === step).length;
  const joined = count('join');
  const what = p.kind === 'drain' ? `the drain of ${p.at}` : `the return to ${p.at}`;
  return {
    plan:
      `start the ${count('switch')} switch(es) of the plan` +
      (joined ? `, and wait for the ${joined} that already run` : '') +
      ` for ${what}; nothing has changed yet`,
  };
}
