/**
 * Order entry: placeOrder, cancelOrder, replaceOrder. Malformed input is a
 * typed error and writes nothing; a well-formed order the venue refuses is
 * recorded as REJECTED with every reason (so a retry with the same
 * clientOrderId gets the same answer) and returned, not thrown.
 */
import { type Caller } from '../kit/auth.js';
import { canSee, requireRole } from '../kit/access.js';
import { Coalescer, type CoalescerOptions } from '../kit/coalesce.js';
import type { Db, Queryable } from '../kit/db/types.js';
import { appError, badInput, errorCode, notFound } from '../kit/errors.js';
import { requestHash } from '../kit/idempotency.js';
import { newId } from '../kit/ids.js';
import { appendTyped } from '../kit/contracts/events.js';
import { MAX_PRICE, type StpMode, type TimeInForce } from './domain/index.js';
import { isResting } from './domain/live.js';
import { checkOrder, venueReasons } from './pretrade.js';
import { isVenueOperator, venueOperator } from './oversight.js';
import { instrumentRules, marketProtection, reason, STP_MODES, type Reason } from './rules.js';
import type { Intake, Intaken, TradingServices } from './services.js';
import type { CommandResult, OrderState } from './journal.js';
import { insertIntent, settleIntent } from './store/venue.js';
import { bookRow } from './store/writer.js';
import { settlementBacklog } from './backlog.js';
import { AtBacklogBound, bestPrice, heldForOrder, insertAudit, insertPendingOrders, orderById, rejectPending, type OrderRow } from './store/orders.js';
import { isId, isPrintable } from '../kit/inputs.js';

export interface PlaceOrderInput {
  tokenId: string; accountId: string; side: 'BUY' | 'SELL'; type?: 'LIMIT' | 'MARKET' | null; timeInForce?: TimeInForce | null;
  price?: bigint | null; quantity: bigint; postOnly?: boolean | null; stp?: StpMode | null; clientOrderId: string;
}
export interface OrderResult { order: OrderRow; accepted: boolean; reasons: Reason[] }

/** Checks the shape of an order and fills in defaults; every problem is a typed INPUT error. */
export function normalizeOrder(s: TradingServices, i: PlaceOrderInput) {
  if (!isPrintable(i.clientOrderId, 64)) throw badInput('INVALID_CLIENT_ORDER_ID', 'clientOrderId must be 1 to 64 printable characters');
  if (!isId(i.tokenId, 'tok')) throw badInput('INVALID_TOKEN_ID', `"${String(i.tokenId).slice(0, 40)}" is not a token id`);
  if (!isId(i.accountId, 'acc')) throw badInput('INVALID_ACCOUNT_ID', `"${String(i.accountId).slice(0, 40)}" is not a custody account id`);
  const type = i.type ?? 'LIMIT';
  const tif = i.timeInForce ?? (type === 'MARKET' ? 'IOC' : 'GTC');
  if (i.quantity <= 0n) throw badInput('INVALID_QUANTITY', 'quantity must be positive');
  if (type === 'LIMIT') {
    if (i.price === null || i.price === undefined) throw badInput('PRICE_REQUIRED', 'a LIMIT order needs a price');
    if (i.price <= 0n) throw badInput('INVALID_PRICE', 'price must be positive');
    if (i.price > MAX_PRICE) throw badInput('INVALID_PRICE', `price must be at most ${MAX_PRICE}`);
  } else {
    if (i.price !== null && i.price !== undefined) throw badInput('PRICE_NOT_ALLOWED', 'a MARKET order has no price');
    if (tif !== 'IOC' && tif !== 'FOK') throw badInput('INVALID_TIME_IN_FORCE', 'a MARKET order is IOC or FOK');
  }
  const postOnly = i.postOnly ?? false;
  if (postOnly && (type !== 'LIMIT' || tif === 'IOC' || tif === 'FOK')) throw badInput('POST_ONLY_NOT_ALLOWED', 'only LIMIT GTC or DAY orders can be post-only');
  const stp = i.stp ?? s.rules.stpMode;
  if (!STP_MODES.includes(stp)) throw badInput('INVALID_STP_MODE', `stp must be one of ${STP_MODES.join(', ')}`);
  return { tokenId: i.tokenId, accountId: i.accountId, side: i.side, type, timeInForce: tif, price: type === 'LIMIT' ? (i.price as bigint) : null, quantity: i.quantity, postOnly, stp };
}

