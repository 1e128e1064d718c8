import type { Queryable } from './types.js';
import { txState } from './tx-state.js';

/**
 * Rows a transaction gathers while it runs and writes at its end, one
 * statement per kind for all of them (a group commit's history rows, audit
 * entries and outbox events) instead of one statement per row. Only where the
 * transaction asked for it (`gatherWrites`); elsewhere a write goes at once.
 * Nothing in the transaction may read a gathered row back before the flush.
 */
export interface WriteKind<T> {
  /** Flush order: lower first (the outbox, whose lock is held until commit, goes last). */
  readonly order: number;
  write(q: Queryable, rows: T[]): Promise<void>;
}

const GATHERED = Symbol('gathered writes');
type Gathered = Map<WriteKind<unknown>, unknown[]>;

/** From now on this transaction gathers the rows given to `writeOrGather` until `flushWrites`. */
export function gatherWrites(q: Queryable): void {
  const state = txState(q);
  if (!state.has(GATHERED)) state.set(GATHERED, new Map());
}

/** Gathers the row when the transaction gathers, else writes it now. */
export async function writeOrGather<T>(q: Queryable, kind: WriteKind<T>, row: T): Promise<void> {
  const gathered = txState(q).get(GATHERED) as Gathered | undefined;
  if (!gathered) return kind.write(q, [row]);
  let rows = gathered.get(kind as WriteKind<unknown>);
  if (!rows) gathered.set(kind as WriteKind<unknown>, (rows = []));
  rows.push(row);
}

/** Writes what the transaction gathered, kind by kind in their order, and keeps gathering afterwards. */
export async function flushWrites(q: Queryable): Promise<void> {
  const gathered = txState(q).get(GATHERED) as Gathered | undefined;
  if (!gathered?.size) return;
  const kinds = [...gathered].sort((a, b) => a[0].order - b[0].order);
  gathered.clear();
  for (const [kind, rows] of kinds) await kind.write(q, rows);
}

/**
 * Runs `work` with the transaction gathering its writes and writes them at its end: a step that appends many rows
 * of a kind in a transaction of its own. Inside a transaction that gathers already, whoever started it writes them.
 */
export async function gathering<T>(q: Queryable, work: () => Promise<T>): Promise<T> {
  const state = txState(q);
  if (state.has(GATHERED)) return work();
  gatherWrites(q);
  try {
    const out = await work();
    await flushWrites(q);
    return out;
  } finally {
    state.delete(GATHERED);
  }
}
