/**
 * A two-source shard merge on the real stack, for the switch tests of DM
 * tasks that merge sharded tables: source 1 reads a primary/replica topology
 * (through a VIP in a VIP lab, or at a replica's own address), source 2 a
 * standalone MySQL; both carry `db_shard.tb`, merged by one task
 * (`shard-mode: pessimistic` or `optimistic`, `task-mode: all`) into
 * `db_target.tb` downstream (TiDB).
 *
 *   const sm = await startShardMerge({ mode: 'pessimistic', vip: true });
 *   await sm.write(1, 10); await sm.addColumn('b'); await sm.downstreamEqualsUnion();
 *   await sm.stop();
 *
 * Rows carry explicit ids (odd on shard 1, even on shard 2), so the shards
 * never collide downstream and the merged table is exactly their union.
 */
import { createHash } from 'node:crypto';
import { stringify } from 'yaml';
import { startDb, type DbInstance } from './db.js';
import { CHECKPOINT_FLUSH_SECONDS, createSource, expectOk } from './dm-setup.js';
import { startStack, type Stack } from './stack.js';
import { waitCaughtUp, type SqlTarget } from './topology.js';

export type ShardMode = 'pessimistic' | 'optimistic';
export const SHARD_DB = 'db_shard';
export const SHARD_TABLE = 'tb';
export const TARGET_DB = 'db_target';
export const SHARD2_SOURCE = 'mysql-shard-02';

export interface Subtask {
  source: string;
  stage: string;
  unit: string;
  errors: string[];
  /** Pessimistic mode: the sharding groups this subtask has not resolved (query-status `unresolvedGroups`). */
  unresolvedGroups: unknown[];
}

export interface ShardMerge {
  stack: Stack;
  mode: ShardMode;
  task: string;
  /** source 1 (the stack's source) and source 2 */
  sources: [string, string];
  /** Where shard 1 is written: the primary of source 1's topology. */
  shard1: DbInstance;
  shard2: DbInstance;
  /** Writes `n` rows on a shard (one transaction each). */
  write(shard: 1 | 2, n: number): Promise<void>;
  /** `ALTER TABLE … ADD COLUMN <name>` on both shards, shard 1 first. */
  addColumn(name: string): Promise<void>;
  /** Waits until the downstream table holds exactly the union of both shards (ordered hash over every column). */
  downstreamEqualsUnion(timeoutMs?: number): Promise<void>;
  subtasks(): Promise<Subtask[]>;
  /** dmctl shard-ddl-lock: the task's locks. */
  ddlLocks(): Promise<
    Array<{
      ID: string;
      task: string;
      mode: string;
      owner: string;
      DDLs: string[];
      synced: string[];
      unsynced: string[];
    }>
  >;
  stop(): Promise<void>;
}

