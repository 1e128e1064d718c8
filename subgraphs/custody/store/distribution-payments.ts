import type { Queryable } from '../../kit/db/types.js';
import type { WithdrawalRow } from './withdrawals.js';

/** SQL of distribution payments: withdrawals keyed by an entitlement and an attempt. */

/** The entitlement's payment still alive (any status but FAILED), if any. */
export async function paymentWithdrawal(q: Queryable, entitlementId: string): Promise<WithdrawalRow | null> {
  const [r] = await q.query<WithdrawalRow>("SELECT * FROM withdrawals WHERE entitlement_id = $1 AND status <> 'FAILED'", [entitlementId]);
  return r ?? null;
}

/** An approved withdrawal, due for the broadcaster at once: no destination, no quorum (the issuer instructed it). */
export async function insertPaymentWithdrawal(q: Queryable, w: {
  id: string; org: string; account_id: string; asset: string; amount: string; to_address: string; reservation_id: string;
  entitlement_id: string; entitlement_attempt: number; idempotency_key: string; request_hash: string; created_at: Date;
}): Promise<WithdrawalRow> {
  const [r] = await q.query<WithdrawalRow>(
    `INSERT INTO withdrawals (id, org, account_id, asset, amount, to_address, destination_id, reservation_id, status, initiated_by,
       approvals_required, approvers, idempotency_key, request_hash, created_at, next_attempt_at, entitlement_id, entitlement_attempt)
     VALUES ($1,$2,$3,$4,$5::numeric,$6,NULL,$7,'APPROVED','issuance',1,'[]'::jsonb,$8,$9,$10,$10,$11,$12) RETURNING *`,
    [w.id, w.org, w.account_id, w.asset, w.amount, w.to_address, w.reservation_id, w.idempotency_key, w.request_hash, w.created_at, w.entitlement_id, w.entitlement_attempt],
  );
  return r;
}
