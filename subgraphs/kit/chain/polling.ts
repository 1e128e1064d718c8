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
      void this.runPass().finally(() => { if (!this.stopped) this.timer = setTimeout(tick, this.pollMs); });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.passes.idle();
  }

  protected runPass(): Promise<void> {
    return this.passes.run();
  }
}
