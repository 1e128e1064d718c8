import type { Queryable } from '../../kit/db/types.js';
import { assertSameRequest } from '../../kit/idempotency.js';
import type { OrderStatus } from '../domain/live.js';
import type { EntryFacts } from './venue.js';

/** A new order not claimed because its token is at the settlement backlog bound (orders.ts answers TRADING.SETTLEMENT_BACKLOG). */
export class AtBacklogBound extends Error {
  constructor(readonly tokenId: string, readonly max: number) {
    super(`${tokenId} is at the settlement backlog bound (${max})`);
  }
}

export interface OrderRow {
  id: string; org: string; token_id: string; account_id: string; investor_id: string | null; side: 'BUY' | 'SELL';
  type: 'LIMIT' | 'MARKET'; time_in_force: 'GTC' | 'DAY' | 'IOC' | 'FOK'; price: string | null; protection_price: string | null;
  quantity: string; filled: string; remaining: string; status: OrderStatus; post_only: boolean; stp: string;
  priority: string | null; reject_reasons: { code: string; message: string; regulation?: string; blockingUntil?: string }[];
  cancel_reason: string | null; client_order_id: string; request_hash: string; created_at: Date; accepted_at: Date | null; updated_at: Date;
}
export interface TradeRow {
  id: string; seq: string; token_id: string; price: string; quantity: string; buy_order_id: string; sell_order_id: string; executed_at: Date;
  aggressor_side: 'BUY' | 'SELL'; buy_account_id: string; sell_account_id: string; buy_investor_id: string | null; sell_investor_id: string | null;
  buy_org: string; sell_org: string; cash_amount: string; buyer_fee: string; seller_fee: string; book_seq: string;
}
export interface LevelRow { token_id: string; side: 'BUY' | 'SELL'; price: string; quantity: string; orders: string }
export interface AuditRow { id: string; order_id: string; token_id: string; org: string; event: string; detail: Record<string, unknown>; actor: string | null; at: Date }

export interface NewOrderRow {
  id: string; org: string; token_id: string; account_id: string; investor_id: string | null; side: 'BUY' | 'SELL'; type: 'LIMIT' | 'MARKET';
  time_in_force: string; price: string | null; protection_price: string | null; quantity: string; post_only: boolean; stp: string;
  client_order_id: string; request_hash: string;
}

/**
 * Claims the clientOrderIds of orders arriving together, in ONE statement (atomic without a transaction of its
 * own): a new PENDING_NEW row per order with its RECEIVED audit entry and its reservation intent, or, for a
 * clientOrderId already taken, the earlier order when the request is the same and a typed refusal when it is not.
 * The answer is per order, in order. A duplicate inside the list is a replay of the first. With `maxUnsettled`, a new
 * order of a token with that many fills not yet settled is not inserted (TRADING.SETTLEMENT_BACKLOG); a replay is
 * still answered.
 *
 * A new order also gets the venue's facts its pre-trade checks read (the token's halt flags and last price, the
 * caller's admission: entryFactsMany's answer), from the same statement: no read of their own per batch.
 */