const columns = async (db: SqlTarget, schema: string): Promise<string[]> =>
  (
    await db.query<{ c: string }>(
      `SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [schema, SHARD_TABLE],
    )
  ).map((r) => r.c);

/** Every row of a table, in id order, as text; with the column list first. */
async function tableText(db: SqlTarget, schema: string): Promise<string[]> {
  const cols = await columns(db, schema);
  if (cols.length === 0) return [];
  const rows = await db.query<Record<string, unknown>>(
    `SELECT ${cols.map((c) => `\`${c}\``).join(', ')} FROM ${schema}.${SHARD_TABLE} ORDER BY id`,
  );
  return [cols.join(','), ...rows.map((r) => cols.map((c) => String(r[c])).join('|'))];
}

export async function startShardMerge(options: {
  mode: ShardMode;
  vip: boolean;
  relay?: boolean;
  log?: (l: string) => void;
}): Promise<ShardMerge> {
  const stack = await startStack({
    temporal: true,
    mysql: { replicas: 2 },
    dm: true,
    dmWorkers: 2,
    vip: options.vip,
    log: options.log,
  });
  let shard2: DbInstance | undefined;
  try {
    const dm = stack.dm!;
    const tidb = stack.downstream!;
    const [primary, a, b] = stack.topology!.all() as [DbInstance, DbInstance, DbInstance];
    shard2 = await startDb({ name: 'shard2', serverId: 50 });
    for (const db of [primary, shard2]) {
      await db.query(`CREATE DATABASE IF NOT EXISTS ${SHARD_DB}`);
      await db.query(
        `CREATE TABLE IF NOT EXISTS ${SHARD_DB}.${SHARD_TABLE} (id BIGINT PRIMARY KEY, shard INT NOT NULL, payload VARCHAR(64) NOT NULL)`,
      );
    }
    await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
    await createSource(dm, SHARD2_SOURCE, shard2);
    const task = `shard-${options.mode}`;
    const route = {
      'schema-pattern': SHARD_DB,
      'table-pattern': SHARD_TABLE,
      'target-schema': TARGET_DB,
      'target-table': SHARD_TABLE,
    };
    const config = {
      name: task,
      'task-mode': 'all',
      'shard-mode': options.mode,
      'target-database': { host: tidb.host, port: tidb.port, user: 'root', password: '' },
      'mysql-instances': [stack.sourceId!, SHARD2_SOURCE].map((id) => ({
        'source-id': id,
        'block-allow-list': 'shard',
        'route-rules': ['shard-table', 'shard-schema'],
        // as the sandbox's other tasks (dm-setup.ts taskConfig): query-status shows the position of the last flush,
        // and each switch's verification waits for it to move, up to DM's default 30 s per switch otherwise
        syncer: { 'checkpoint-flush-interval': CHECKPOINT_FLUSH_SECONDS },
      })),
      'block-allow-list': { shard: { 'do-dbs': [SHARD_DB] } },
      routes: { 'shard-table': route, 'shard-schema': { 'schema-pattern': SHARD_DB, 'target-schema': TARGET_DB } },
    };
    const file = await dm.file(`task-${task}.yaml`, stringify(config));
    expectOk('start-task', await dm.ctl(['start-task', file]));
    if (options.relay) expectOk('start-relay', await dm.ctl(['start-relay', '-s', stack.sourceId!]));

    const next = { 1: 1, 2: 2 };
    const s2 = shard2;
    const sm: ShardMerge = {
      stack,
      mode: options.mode,
      task,
      sources: [stack.sourceId!, SHARD2_SOURCE],
      shard1: primary,
      shard2: s2,
      async write(shard, n) {
        const db = shard === 1 ? primary : s2;
        for (let i = 0; i < n; i++) {
          const id = next[shard];
          next[shard] += 2;
          await db.query(`INSERT INTO ${SHARD_DB}.${SHARD_TABLE} (id, shard, payload) VALUES (?, ?, ?)`, [
            id,
            shard,
            `row-${id}`,
          ]);
        }
      },
      async addColumn(name) {
        for (const db of [primary, s2])
          await db.query(`ALTER TABLE ${SHARD_DB}.${SHARD_TABLE} ADD COLUMN ${name} INT NOT NULL DEFAULT 0`);
      },
      async downstreamEqualsUnion(timeoutMs = 90_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const [t1, t2, down] = await Promise.all([
            tableText(primary, SHARD_DB),
            tableText(s2, SHARD_DB),
            tableText(tidb, TARGET_DB).catch(() => [] as string[]),
          ]);
          const [cols1, ...rows1] = t1;
          const [cols2, ...rows2] = t2;
          const [colsDown, ...rowsDown] = down;
          const union = [...rows1, ...rows2].sort((x, y) => Number(x.split('|')[0]) - Number(y.split('|')[0]));
          const hash = (rows: string[]) => createHash('sha256').update(rows.join('\n')).digest('hex');
          if (cols1 === cols2 && cols1 === colsDown && hash(union) === hash(rowsDown)) return;
          if (Date.now() > deadline) {
            const subs = await sm.subtasks().catch((e: Error) => e.message);
            throw new Error(
              `downstream ${TARGET_DB}.${SHARD_TABLE} is not the union of the shards after ${timeoutMs / 1000} s: columns ${colsDown} vs ${cols1} / ${cols2}; ` +
                `${rowsDown.length} rows downstream, ${rows1.length} + ${rows2.length} upstream; subtasks ${JSON.stringify(subs)}; locks ${JSON.stringify(await sm.ddlLocks().catch(() => 'n/a'))}`,
            );
          }
          await new Promise((r) => setTimeout(r, 500));
        }
      },
      async subtasks() {
        const r = expectOk('query-status', await dm.ctl(['query-status', task]));
        type Raw = {
          sourceStatus?: { source?: string };
          subTaskStatus?: Array<{
            name: string;
            stage: string;
            unit: string;
            result: null | { errors?: Array<{ message?: string; Message?: string; RawCause?: string }> };
            sync?: { unresolvedGroups?: unknown[] };
          }>;
        };
        return ((r.sources as Raw[] | undefined) ?? []).flatMap((s) =>
          (s.subTaskStatus ?? [])
            .filter((x) => x.name === task)
            .map((x) => ({
              source: s.sourceStatus?.source ?? '',
              stage: x.stage,
              unit: x.unit,
              errors: (x.result?.errors ?? []).map((e) =>
                [e.Message ?? e.message, e.RawCause].filter(Boolean).join(': '),
              ),
              unresolvedGroups: x.sync?.unresolvedGroups ?? [],
            })),
        );
      },
      async ddlLocks() {
        const r = await dm.ctl(['shard-ddl-lock', task]);
        return (r.locks as never[] | undefined) ?? [];
      },
      async stop() {
        await s2.destroy();
        await stack.stop();
      },
    };
    return sm;
  } catch (e) {
    await shard2?.destroy();
    await stack.stop();
    throw e;
  }
}
