import type { ExecutionResult } from 'graphql';

/**
 * What one client subscription has not yet been sent, as the async iterator
 * graphql-ws pulls from. graphql-ws sends the next result only once the
 * previous one reached the socket, so a client that does not read lets this
 * queue grow; past `limit` the queue is dropped and `onOverflow` closes the
 * client, instead of the gateway holding its backlog in memory.
 */
export class ClientQueue implements AsyncIterableIterator<ExecutionResult> {
  private items: ExecutionResult[] = [];
  private waiter?: { resolve(r: IteratorResult<ExecutionResult>): void; reject(e: Error): void };
  private failure?: Error;
  private ended = false;

  constructor(private readonly limit: number, private readonly onOverflow: () => void, private readonly onEnd: () => void) {}

  push(r: ExecutionResult): void {
    if (this.ended) return;
    if (this.waiter) return this.wake({ value: r, done: false });
    if (this.items.length >= this.limit) {
      this.finish();
      this.onOverflow();
      return;
    }
    this.items.push(r);
  }

  /** Ends the stream with an error the client receives (with its code). */
  fail(e: Error): void {
    if (this.ended) return;
    this.failure = e;
    this.ended = true;
    this.items = [];
    this.onEnd();
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      this.failure = undefined;
      w.reject(e);
    }
  }

  /** Ends the stream once what is queued was sent. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd();
    if (this.waiter && !this.items.length) this.wake({ value: undefined, done: true });
  }

  get pending(): number {
    return this.items.length;
  }

  async next(): Promise<IteratorResult<ExecutionResult>> {
    if (this.items.length) return { value: this.items.shift()!, done: false };
    if (this.failure) {
      const e = this.failure;
      this.failure = undefined;
      throw e;
    }
    if (this.ended) return { value: undefined, done: true };
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** The client left (complete or socket closed). */
  async return(): Promise<IteratorResult<ExecutionResult>> {
    this.finish();
    return { value: undefined, done: true };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private finish(): void {
    const wasEnded = this.ended;
    this.ended = true;
    this.items = [];
    if (!wasEnded) this.onEnd();
    if (this.waiter) this.wake({ value: undefined, done: true });
  }

  private wake(r: IteratorResult<ExecutionResult>): void {
    const w = this.waiter!;
    this.waiter = undefined;
    w.resolve(r);
  }
}
