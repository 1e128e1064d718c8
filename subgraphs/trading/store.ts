import type { Queryable } from '../kit/db/types.js';
import { insertOnce } from '../kit/idempotency.js';

export interface OrderRow {
  id: string; org: string; token_id: string; account_id: string; side: 'BUY' | 'SELL'; price: string; quantity: string;
  remaining: string; status: string; client_order_id: string; request_hash: string; created_at: Date;
}
export interface TradeRow { id: string; token_id: string; price: string; quantity: string; buy_order_id: string; sell_order_id: string; executed_at: Date }
export interface LevelRow { token_id: string; side: 'BUY' | 'SELL'; price: string; quantity: string; orders: string }

export async function insertOrder(q: Queryable, o: Omit<OrderRow, 'created_at' | 'remaining' | 'status'>) {
  return insertOnce<OrderRow>(
    q,
    {
      sql: `INSERT INTO orders (id, org, token_id, account_id, side, price, quantity, remaining, status, client_order_id, request_hash)
            VALUES ($1,$2,$3,$4,$5,$6,$7,$7,'OPEN',$8,$9) ON CONFLICT (org, client_order_id) DO NOTHING RETURNING *`,
      params: [o.id, o.org, o.token_id, o.account_id, o.side, o.price, o.quantity, o.client_order_id, o.request_hash],
    },
    { sql: 'SELECT * FROM orders WHERE org = $1 AND client_order_id = $2', params: [o.org, o.client_order_id] },
    o.request_hash,
    o.client_order_id,
  );
}

export const ordersOfOrg = (q: Queryable, org: string) => q.query<OrderRow>('SELECT * FROM orders WHERE org = $1 ORDER BY created_at, id', [org]);
export const ordersByIds = (q: Queryable, ids: readonly string[]) => q.query<OrderRow>('SELECT * FROM orders WHERE id = ANY($1::text[])', [ids]);
export const tradesByIds = (q: Queryable, ids: readonly string[]) => q.query<TradeRow>('SELECT * FROM trades WHERE id = ANY($1::text[])', [ids]);
export const tradesOfToken = (q: Queryable, tokenId: string) =>
  q.query<TradeRow>('SELECT * FROM trades WHERE token_id = $1 ORDER BY executed_at, id', [tokenId]);

/** Price levels of resting orders for many tokens at once (the order-book loader). */
export const levelsOfTokens = (q: Queryable, tokenIds: readonly string[]) =>
  q.query<LevelRow>(
    `SELECT token_id, side, price, sum(remaining) AS quantity, count(*) AS orders FROM orders
     WHERE token_id = ANY($1::text[]) AND status IN ('OPEN','PARTIALLY_FILLED')
     GROUP BY token_id, side, price`,
    [tokenIds],
  );
