/**
 * A source's relay: stopped (its position frozen first) while the upstream
 * changes, started again after, and the wait until it reads a new
 * sub-directory and has caught up.
 */
import { Context } from '@temporalio/activity';
import type { RelayState } from '../../common/switch/types.js';
import { pollUntil } from '../poll.js';
import type { DmContext } from './context.js';
import { checked, unavailable } from './dmctl.js';
import { relaySwitched } from './positions.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function relayActivities(ctx: DmContext) {
  const { dmctl } = ctx;
  return {
    /**
     * `stop-relay` for the source, so its relay unit does not read through the
     * VIP while it moves (or the old source while it is replaced). The relay
     * is paused first (`pause-relay`) so that its position, relayBinlogGtid,
     * stops moving and can be read: that is what it would ask the new
     * instance for if it kept its relay log, so the switch holds it to the
     * GTID rules. Idempotent; the frozen status is kept in the heartbeat, so a
     * retry after a crash between the stop and the answer still returns it.
     * `frozen` is null when relay was not running (or its status was lost).
     */
    async dmStopRelay(req: {
      dmCluster: string;
      sourceId: string;
    }): Promise<{ wasRunning: boolean; frozen: RelayState | null }> {
      const c = Context.current();
      const earlier = (c.info.heartbeatDetails as { frozen?: RelayState } | undefined)?.frozen ?? null;
      const state = await ctx.sourceState(req.dmCluster, req.sourceId);
      if (state.relay === null) return { wasRunning: earlier !== null, frozen: earlier };
      if (state.relay.stage !== 'Paused') {
        checked('pause-relay', await dmctl(req.dmCluster, ['pause-relay', '-s', req.sourceId]));
      }
      let frozen: RelayState | null = null;
      for (let i = 0; i < 60; i++) {
        frozen = (await ctx.sourceState(req.dmCluster, req.sourceId)).relay;
        if (frozen === null || frozen.stage === 'Paused') break;
        c.heartbeat({ waitingFor: 'relay Paused', stage: frozen.stage });
        await sleep(250);
      }
      if (frozen !== null && frozen.stage !== 'Paused') {
        throw unavailable(
          `relay of source ${req.sourceId} did not become Paused after pause-relay (stage ${frozen.stage})`,
        );
      }
      c.heartbeat({ frozen });
      checked('stop-relay', await dmctl(req.dmCluster, ['stop-relay', '-s', req.sourceId]));
      return { wasRunning: true, frozen: frozen ?? earlier };
    },

    /** `start-relay` for the source. Idempotent: a running relay is left as it is. */
    async dmStartRelay(req: { dmCluster: string; sourceId: string }): Promise<RelayState | null> {
      const state = await ctx.sourceState(req.dmCluster, req.sourceId);
      if (state.relay !== null && state.relay.stage === 'Running') return state.relay;
      checked('start-relay', await dmctl(req.dmCluster, ['start-relay', '-s', req.sourceId]));
      return (await ctx.sourceState(req.dmCluster, req.sourceId)).relay;
    },

    /**
     * Waits, inside this one activity, until relay reads a sub-directory other than `oldRelayDir` and has caught
     * up with the upstream.
     */
    async dmAwaitRelaySwitched(req: {
      dmCluster: string;
      sourceId: string;
      oldRelayDir: string | null;
      timeoutSeconds: number;
    }): Promise<{ ok: boolean; relay: RelayState | null; waitedSeconds: number }> {
      const r = await pollUntil(
        req.timeoutSeconds,
        async () => (await ctx.sourceState(req.dmCluster, req.sourceId)).relay,
        (relay) => relaySwitched(relay, req.oldRelayDir),
        (relay) => relay,
      );
      return { ok: r.ok, relay: r.last, waitedSeconds: r.waitedSeconds };
    },
  };
}
