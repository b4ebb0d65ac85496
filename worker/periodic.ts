/**
 * A reading the worker repeats for its metrics: now, then every `intervalMs` after the previous one ended (never two
 * at once), until stop(), which waits for the one in flight. A reading that fails goes to `onError`; the next one
 * still comes.
 */
export class Periodic {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly read: () => Promise<void>,
    private readonly intervalMs: number,
    private readonly onError: (e: Error) => void = () => undefined,
  ) {}

  start(): void {
    const tick = async () => {
      this.inFlight = this.read().catch((e: unknown) => this.onError(e instanceof Error ? e : new Error(String(e))));
      await this.inFlight;
      if (!this.stopped) this.timer = setTimeout(() => void tick(), this.intervalMs);
    };
    void tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.inFlight;
  }
}
