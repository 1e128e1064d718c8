import type { Queryable } from '../../kit/db/types.js';

/** SQL of the reservation releases the book owes custody (reservation_ops), sent by releases.ts. */

export interface OpRow { id: string; order_id: string; reservation_key: string; amount: string | null; idempotency_key: string; attempts: number }

export async function pendingReleaseCount(q: Queryable): Promise<number> {
  const [r] = await q.query<{ n: string }>("SELECT count(*) AS n FROM reservation_ops WHERE status = 'PENDING'");
  return Number(r.n);
}

export const pendingReleases = (q: Queryable, limit: number) =>
  q.query<OpRow>("SELECT * FROM reservation_ops WHERE status = 'PENDING' ORDER BY id LIMIT $1", [limit]);

export async function releaseSent(q: Queryable, id: string): Promise<void> {
  await q.query("UPDATE reservation_ops SET status = 'DONE', done_at = now(), attempts = attempts + 1 WHERE id = $1", [id]);
}

/** Done without a call: custody never made the reservation (`code` says why). */
export async function releaseNotNeeded(q: Queryable, id: string, code: string): Promise<void> {
  await q.query("UPDATE reservation_ops SET status = 'DONE', done_at = now(), last_error = $2 WHERE id = $1", [id, code]);
}

export async function releaseAttemptFailed(q: Queryable, id: string, error: string, status: 'FAILED' | 'PENDING'): Promise<void> {
  await q.query('UPDATE reservation_ops SET attempts = attempts + 1, last_error = $2, status = $3 WHERE id = $1', [id, error, status]);
}
