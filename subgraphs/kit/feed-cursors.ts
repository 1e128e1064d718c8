import type { Queryable } from './db/types.js';

/**
 * A reader's stored position in an outbox (`feed_cursors`, one row per
 * source). The row is locked from the statement that moves it until the
 * reader's transaction ends, so two replicas of a reader apply each event
 * once: the second waits, then finds the cursor already past it.
 */

/**
 * Claims `events` (read after `from`, in order) for the caller's transaction: moves the cursor to the last
 * and answers the events the cursor had not passed yet, which the caller applies in the same transaction.
 * Usually the cursor stands where this reader left it (`from`): one statement. Otherwise a replica or an
 * earlier try moved it, or the row does not exist yet: it is locked and read, and what it passed is skipped.
 */
export async function claimEvents<E extends { seq: string }>(q: Queryable, source: string, from: bigint, events: E[]): Promise<E[]> {
  if (!events.length) return [];
  const last = events[events.length - 1].seq;
  const moved = await q.query('UPDATE feed_cursors SET position = $3, updated_at = now() WHERE source = $1 AND position = $2 RETURNING 1', [source, from.toString(), last]);
  if (moved.length) return events;
  // ON CONFLICT DO UPDATE locks the existing row and RETURNING gives its position: a read FOR UPDATE in one round trip.
  const [cur] = await q.query<{ position: string }>(
    'INSERT INTO feed_cursors (source, position) VALUES ($1, 0) ON CONFLICT (source) DO UPDATE SET source = EXCLUDED.source RETURNING position', [source]);
  const fresh = events.filter((e) => BigInt(e.seq) > BigInt(cur.position));
  if (fresh.length) await q.query('UPDATE feed_cursors SET position = $2, updated_at = now() WHERE source = $1', [source, last]);
  return fresh;
}

/** The stored position without a lock (0 before the first event). */
export async function cursorPosition(q: Queryable, source: string): Promise<bigint> {
  const [r] = await q.query<{ position: string }>('SELECT position FROM feed_cursors WHERE source = $1', [source]);
  return BigInt(r?.position ?? 0);
}
