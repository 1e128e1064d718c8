/**
 * Public subscriptions: each follows its subgraph's outbox from a cursor (the
 * outbox seq as a string). The outbox seq is commit order without gaps, so
 * resuming `after` the last cursor a client saw loses and repeats nothing.
 * Without `after`, a subscription starts at the current end.
 */
import { badInput } from './errors.js';
import { lastSeq, type OutboxEvent, type OutboxWatcher } from './outbox.js';
import type { Db } from './db/types.js';

export function parseCursor(after: string | null | undefined): bigint | null {
  if (after === null || after === undefined) return null;
  if (!/^\d{1,19}$/.test(after)) throw badInput('INVALID_CURSOR', 'after must be a cursor returned by this API (digits)');
  return BigInt(after);
}

/**
 * An async iterator over matching events; `return()` (the client left)
 * aborts the wait at once instead of after the next poll.
 */
export function follow<T>(db: Db, outbox: OutboxWatcher, o: { after: bigint | null; topics: string[]; match(e: OutboxEvent): boolean; map(e: OutboxEvent): T | Promise<T> }): AsyncIterableIterator<T> {
  const ac = new AbortController();
  let cursor: bigint | null = o.after;
  let buffer: OutboxEvent[] = [];
  const done = { value: undefined as unknown as T, done: true as const };
  let counted = false;
  /** Ends the iterator once: it no longer counts as following. */
  const end = () => {
    if (counted && !ac.signal.aborted) outbox.following--;
    ac.abort();
  };
  const it: AsyncIterableIterator<T> = {
    async next() {
      try {
        cursor ??= await lastSeq(db);
        // Live from here: anything appended from now on reaches this subscriber (operators and tests read the count).
        if (!counted && !ac.signal.aborted) {
          counted = true;
          outbox.following++;
        }
        while (!ac.signal.aborted) {
          while (buffer.length) {
            const e = buffer.shift()!;
            cursor = BigInt(e.seq);
            if (o.match(e)) return { value: await o.map(e), done: false };
          }
          buffer = await outbox.read({ after: cursor, limit: 500, topics: o.topics, waitMs: 25_000, signal: ac.signal });
        }
        return done;
      } catch (e) {
        end(); // the stream ends with this error: nobody calls return() after it
        throw e;
      }
    },
    async return() {
      end();
      return done;
    },
    [Symbol.asyncIterator]() {
      return it;
    },
  };
  return it;
}
