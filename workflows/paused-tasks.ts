/**
 * Tasks an operator paused stay paused. A task `Paused` by request (DM's
 * `result.isCanceled`, no error) was paused by someone on purpose, e.g. for
 * maintenance of its downstream, and DM's task checker leaves it alone. A
 * switch freezes it with the others (its gtid-S is checked like theirs: it
 * reads the new instance once resumed) but never resumes or starts it. A task
 * DM paused because of an error is not one of them: DM's task checker would
 * resume it by itself, so the switch resumes it as it does a running one.
 */
import type { SourceTask } from '../common/switch/types.js';
import type { Tracker } from './tracker.js';

/** The tasks paused by request (not by an error) when the switch read them. */
export function pausedByOperator(tasks: readonly SourceTask[]): string[] {
  return tasks.filter((x) => x.stage === 'Paused' && x.canceled === true && x.errors.length === 0).map((x) => x.name);
}

/**
 * Records the tasks the switch leaves paused (status `leftPaused`, and a
 * decision saying what the operator does with them) and returns the names of
 * the others, the ones the switch resumes or starts again.
 */
export function keepOperatorPaused(
  t: Tracker,
  sourceId: string,
  tasks: readonly SourceTask[],
  all: readonly string[],
  how: 'vip' | 'address',
): string[] {
  const kept = pausedByOperator(tasks).filter((n) => all.includes(n));
  if (kept.length === 0) return [...all];
  t.status.leftPaused = kept;
  const what =
    how === 'vip'
      ? 'it is paused with the others and not resumed: it reads the new instance once someone resumes it ' +
        `(dmctl --master-addr=<dm-master> resume-task -s ${sourceId} <task>)`
      : 'it is stopped with the others (its checkpoint kept: the source is re-created) and not started again; ' +
        'start it when its maintenance is over (dmctl --master-addr=<dm-master> start-task -s ' +
        `${sourceId} <task file>, the saved configuration in the status: savedConfigs)`;
  const who =
    `task(s) ${kept.join(', ')} of source ${sourceId} were paused by an operator ` + `(Paused by request, no error)`;
  t.decide('info', `${who}: ${what}. Its gtid-S is checked like the others'`);
  return all.filter((n) => !kept.includes(n));
}

/**
 * Tasks that finished their full load (`task-mode: full`): DM shows them
 * `Finished` with no sync position. They read nothing more from the upstream,
 * so they bind no GTID rule and need no pause or resume; an address switch
 * must stop them with the others (DM will not replace a source that still
 * has tasks) and does not start them again (that would load everything
 * again).
 */
export function finishedLoad(tasks: readonly { name: string; stage: string; syncerBinlogGtid: string }[]): string[] {
  return tasks.filter((x) => x.stage === 'Finished' && !x.syncerBinlogGtid).map((x) => x.name);
}

/** Records the finished tasks (a decision) and returns the names of the others. */
export function leaveFinished(
  t: Tracker,
  sourceId: string,
  tasks: readonly SourceTask[],
  all: readonly string[],
  how: 'vip' | 'address',
): string[] {
  const done = finishedLoad(tasks).filter((n) => all.includes(n));
  if (done.length === 0) return [...all];
  const what =
    how === 'vip'
      ? 'they read nothing more from the upstream: not paused, not resumed, not checked'
      : 'they read nothing more from the upstream: stopped with the others so that DM can replace the source, ' +
        'and not started again (that would load everything again)';
  t.decide(
    'info',
    `task(s) ${done.join(', ')} of source ${sourceId} finished their full load ` +
      `(task-mode full, stage Finished): ${what}`,
  );
  return all.filter((n) => !done.includes(n));
}
