/** SQL of the book writer: taking a book over, loading it, and storing a batch's effects in its transaction. */
import type { Queryable } from '../../kit/db/types.js';
import type { Effects } from '../journal.js';
import type { LiveOrder, Tranche } from '../domain/live.js';
import type { OrderRow } from './orders.js';

export interface BookRow {
  token_id: string; epoch: string; last_event_seq: string; halted: boolean; halt_reason: string | null; halted_by: string | null; halted_at: Date | null;
  issuer_paused: boolean; issuer_paused_at: Date | null; last_price: string | null; last_trade_at: Date | null;
  /** The issuer's split in progress (its open orders are cancelled, new ones refused); null when none. */
  split_id: string | null;
  /** The issuer's redemption burning the token (its open orders are cancelled, the token retired); null when none. */
  redemption_id: string | null;
}

/** Whether orders on the book are halted: by the operator, the issuer's pause, a split under way or the redemption. */
export const bookHalted = (b: BookRow): boolean => b.halted || b.issuer_paused || !!b.split_id || !!b.redemption_id;
interface TrancheRow { order_id: string; tranche: number; reservation_key: string; account_id: string; asset: string; amount: string; used: string; released: string }

export const ensureBook = (q: Queryable, tokenId: string) =>
  q.query('INSERT INTO books (token_id) VALUES ($1) ON CONFLICT (token_id) DO NOTHING', [tokenId]);

export async function bookRow(q: Queryable, tokenId: string, forUpdate = false): Promise<BookRow | null> {
  const [r] = await q.query<BookRow>(`SELECT * FROM books WHERE token_id = $1${forUpdate ? ' FOR UPDATE' : ''}`, [tokenId]);
  return r ?? null;
}

export const booksByIds = (q: Queryable, ids: readonly string[]) => q.query<BookRow>('SELECT * FROM books WHERE token_id = ANY($1::text[])', [ids]);

/** A new writer takes the book: the epoch moves on, so a writer that lost its lock can no longer commit. */
export async function takeOver(q: Queryable, tokenId: string): Promise<BookRow> {
  const [r] = await q.query<BookRow>(
    `INSERT INTO books (token_id, epoch) VALUES ($1, 1)
     ON CONFLICT (token_id) DO UPDATE SET epoch = books.epoch + 1, updated_at = now() RETURNING *`,
    [tokenId],
  );
  return r;
}

const trancheOf = (r: TrancheRow): Tranche => ({
  tranche: r.tranche, key: r.reservation_key, accountId: r.account_id, asset: r.asset, amount: BigInt(r.amount), used: BigInt(r.used), released: BigInt(r.released),
});

export function liveOf(r: OrderRow, tranches: Tranche[]): LiveOrder {
  return {
    id: r.id, tokenId: r.token_id, org: r.org, accountId: r.account_id, investorId: r.investor_id, clientOrderId: r.client_order_id,
    side: r.side, type: r.type, timeInForce: r.time_in_force, price: BigInt(r.price ?? r.protection_price ?? '0'),
    quantity: BigInt(r.quantity), filled: BigInt(r.filled), remaining: BigInt(r.remaining), status: r.status, postOnly: r.post_only,
    stp: r.stp as LiveOrder['stp'], priority: r.priority === null ? null : Number(r.priority), acceptedAt: r.accepted_at,
    cancelReason: r.cancel_reason, rejectReasons: r.reject_reasons, tranches,
  };
}

async function tranchesOf(q: Queryable, orderIds: string[]): Promise<Map<string, Tranche[]>> {
  const rows = orderIds.length ? await q.query<TrancheRow>('SELECT * FROM order_reservations WHERE order_id = ANY($1::text[]) ORDER BY order_id, tranche', [orderIds]) : [];
  const m = new Map<string, Tranche[]>();
  for (const r of rows) {
    const list = m.get(r.order_id) ?? [];
    list.push(trancheOf(r));
    m.set(r.order_id, list);
  }
  return m;
}

/** The open orders of a token with what they hold: the input of the book's rebuild. */
export async function openOrders(q: Queryable, tokenId: string): Promise<LiveOrder[]> {
  const rows = await q.query<OrderRow>("SELECT * FROM orders WHERE token_id = $1 AND status IN ('OPEN','PARTIALLY_FILLED') ORDER BY priority", [tokenId]);
  const t = await tranchesOf(q, rows.map((r) => r.id));
  return rows.map((r) => liveOf(r, t.get(r.id) ?? []));
}

/**
 * Orders still waiting for the book (and locked, so a recovery sweep cannot reject them meanwhile), with what
 * they hold, in one statement (amounts as text: JSON numbers would lose digits).
 */
