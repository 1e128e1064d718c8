import type { Queryable } from '../../kit/db/types.js';
import type { EntitlementRow } from './distributions.js';

/** SQL of paying distributions: what is due, with what decides a hold, and the entitlement's changes. */

export interface DueEntitlement extends EntitlementRow {
  token_id: string; issuer_org: string; investor_org: string; asset: string; paying_account_id: string;
  wallet_frozen: boolean; aml_status: string; jurisdiction_now: string; wallet: string | null;
}

/**
 * Entitlements due at `now`, oldest first, locked (SKIP LOCKED: two replicas take different ones),
 * with the holder's state now: its freeze on the token, AML status, jurisdiction, first active wallet.
 */
const WITH_HOLDER_NOW = `SELECT e.*, d.token_id, d.issuer_org, i.org AS investor_org, d.asset, d.paying_account_id,
            coalesce(c.wallet_frozen, false) AS wallet_frozen, i.aml_status, i.jurisdiction AS jurisdiction_now,
            (SELECT w.address FROM investor_wallets w WHERE w.investor_id = e.investor_id AND w.status = 'ACTIVE' ORDER BY w.added_at, w.address LIMIT 1) AS wallet
     FROM entitlements e
     JOIN distributions d ON d.id = e.distribution_id
     JOIN investors i ON i.id = e.investor_id
     LEFT JOIN investor_controls c ON c.token_id = d.token_id AND c.investor_id = e.investor_id`;

export const dueEntitlements = (q: Queryable, now: Date, limit: number) =>
  q.query<DueEntitlement>(
    `${WITH_HOLDER_NOW}
     WHERE e.status IN ('PENDING','FAILED') AND e.next_attempt_at <= $1
     ORDER BY e.next_attempt_at, e.id LIMIT $2
     FOR UPDATE OF e SKIP LOCKED`,
    [now, limit],
  );

/** One entitlement with its holder's state now, locked (the issuer's release or retry). */
export async function entitlementWithHolder(q: Queryable, id: string): Promise<DueEntitlement | null> {
  const [r] = await q.query<DueEntitlement>(`${WITH_HOLDER_NOW} WHERE e.id = $1 FOR UPDATE OF e`, [id]);
  return r ?? null;
}

type Change = Partial<Pick<EntitlementRow, 'status' | 'reason' | 'attempts' | 'instructed_at' | 'next_attempt_at' | 'paid_to' | 'tx_hash' | 'reference' | 'paid_at'>>;

export async function setEntitlement(q: Queryable, id: string, c: Change): Promise<EntitlementRow> {
  const keys = Object.keys(c) as (keyof Change)[];
  const [r] = await q.query<EntitlementRow>(
    `UPDATE entitlements SET ${keys.map((k, n) => `${k} = $${n + 2}`).join(', ')}, updated_at = now() WHERE id = $1 RETURNING *`,
    [id, ...keys.map((k) => c[k])],
  );
  return r;
}

export async function markPaymentStarted(q: Queryable, distributionIds: readonly string[], now: Date): Promise<void> {
  await q.query('UPDATE distributions SET payment_started_at = $2 WHERE id = ANY($1::text[]) AND payment_started_at IS NULL', [distributionIds, now]);
}

/** The entitlement a result is for, locked, when that attempt is still the one awaited. */
type ForResult = EntitlementRow & { token_id: string; issuer_org: string; investor_org: string };
export async function entitlementForResult(q: Queryable, id: string, attempt: number): Promise<ForResult | null> {
  const [r] = await q.query<ForResult>(
    `SELECT e.*, d.token_id, d.issuer_org, i.org AS investor_org
     FROM entitlements e JOIN distributions d ON d.id = e.distribution_id JOIN investors i ON i.id = e.investor_id
     WHERE e.id = $1 AND e.attempts = $2 AND e.status = 'PENDING' AND e.instructed_at IS NOT NULL FOR UPDATE OF e`,
    [id, attempt],
  );
  return r ?? null;
}
