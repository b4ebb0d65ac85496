/**
 * Puts a sandbox DM cluster to work: a GTID source on an upstream MySQL and
 * an incremental task that replicates the `app` schema to a downstream.
 * The downstream is seeded from a consistent mysqldump snapshot, and the
 * task starts from that snapshot's GTID set, so no row is lost or doubled.
 */
import { stringify } from 'yaml';
import type { Endpoint } from '../../common/switch/types.js';
import type { DbInstance } from './db.js';
import { dmctlFailures } from '../../activities/dm/parse.js';
import type { DmCluster, DmctlJson } from './dm.js';
import { APP_SCHEMA, load, snapshot, withoutReplicationStatements, type SqlTarget } from './topology.js';

/** Where a task writes: TiDB (what DM is for) or a MySQL. */
export type Downstream = SqlTarget & Endpoint;

/** Throws with dmctl's own words unless the top-level and every per-source result is true. */
export function expectOk(what: string, r: DmctlJson): DmctlJson {
  const failures = dmctlFailures(r);
  if (failures.length > 0)
    throw new Error(
      `dmctl ${what} failed: ${failures.map((f) => `${f.name ? `${f.name}: ` : ''}${f.msg}`).join('; ')}`,
    );
  return r;
}

/** Where a source reads from: an instance, or a VIP in front of one. */
export type Upstream = Pick<DbInstance, 'host' | 'port' | 'flavor'>;

export function sourceConfig(
  sourceId: string,
  upstream: Upstream,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    'source-id': sourceId,
    'enable-gtid': true,
    'enable-relay': false,
    flavor: upstream.flavor,
    from: { host: upstream.host, port: upstream.port, user: 'root', password: '' },
    ...extra,
  };
}

export async function createSource(
  dm: DmCluster,
  sourceId: string,
  upstream: Upstream,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const file = await dm.file(`source-${sourceId}.yaml`, stringify(sourceConfig(sourceId, upstream, extra)));
  expectOk('operate-source create', await dm.ctl(['operate-source', 'create', file]));
}

/** The sandbox tasks' checkpoint-flush-interval (DM's default is 30 s). */
export const CHECKPOINT_FLUSH_SECONDS = 3;

export function taskConfig(
  name: string,
  sourceIds: string[],
  downstream: Downstream,
  meta?: Record<string, unknown>,
): Record<string, unknown> {
  return {
    name,
    'task-mode': 'incremental',
    'target-database': {
      host: downstream.host,
      port: downstream.port,
      user: 'root',
      password: '',
    },
    'mysql-instances': sourceIds.map((id) => ({
      'source-id': id,
      'block-allow-list': 'app-only',
      // query-status shows a task's position as of its last checkpoint flush (every 30 s by default), and a
      // switch's verification and the check after an undo wait for that position to move: the sandbox's tasks
      // flush every few seconds, so those waits end when replication moves, not up to half a minute later
      syncer: { 'checkpoint-flush-interval': CHECKPOINT_FLUSH_SECONDS },
      ...(meta ? { meta } : {}),
    })),
    'block-allow-list': { 'app-only': { 'do-dbs': [APP_SCHEMA] } },
  };
}

/** Seeds `downstream` from `upstream` and starts an incremental task from the snapshot's position. */
export async function startIncrementalTask(
  dm: DmCluster,
  name: string,
  sourceIds: string[],
  downstream: Downstream,
  upstream: DbInstance,
): Promise<string> {
  const snap = await snapshot(upstream);
  // a downstream's own binary log is irrelevant here (TiDB has none)
  await load(downstream, withoutReplicationStatements(snap.sql), false);
  const meta = { 'binlog-name': snap.binlogFile, 'binlog-pos': snap.binlogPos, 'binlog-gtid': snap.gtidExecuted };
  const file = await dm.file(`task-${name}.yaml`, stringify(taskConfig(name, sourceIds, downstream, meta)));
  expectOk('start-task', await dm.ctl(['start-task', file]));
  return file;
}

/**
 * A MariaDB source on `upstream` and a task on it that starts where `upstream`'s binary log is now (its file,
 * position and gtid_binlog_pos): for suites whose data is written after the task starts.
 */
export async function startMariadbTaskFromNow(
  dm: DmCluster,
  name: string,
  sourceId: string,
  downstream: Downstream,
  upstream: DbInstance,
): Promise<void> {
  const [status] = await upstream.query<{ File: string; Position: number }>('SHOW MASTER STATUS');
  const meta = {
    'binlog-name': status!.File,
    'binlog-pos': Number(status!.Position),
    'binlog-gtid': await upstream.variable('gtid_binlog_pos'),
  };
  await createSource(dm, sourceId, upstream);
  const file = await dm.file(`task-${name}.yaml`, stringify(taskConfig(name, [sourceId], downstream, meta)));
  expectOk('start-task', await dm.ctl(['start-task', file]));
}

/** Undoes startMariadbTaskFromNow and drops what the task wrote, so the next suite finds DM and TiDB as started. */
export async function removeTask(dm: DmCluster, name: string, sourceId: string, downstream: SqlTarget): Promise<void> {
  await dm.ctl(['stop-task', name]);
  await dm.ctl(['operate-source', 'stop', sourceId]);
  await downstream.query(`DROP DATABASE IF EXISTS ${APP_SCHEMA}`);
}
