import type { Queryable } from '../kit/db/types.js';
import { appendEvent } from '../kit/outbox.js';

/**
 * Events collected while a transaction does its work and appended at its end:
 * appendEvent takes the outbox lock until commit, so it must come last.
 */
export class PendingEvents {
  private readonly list: { topic: string; key: string; payload: unknown }[] = [];

  add(topic: string, key: string, payload: unknown): void {
    this.list.push({ topic, key, payload });
  }

  async appendTo(q: Queryable): Promise<void> {
    for (const e of this.list) await appendEvent(q, e.topic, e.key, e.payload);
    this.list.length = 0;
  }
}
