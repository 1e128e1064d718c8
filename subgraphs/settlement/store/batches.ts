import type { Queryable } from '../../kit/db/types.js';
import { fencedUpdate, setClause, type RowRef } from './leases.js';

/** SQL of DvP batches (one on-chain transaction each). Amounts go in and come back as decimal strings. */

export interface LegJson { token: string; from: string; to: string; amount: string }
export interface PayerJson { accountId: string; wallet: string; reservationKeys: string[] }
export interface ConsentJson { signer: string; nonces: string[]; deadline: number; signature: string }

export interface BatchRow {
  id: string; chain_batch_id: string; mode: 'GROSS' | 'NETTED'; token_id: string; status: 'PREPARED' | 'SUBMITTED' | 'SETTLED' | 'FAILED';
  dvp_address: string; chain_id: string; legs: LegJson[]; payers: PayerJson[]; consents: ConsentJson[] | null; consent_deadline: Date;
  tx_hash: string | null; block_number: string | null; block_time: Date | null; reason_code: string | null; reason: string | null;
  attempts: number; next_attempt_at: Date | null; lease_until: Date | null; lease_gen: string; lease_owner: string | null; last_error: string | null;
  created_at: Date; updated_at: Date; gas_used: string | null; effective_gas_price: string | null;
}

/** A new batch, leased to the process that opens it (lease_owner: `owner`) and driven by it at once. */
export async function insertBatch(q: Queryable, b: { id: string; chainBatchId: string; mode: string; tokenId: string; dvp: string; chainId: number; legs: LegJson[]; payers: PayerJson[]; deadline: Date; leaseMs: number; owner?: string }): Promise<BatchRow> {
  const [r] = await q.query<BatchRow>(
    `INSERT INTO dvp_batches (id, chain_batch_id, mode, token_id, status, dvp_address, chain_id, legs, payers, consent_deadline, next_attempt_at, lease_until, lease_gen, lease_owner)
     VALUES ($1,$2,$3,$4,'PREPARED',$5,$6,$7::jsonb,$8::jsonb,$9, now(), now() + make_interval(secs => $10::double precision / 1000), 1, $11) RETURNING *`,
    [b.id, b.chainBatchId, b.mode, b.tokenId, b.dvp, b.chainId, JSON.stringify(b.legs), JSON.stringify(b.payers), b.deadline, b.leaseMs, b.owner ?? null],
  );
  return r;
}

const BATCH_PATCHABLE = new Set(['status', 'consents', 'tx_hash', 'block_number', 'block_time', 'reason_code', 'reason', 'attempts', 'next_attempt_at', 'lease_until', 'last_error', 'gas_used', 'effective_gas_price']);

/** Patches a batch; with `expected`, only while it is in one of those statuses (null when it moved on). */
export function updateBatch(q: Queryable, ref: RowRef, expected: BatchRow['status'][] | null, patch: Partial<BatchRow>): Promise<BatchRow | null> {
  const set = setClause(patch as Record<string, unknown>, BATCH_PATCHABLE, new Set(['consents']), 4);
  return fencedUpdate<BatchRow>(q, 'dvp_batches', ref, set.sql, '($3::text[] IS NULL OR status = ANY($3::text[]))', [expected, ...set.params]);
}

export async function batchById(q: Queryable, id: string): Promise<BatchRow | null> {
  const [r] = await q.query<BatchRow>('SELECT * FROM dvp_batches WHERE id = $1', [id]);
  return r ?? null;
}
export const batchesByIds = (q: Queryable, ids: readonly string[]) =>
  q.query<BatchRow>('SELECT * FROM dvp_batches WHERE id = ANY($1::text[])', [ids]);

export function claimDueBatches(q: Queryable, leaseMs: number, limit: number, owner: string | null = null) {
  return q.query<BatchRow>(
    `UPDATE dvp_batches SET lease_until = now() + make_interval(secs => $1::double precision / 1000), lease_gen = lease_gen + 1, lease_owner = $3
     WHERE id IN (SELECT id FROM dvp_batches WHERE next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
                  ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
     RETURNING *`,
    [leaseMs, limit, owner],
  );
}
