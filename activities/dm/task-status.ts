/**
 * Tasks as a whole, across the sources they read: their configuration's
 * shard-merge mode and schemas, their shard DDL locks, their subtasks on
 * every source, and the wait until those run.
 */
import { parse as parseYaml } from 'yaml';
import { scopeOfTaskConfig, taskScope, type TaskScope } from '../../common/switch/filters.js';
import type { ShardDdlLock, TaskSubtask } from '../../common/switch/types.js';
import { pollUntil } from '../poll.js';
import type { DmContext } from './context.js';
import { checked } from './dmctl.js';
import { shardDdlLocksOf, type DmctlJson } from './parse.js';
import { flushIntervalOf, shardModeOf, type FlushInterval, type ShardMode } from './task-config.js';

export function taskStatusActivities(ctx: DmContext) {
  const { dmctl } = ctx;
  /** A task's configuration (`config task`), parsed; null when DM no longer knows the task. */
  const taskConfig = async <T>(dmCluster: string, name: string): Promise<T | null> => {
    const answer: DmctlJson = await dmctl(dmCluster, ['config', 'task', name]);
    if (answer.result !== true || typeof answer.cfg !== 'string') {
      if (/task not found/i.test(answer.msg ?? '')) return null;
      checked(`config task ${name}`, answer);
    }
    return parseYaml(String(answer.cfg)) as T;
  };
  return {
    /**
     * Per task: its shard-merge mode ('' when it merges nothing) and the
     * sources it reads, from `config task`. A task DM no longer knows is left out.
     */
    async dmTaskShardModes(req: {
      dmCluster: string;
      tasks: string[];
    }): Promise<Record<string, { shardMode: ShardMode; sources: string[] }>> {
      const out: Record<string, { shardMode: ShardMode; sources: string[] }> = {};
      for (const name of req.tasks) {
        type Doc = Record<string, unknown> & { 'mysql-instances'?: Array<{ 'source-id'?: string }> };
        const doc = await taskConfig<Doc>(req.dmCluster, name);
        if (doc === null) continue;
        const sources = (doc['mysql-instances'] ?? []).map((x) => String(x['source-id'] ?? '')).filter(Boolean);
        out[name] = { shardMode: shardModeOf(doc), sources };
      }
      return out;
    },

    /**
     * The schemas each task replicates from the source (its block-allow list,
     * from `config task`), for judging replication filters. A task DM no
     * longer knows is left out; one whose list cannot be read counts as
     * replicating every schema.
     */
    async dmTaskScopes(req: { dmCluster: string; sourceId: string; tasks: string[] }): Promise<TaskScope[]> {
      const out: TaskScope[] = [];
      for (const name of req.tasks) {
        const doc = await taskConfig<Record<string, unknown>>(req.dmCluster, name);
        if (doc === null) continue;
        out.push(scopeOfTaskConfig(name, doc, req.sourceId) ?? taskScope(name, null));
      }
      return out;
    },

    /**
     * Per task: how often its syncer flushes its checkpoint on the source (`config task`: the syncer config its
     * mysql-instance names, else DM's default). query-status shows only the flushed checkpoint, so this bounds how
     * long verification waits for DM to show what it applied after a resume. A task DM no longer knows is left out.
     */
    async dmTaskFlushIntervals(req: {
      dmCluster: string;
      sourceId: string;
      tasks: string[];
    }): Promise<Record<string, FlushInterval>> {
      const out: Record<string, FlushInterval> = {};
      for (const name of req.tasks) {
        const doc = await taskConfig<Record<string, unknown>>(req.dmCluster, name);
        if (doc !== null) out[name] = flushIntervalOf(doc, req.sourceId);
      }
      return out;
    },

    /** The shard DDL locks of the tasks (`shard-ddl-lock <task>`): which sources reached the DDL and which have not. */
    async dmShardDdlLocks(req: { dmCluster: string; tasks: string[] }): Promise<ShardDdlLock[]> {
      const out: ShardDdlLock[] = [];
      for (const name of req.tasks) {
        const answer = checked(`shard-ddl-lock ${name}`, await dmctl(req.dmCluster, ['shard-ddl-lock', name]));
        out.push(...shardDdlLocksOf(name, answer));
      }
      return out;
    },

    /**
     * Every subtask of a task, on every source it reads (`query-status <task>`), with its stage, errors and
     * unresolved shard groups.
     */
    async dmTaskSubtasks(req: { dmCluster: string; task: string }): Promise<TaskSubtask[]> {
      return ctx.taskSubtasks(req.dmCluster, req.task);
    },

    /**
     * Waits, inside this one activity, until every subtask of `tasks` (task → the sources it must read) is listed
     * and Running without errors.
     */
    async dmAwaitSubtasksHealthy(req: {
      dmCluster: string;
      tasks: Record<string, string[]>;
      timeoutSeconds: number;
    }): Promise<{
      ok: boolean;
      subtasks: Array<TaskSubtask & { task: string }>;
      missing: string[];
      waitedSeconds: number;
    }> {
      const r = await pollUntil(
        req.timeoutSeconds,
        async () => {
          const subtasks: Array<TaskSubtask & { task: string }> = [];
          for (const task of Object.keys(req.tasks)) {
            for (const s of await ctx.taskSubtasks(req.dmCluster, task)) subtasks.push({ ...s, task });
          }
          const listed = (task: string, src: string) => subtasks.some((s) => s.task === task && s.source === src);
          const missing = Object.entries(req.tasks).flatMap(([task, sources]) =>
            sources.filter((src) => !listed(task, src)).map((src) => `${task} on ${src}: not listed`),
          );
          return { subtasks, missing };
        },
        (v) => v.missing.length === 0 && v.subtasks.every((s) => s.stage === 'Running' && s.errors.length === 0),
        (v) => v.subtasks.map((s) => `${s.task}@${s.source} ${s.stage}`),
      );
      return { ok: r.ok, ...r.last, waitedSeconds: r.waitedSeconds };
    },
  };
}