export async function pendingOrders(q: Queryable, ids: string[]): Promise<Map<string, LiveOrder>> {
  if (ids.length === 0) return new Map();
  const rows = await q.query<OrderRow & { held: TrancheRow[] }>(
    `SELECT o.*, coalesce((SELECT json_agg(json_build_object('order_id', r.order_id, 'tranche', r.tranche, 'reservation_key', r.reservation_key,
         'account_id', r.account_id, 'asset', r.asset, 'amount', r.amount::text, 'used', r.used::text, 'released', r.released::text) ORDER BY r.tranche)
       FROM order_reservations r WHERE r.order_id = o.id), '[]'::json) AS held
     FROM orders o WHERE o.id = ANY($1::text[]) AND o.status = 'PENDING_NEW' FOR UPDATE OF o`,
    [ids],
  );
  return new Map(rows.map(({ held, ...r }) => [r.id, liveOf(r, held.map(trancheOf))]));
}

/** Reservation intents still standing (a sweep may have released one whose process looked dead). */
export async function standingIntents(q: Queryable, keys: string[]): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  const rows = await q.query<{ reservation_key: string }>('SELECT reservation_key FROM reservation_intents WHERE reservation_key = ANY($1::text[]) FOR UPDATE', [keys]);
  return new Set(rows.map((r) => r.reservation_key));
}

const j = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));

/**
 * Everything a batch changed, as ONE statement of data-modifying CTEs (one round trip whatever the batch holds), in the
 * writer's transaction; the outbox events are appended by the caller, last.
 */
export async function storeEffects(q: Queryable, tokenId: string, epoch: bigint, fx: Effects, commandsDone: { id: string; result: unknown }[]): Promise<void> {
  const journal = fx.journal.map((e) => ({ seq: e.seq, type: e.type, order_id: e.orderId, payload: e.payload }));
  const orders = [...fx.orders.values()].map((o) => ({
    id: o.id, price: o.price, quantity: o.quantity, filled: o.filled, remaining: o.remaining, status: o.status, priority: o.priority,
    cancel_reason: o.cancelReason, reject_reasons: o.rejectReasons, accepted_at: o.acceptedAt, investor_id: o.investorId,
  }));
  const trades = fx.trades.map((t) => ({
    id: t.id, price: t.price, quantity: t.quantity, buy_order_id: t.buy.id, sell_order_id: t.sell.id, executed_at: t.executedAt,
    book_seq: t.bookSeq, aggressor_side: t.aggressorSide, buy_account_id: t.buy.accountId, sell_account_id: t.sell.accountId,
    buy_investor_id: t.buy.investorId, sell_investor_id: t.sell.investorId, buy_org: t.buy.org, sell_org: t.sell.org,
    cash_amount: t.cash, buyer_fee: t.buyerFee, seller_fee: t.sellerFee, reservations: t.reservations,
  }));
  const tranches = [...fx.tranches.values()].map(({ order, t }) => ({
    order_id: order.id, tranche: t.tranche, reservation_key: t.key, account_id: t.accountId, asset: t.asset, amount: t.amount, used: t.used, released: t.released,
  }));
  const releases = fx.releases.map((r) => ({ order_id: r.orderId, reservation_key: r.key, amount: r.amount, idempotency_key: r.idempotencyKey }));
  const audit = fx.audit.map((a) => ({ order_id: a.orderId, token_id: a.tokenId, org: a.org, event: a.event, detail: a.detail, actor: a.actor }));
  await q.query(
    `WITH
     journal AS (
       INSERT INTO book_events (token_id, seq, epoch, type, order_id, payload)
       SELECT $1, x.seq, $2, x.type, x.order_id, x.payload FROM jsonb_to_recordset($3::jsonb) AS x(seq bigint, type text, order_id text, payload jsonb)),
     orders_done AS (
       UPDATE orders o SET price = CASE WHEN o.type = 'LIMIT' THEN x.price ELSE NULL END, quantity = x.quantity, filled = x.filled, remaining = x.remaining,
         status = x.status, priority = x.priority, cancel_reason = x.cancel_reason, reject_reasons = x.reject_reasons,
         accepted_at = coalesce(o.accepted_at, x.accepted_at), investor_id = x.investor_id, updated_at = now()
       FROM jsonb_to_recordset($4::jsonb) AS x(id text, price numeric, quantity numeric, filled numeric, remaining numeric, status text,
         priority bigint, cancel_reason text, reject_reasons jsonb, accepted_at timestamptz, investor_id text)
       WHERE o.id = x.id),
     trades_done AS (
       INSERT INTO trades (id, token_id, price, quantity, buy_order_id, sell_order_id, executed_at, book_seq, aggressor_side, buy_account_id, sell_account_id,
         buy_investor_id, sell_investor_id, buy_org, sell_org, cash_amount, buyer_fee, seller_fee, reservations)
       SELECT x.id, $1, x.price, x.quantity, x.buy_order_id, x.sell_order_id, x.executed_at, x.book_seq, x.aggressor_side, x.buy_account_id, x.sell_account_id,
         x.buy_investor_id, x.sell_investor_id, x.buy_org, x.sell_org, x.cash_amount, x.buyer_fee, x.seller_fee, x.reservations
       FROM jsonb_to_recordset($5::jsonb) AS x(id text, price numeric, quantity numeric, buy_order_id text, sell_order_id text, executed_at timestamptz,
         book_seq bigint, aggressor_side text, buy_account_id text, sell_account_id text, buy_investor_id text, sell_investor_id text, buy_org text, sell_org text,
         cash_amount numeric, buyer_fee numeric, seller_fee numeric, reservations jsonb)
       ORDER BY x.book_seq),
     tranches_done AS (
       INSERT INTO order_reservations (order_id, tranche, reservation_key, account_id, asset, amount, used, released)
       SELECT x.order_id, x.tranche, x.reservation_key, x.account_id, x.asset, x.amount, x.used, x.released
       FROM jsonb_to_recordset($6::jsonb) AS x(order_id text, tranche int, reservation_key text, account_id text, asset text, amount numeric, used numeric, released numeric)
       ON CONFLICT (order_id, tranche) DO UPDATE SET used = EXCLUDED.used, released = EXCLUDED.released),
     intents_done AS (
       DELETE FROM reservation_intents WHERE reservation_key = ANY($7::text[])),
     releases_owed AS (
       INSERT INTO reservation_ops (order_id, reservation_key, amount, idempotency_key)
       SELECT x.order_id, x.reservation_key, x.amount, x.idempotency_key FROM jsonb_to_recordset($8::jsonb) AS x(order_id text, reservation_key text, amount numeric, idempotency_key text)
       ON CONFLICT (idempotency_key) DO NOTHING),
     audit_done AS (
       INSERT INTO order_audit (order_id, token_id, org, event, detail, actor)
       SELECT x.e->>'order_id', x.e->>'token_id', x.e->>'org', x.e->>'event', x.e->'detail', x.e->>'actor'
       FROM jsonb_array_elements($9::jsonb) WITH ORDINALITY AS x(e, n) ORDER BY x.n),
     commands_done AS (
       UPDATE commands c SET status = 'DONE', result = x.result, done_at = now() FROM jsonb_to_recordset($10::jsonb) AS x(id bigint, result jsonb)
       WHERE c.id = x.id AND c.status = 'PENDING')
     UPDATE books SET last_event_seq = greatest(last_event_seq, $11), last_price = coalesce($12, last_price),
       last_trade_at = CASE WHEN $12::numeric IS NULL THEN last_trade_at ELSE now() END, updated_at = now()
     WHERE token_id = $1`,
    [tokenId, epoch.toString(), j(journal), j(orders), j(trades), j(tranches), [...fx.intents], j(releases), j(audit), j(commandsDone),
      fx.lastEventSeq, fx.lastPrice?.toString() ?? null],
  );
}

