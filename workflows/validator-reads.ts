/**
 * A VIP switch and DM's continuous validation. A task's validator (task `validators:` mode fast or full, or
 * `dmctl validation start`) reads the binlog over a binlog dump connection of its own, not through the syncer's
 * (DM's DataValidator makes its own streamer, without relay). `pause-task` does not stop it: DM's SubTask.Pause
 * cancels the units only; only stop-task (Close/Kill) or `dmctl validation stop` close its connection. So after the
 * VIP moves, a validator that runs goes on reading the old instance while the tasks read the new one; verification
 * then fails and undoes the switch. Refused at preflight, before any change, from the query-status preflight already
 * read (its subtasks' `validation` part). An address switch is not concerned: its stop-task/start-task gives each task
 * a new validator on the new address.
 */
import { SwitchErrorType } from '../common/switch/errors.js';
import type { SourceTask } from '../common/switch/types.js';
import { refuse } from './preflight.js';
import type { Tracker } from './tracker.js';

/** A task's validator that reads the binlog now (stage Running). */
export interface ReadingValidator {
  task: string;
  mode: string;
  stage: string;
}

const DMCTL = 'dmctl --master-addr=<dm-master>';

/** The tasks whose validator runs, as query-status reported them; a Stopped validator reads nothing. */
export function readingValidators(tasks: SourceTask[]): ReadingValidator[] {
  return tasks.flatMap((t) =>
    t.validation && t.validation.stage !== 'Stopped'
      ? [{ task: t.name, mode: t.validation.mode, stage: t.validation.stage }]
      : [],
  );
}

/**
 * Refuses a VIP switch, before any change, when a task of the source has a validator that runs; says so for a
 * stopped one. `oldInstance`: host:port the VIP leads to now (null: not known).
 */
export function validatorCheck(
  t: Tracker,
  s: {
    sourceId: string;
    /** Set for another source reading the VIP: it is named `<dmCluster>/<sourceId>`. */
    dmCluster?: string;
    worker: string | null;
    tasks: SourceTask[];
    vip: string;
    oldInstance: string | null;
  },
): void {
  const source = s.dmCluster ? `${s.dmCluster}/${s.sourceId}` : s.sourceId;
  const reading = readingValidators(s.tasks);
  const stopped = s.tasks.filter((x) => x.validation && !reading.some((r) => r.task === x.name));
  for (const x of stopped)
    t.decide(
      'info',
      `task ${x.name} of source ${source} has a validator, ${x.validation!.stage} (mode ${x.validation!.mode}): ` +
        'it reads nothing, so the VIP move cannot leave it on the old instance; if it was stopped for the switch, ' +
        `start it again after it (\`${DMCTL} validation start ${x.name}\`)`,
    );
  if (reading.length === 0) return;
  const names = reading.map((r) => r.task);
  const which =
    names.length === 1
      ? `task ${names[0]} of source ${source} runs`
      : `tasks ${names.join(', ')} of source ${source} run`;
  const how = [...new Set(reading.map((r) => `validator ${r.stage}, mode ${r.mode}`))].join('; ');
  const where = `query-status -s ${s.sourceId}, dm-worker ${s.worker ?? '(none)'}`;
  const old = s.oldInstance ? `the old instance ${s.oldInstance}` : 'the instance that holds the VIP now';
  const each = (op: string) => names.map((n) => `\`${DMCTL} validation ${op} ${n}\``).join(', ');
  refuse(
    t,
    SwitchErrorType.ValidatorReads,
    `switch refused, nothing was changed: ${which} DM's continuous validation (${how}; ${where}), and DM's ` +
      'validator reads the binlog over a binlog connection of its own, which pause-task leaves open (only ' +
      `stop-task or validation stop closes it): once the VIP ${s.vip} moves, the validator would go on reading ` +
      `${old} while the ${names.length === 1 ? 'task reads' : 'tasks read'} the new one, and verification would ` +
      'fail and undo the switch. Either switch by address instead (dm-switch start address: the same request ' +
      "without `vip`, with `taskCredentials`; DM then reads the new instance's own address, and the address " +
      "switch's stop-task/start-task gives each task a new validator there), or stop the validation for the " +
      `switch and start it again after it: ${each('stop')}, then this switch, then ${each('start')} ` +
      '(it keeps its mode)',
  );
}
