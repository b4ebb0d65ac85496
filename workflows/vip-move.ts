/**
 * The VIP itself: that DM reads through it, moving it (and the undo that
 * moves it back only where it was), and DM's idle connections that a move
 * would cut.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { failure, SwitchErrorType } from '../common/switch/errors.js';
import type { Endpoint, SourceState } from '../common/switch/types.js';
import type { VipSwitchInput } from '../common/switch/input.js';
import { mysql, undoDm, undoVip, vip } from './activities.js';
import { businessFailure, describe } from './compensation.js';
import { refuse, sameHost } from './preflight.js';
import type { Tracker } from './tracker.js';
import { sourceWorker } from './verify.js';

/**
 * The switch moves what DM reads: the source's `from.host` is the VIP, or a
 * name that resolves to it. Otherwise moving the VIP would change nothing
 * DM reads (or something else that reads through it): refused, naming both.
 */
export async function readsThroughVip(t: Tracker, input: VipSwitchInput, source: SourceState): Promise<void> {
  const vipAddress = input.vip.address;
  // through the VIP, DM reaches whichever server listens on from.port of the VIP's holder: checks on another port
  // would judge a server DM never reads, and DM would read one nobody checked
  const ports = [
    { what: 'new instance', ref: input.newInstance },
    ...(input.oldInstance ? [{ what: 'old instance', ref: input.oldInstance }] : []),
  ].filter((x) => x.ref.port !== source.from.port);
  if (ports.length) {
    const { host, port } = source.from;
    const many = ports.length > 1 ? 's' : '';
    const given = ports.map((x) => `the ${x.what} is given at ${x.ref.host}:${x.ref.port}`).join(' and ');
    const reached = ports.map((x) => `${x.ref.host}:${port}`).join(' and ');
    refuse(
      t,
      SwitchErrorType.PreflightFailed,
      `source ${input.sourceId} reads ${host}:${port}, so through the VIP DM reaches port ${port} of the instance ` +
        `that holds it, but ${given}: every check would run on ${many ? 'servers' : 'a server'} DM does not read, ` +
        `and DM would read ${reached}, which nobody checked; nothing was changed. Give the instance${many} at port ` +
        `${port} (the server${many} DM will read through the VIP), or change the port in DM's source config first`,
    );
  }
  if (await sameHost(source.from.host, vipAddress)) {
    t.decide(
      'go',
      `source ${input.sourceId} reads ${source.from.host}:${source.from.port}, which ` +
        `is the VIP ${vipAddress}: moving it moves what DM reads`,
    );
    return;
  }
  refuse(
    t,
    SwitchErrorType.PreflightFailed,
    `source ${input.sourceId} reads ${source.from.host}:${source.from.port}, not the ` +
      `VIP ${vipAddress} (nor a name that resolves to it): moving the VIP would not ` +
      `move what DM reads; nothing was changed. Give the VIP that DM's source config ` +
      `connects to, or re-point the source with an address switch (addressSwitch)`,
  );
}

/** A probe of DM's MySQL driver's TCP keep-alive (Go's default: after 15 s idle, then every 15 s) with margin. */
export const KEEPALIVE_SECONDS = 35;

/** Which dm-worker serves the source, and its addresses: what closeDmIdleConnections closes the connections of. */
export type IdleOwnerLookup = Promise<{ worker: Awaited<ReturnType<typeof sourceWorker>> } | { error: unknown }>;

/**
 * Starts reading which dm-worker serves the source (two reads, no change). Settled, never rejected: started ahead of
 * steps that may fail, its failure must not be an unhandled rejection; closeDmIdleConnections rethrows it.
 */
export function lookUpIdleOwner(input: VipSwitchInput): IdleOwnerLookup {
  return sourceWorker(input.dmCluster, input.sourceId).then(
    (worker) => ({ worker }),
    (error: unknown) => ({ error }),
  );
}

/**
 * Closes the idle connections of the source's dm-worker on the old instance (activities/mysql.ts says why); true when
 * all could be.
 */
