/**
 * The waits after a resume or a rollback, each inside one activity that
 * heartbeats (poll.ts): DM replicates from the new instance, or shows the
 * source as before and its tasks catch up.
 */
import type { Endpoint, Flavor, RelayState, SourceTask } from '../../common/switch/types.js';
import { pollUntil } from '../poll.js';
import type { DmContext } from './context.js';
import {
  CATCH_UP_SECONDS,
  catchUpSeconds,
  relaySwitched,
  sourceRestored,
  tasksBehind,
  upstreamGtids,
} from './positions.js';
import { pauseTasks, resumeTasks } from './tasks.js';

type Behind = Array<{ task: string; lacks: string }>;

export function waitActivities(ctx: DmContext) {
  return {
    /**
     * Waits, inside this one activity, until every task's syncerBinlogGtid
     * includes `want` (what the new instance had executed at resume): DM
     * replicates from it. A task of `held` (a shard-merge task whose accepted
     * DDL lock holds this source) also counts when its subtask here is
     * Running without errors and waits at the lock (an unresolved group, or
     * the source had reached the DDL). With `relaySwitchedFrom`, relay must
     * also read a new sub-directory and have caught up. At most
     * `timeoutSeconds` from the first attempt; returns what it saw last
     * either way.
     */
    async dmAwaitPositions(req: {
      dmCluster: string;
      sourceId: string;
      tasks: string[];
      want: string;
      timeoutSeconds: number;
      held?: Array<{ task: string; sourceSynced: boolean }>;
      /** Given: relay must also have switched from this sub-directory (null: any) and caught up. */
      relaySwitchedFrom?: string | null;
    }): Promise<{
      ok: boolean;
      tasks: SourceTask[];
      behind: Behind;
      held: string[];
      relay: RelayState | null;
      relayOk: boolean;
      flavor: Flavor;
      waitedSeconds: number;
    }> {
      const relayWanted = req.relaySwitchedFrom !== undefined;
      const r = await pollUntil(
        req.timeoutSeconds,
        async () => {
          const state = await ctx.sourceState(req.dmCluster, req.sourceId);
          const behind = tasksBehind(state, req.tasks, req.want);
          const held: string[] = [];
          for (const b of behind) {
            const h = req.held?.find((x) => x.task === b.task);
            if (!h) continue;
            const sub = (await ctx.taskSubtasks(req.dmCluster, b.task)).find((x) => x.source === req.sourceId);
            const waits = sub && (sub.unresolvedGroups.length > 0 || h.sourceSynced);
            if (sub && sub.stage === 'Running' && sub.errors.length === 0 && waits) held.push(b.task);
          }
          return { state, behind: behind.filter((b) => !held.includes(b.task)), held };
        },
        (v) => v.behind.length === 0 && (!relayWanted || relaySwitched(v.state.relay, req.relaySwitchedFrom ?? null)),
        (v) => ({ behind: v.behind, relay: v.state.relay?.relaySubDir ?? null }),
      );
      const { state, behind, held } = r.last;
      const relayOk = relayWanted && relaySwitched(state.relay, req.relaySwitchedFrom ?? null);
      return {
        ok: r.ok,
        tasks: state.tasks.filter((t) => req.tasks.includes(t.name)),
        behind,
        held,
        relay: state.relay,
        relayOk,
        flavor: state.flavor,
        waitedSeconds: r.waitedSeconds,
      };
    },

    /**
     * Waits, inside this one activity, until DM shows the source as it was
     * before a switch: it exists, reads `from` (when given), every task of
     * `tasks` Running without errors, relay Running when `relay`; and then
     * until every task has caught up with what its upstream had when that was
     * first seen (`upstreamGtids`) or at least moved (DM shows flushed
     * checkpoints), within CATCH_UP_SECONDS at least (three of the cluster's
     * flush interval read from the tasks' configuration, else the cluster's
     * checkpointFlushSeconds, when given), so that a
     * task DM shows Running whose binlog reader delivers nothing is not taken
     * for restored.
     * The rollback check's DM part; it then reads everything once to report.
     */
    async dmAwaitSourceRestored(req: {
      dmCluster: string;
      sourceId: string;
      tasks: string[];
      relay: boolean;
      from?: Endpoint | null;
      timeoutSeconds: number;
      /** The tasks' checkpoint-flush-interval read from their configuration (unset: the worker's setting). */
      flushSeconds?: number;
    }): Promise<{
      ok: boolean;
      /** DM shows the source as before (ok may still be false: a task did not catch up). */
      restored: boolean;
      /** What the upstream had when the source was first seen restored: what every task had to reach. */
      want: string;
      behind: Behind;
      waitedSeconds: number;
    }> {
      // the positions DM shows are its last flushed checkpoint: every 30 s while events come, on a heartbeat when idle.
      // A task that runs shows a new one within a minute; a task that shows none reads nothing.
      const began = Date.now();
      let want: string | null = null;
      const first = new Map<string, string>();
      const r = await pollUntil(
        Math.max(
          req.timeoutSeconds,
          catchUpSeconds(req.flushSeconds ? { checkpointFlushSeconds: req.flushSeconds } : ctx.cluster(req.dmCluster)),
        ),
        async () => {
          const state = await ctx.sourceState(req.dmCluster, req.sourceId, true);
          const restored = sourceRestored(state, req);
          if (restored && want === null) {
            want = upstreamGtids(state!, req.tasks);
            for (const x of state!.tasks) first.set(x.name, x.syncerBinlogGtid);
          }
          const moved = (task: string) =>
            state!.tasks.find((x) => x.name === task)?.syncerBinlogGtid !== first.get(task);
          const behind =
            restored && want !== null ? tasksBehind(state!, req.tasks, want).filter((b) => !moved(b.task)) : [];
          return { state, restored, behind };
        },
        (v) =>
          (v.restored && v.behind.length === 0) || (!v.restored && Date.now() - began >= req.timeoutSeconds * 1000),
        (v) =>
          v.state && {
            tasks: v.state.tasks.map((x) => `${x.name} ${x.stage}`),
            relay: v.state.relay?.stage ?? null,
            behind: v.behind,
          },
      );
      return {
        ok: r.last.restored && r.last.behind.length === 0,
        restored: r.last.restored,
        want: want ?? '',
        behind: r.last.behind,
        waitedSeconds: r.waitedSeconds,
      };
    },

    /**
     * After relay started on a source whose tasks run: waits until every task
     * has caught up with what the upstream had when all ran (`want`), and
     * re-opens the binlog reader of a task that DM shows Running while it
     * reads nothing: behind, its position unchanged for `stallSeconds` (75 by
     * default: DM shows flushed checkpoints, up to a minute old), it is
     * paused and resumed (at most twice), so that DM reads its relay log
     * again from the checkpoint. Seen on the real stack: after start-relay
     * re-created the relay sub-directory a task stayed Running/Sync with its
     * position frozen while the upstream moved on. Pausing and resuming
     * moves nothing a checkpoint does not already hold, so a retry after a
     * crash does no harm. `ok` false: a task is not Running or did not catch
     * up in `timeoutSeconds`; the caller's check reports it.
     */
    async dmAwaitTasksCaughtUp(req: {
      dmCluster: string;
      sourceId: string;
      tasks: string[];
      timeoutSeconds: number;
      stallSeconds?: number;
    }): Promise<{
      ok: boolean;
      want: string;
      behind: Behind;
      reopened: Array<{ task: string; lacked: string }>;
      waitedSeconds: number;
    }> {
      const stallMs = (req.stallSeconds ?? CATCH_UP_SECONDS - 15) * 1000;
      let want: string | null = null;
      const moved = new Map<string, { gtid: string; at: number }>();
      const reopened: Array<{ task: string; lacked: string }> = [];
      const reopen = async (task: string) => {
        const one = { dmCluster: req.dmCluster, sourceId: req.sourceId, tasks: [task], timeoutSeconds: 30 };
        await pauseTasks(ctx, one);
        await resumeTasks(ctx, one);
      };
      const r = await pollUntil(
        req.timeoutSeconds,
        async () => {
          const state = await ctx.sourceState(req.dmCluster, req.sourceId);
          const running = req.tasks.every((name) =>
            state.tasks.some((x) => x.name === name && x.stage === 'Running' && x.errors.length === 0),
          );
          if (!running) return { running, behind: [] as Behind };
          if (want === null) want = upstreamGtids(state, req.tasks);
          const behind = tasksBehind(state, req.tasks, want);
          for (const b of behind) {
            const gtid = state.tasks.find((x) => x.name === b.task)?.syncerBinlogGtid ?? '';
            const last = moved.get(b.task);
            if (!last || last.gtid !== gtid) moved.set(b.task, { gtid, at: Date.now() });
            else if (Date.now() - last.at >= stallMs && reopened.filter((x) => x.task === b.task).length < 2) {
              reopened.push({ task: b.task, lacked: b.lacks });
              await reopen(b.task);
              moved.delete(b.task);
            }
          }
          return { running, behind };
        },
        (v) => v.running && v.behind.length === 0,
        (v) => ({ behind: v.behind, reopened }),
      );
      return { ok: r.ok, want: want ?? '', behind: r.last.behind, reopened, waitedSeconds: r.waitedSeconds };
    },
  };
}
