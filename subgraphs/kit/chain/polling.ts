import { PassRunner } from '../coalesce.js';

/**
 * A background worker (an indexer, a job runner): its pass runs at start,
 * then pollMs after each one ends, and on demand; one at a time (PassRunner:
 * a call during a pass gets the next one). stop() waits for the pass in progress.
 */
export abstract class PolledWorker {
  private timer?: NodeJS.Timeout;
  /** Set by stop(): a long pass checks it between its steps. */
  protected stopped = false;
  private readonly passes = new PassRunner(() => this.pass());

  constructor(private readonly pollMs: number) {}

  protected abstract pass(): Promise<void>;

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      // A failed pass (the chain or the database away) is the worker's to log; the next tick retries.
      void this.runPass().catch((e) => this.passFailed(e)).finally(() => { if (!this.stopped) this.timer = setTimeout(tick, this.pollMs); });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.passes.idle();
  }

  /** A scheduled pass threw; the next one retries. */
  protected passFailed(_e: unknown): void { /* subclasses log */ }

  protected runPass(): Promise<void> {
    return this.passes.run();
  }
}
