/** SQL of the venue's oversight: subscribers, halts, reservation intents and recovery, surveillance alerts. */
import type { Queryable } from '../../kit/db/types.js';
import type { BookRow } from './writer.js';
import type { OrderRow } from './orders.js';

export interface SubscriberRow { org: string; status: 'ADMITTED' | 'SUSPENDED'; reason: string; updated_by: string; admitted_at: Date | null; updated_at: Date }
export interface AlertRow {
  id: string; kind: 'WASH_TRADE' | 'LAYERING'; token_id: string; orgs: string[]; account_id: string | null; investor_id: string | null;
  order_ids: string[]; trade_ids: string[]; detail: Record<string, unknown>; created_at: Date;
}

export const subscriberOf = async (q: Queryable, org: string) =>
  (await q.query<SubscriberRow>('SELECT * FROM subscribers WHERE org = $1', [org]))[0] ?? null;

export interface EntryKey { tokenId: string; org: string }
export interface EntryFacts { halted: boolean | null; halt_reason: string | null; issuer_paused: boolean | null; split_id: string | null; last_price: string | null; sub_status: string | null; sub_reason: string | null }

/**
 * What order entry reads of its own state, for the orders being checked together in one statement: each token's
 * halt flags and last price, each caller's admission. One answer per key, in order.
 */
export async function entryFactsMany(q: Queryable, keys: readonly EntryKey[]): Promise<EntryFacts[]> {
  const rows = await q.query<EntryFacts & { n: string }>(
    `SELECT k.n, b.halted, b.halt_reason, b.issuer_paused, b.split_id, b.last_price, s.status AS sub_status, s.reason AS sub_reason
     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(token_id, org, n)
     LEFT JOIN books b ON b.token_id = k.token_id LEFT JOIN subscribers s ON s.org = k.org`,
    [keys.map((k) => k.tokenId), keys.map((k) => k.org)],
  );
  const out: EntryFacts[] = new Array(keys.length);
  for (const { n, ...f } of rows) out[Number(n) - 1] = f;
  return out;
}

/**
 * A fill's final settlement status, from settlement's feed (SETTLED, REJECTED, CANCELLED, FAILED with no attempts
 * left): it no longer counts as unsettled. The first final status stays (a replayed event changes nothing).
 */
export const markSettlementFinal = (q: Queryable, tradeId: string, status: string) =>
  q.query("UPDATE trades SET settlement_status = $2, settlement_final_at = now() WHERE id = $1 AND settlement_status IS NULL", [tradeId, status]);

export const listSubscribers = (q: Queryable) => q.query<SubscriberRow>('SELECT * FROM subscribers ORDER BY org');

export async function setSubscriber(q: Queryable, org: string, status: 'ADMITTED' | 'SUSPENDED', reason: string, actor: string): Promise<SubscriberRow> {
  const [r] = await q.query<SubscriberRow>(
    `INSERT INTO subscribers (org, status, reason, updated_by, admitted_at) VALUES ($1,$2,$3,$4, CASE WHEN $2 = 'ADMITTED' THEN now() END)
     ON CONFLICT (org) DO UPDATE SET status = EXCLUDED.status, reason = EXCLUDED.reason, updated_by = EXCLUDED.updated_by,
       admitted_at = CASE WHEN EXCLUDED.status = 'ADMITTED' AND subscribers.status <> 'ADMITTED' THEN now() ELSE subscribers.admitted_at END, updated_at = now()
     RETURNING *`,
    [org, status, reason, actor],
  );
  await q.query('INSERT INTO subscriber_history (org, status, reason, actor) VALUES ($1,$2,$3,$4)', [org, status, reason, actor]);
  return r;
}

export async function setHalt(q: Queryable, tokenId: string, halted: boolean, reason: string, actor: string): Promise<BookRow> {
  const [r] = await q.query<BookRow>(
    `INSERT INTO books (token_id, halted, halt_reason, halted_by, halted_at) VALUES ($1, $2, $3, $4, CASE WHEN $2 THEN now() END)
     ON CONFLICT (token_id) DO UPDATE SET halted = $2, halt_reason = $3, halted_by = $4, halted_at = CASE WHEN $2 THEN now() ELSE books.halted_at END, updated_at = now()
     RETURNING *`,
    [tokenId, halted, reason, actor],
  );
  return r;
}