/** An order row brought to the state the writer reported. */
const withState = (row: OrderRow, o: OrderState): OrderRow => ({
  ...row, status: o.status, quantity: o.quantity, filled: o.filled, remaining: o.remaining, price: o.price, investor_id: o.investorId,
  cancel_reason: o.cancelReason, reject_reasons: o.rejectReasons, accepted_at: o.acceptedAt ? new Date(o.acceptedAt) : null, updated_at: new Date(),
});

const resultOf = (order: OrderRow): OrderResult => ({ order, accepted: order.status !== 'REJECTED', reasons: order.status === 'REJECTED' ? order.reject_reasons : [] });

async function publish(q: Queryable, o: OrderRow, events: string[]): Promise<void> {
  await appendTyped(q, [{ topic: 'order.updated', key: o.id, payload: {
    orderId: o.id, tokenId: o.token_id, accountId: o.account_id, investorId: o.investor_id, org: o.org, clientOrderId: o.client_order_id,
    side: o.side, type: o.type, timeInForce: o.time_in_force, price: o.price, quantity: o.quantity, filled: o.filled, remaining: o.remaining,
    status: o.status, cancelReason: o.cancel_reason, rejectReasons: o.reject_reasons, events, bookSeq: null,
  } }]);
}

type Note = { event: string; detail: Record<string, unknown> };

/** Refuses an order still waiting for the book; `release` when custody may hold a reservation for it. */
async function refuse(s: TradingServices, row: OrderRow, reasons: Reason[], release: boolean, investorId: string | null = null, notes: Note[] = []): Promise<OrderRow> {
  const out = await s.db.tx(async (q) => {
    const r = await rejectPending(q, row.id, reasons, investorId);
    if (!r) return orderById(q, row.id);
    await settleIntent(q, row.id, row.id, release);
    await insertAudit(q, [...notes, { event: 'REJECTED', detail: { reasons } }].map((n) => ({ orderId: r.id, tokenId: r.token_id, org: r.org, ...n, actor: null })));
    await publish(q, r, ['REJECTED']);
    return r;
  });
  if (release) void s.releaser.kick();
  return out as OrderRow;
}

/** A replayed clientOrderId whose first request is still running: wait (briefly) for its outcome. */
async function settled(s: TradingServices, row: OrderRow): Promise<OrderRow> {
  for (let i = 0; row.status === 'PENDING_NEW' && i < 200; i++) {
    await new Promise((r) => setTimeout(r, 50));
    row = (await orderById(s.db, row.id)) ?? row;
  }
  return row;
}

export type { Intake, Intaken } from './services.js';

/**
 * Order intake with group commit: the PENDING_NEW rows of orders that arrive together are claimed in one
 * statement (one round trip and one commit instead of one per order). A typed refusal (a clientOrderId reused
 * with other content) is that order's own; if the statement itself fails, each order is claimed alone.
 */
export function orderIntake(db: Db, batching: CoalescerOptions, maxUnsettled: number): Coalescer<Intake, Intaken> {
  const typed = <R>(r: R | Error): R | Error => (r instanceof AtBacklogBound ? settlementBacklog(r.tokenId, r.max) : r);
  return new Coalescer<Intake, Intaken>(async (items) => {
    try {
      return (await insertPendingOrders(db, items, maxUnsettled)).map(typed);
    } catch (e) {
      if (items.length === 1) throw e;
      return Promise.all(items.map((it) => insertPendingOrders(db, [it], maxUnsettled).then(([r]) => typed(r), (x: unknown) => (x instanceof Error ? x : new Error(String(x))))));
    }
  }, batching);
}