export async function insertPendingOrders(q: Queryable, items: readonly { row: NewOrderRow; actor: string }[], maxUnsettled = 0): Promise<({ row: OrderRow; created: true; facts: EntryFacts } | { row: OrderRow; created: false } | Error)[]> {
  const list = items.map(({ row: o, actor }) => ({ ...o, actor, detail: { side: o.side, type: o.type, price: o.price, quantity: o.quantity } }));
  const created = await q.query<OrderRow & { entry_facts: EntryFacts }>(
    `WITH x AS (
       SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id text, org text, token_id text, account_id text, investor_id text, side text, type text,
         time_in_force text, price numeric, protection_price numeric, quantity numeric, post_only boolean, stp text, client_order_id text, request_hash text,
         actor text, detail jsonb)
     ), o AS (
       INSERT INTO orders (id, org, token_id, account_id, investor_id, side, type, time_in_force, price, protection_price, quantity, remaining,
         post_only, stp, status, client_order_id, request_hash)
       SELECT id, org, token_id, account_id, investor_id, side, type, time_in_force, price, protection_price, quantity, quantity,
         post_only, stp, 'PENDING_NEW', client_order_id, request_hash FROM x
       WHERE $2 = 0 OR (SELECT count(*) FROM (SELECT 1 FROM trades t WHERE t.token_id = x.token_id AND t.settlement_status IS NULL LIMIT $2) u) < $2
       ON CONFLICT (org, client_order_id) DO NOTHING RETURNING *
     ), audit AS (
       INSERT INTO order_audit (order_id, token_id, org, event, detail, actor) SELECT o.id, o.token_id, o.org, 'RECEIVED', x.detail, x.actor FROM o JOIN x ON x.id = o.id
     ), intent AS (
       INSERT INTO reservation_intents (reservation_key, order_id) SELECT id, id FROM o
     )
     SELECT o.*, json_build_object('halted', b.halted, 'halt_reason', b.halt_reason, 'issuer_paused', b.issuer_paused, 'split_id', b.split_id,
       'last_price', b.last_price::text, 'sub_status', s.status, 'sub_reason', s.reason) AS entry_facts
     FROM o LEFT JOIN books b ON b.token_id = o.token_id LEFT JOIN subscribers s ON s.org = o.org`,
    [JSON.stringify(list), maxUnsettled],
  );
  const mine = new Map(created.map(({ entry_facts, ...r }) => [r.id, { row: r, facts: entry_facts }]));
  const replays = items.filter((it) => !mine.has(it.row.id));
  const prior = replays.length === 0 ? [] : await q.query<OrderRow>(
    'SELECT o.* FROM orders o JOIN unnest($1::text[], $2::text[]) AS k(org, client_order_id) USING (org, client_order_id)',
    [replays.map((it) => it.row.org), replays.map((it) => it.row.client_order_id)],
  );
  const byKey = new Map(prior.map((r) => [`${r.org}\u0000${r.client_order_id}`, r]));
  return items.map(({ row: o }) => {
    const r = mine.get(o.id);
    if (r) return { ...r, created: true };
    const p = byKey.get(`${o.org}\u0000${o.client_order_id}`);
    if (!p) return maxUnsettled > 0 ? new AtBacklogBound(o.token_id, maxUnsettled) : new Error('idempotent insert found neither a new nor an existing row');
    try {
      assertSameRequest(p.request_hash, o.request_hash, o.client_order_id);
    } catch (e) {
      return e as Error;
    }
    return { row: p, created: false };
  });
}

/** A refusal before the book: the order leaves PENDING_NEW as REJECTED with every reason. */
export async function rejectPending(q: Queryable, id: string, reasons: OrderRow['reject_reasons'], investorId: string | null = null): Promise<OrderRow | null> {
  const [r] = await q.query<OrderRow>(
    `UPDATE orders SET status = 'REJECTED', remaining = 0, reject_reasons = $2::jsonb, investor_id = coalesce($3, investor_id), updated_at = now()
     WHERE id = $1 AND status = 'PENDING_NEW' RETURNING *`,
    [id, JSON.stringify(reasons), investorId],
  );
  return r ?? null;
}

export async function insertAudit(q: Queryable, rows: { orderId: string; tokenId: string; org: string; event: string; detail: Record<string, unknown>; actor: string | null }[]): Promise<void> {
  if (rows.length === 0) return;
  await q.query(
    `INSERT INTO order_audit (order_id, token_id, org, event, detail, actor)
     SELECT x.order_id, x.token_id, x.org, x.event, x.detail, x.actor
     FROM jsonb_to_recordset($1::jsonb) AS x(order_id text, token_id text, org text, event text, detail jsonb, actor text)`,
    [JSON.stringify(rows.map((r) => ({ order_id: r.orderId, token_id: r.tokenId, org: r.org, event: r.event, detail: r.detail, actor: r.actor })))],
  );
}

export const orderById = async (q: Queryable, id: string) => (await q.query<OrderRow>('SELECT * FROM orders WHERE id = $1', [id]))[0] ?? null;
export const ordersByIds = (q: Queryable, ids: readonly string[]) => q.query<OrderRow>('SELECT * FROM orders WHERE id = ANY($1::text[])', [ids]);
export const tradesByIds = (q: Queryable, ids: readonly string[]) => q.query<TradeRow>('SELECT * FROM trades WHERE id = ANY($1::text[])', [ids]);