/** Returns the row and whether the flag changed (a feed replay changes nothing). */
export async function setIssuerPaused(q: Queryable, tokenId: string, paused: boolean): Promise<{ row: BookRow; changed: boolean }> {
  const [before] = await q.query<{ issuer_paused: boolean }>('SELECT issuer_paused FROM books WHERE token_id = $1 FOR UPDATE', [tokenId]);
  const [row] = await q.query<BookRow>(
    `INSERT INTO books (token_id, issuer_paused, issuer_paused_at) VALUES ($1, $2, CASE WHEN $2 THEN now() END)
     ON CONFLICT (token_id) DO UPDATE SET issuer_paused = $2, issuer_paused_at = CASE WHEN $2 THEN now() ELSE books.issuer_paused_at END, updated_at = now()
     RETURNING *`,
    [tokenId, paused],
  );
  return { row, changed: (before?.issuer_paused ?? false) !== paused };
}

export const insertIntent = (q: Queryable, key: string, orderId: string) =>
  q.query('INSERT INTO reservation_intents (reservation_key, order_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [key, orderId]);

/** Drops an intent; with `release`, custody is told to give back whatever the reservation holds (its outcome was unknown). */
export async function settleIntent(q: Queryable, key: string, orderId: string, release: boolean): Promise<void> {
  const [gone] = await q.query<{ reservation_key: string }>('DELETE FROM reservation_intents WHERE reservation_key = $1 RETURNING reservation_key', [key]);
  if (gone && release) {
    await q.query('INSERT INTO reservation_ops (order_id, reservation_key, amount, idempotency_key) VALUES ($1,$2,NULL,$3) ON CONFLICT (idempotency_key) DO NOTHING', [orderId, key, `${key}:rel:all`]);
  }
}

/**
 * Recovery of a process that died between asking custody and reaching the
 * book: orders still PENDING_NEW after `olderThanMs` (and not queued for
 * another process) are rejected, and every stale intent becomes a release
 * of whatever its reservation holds.
 */
export async function recoverStale(q: Queryable, olderThanMs: number): Promise<OrderRow[]> {
  const rejected = await q.query<OrderRow>(
    `UPDATE orders o SET status = 'REJECTED', remaining = 0, updated_at = now(),
       reject_reasons = '[{"code":"TRADING.INTERRUPTED","message":"the trading process handling the order stopped before it reached the book"}]'::jsonb
     WHERE o.status = 'PENDING_NEW' AND o.created_at < now() - make_interval(secs => $1::double precision / 1000)
       AND NOT EXISTS (SELECT 1 FROM commands c WHERE c.order_id = o.id AND c.status = 'PENDING')
     RETURNING o.*`,
    [olderThanMs],
  );
  const stale = await q.query<{ reservation_key: string; order_id: string; recorded: boolean }>(
    `DELETE FROM reservation_intents i
     WHERE i.order_id = ANY($2::text[])
        OR (i.created_at < now() - make_interval(secs => $1::double precision / 1000)
            AND NOT EXISTS (SELECT 1 FROM commands c WHERE c.order_id = i.order_id AND c.status = 'PENDING')
            AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = i.order_id AND o.status = 'PENDING_NEW'))
     RETURNING reservation_key, order_id, EXISTS (SELECT 1 FROM order_reservations r WHERE r.reservation_key = i.reservation_key) AS recorded`,
    [olderThanMs, rejected.map((r) => r.id)],
  );
  for (const s of stale.filter((x) => !x.recorded)) {
    await q.query('INSERT INTO reservation_ops (order_id, reservation_key, amount, idempotency_key) VALUES ($1,$2,NULL,$3) ON CONFLICT (idempotency_key) DO NOTHING',
      [s.order_id, s.reservation_key, `${s.reservation_key}:rel:all`]);
  }
  return rejected;
}

export async function insertAlert(q: Queryable, a: Omit<AlertRow, 'created_at'> & { dedupe_key: string }): Promise<AlertRow | null> {
  const [r] = await q.query<AlertRow>(
    `INSERT INTO surveillance_alerts (id, kind, token_id, orgs, account_id, investor_id, order_ids, trade_ids, detail, dedupe_key)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT (dedupe_key) DO NOTHING RETURNING *`,
    [a.id, a.kind, a.token_id, a.orgs, a.account_id, a.investor_id, a.order_ids, a.trade_ids, JSON.stringify(a.detail), a.dedupe_key],
  );
  return r ?? null;
}

export const listAlerts = (q: Queryable, f: { tokenId?: string; kind?: string; org?: string; limit: number }) =>
  q.query<AlertRow>(
    `SELECT * FROM surveillance_alerts WHERE ($1::text IS NULL OR token_id = $1) AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR $3 = ANY(orgs))
     ORDER BY created_at DESC, id DESC LIMIT $4`,
    [f.tokenId ?? null, f.kind ?? null, f.org ?? null, f.limit],
  );

/** Layering inputs: an account's user-cancelled orders on one side, and its fills on the other, in a window ending at `at`. */
export async function layeringFacts(q: Queryable, accountId: string, tokenId: string, side: 'BUY' | 'SELL', at: Date, windowMs: number) {
  const from = new Date(at.getTime() - windowMs);
  const to = new Date(at.getTime() + 1000); // event times are kept to the millisecond, rows to the microsecond
  const cancelled = await q.query<{ id: string; price: string }>(
    `SELECT id, price FROM orders WHERE account_id = $1 AND token_id = $2 AND side = $3 AND status = 'CANCELLED' AND cancel_reason = 'USER'
       AND updated_at >= $4 AND updated_at <= $5 AND price IS NOT NULL ORDER BY updated_at`,
    [accountId, tokenId, side, from, to],
  );
  const fills = await q.query<{ id: string }>(
    `SELECT id FROM trades WHERE token_id = $1 AND executed_at >= $3 AND executed_at <= $4 AND ${side === 'BUY' ? 'sell_account_id' : 'buy_account_id'} = $2 ORDER BY seq`,
    [tokenId, accountId, from, to],
  );
  return { cancelled, fills };
}

/** Marks the token's redemption on its book (never cleared: the token is retired); the sweeper cancels its open orders. */
export async function setRedemption(q: Queryable, tokenId: string, redemptionId: string): Promise<void> {
  await q.query('INSERT INTO books (token_id, redemption_id) VALUES ($1, $2) ON CONFLICT (token_id) DO UPDATE SET redemption_id = $2, updated_at = now()', [tokenId, redemptionId]);
}

/** Marks the split in progress on the token's book (splitId), or clears it when that split is done (null). */
export async function setSplit(q: Queryable, tokenId: string, splitId: string, inProgress: boolean): Promise<BookRow | undefined> {
  const [r] = inProgress
    ? await q.query<BookRow>('INSERT INTO books (token_id, split_id) VALUES ($1, $2) ON CONFLICT (token_id) DO UPDATE SET split_id = $2, updated_at = now() RETURNING *', [tokenId, splitId])
    : await q.query<BookRow>('UPDATE books SET split_id = NULL, updated_at = now() WHERE token_id = $1 AND split_id = $2 RETURNING *', [tokenId, splitId]);
  return r;
}

/** Open orders of books with a split in progress or a redemption: the sweeper cancels them (reason SPLIT or REDEEMED). */
export const openOrdersOfSplitBooks = (q: Queryable) =>
  q.query<{ id: string; token_id: string; split_id: string | null; redemption_id: string | null }>(
    `SELECT o.id, o.token_id, b.split_id, b.redemption_id FROM orders o JOIN books b ON b.token_id = o.token_id
     WHERE (b.split_id IS NOT NULL OR b.redemption_id IS NOT NULL) AND o.status IN ('OPEN','PARTIALLY_FILLED') ORDER BY o.token_id, o.id`,
  );

// The surveillance monitor's cursor over trading's own outbox: kit's feed-cursors.ts.