export async function placeOrder(s: TradingServices, caller: Caller, input: PlaceOrderInput): Promise<OrderResult> {
  requireRole(caller, 'BROKER_DEALER', 'INVESTOR');
  const n = normalizeOrder(s, input);
  const rules = instrumentRules(s.rules, n.tokenId);
  let protection: bigint | null = null;
  if (n.type === 'MARKET') {
    const book = await bookRow(s.db, n.tokenId);
    const last = book?.last_price ? BigInt(book.last_price) : null;
    protection = marketProtection(n.side, rules, s.rules, last, last === null ? await bestPrice(s.db, n.tokenId, n.side === 'BUY' ? 'SELL' : 'BUY') : null);
  }
  const id = newId('ord');
  // One statement: the order, its RECEIVED audit entry and its reservation intent, and the venue's facts its checks
  // read; nothing when the token is at the settlement backlog bound (TRADING.SETTLEMENT_BACKLOG, retryable with the
  // same clientOrderId).
  const claim = await s.intake.request({ row: {
    id, org: caller.org, token_id: n.tokenId, account_id: n.accountId, investor_id: caller.investorId ?? null, side: n.side, type: n.type,
    time_in_force: n.timeInForce, price: n.price?.toString() ?? null, protection_price: protection?.toString() ?? null, quantity: n.quantity.toString(),
    post_only: n.postOnly, stp: n.stp, client_order_id: input.clientOrderId, request_hash: requestHash(n),
  }, actor: caller.subject });
  const { row } = claim;
  if (!claim.created) return resultOf(await settled(s, row));

  const now = s.now();
  const check = await checkOrder(s, caller, n, now, claim.facts);
  if (n.type === 'MARKET' && protection === null) check.reasons.push(reason('TRADING.NO_LIQUIDITY', 'no last price and no resting order on the other side: a market order has nothing to trade with'));
  const asset = n.side === 'BUY' ? s.rules.cashAsset : n.tokenId;
  const amount = n.side === 'BUY' ? n.quantity * (n.price ?? protection ?? 0n) * rules.tickValue : n.quantity;
  const investorId = check.account && !check.reasons.some((r) => r.code === 'TRADING.ACCOUNT_NOT_YOURS') ? check.account.investorId : null;
  const notes: Note[] = check.compliance
    ? [{ event: 'COMPLIANCE_CHECKED', detail: { rules: check.compliance.checked, notEvaluated: check.compliance.notEvaluated } }]
    : [];
  const refuseWith = (reasons: Reason[], release: boolean) => refuse(s, row, reasons, release, investorId, notes);
  if (check.reasons.length > 0) {
    if (investorId !== null && amount > 0n) {
      const b = await s.peers.balance(n.accountId, asset).catch(() => null);
      if (b && BigInt(b.available) < amount) check.reasons.push(insufficient(asset, BigInt(b.available), amount));
    }
    return resultOf(await refuseWith(check.reasons, false));
  }
  try {
    await s.peers.reserve({ accountId: n.accountId, asset, amount, key: id, reason: `order ${id}` });
  } catch (e) {
    const code = errorCode(e);
    if (code === 'CUSTODY.INSUFFICIENT_AVAILABLE') {
      const ext = (e as { extensions?: { available?: string } }).extensions;
      return resultOf(await refuseWith([insufficient(asset, BigInt(ext?.available ?? '0'), amount)], false));
    }
    return resultOf(await refuseWith([reason(code ?? 'DOWNSTREAM.FAILED', `custody could not reserve: ${(e as Error).message}`)], !code?.startsWith('CUSTODY.')));
  }
  let r: CommandResult;
  try {
    r = await s.venue.submit(n.tokenId, { kind: 'PLACE', orderId: id, tranche: { key: id, accountId: n.accountId, asset, amount: amount.toString() }, investorId, notes });
  } catch (e) {
    s.log.error({ orderId: id, err: (e as Error).message }, 'order did not reach the book');
    return resultOf(await refuseWith([reason(errorCode(e) ?? 'TRADING.BOOK_UNAVAILABLE', (e as Error).message)], true));
  }
  // The writer answers with the order's state after its batch committed: no need to read it back.
  return resultOf(r.order ? withState(row, r.order) : (await orderById(s.db, id))!);
}

const insufficient = (asset: string, available: bigint, needed: bigint) =>
  reason('CUSTODY.INSUFFICIENT_AVAILABLE', `the account has ${available} ${asset} available, the order needs ${needed}`);

/** An order the caller may act on (its organisation's; an investor only its own; the venue operator any). */
async function ownOrder(s: TradingServices, caller: Caller, orderId: string): Promise<OrderRow> {
  const o = isId(orderId, 'ord') ? await orderById(s.db, orderId) : null;
  if (!o || !canSee(caller, { org: o.org, investorId: o.investor_id }, venueOperator(s))) throw notFound('order', orderId);
  return o;
}

