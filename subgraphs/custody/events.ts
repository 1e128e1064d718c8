import type { Queryable } from '../kit/db/types.js';
import { appendEvents } from '../kit/outbox.js';

/**
 * Events collected while a transaction does its work and appended at its end:
 * appendEvent takes the outbox lock until commit, so it must come last.
 */
export class PendingEvents {
  private readonly list: { topic: string; key: string; payload: unknown }[] = [];

  add(topic: string, key: string, payload: unknown): void {
    this.list.push({ topic, key, payload });
  }

  get size(): number {
    return this.list.length;
  }

  /** Forgets the events added after the first `n` (their work was rolled back). */
  truncate(n: number): void {
    this.list.length = n;
  }

  async appendTo(q: Queryable): Promise<void> {
    await appendEvents(q, this.list.splice(0)); // one statement, one NOTIFY
  }
}
