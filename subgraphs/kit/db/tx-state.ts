import type { Queryable } from './types.js';

/**
 * Facts one transaction keeps while it runs (such as the head of a hash chain
 * it locked and read once), keyed by the transaction's Queryable: gone with it.
 * A rollback to a savepoint forgets them (`forgetTxState`), so nothing the
 * rolled-back part wrote is remembered.
 */
const states = new WeakMap<Queryable, Map<symbol, unknown>>();

export function txState(q: Queryable): Map<symbol, unknown> {
  let m = states.get(q);
  if (!m) states.set(q, (m = new Map()));
  return m;
}

export function forgetTxState(q: Queryable): void {
  states.delete(q);
}
