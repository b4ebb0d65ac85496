/**
 * Task configurations: what a saved one says (its downstream, its meta
 * schema, its shard-merge mode), and the file start-task and check-task get,
 * normalised so that DM accepts again what it exported.
 */
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { failure, SwitchErrorType } from '../../common/switch/errors.js';
import type { Endpoint, SavedTaskConfig } from '../../common/switch/types.js';

/** Reads a task config's downstream and meta schema; throws a readable error for YAML that is not a task. */
export function describeTaskConfig(name: string, yaml: string): SavedTaskConfig {
  let doc: {
    name?: unknown;
    'target-database'?: { host?: unknown; port?: unknown; user?: unknown };
    'meta-schema'?: unknown;
  };
  try {
    doc = parseYaml(yaml) as typeof doc;
  } catch (e) {
    throw failure(
      `the configuration of task ${name} is not valid YAML: ${(e as Error).message}`,
      SwitchErrorType.InvalidInput,
    );
  }
  const target = doc?.['target-database'];
  if (!doc || typeof doc !== 'object' || typeof target?.host !== 'string') {
    throw failure(
      `the configuration of task ${name} has no target-database.host: give the task's YAML as for \`dmctl start-task\``,
      SwitchErrorType.InvalidInput,
    );
  }
  if (doc.name !== undefined && doc.name !== name) {
    throw failure(
      `the configuration given for task ${name} names task ${String(doc.name)}`,
      SwitchErrorType.InvalidInput,
    );
  }
  return {
    name,
    yaml,
    target: { host: target.host, port: Number(target.port ?? 4000), user: String(target.user ?? 'root') },
    metaSchema: typeof doc['meta-schema'] === 'string' && doc['meta-schema'] ? doc['meta-schema'] : 'dm_meta',
  };
}

/**
 * A task configuration as DM exports it (`config task`) turned into one DM
 * accepts again: DM writes the deprecated `is-sharding` beside `shard-mode`
 * (`is-sharding: false` for a shard-merge task), and start-task then refuses
 * with "The behaviour of `is-sharding` and `shard-mode` is conflicting".
 * `shard-mode` wins; a lone `is-sharding: true` means pessimistic, as in DM.
 */
export function normalizeTaskConfig(doc: Record<string, unknown>): Record<string, unknown> {
  const out = { ...doc };
  if ('is-sharding' in out) {
    const legacy = out['is-sharding'] === true;
    delete out['is-sharding'];
    if (!out['shard-mode'] && legacy) out['shard-mode'] = 'pessimistic';
  }
  return out;
}

export type ShardMode = '' | 'pessimistic' | 'optimistic';

/** The shard-merge mode of a task configuration: '' for a task that merges nothing. */
export function shardModeOf(doc: Record<string, unknown>): ShardMode {
  const mode = doc['shard-mode'];
  if (mode === 'pessimistic' || mode === 'optimistic') return mode;
  return doc['is-sharding'] === true ? 'pessimistic' : '';
}

/** Where a saved task configuration sends its rows: its target-database's host and port. */
export function targetDatabase(task: SavedTaskConfig): Endpoint {
  const doc = parseYaml(task.yaml) as Record<string, unknown> | null;
  const t = (doc?.['target-database'] ?? {}) as { host?: unknown; port?: unknown };
  return { host: String(t.host ?? ''), port: Number(t.port ?? 0) };
}

/**
 * The file start-task (or check-task) gets: the saved configuration, normalised, with the downstream login
 * filled in.
 */
export function taskFile(task: SavedTaskConfig, creds: { user: string; password: string }): string {
  const doc = normalizeTaskConfig(parseYaml(task.yaml) as Record<string, unknown>) as Record<string, unknown> & {
    'target-database': Record<string, unknown>;
  };
  doc.name = task.name;
  doc['target-database'] = { ...doc['target-database'], user: creds.user, password: creds.password };
  return stringifyYaml(doc);
}

/** DM's checkpoint-flush-interval when a task does not set one (dm/config/task.go defaultCheckpointFlushInterval). */
export const DM_DEFAULT_CHECKPOINT_FLUSH_SECONDS = 30;

/** How often a task's syncer flushes its checkpoint on one source, and where the task says so. */
export interface FlushInterval {
  seconds: number;
  /** Where the value comes from: the task configuration's key, or DM's default when the task sets none. */
  setIn: string;
}

/**
 * The checkpoint-flush-interval a task's syncer uses on `sourceId`, as DM resolves it: the mysql-instance's
 * `syncer-config-name` picks `syncers.<name>`, else the instance's inline `syncer`; a missing or zero value is DM's
 * default of 30 s (dm/config/task.go adjust). `config task` exports every instance with a syncer-config-name.
 */
export function flushIntervalOf(doc: Record<string, unknown>, sourceId: string): FlushInterval {
  type Syncer = { 'checkpoint-flush-interval'?: unknown } | null | undefined;
  type Instance = { 'source-id'?: unknown; 'syncer-config-name'?: unknown; syncer?: Syncer };
  const instances = (Array.isArray(doc['mysql-instances']) ? doc['mysql-instances'] : []) as Instance[];
  const i = instances.findIndex((x) => x?.['source-id'] === sourceId);
  const inst = instances[i];
  const syncers = (doc.syncers ?? {}) as Record<string, Syncer>;
  const name = typeof inst?.['syncer-config-name'] === 'string' ? inst['syncer-config-name'] : '';
  const [syncer, key] = name
    ? [syncers[name], `syncers.${name}.checkpoint-flush-interval`]
    : [inst?.syncer, `mysql-instances[${i}].syncer.checkpoint-flush-interval`];
  const value = Number(syncer?.['checkpoint-flush-interval'] ?? 0);
  if (Number.isInteger(value) && value > 0) return { seconds: value, setIn: key };
  return { seconds: DM_DEFAULT_CHECKPOINT_FLUSH_SECONDS, setIn: "DM's default (the task does not set it)" };
}
