/**
 * Runs a pass at most once at a time. A request during a running pass gets
 * the NEXT pass (so it sees everything that happened before it asked), and
 * all requests made during one pass share that next pass.
 */
export class PassRunner {
  private current?: Promise<void>;
  private queued?: Promise<void>;

  constructor(private readonly pass: () => Promise<void>) {}

  run(): Promise<void> {
    if (this.queued) return this.queued;
    if (!this.current) return (this.current = this.start());
    const after = this.current;
    this.queued = after.then(() => {
      this.queued = undefined;
      return (this.current = this.start());
    });
    return this.queued;
  }

  /** Resolves when nothing is running or queued. */
  async idle(): Promise<void> {
    while (this.current || this.queued) await (this.queued ?? this.current)?.catch(() => undefined);
  }

  private start(): Promise<void> {
    const p = this.pass().finally(() => { if (this.current === p) this.current = undefined; });
    return p;
  }
}
