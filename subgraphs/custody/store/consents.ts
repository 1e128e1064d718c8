import type { Queryable } from '../../kit/db/types.js';

/**
 * SQL of the DvP consents custody signed (dvp-signing.ts records them): what each
 * will move on the account's chain balances, in flight while one of its
 * reservations is still open (reconciliation.ts, sweeps.ts).
 */

export interface ConsentMove { asset: string; delta: string }

export const upsertConsent = (q: Queryable, c: { batchId: string; accountId: string; reservationIds: string[]; moves: ConsentMove[] }) =>
  q.query(
    `INSERT INTO dvp_consents (batch_id, account_id, reservation_ids, moves) VALUES ($1, $2, $3::text[], $4::jsonb)
     ON CONFLICT (batch_id, account_id) DO UPDATE SET reservation_ids = EXCLUDED.reservation_ids, moves = EXCLUDED.moves, signed_at = now()`,
    [c.batchId, c.accountId, c.reservationIds, JSON.stringify(c.moves)],
  );

/** The moves of every consent signed after `since` whose reservations the booking has not all consumed. */
export const consentsInFlight = (q: Queryable, since: Date) =>
  q.query<{ account_id: string; moves: ConsentMove[] }>(
    `SELECT c.account_id, c.moves FROM dvp_consents c
     WHERE c.signed_at > $1 AND EXISTS (SELECT 1 FROM reservations r WHERE r.id = ANY(c.reservation_ids) AND r.status = 'OPEN')`,
    [since],
  );

/** One consent of the account in flight (signed after `since`), or null. */
export async function consentInFlightOf(q: Queryable, accountId: string, since: Date): Promise<{ batch_id: string } | null> {
  const [c] = await q.query<{ batch_id: string }>(
    `SELECT c.batch_id FROM dvp_consents c WHERE c.account_id = $1 AND c.signed_at > $2
     AND EXISTS (SELECT 1 FROM reservations r WHERE r.id = ANY(c.reservation_ids) AND r.status = 'OPEN') LIMIT 1`,
    [accountId, since]);
  return c ?? null;
}
