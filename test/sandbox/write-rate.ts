/**
 * An application's steady writes at a chosen rate, and the demo task started again with a chosen checkpoint flush
 * interval: for measuring and testing a switch at a moderate write rate with DM's default flush interval (30 s).
 *
 * The writer commits one plain INSERT a transaction into a table created once. writeRows issues CREATE ... IF NOT
 * EXISTS before each batch, and DM flushes its checkpoint after every DDL it applies (dm/syncer/syncer.go, handleJob,
 * case ddl), so a writer that uses it makes query-status's position move at every write whatever the interval.
 */
import { stringify } from 'yaml';
import type { DbInstance } from './db.js';
import type { DmCluster } from './dm.js';
import { expectOk, taskConfig, type Downstream } from './dm-setup.js';
import { APP_SCHEMA } from './topology.js';
import { eventMs } from './switch-harness.js';
import type { WorkflowHandle } from '@temporalio/client';

export type Rate = 'idle' | number;

/** The table the rate writer fills (in the demo task's schema). */
export const RATE_TABLE = 'rate_rows';

/** Writes `rate` rows per second on `primary`, one INSERT a transaction and no DDL, until `stop()`. */
export function startRateWriter(primary: DbInstance, rate: Rate): { stop: () => Promise<number> } {
  let on = rate !== 'idle';
  let n = 0;
  const done = (async () => {
    if (!on) return;
    const every = 1000 / (rate as number);
    let next = performance.now();
    while (on) {
      await primary.query(`INSERT INTO ${APP_SCHEMA}.${RATE_TABLE} (payload, written_by) VALUES (NOW(3), @@server_id)`);
      n++;
      next += every;
      await new Promise((r) => setTimeout(r, Math.max(0, next - performance.now())));
    }
  })();
  return {
    stop: async () => {
      on = false;
      await done;
      return n;
    },
  };
}

/** Creates the rate writer's table (a DDL: call it before measuring, not while), shaped as tableChecksum reads. */
export async function createRateTable(primary: DbInstance): Promise<void> {
  await primary.query(`CREATE DATABASE IF NOT EXISTS ${APP_SCHEMA}`);
  await primary.query(
    `CREATE TABLE IF NOT EXISTS ${APP_SCHEMA}.${RATE_TABLE} (id BIGINT PRIMARY KEY AUTO_INCREMENT, payload VARCHAR(64) NOT NULL, written_by INT NOT NULL)`,
  );
}

/**
 * Stops the task and starts it again (it goes on from its checkpoint) with `flush` as its checkpoint-flush-interval;
 * 'default' names none, so DM's own applies. Returns the interval DM shows in `config task`.
 */
export async function restartTaskWithFlush(
  dm: DmCluster,
  task: string,
  sourceId: string,
  downstream: Downstream,
  flush: 'default' | number,
): Promise<number> {
  const cfg = taskConfig(task, [sourceId], downstream) as { 'mysql-instances': Array<Record<string, unknown>> };
  for (const inst of cfg['mysql-instances']) {
    if (flush === 'default') delete inst.syncer;
    else inst.syncer = { 'checkpoint-flush-interval': flush };
  }
  const file = await dm.file(`task-${task}-flush-${flush}.yaml`, stringify(cfg));
  expectOk('stop-task', await dm.ctl(['stop-task', task]));
  expectOk('start-task', await dm.ctl(['start-task', file]));
  const shown = await dm.ctl(['config', 'task', task]);
  const m = /checkpoint-flush-interval: (\d+)/.exec(String(shown.cfg ?? ''));
  if (!m) throw new Error(`config task ${task} shows no checkpoint-flush-interval`);
  return Number(m[1]);
}

/**
 * Stops the task and starts it again (from its checkpoint) with DM's default checkpoint flush interval and, when
 * `validation` is given, continuous validation in that mode (`validators:` + the instance's `validator-config-name`):
 * the task then has a validator, through which `dmctl validation update --cutover-binlog-gtid` reaches its syncer.
 * Returns the validation mode DM shows in `config task` ('none' without validation).
 */
export async function restartTaskWithValidation(
  dm: DmCluster,
  task: string,
  sourceId: string,
  downstream: Downstream,
  validation: 'fast' | 'full' | null,
): Promise<string> {
  const cfg = taskConfig(task, [sourceId], downstream) as Record<string, unknown> & {
    'mysql-instances': Array<Record<string, unknown>>;
  };
  for (const inst of cfg['mysql-instances']) {
    delete inst.syncer;
    if (validation) inst['validator-config-name'] = 'check';
  }
  if (validation) cfg.validators = { check: { mode: validation } };
  const file = await dm.file(`task-${task}-validation-${validation ?? 'none'}.yaml`, stringify(cfg));
  expectOk('stop-task', await dm.ctl(['stop-task', task]));
  expectOk('start-task', await dm.ctl(['start-task', file]));
  const shown = String((await dm.ctl(['config', 'task', task])).cfg ?? '');
  if (!/checkpoint-flush-interval: 30\b/.test(shown)) throw new Error(`config task ${task} shows no 30 s flush`);
  return /\n\s+mode: (\w+)/.exec(shown.slice(shown.indexOf('validators:')))?.[1] ?? '';
}

/**
 * From a switch's history: how long its dmAwaitPositions took, and the time from the first pause-task or stop-task
 * of its tasks (replication stops there) to that wait's end, in ms.
 */
export async function verifyTimes(handle: WorkflowHandle): Promise<{ waited: number; pauseToCaughtUp: number }> {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Map<string, { type: string; at: number }>();
  let waited = -1;
  let paused = -1;
  let caughtUpAt = -1;
  for (const e of events) {
    const sa = e.activityTaskScheduledEventAttributes;
    if (sa) scheduled.set(String(e.eventId), { type: sa.activityType?.name ?? '', at: eventMs(e.eventTime) });
    const stops = ['dmPauseTasks', 'dmStopTasks'].includes(sa?.activityType?.name ?? '');
    if (stops && paused < 0) paused = eventMs(e.eventTime);
    const ca = e.activityTaskCompletedEventAttributes;
    const s = ca && scheduled.get(String(ca.scheduledEventId));
    if (s && s.type === 'dmAwaitPositions') [waited, caughtUpAt] = [eventMs(e.eventTime) - s.at, eventMs(e.eventTime)];
  }
  if (waited < 0 || paused < 0) throw new Error('the history has no dmAwaitPositions or no pause/stop of the tasks');
  return { waited, pauseToCaughtUp: caughtUpAt - paused };
}
