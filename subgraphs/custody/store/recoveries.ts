import type { Queryable } from '../../kit/db/types.js';

/** SQL of wallet recoveries (recovery.ts). */

export interface RecoveryRow {
  id: string; org: string; account_id: string; lost_wallet: string; new_wallet: string; reason: string;
  requested_by: string; idempotency_key: string; request_hash: string; created_at: Date;
}

export async function recoveryByKey(q: Queryable, org: string, key: string): Promise<RecoveryRow | null> {
  const [r] = await q.query<RecoveryRow>('SELECT * FROM wallet_recoveries WHERE org = $1 AND idempotency_key = $2', [org, key]);
  return r ?? null;
}

export async function insertRecovery(q: Queryable, r: RecoveryRow): Promise<RecoveryRow> {
  const [row] = await q.query<RecoveryRow>(
    `INSERT INTO wallet_recoveries (id, org, account_id, lost_wallet, new_wallet, reason, requested_by, idempotency_key, request_hash, created_at)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING *`,
    [r.id, r.org, r.account_id, r.lost_wallet, r.new_wallet, r.reason, r.requested_by, r.idempotency_key, r.request_hash, r.created_at],
  );
  return row;
}
