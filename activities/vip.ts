/**
 * VIP providers: where a virtual IP points now, and moving it. The switch
 * workflow only ever asks through these two operations, so the mechanism is
 * pluggable (a command, keepalived, a proxy, a cloud API).
 *
 * Contract every provider keeps:
 * - `locate` reads the real state: the address of the instance holding the
 *   VIP now, or null when nobody holds it.
 * - `move` is idempotent: if the VIP already points at `to`, it changes
 *   nothing and reports `alreadyThere: true`. Otherwise it moves the VIP
 *   (taking it off `from` if `from` still holds it) and returns once the move
 *   took effect.
 */
import { failure, SwitchErrorType } from '../common/switch/errors.js';
import { matchHost } from './net.js';

/** A MySQL instance as the VIP layer knows it: the address it owns besides the VIP. */
export interface VipTarget {
  host: string;
  port: number;
}

export interface VipMoveResult {
  alreadyThere: boolean;
  /** Where the VIP points after the call (read back from the provider). */
  holder: string | null;
}

export interface VipProvider {
  readonly name: string;
  locate(vip: string, candidates: VipTarget[]): Promise<string | null>;
  move(vip: string, from: VipTarget | null, to: VipTarget): Promise<VipMoveResult>;
  /**
   * Optional: whether the provider could move the VIP to `to` (same
   * network, a host it manages), without moving it: null when it can, else
   * why not. A provider without it cannot tell before it tries.
   */
  canHold?(vip: string, to: VipTarget): Promise<string | null>;
}

/** The VIP activities: providers are named in the worker's configuration, chosen by the input. */
export function createVipActivities(providers: Record<string, VipProvider>) {
  const provider = async (name: string): Promise<VipProvider> => {
    const p = providers[name];
    if (p) return p;
    const known =
      Object.keys(providers)
        .map((k) => `"${k}"`)
        .join(', ') || 'none';
    throw failure(
      `unknown VIP provider "${name}": the worker knows ${known} (vip.providers in its configuration)`,
      SwitchErrorType.InvalidInput,
    );
  };
  return {
    /**
     * Where the VIP points now: the holder's host, or null. A holder that is
     * one of the candidates under another spelling (its address for a
     * candidate given by name, or the reverse) is reported as the candidate's
     * host, so the workflow compares like with like.
     */
    async vipLocate(req: { provider: string; address: string; candidates: VipTarget[] }): Promise<string | null> {
      const holder = await (await provider(req.provider)).locate(req.address, req.candidates);
      if (holder === null) return null;
      return (
        (await matchHost(
          holder,
          req.candidates.map((c) => c.host),
        )) ?? holder
      );
    },
    /**
     * Whether the provider could move the VIP to `to` (for a switch choosing
     * among candidates): `checked` false when the provider has no way to
     * tell before it tries (then `ok` is true and the move itself decides).
     */
    async vipCanHold(req: {
      provider: string;
      address: string;
      to: VipTarget;
    }): Promise<{ ok: boolean; checked: boolean; reason: string }> {
      const p = await provider(req.provider);
      if (!p.canHold)
        return {
          ok: true,
          checked: false,
          reason: `VIP provider "${req.provider}" has no check: it cannot tell before it moves`,
        };
      const why = await p.canHold(req.address, req.to);
      return why === null
        ? {
            ok: true,
            checked: true,
            reason: `VIP provider "${req.provider}" can move ${req.address} to ${req.to.host}`,
          }
        : { ok: false, checked: true, reason: why };
    },
    /** Moves the VIP to `to`; a no-op (alreadyThere) when it is there already, so retries and re-runs are safe. */
    async vipMove(req: {
      provider: string;
      address: string;
      from: VipTarget | null;
      to: VipTarget;
    }): Promise<VipMoveResult> {
      return (await provider(req.provider)).move(req.address, req.from, req.to);
    },
  };
}

export type VipActivities = ReturnType<typeof createVipActivities>;
