/**
 * Waiting for a server the sandbox just started: poll `probe` until it
 * succeeds, fail at once if the process exits, and fail after the deadline,
 * each time with the diagnostics the caller gives (its log's tail).
 */
export interface ReadyOptions {
  /** Names the server in errors, e.g. "tidb-server". */
  what: string;
  /** The server's process; its end while waiting is a failure. */
  process: Promise<unknown>;
  /** Resolves once the server serves; throws while it does not yet. */
  probe: () => Promise<void>;
  /** What to append to an error: where to look and what the log says. */
  diagnostics: () => Promise<string>;
  timeoutMs?: number;
  intervalMs?: number;
}

export async function waitUntilReady(o: ReadyOptions): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  void o.process.then(
    () => (exited = true),
    () => (exited = true),
  );
  for (;;) {
    if (exited) throw new Error(`${o.what} exited while starting: ${await o.diagnostics()}`);
    try {
      await o.probe();
      return;
    } catch (e) {
      if (Date.now() > deadline)
        throw new Error(`${o.what} not ready within ${timeoutMs / 1000} s (${String(e)}): ${await o.diagnostics()}`);
      await new Promise((r) => setTimeout(r, o.intervalMs ?? 200));
    }
  }
}
