import type { Queryable } from '../../kit/db/types.js';
import { fencedUpdate, fencedUpdateMany, setClause, type RowRef } from './leases.js';

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

export interface NewBatch { id: string; chainBatchId: string; mode: string; tokenId: string; dvp: string; chainId: number; legs: LegJson[]; payers: PayerJson[]; deadline: Date }

/** New batches in one statement, each leased to the process that opens it (lease_owner: `owner`) and driven by it at once; answered in the order given. */
export async function insertBatches(q: Queryable, bs: NewBatch[], leaseMs: number, owner: string | null): Promise<BatchRow[]> {
  const rows = await q.query<BatchRow>(
    `INSERT INTO dvp_batches (id, chain_batch_id, mode, token_id, status, dvp_address, chain_id, legs, payers, consent_deadline, next_attempt_at, lease_until, lease_gen, lease_owner)
     SELECT x.id, x.chain_batch_id, x.mode, x.token_id, 'PREPARED', x.dvp, x.chain_id, x.legs, x.payers, x.deadline, now(), now() + make_interval(secs => $2::double precision / 1000), 1, $3
     FROM jsonb_to_recordset($1::jsonb) AS x(id text, chain_batch_id text, mode text, token_id text, dvp text, chain_id bigint, legs jsonb, payers jsonb, deadline timestamptz)
     RETURNING *`,
    [JSON.stringify(bs.map((b) => ({ id: b.id, chain_batch_id: b.chainBatchId, mode: b.mode, token_id: b.tokenId, dvp: b.dvp, chain_id: b.chainId, legs: b.legs, payers: b.payers, deadline: b.deadline }))), leaseMs, owner],
  );
  const byId = new Map(rows.map((r) => [r.id, r]));
  return bs.map((b) => byId.get(b.id)!);
}

const BATCH_PATCHABLE = new Set(['status', 'consents', 'tx_hash', 'block_number', 'block_time', 'reason_code', 'reason', 'attempts', 'next_attempt_at', 'lease_until', 'last_error', 'gas_used', 'effective_gas_price']);

/** Patches a batch; with `expected`, only while it is in one of those statuses (null when it moved on). */
export function updateBatch(q: Queryable, ref: RowRef, expected: BatchRow['status'][] | null, patch: Partial<BatchRow>): Promise<BatchRow | null> {
  const set = setClause(patch as Record<string, unknown>, BATCH_PATCHABLE, new Set(['consents']), 4);
  return fencedUpdate<BatchRow>(q, 'dvp_batches', ref, set.sql, '($3::text[] IS NULL OR status = ANY($3::text[]))', [expected, ...set.params]);
}

type Leased = { id: string; lease_gen: string };
const fenced = (b: Leased) => ({ id: b.id, gen: String(b.lease_gen) });

/** Each batch's consents, recorded while it is PREPARED: one statement for all (fencedUpdateMany's answers). */
export const recordConsents = (q: Queryable, items: { batch: Leased; consents: ConsentJson[] }[]) =>
  fencedUpdateMany<BatchRow>(q, 'dvp_batches', items.map((i) => ({ ...fenced(i.batch), consents: i.consents })), 'consents jsonb', 'consents = x.consents', "t.status = 'PREPARED'");

/** Each PREPARED batch sent in the transaction named: SUBMITTED, one attempt more. */
export const markSubmitted = (q: Queryable, items: { batch: Leased; txHash: string }[]) =>
  fencedUpdateMany<BatchRow>(
    q, 'dvp_batches', items.map((i) => ({ ...fenced(i.batch), tx_hash: i.txHash })), 'tx_hash text',
    "status = 'SUBMITTED', tx_hash = x.tx_hash, attempts = t.attempts + 1, last_error = NULL", "t.status = 'PREPARED'",
  );

/** Where and at what cost a batch settled on chain (gas: its share of the transaction's, when the receipt is known). */
export interface SettledFacts { txHash: string; blockNumber: string; blockTime: Date; gasUsed: string | null; gasPrice: string | null }

/** Each batch not yet settled or failed recorded SETTLED, with nothing more to do on it. */
export const markBatchesSettled = (q: Queryable, items: { batch: Leased; facts: SettledFacts }[]) =>
  fencedUpdateMany<BatchRow>(
    q, 'dvp_batches',
    items.map(({ batch, facts: f }) => ({ ...fenced(batch), tx_hash: f.txHash, block_number: f.blockNumber, block_time: f.blockTime, gas_used: f.gasUsed, effective_gas_price: f.gasPrice })),
    'tx_hash text, block_number bigint, block_time timestamptz, gas_used numeric, effective_gas_price numeric',
    `status = 'SETTLED', tx_hash = x.tx_hash, block_number = x.block_number, block_time = x.block_time, gas_used = x.gas_used,
     effective_gas_price = x.effective_gas_price, next_attempt_at = NULL, lease_until = NULL, last_error = NULL`,
    "t.status IN ('PREPARED', 'SUBMITTED')",
  );

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
