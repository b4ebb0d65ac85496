/**
 * The poll loop of the activities that wait for a state (verification, the
 * rollback check): inside one activity that heartbeats, so that a wait of
 * minutes writes no history events but its start and end (a workflow timer
 * and an activity per second would grow the history with the wait). The
 * first attempt's start is kept in the heartbeat details: a retry after the
 * worker died mid-wait keeps the input's bound instead of starting it again.
 */
import { Context } from '@temporalio/activity';

export interface Polled<T> {
  /** The condition held before the bound. */
  ok: boolean;
  /** What the last probe saw. */
  last: T;
  waitedSeconds: number;
}

/**
 * Probes every `intervalMs` (1 s) until `done(last)` or `timeoutSeconds` since the first attempt began; probes at least
 * once.
 */
export async function pollUntil<T>(
  timeoutSeconds: number,
  probe: () => Promise<T>,
  done: (v: T) => boolean,
  progress: (v: T) => unknown = () => undefined,
  intervalMs = 1000,
): Promise<Polled<T>> {
  const ctx = Context.current();
  const started = (ctx.info.heartbeatDetails as { started?: number } | undefined)?.started ?? Date.now();
  const waited = () => Math.round((Date.now() - started) / 1000);
  for (;;) {
    const last = await probe();
    if (done(last)) return { ok: true, last, waitedSeconds: waited() };
    ctx.heartbeat({ started, progress: progress(last) });
    if (Date.now() - started >= timeoutSeconds * 1000) return { ok: false, last, waitedSeconds: waited() };
    await new Promise((r) => setTimeout(r, intervalMs));
    ctx.cancellationSignal.throwIfAborted();
  }
}
