import type { Queryable } from '../kit/db/types.js';
import { insertOnce } from '../kit/idempotency.js';

export interface SettlementRow {
  id: string; org: string; token_id: string; status: string; quantity: string; price: string; buyer_account_id: string;
  seller_account_id: string; venue: string; venue_reference: string; trade_time: Date; request_hash: string; created_at: Date;
}
export interface HistoryRow { settlement_id: string; seq: number; status: string; reason: string | null; at: Date }

export async function insertSettlement(q: Queryable, s: Omit<SettlementRow, 'created_at' | 'status'>) {
  return insertOnce<SettlementRow>(
    q,
    {
      sql: `INSERT INTO settlements (id, org, token_id, status, quantity, price, buyer_account_id, seller_account_id, venue, venue_reference, trade_time, request_hash)
            VALUES ($1,$2,$3,'RECEIVED',$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT (venue, venue_reference) DO NOTHING RETURNING *`,
      params: [s.id, s.org, s.token_id, s.quantity, s.price, s.buyer_account_id, s.seller_account_id, s.venue, s.venue_reference, s.trade_time, s.request_hash],
    },
    { sql: 'SELECT * FROM settlements WHERE venue = $1 AND venue_reference = $2', params: [s.venue, s.venue_reference] },
    s.request_hash,
    `${s.venue}/${s.venue_reference}`,
  );
}

export async function appendHistory(q: Queryable, settlementId: string, status: string, reason: string | null) {
  await q.query(
    `INSERT INTO settlement_history (settlement_id, seq, status, reason)
     SELECT $1, coalesce(max(seq), 0) + 1, $2, $3 FROM settlement_history WHERE settlement_id = $1`,
    [settlementId, status, reason],
  );
}

export const settlementsOfOrg = (q: Queryable, org: string) =>
  q.query<SettlementRow>('SELECT * FROM settlements WHERE org = $1 ORDER BY created_at, id', [org]);
export const settlementsByIds = (q: Queryable, ids: readonly string[]) =>
  q.query<SettlementRow>('SELECT * FROM settlements WHERE id = ANY($1::text[])', [ids]);
export const historyOf = (q: Queryable, ids: readonly string[]) =>
  q.query<HistoryRow>('SELECT * FROM settlement_history WHERE settlement_id = ANY($1::text[]) ORDER BY settlement_id, seq', [ids]);