export interface OrderFilter { org?: string; investorId?: string; tokenId?: string; accountId?: string; side?: string; statuses?: string[]; limit: number; before?: string }

/** Orders newest first, by the filter (org null: every organisation, for the venue operator). */
export const listOrders = (q: Queryable, f: OrderFilter) =>
  q.query<OrderRow>(
    `SELECT * FROM orders
     WHERE ($1::text IS NULL OR org = $1) AND ($2::text IS NULL OR investor_id = $2) AND ($3::text IS NULL OR token_id = $3)
       AND ($4::text IS NULL OR account_id = $4) AND ($5::text IS NULL OR side = $5) AND ($6::text[] IS NULL OR status = ANY($6::text[]))
       AND ($8::text IS NULL OR id < $8)
     ORDER BY id DESC LIMIT $7`,
    [f.org ?? null, f.investorId ?? null, f.tokenId ?? null, f.accountId ?? null, f.side ?? null, f.statuses?.length ? f.statuses : null, f.limit, f.before ?? null],
  );

export const tradesOfToken = (q: Queryable, tokenId: string, after: bigint, limit: number) =>
  q.query<TradeRow>('SELECT * FROM trades WHERE token_id = $1 AND seq > $2 ORDER BY seq LIMIT $3', [tokenId, after.toString(), limit]);

export const auditOfOrder = (q: Queryable, orderId: string) =>
  q.query<AuditRow>('SELECT * FROM order_audit WHERE order_id = $1 ORDER BY id', [orderId]);

/** Price levels of resting orders for many tokens at once (the order-book loader). */
export const levelsOfTokens = (q: Queryable, tokenIds: readonly string[]) =>
  q.query<LevelRow>(
    `SELECT token_id, side, price, sum(remaining) AS quantity, count(*) AS orders FROM orders
     WHERE token_id = ANY($1::text[]) AND status IN ('OPEN','PARTIALLY_FILLED')
     GROUP BY token_id, side, price`,
    [tokenIds],
  );

/** Best resting price on one side (from committed state; the writer's book may be a batch ahead). */
export async function bestPrice(q: Queryable, tokenId: string, side: 'BUY' | 'SELL'): Promise<bigint | null> {
  const [r] = await q.query<{ p: string | null }>(
    `SELECT ${side === 'BUY' ? 'max' : 'min'}(price) AS p FROM orders WHERE token_id = $1 AND side = $2 AND status IN ('OPEN','PARTIALLY_FILLED')`,
    [tokenId, side],
  );
  return r?.p ? BigInt(r.p) : null;
}

/** The organisation and investor an account's orders were placed for (to scope subscriptions without asking custody). */
export async function accountOwner(q: Queryable, accountId: string): Promise<{ org: string; investor_id: string | null } | null> {
  const [r] = await q.query<{ org: string; investor_id: string | null }>('SELECT org, investor_id FROM orders WHERE account_id = $1 LIMIT 1', [accountId]);
  return r ?? null;
}

/** Tokens with resting orders (their books are rebuilt at start). */
export const tokensWithOpenOrders = (q: Queryable) =>
  q.query<{ token_id: string }>("SELECT DISTINCT token_id FROM orders WHERE status IN ('OPEN','PARTIALLY_FILLED')");

/** What an order's reservations still hold (null: none). */
export async function heldForOrder(q: Queryable, orderId: string): Promise<string | null> {
  const [h] = await q.query<{ held: string | null }>('SELECT sum(amount - used - released) AS held FROM order_reservations WHERE order_id = $1', [orderId]);
  return h?.held ?? null;
}

/** An organisation's resting orders. */
export const openOrdersOfOrg = (q: Queryable, org: string) =>
  q.query<{ id: string; token_id: string }>("SELECT id, token_id FROM orders WHERE org = $1 AND status IN ('OPEN','PARTIALLY_FILLED') ORDER BY id", [org]);

/** Tokens with DAY orders accepted before `before` still resting. */
export const tokensWithDayOrdersBefore = (q: Queryable, before: Date) =>
  q.query<{ token_id: string }>(
    "SELECT DISTINCT token_id FROM orders WHERE time_in_force = 'DAY' AND status IN ('OPEN','PARTIALLY_FILLED') AND accepted_at < $1",
    [before],
  );
