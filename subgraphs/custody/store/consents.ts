import type { Queryable } from '../../kit/db/types.js';

/**
 * SQL of the DvP consents custody signs (dvp-signing.ts): what a list of consent
 * requests reads (the signing wallets, the caller's reservations), one statement
 * each, and what each consent signed will move on the account's chain balances,
 * in flight while one of its reservations is still open (reconciliation.ts, sweeps.ts).
 */

export interface ConsentMove { asset: string; delta: string }

/** A signed consent as recorded: one row per (batch, account); a consent signed again replaces it. */
export interface ConsentRecord { batchId: string; accountId: string; reservationIds: string[]; moves: ConsentMove[] }

/** Records many consents in one statement (the last of a (batch, account) given twice wins, as two calls would leave it). */
export function upsertConsents(q: Queryable, list: readonly ConsentRecord[]) {
  const rows = [...new Map(list.map((c) => [`${c.batchId}\u0000${c.accountId}`, c])).values()];
  if (rows.length === 0) return Promise.resolve([]);
  return q.query(
    `INSERT INTO dvp_consents (batch_id, account_id, reservation_ids, moves)
     SELECT c.batch_id, c.account_id, ARRAY(SELECT jsonb_array_elements_text(c.reservation_ids)), c.moves
     FROM jsonb_to_recordset($1::jsonb) AS c(batch_id text, account_id text, reservation_ids jsonb, moves jsonb)
     ON CONFLICT (batch_id, account_id) DO UPDATE SET reservation_ids = EXCLUDED.reservation_ids, moves = EXCLUDED.moves, signed_at = now()`,
    [JSON.stringify(rows.map((c) => ({ batch_id: c.batchId, account_id: c.accountId, reservation_ids: c.reservationIds, moves: c.moves })))],
  );
}

/** The active wallet of each account (where its key is) and the sweep moving its assets, if one is. */
export interface SigningWalletRow {
  account_id: string; address: string; encrypted_key: Buffer | null; key_label: string | null;
  sweep_id: string | null; sweep_phase: string | null; sweep_new_wallet: string | null;
}

export async function signingWalletsOf(q: Queryable, accountIds: readonly string[]): Promise<SigningWalletRow[]> {
  const rows = await q.query<Omit<SigningWalletRow, 'encrypted_key'> & { encrypted_key: Buffer | Uint8Array | null }>(
    `SELECT w.account_id, w.address, w.encrypted_key, w.key_label, s.id AS sweep_id, s.phase AS sweep_phase, s.new_wallet AS sweep_new_wallet
     FROM wallets w LEFT JOIN wallet_sweeps s ON s.account_id = w.account_id AND s.status = 'MOVING'
     WHERE w.account_id = ANY($1::text[]) AND w.retired_at IS NULL`,
    [accountIds],
  );
  return rows.map((r) => ({ ...r, encrypted_key: r.encrypted_key ? Buffer.from(r.encrypted_key) : null }));
}

/** A reservation the caller made under one of its keys, with what is left of it and its asset's contract. */
export interface HeldReservationRow { key: string; id: string; account_id: string; asset: string; status: 'OPEN' | 'CLOSED'; remaining: string; contract_address: string | null }

/** The caller's reservations under these keys (a key with no reservation is absent), one statement. */
export const heldReservations = (q: Queryable, service: string, keys: readonly string[]) =>
  keys.length === 0 ? Promise.resolve([] as HeldReservationRow[]) : q.query<HeldReservationRow>(
    `SELECT k.key, r.id, r.account_id, r.asset, r.status, (r.amount - r.released - r.consumed)::text AS remaining, a.contract_address
     FROM unnest($2::text[]) AS k(key)
     JOIN ledger_operations o ON o.service = $1 AND o.idempotency_key = k.key AND o.kind = 'RESERVE'
     JOIN reservations r ON r.id = o.result #>> '{reservation,reservationId}'
     LEFT JOIN assets a ON a.id = r.asset`,
    [service, keys],
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