export interface CommandRow { id: string; token_id: string; kind: 'PLACE' | 'CANCEL' | 'REPLACE' | 'EXPIRE'; order_id: string | null; payload: Record<string, unknown> }

export const pendingCommands = (q: Queryable, tokenId: string, limit: number) =>
  q.query<CommandRow>("SELECT id, token_id, kind, order_id, payload FROM commands WHERE token_id = $1 AND status = 'PENDING' ORDER BY id LIMIT $2", [tokenId, limit]);

export const tokensWithPendingCommands = (q: Queryable) =>
  q.query<{ token_id: string }>("SELECT DISTINCT token_id FROM commands WHERE status = 'PENDING'");

// ---- the command queue between processes (a book's commands run in its owner's writer) ----

/** Queues a command for the book's owner process and wakes it (LISTEN trading_commands). */
export async function queueCommand(q: Queryable, tokenId: string, kind: string, orderId: string | null, cmd: unknown): Promise<{ id: string }> {
  const [r] = await q.query<{ id: string }>('INSERT INTO commands (token_id, kind, order_id, payload) VALUES ($1,$2,$3,$4::jsonb) RETURNING id',
    [tokenId, kind, orderId, JSON.stringify(cmd)]);
  await q.query("SELECT pg_notify('trading_commands', $1)", [tokenId]);
  return r;
}

export async function commandOutcome<R>(q: Queryable, id: string): Promise<{ status: string; result: R } | undefined> {
  const [c] = await q.query<{ status: string; result: R }>('SELECT status, result FROM commands WHERE id = $1', [id]);
  return c;
}

/** Wakes the processes waiting for these commands' results (LISTEN trading_results). */
export async function notifyResults(q: Queryable, ids: string[]): Promise<void> {
  await q.query("SELECT pg_notify('trading_results', $1)", [ids.join(',')]);
}
