import { Coalescer } from '../coalesce.js';
import { flushWrites, gatherWrites } from './deferred-writes.js';
import { forgetTxState } from './tx-state.js';
import type { Db, Queryable } from './types.js';

/**
 * Runs every item's work in ONE transaction. An item whose work throws an
 * error `isItemError` accepts is answered with that error and leaves nothing
 * behind; the others commit together. Any other error fails the whole call.
 *
 * Optimistic: the first pass runs the items one after the other with no
 * savepoints (two round trips fewer per item); only when an item fails is the
 * transaction rolled back and run again with a savepoint around each item.
 * `begin` is called at the start of each pass (state collected for the pass,
 * such as events to append at its end), `end` at its end inside the transaction.
 * With `gather`, the first pass gathers the items' deferrable writes
 * (kit/db/deferred-writes.ts) and makes them set-wise before `end`; if that
 * fails, the second pass writes each item's rows inside its own savepoint.
 */
export async function eachInOneTransaction<I, R, P>(
  db: Db,
  items: readonly I[],
  o: {
    begin: () => P;
    work: (q: Queryable, item: I, pass: P) => Promise<R>;
    isItemError: (e: unknown) => boolean;
    /** Before a savepoint rollback: forget what the pass collected for the item (returns an undo). */
    mark?: (pass: P) => () => void;
    end?: (q: Queryable, pass: P) => Promise<void>;
    gather?: boolean;
  },
): Promise<(R | Error)[]> {
  class ItemFailed extends Error {}
  try {
    return await db.tx(async (q) => {
      const pass = o.begin();
      const out: R[] = [];
      if (o.gather) gatherWrites(q);
      for (const item of items) {
        try {
          out.push(await o.work(q, item, pass));
        } catch (e) {
          if (o.isItemError(e)) throw new ItemFailed();
          throw e;
        }
      }
      try {
        await flushWrites(q);
      } catch (e) {
        // Some item's row was refused: which one only the second pass, item by item, can tell.
        if (o.isItemError(e)) throw new ItemFailed();
        throw e;
      }
      await o.end?.(q, pass);
      return out;
    });
  } catch (e) {
    if (!(e instanceof ItemFailed)) throw e;
  }
  // db.tx may run this again after a deadlock or serialization failure: answers start afresh each time.
  return db.tx(async (q) => {
    const pass = o.begin();
    const out: (R | Error)[] = [];
    for (const item of items) {
      const undo = o.mark?.(pass);
      await q.query('SAVEPOINT item');
      try {
        out.push(await o.work(q, item, pass));
        await q.query('RELEASE SAVEPOINT item');
      } catch (e) {
        if (!o.isItemError(e)) throw e;
        await q.query('ROLLBACK TO SAVEPOINT item');
        await q.query('RELEASE SAVEPOINT item');
        forgetTxState(q); // what the transaction remembered may come from the rolled-back item
        undo?.();
        out.push(e as Error);
      }
    }
    await o.end?.(q, pass);
    return out;
  });
}

/**
 * Group commit: short transactions asked for concurrently run together in one
 * database transaction (eachInOneTransaction: one that throws is rolled back
 * alone and its caller gets its error while the others commit). One commit,
 * one hold of any lock they share (such as an audit chain's), for many units
 * of work. The first runs at once; those asked for while a group is
 * committing go in the next group. Only for work that does nothing but SQL:
 * a slow step inside would hold every other one up. If the commit itself
 * fails, every caller of the group gets that error and nothing of it is kept.
 * The rows its units hand to `writeOrGather` (status history, audit entries,
 * outbox events) are written set-wise, one statement per kind for the group.
 */
export class GroupCommit {
  private readonly batcher: Coalescer<(q: Queryable) => Promise<unknown>, unknown>;

  constructor(private readonly db: Db, maxGroup = 64) {
    this.batcher = new Coalescer((fns: ((q: Queryable) => Promise<unknown>)[]) => this.runGroup(fns), { maxBatch: maxGroup, maxInFlight: 1 });
  }

  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    return this.batcher.request(fn) as Promise<T>;
  }

  private async runGroup(fns: ((q: Queryable) => Promise<unknown>)[]): Promise<unknown[]> {
    if (fns.length === 1) return [await this.db.tx(fns[0]).catch((e: unknown) => asError(e))];
    // Any error of one unit of work is that caller's; only a failure of the transaction itself is everyone's.
    return eachInOneTransaction(this.db, fns, { begin: () => undefined, work: (q, fn) => fn(q), isItemError: isItemError, gather: true });
  }
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));

/** A database error that aborted the transaction is not one item's alone: the group is run again (savepoints). */
const isItemError = (e: unknown): boolean => e instanceof Error;