export async function closeDmIdleConnections(
  t: Tracker,
  input: VipSwitchInput,
  user: string,
  owner: IdleOwnerLookup = lookUpIdleOwner(input),
): Promise<boolean> {
  const found = await owner;
  if ('error' in found) throw found.error;
  const w = found.worker;
  if (!w || !input.oldInstance) return false;
  const r = await mysql.mysqlCloseIdleConnections({ instance: input.oldInstance, user, hosts: w.addresses });
  t.step(
    `close the idle connections of ${w.describe} on the old instance`,
    r.refused.length ? 'failed' : 'done',
    `${r.closed.length} closed (DM opens new ones through the VIP after the ` +
      `move)${r.refused.length ? `; not closed: ${r.refused.join('; ')}` : ''}`,
  );
  if (r.refused.length)
    t.decide(
      'warn',
      `could not close some of DM's idle connections on the old instance ` +
        `(${r.refused.join('; ')}); DM's first use of one after resume may fail with "invalid connection"`,
    );
  return r.refused.length === 0;
}

/** The VIP moved, or VipMoveFailed naming the provider's words once its retries are spent. */
export async function vipMoveOrFail(input: VipSwitchInput, from: Endpoint | null, to: Endpoint) {
  try {
    return await vip.vipMove({ provider: input.vip.provider, address: input.vip.address, from, to });
  } catch (e) {
    const app = businessFailure(e);
    if (app?.type === SwitchErrorType.InvalidInput) throw e;
    throw failure(
      `moving the VIP ${input.vip.address} to ${to.host} failed (provider "${input.vip.provider}"): ${describe(e)}`,
      SwitchErrorType.VipMoveFailed,
    );
  }
}

/**
 * The undo of the VIP move, from the real state: where the VIP is now, and
 * where it was before the switch (preflight's answer, not the move's). It
 * moves the VIP back only to the old instance that held it and answered at
 * preflight, and only once every task of the source is confirmed Paused and
 * relay stopped (never two instances' streams into one task). A VIP that
 * never reached the new instance is left where it is. A VIP that cannot go
 * back (the old instance was down, or never held it) stops compensation
 * here: the tasks stay paused and an operator decides.
 */
export async function moveVipBack(
  t: Tracker,
  input: VipSwitchInput,
  s: {
    holder: string | null;
    oldTarget: Endpoint | null;
    newTarget: Endpoint;
    oldAlive: boolean;
    tasks: string[];
    relay: boolean;
  },
): Promise<string> {
  const { provider, address } = input.vip;
  const candidates = [s.newTarget, ...(s.oldTarget ? [s.oldTarget] : [])];
  const now = await undoVip.vipLocate({ provider, address, candidates });
  if (now !== s.newTarget.host) {
    t.decide(
      'info',
      `the VIP ${address} is on ${now ?? 'nobody'}, not on the new instance: it was not moved, nothing to move back`,
    );
    return 'not moved';
  }
  if (!s.oldTarget || s.holder !== s.oldTarget.host) {
    throw ApplicationFailure.create({
      message:
        `the VIP ${address} is on the new instance ${s.newTarget.host}; before the ` +
        `switch ${s.holder ? `it was on ${s.holder}, which is not the old instance given` : 'nobody held it'}, ` +
        `so it is not moved back; the tasks stay paused`,
      type: SwitchErrorType.CompensationFailed,
      nonRetryable: true,
    });
  }
  if (!s.oldAlive) {
    throw ApplicationFailure.create({
      message:
        `the VIP ${address} is on the new instance ${s.newTarget.host}; the old instance ` +
        `${s.oldTarget.host} did not answer at preflight, so the VIP is not moved back ` +
        `to it; the tasks stay paused`,
      type: SwitchErrorType.CompensationFailed,
      nonRetryable: true,
    });
  }
  // never move the VIP under a running task or relay: confirm them paused (idempotent) first
  if (s.tasks.length)
    await undoDm.dmPauseTasks({
      dmCluster: input.dmCluster,
      sourceId: input.sourceId,
      tasks: s.tasks,
      timeoutSeconds: 120,
    });
  if (s.relay) await undoDm.dmStopRelay({ dmCluster: input.dmCluster, sourceId: input.sourceId });
  const r = await undoVip.vipMove({ provider, address, from: s.newTarget, to: s.oldTarget });
  t.decide(
    'info',
    `moved the VIP ${address} back to ` +
      `${s.oldTarget.host}${r.alreadyThere ? ' (it was already there)' : ''}, with ` +
      `every task Paused${s.relay ? ' and relay stopped' : ''}`,
  );
  return r.holder ?? '';
}