const notOpen = (o: OrderRow) =>
  appError('TRADING.ORDER_NOT_OPEN', `order ${o.id} is ${o.status.toLowerCase()}, not resting in the book`, { details: { orderId: o.id, status: o.status } });

export async function cancelOrder(s: TradingServices, caller: Caller, orderId: string): Promise<OrderRow> {
  if (!isVenueOperator(s, caller)) requireRole(caller, 'BROKER_DEALER', 'INVESTOR');
  const o = await ownOrder(s, caller, orderId);
  if (!isResting(o.status)) throw notOpen(o);
  const byOperator = caller.kind === 'user' && caller.org !== o.org;
  const r = await s.venue.submit(o.token_id, { kind: 'CANCEL', orderId: o.id, reason: byOperator ? 'OPERATOR' : 'USER', actor: caller.subject });
  const after = (await orderById(s.db, o.id))!;
  if (!r.ok) throw notOpen(after);
  return after;
}

export interface ReplaceInput { price?: bigint | null; quantity?: bigint | null }

export async function replaceOrder(s: TradingServices, caller: Caller, orderId: string, i: ReplaceInput): Promise<OrderResult & { order: OrderRow }> {
  requireRole(caller, 'BROKER_DEALER', 'INVESTOR');
  const o = await ownOrder(s, caller, orderId);
  const price = i.price ?? null;
  const quantity = i.quantity ?? null;
  if (price === null && quantity === null) throw badInput('NOTHING_TO_REPLACE', 'give a new price, a new quantity or both');
  if (price !== null && (price <= 0n || price > MAX_PRICE)) throw badInput('INVALID_PRICE', `price must be 1 to ${MAX_PRICE}`);
  if (quantity !== null && quantity <= 0n) throw badInput('INVALID_QUANTITY', 'quantity must be positive');
  if (o.type === 'MARKET' || !isResting(o.status)) throw notOpen(o);
  const newPrice = price ?? BigInt(o.price!);
  const newQty = quantity ?? BigInt(o.quantity);
  const rules = instrumentRules(s.rules, o.token_id);
  const refusal = async (reasons: Reason[]) => {
    await s.db.tx((q) => insertAudit(q, [{ orderId: o.id, tokenId: o.token_id, org: o.org, event: 'REPLACE_REJECTED', detail: { price: price?.toString(), quantity: quantity?.toString(), reasons }, actor: caller.subject }]));
    return { order: (await orderById(s.db, o.id))!, accepted: false, reasons };
  };
  const local = await venueReasons(s, caller, { tokenId: o.token_id, side: o.side, type: 'LIMIT', price: newPrice, quantity: newQty }, s.now());
  if (local.length) return refusal(local);
  // More held at custody first when the new open quantity needs more (a size increase, or a buy at a higher price).
  const filled = BigInt(o.filled);
  const need = newQty <= filled ? 0n : o.side === 'BUY' ? (newQty - filled) * newPrice * rules.tickValue : newQty - filled;
  const extra = need - BigInt((await heldForOrder(s.db, o.id)) ?? '0');
  let tranche = null;
  if (extra > 0n) {
    const key = `${o.id}.${newId('evt').slice(4)}`;
    const asset = o.side === 'BUY' ? s.rules.cashAsset : o.token_id;
    await s.db.tx((q) => insertIntent(q, key, o.id));
    try {
      await s.peers.reserve({ accountId: o.account_id, asset, amount: extra, key, reason: `replace of order ${o.id}` });
    } catch (e) {
      const code = errorCode(e);
      await s.db.tx((q) => settleIntent(q, key, o.id, !code?.startsWith('CUSTODY.')));
      const ext = (e as { extensions?: { available?: string } }).extensions;
      return refusal([code === 'CUSTODY.INSUFFICIENT_AVAILABLE' ? insufficient(asset, BigInt(ext?.available ?? '0'), extra) : reason(code ?? 'DOWNSTREAM.FAILED', (e as Error).message)]);
    }
    tranche = { key, accountId: o.account_id, asset, amount: extra.toString() };
  }
  const r = await s.venue.submit(o.token_id, { kind: 'REPLACE', orderId: o.id, price: price?.toString() ?? null, quantity: quantity?.toString() ?? null, tranche, actor: caller.subject });
  if (!r.ok) return refusal(r.reasons);
  return { order: (await orderById(s.db, o.id))!, accepted: true, reasons: [] };
}
