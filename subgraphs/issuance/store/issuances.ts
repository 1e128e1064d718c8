import type { Queryable } from '../../kit/db/types.js';
import { insertOnce } from '../../kit/idempotency.js';

/** SQL of primary issuance (issue.ts): the mint's intent and outcome, the lot it creates and the purchase it records. */

export interface IssuanceRow { id: string; status: string; tx_hash: string | null; request_hash: string; created_at: Date }

export async function issuanceByKey(q: Queryable, org: string, key: string): Promise<IssuanceRow | undefined> {
  const [prior] = await q.query<IssuanceRow>('SELECT * FROM issuances WHERE org = $1 AND idempotency_key = $2', [org, key]);
  return prior;
}

export interface NewIssuance {
  id: string; tokenId: string; investorId: string; wallet: string; amount: bigint; priceCents: bigint | null; acquiredAt: Date;
  org: string; idempotencyKey: string; requestHash: string;
}

/** The PENDING intent, recorded before the chain call; a retry with the same key gets the row recorded first. */
export const insertIssuance = (q: Queryable, i: NewIssuance) => insertOnce<IssuanceRow>(
  q,
  {
    sql: `INSERT INTO issuances (id, token_id, investor_id, wallet, amount, price_cents, acquired_at, status, org, idempotency_key, request_hash)
          VALUES ($1,$2,$3,$4,$5,$6,$7,'PENDING',$8,$9,$10) ON CONFLICT (org, idempotency_key) DO NOTHING RETURNING *`,
    params: [i.id, i.tokenId, i.investorId, i.wallet, i.amount.toString(), i.priceCents?.toString() ?? null, i.acquiredAt, i.org, i.idempotencyKey, i.requestHash],
  },
  { sql: 'SELECT * FROM issuances WHERE org = $1 AND idempotency_key = $2', params: [i.org, i.idempotencyKey] },
  i.requestHash,
  i.idempotencyKey,
);

export async function issuanceFailed(q: Queryable, id: string, error: string): Promise<void> {
  await q.query(`UPDATE issuances SET status = 'FAILED', error = $2 WHERE id = $1`, [id, error]);
}

export async function issuanceDone(q: Queryable, id: string, txHash: string): Promise<void> {
  await q.query(`UPDATE issuances SET status = 'DONE', tx_hash = $2 WHERE id = $1`, [id, txHash]);
}

/** The mint's lot; if the indexer saw the mint first, its lot takes the acquisition date given here. Returns the lot's id. */
export async function upsertIssuedLot(
  q: Queryable, l: { id: string; tokenId: string; investorId: string; amount: bigint; acquiredAt: Date; txHash: string; logIndex: number },
): Promise<string> {
  const [lot] = await q.query<{ id: string }>(
    `INSERT INTO lots (id, token_id, investor_id, amount, remaining, acquired_at, holding_period_start, issued_at, source, tx_hash, log_index)
     VALUES ($1,$2,$3,$4,$4,$5,$5,$5,'ISSUANCE',$6,$7)
     ON CONFLICT (tx_hash, log_index, investor_id) DO UPDATE SET acquired_at = $5, holding_period_start = $5, issued_at = $5
     RETURNING id`,
    [l.id, l.tokenId, l.investorId, l.amount.toString(), l.acquiredAt, l.txHash, l.logIndex],
  );
  return lot.id;
}

export async function insertPurchase(
  q: Queryable, p: { issuanceId: string; tokenId: string; investorId: string; exemption: string; accredited: boolean; amountCents: bigint; at: Date },
): Promise<void> {
  await q.query(
    `INSERT INTO purchases (issuance_id, token_id, investor_id, exemption, accredited, amount_cents, at) VALUES ($1,$2,$3,$4,$5,$6,$7)`,
    [p.issuanceId, p.tokenId, p.investorId, p.exemption, p.accredited, p.amountCents.toString(), p.at],
  );
}
