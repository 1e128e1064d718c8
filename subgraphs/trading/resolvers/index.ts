import { canSee, requireRole, scopeOf } from '../../kit/access.js';
import { badInput } from '../../kit/errors.js';
import { bookFromLevels } from '../book.js';
import { isOpen } from '../domain/hours.js';
import * as orders from '../orders.js';
import * as oversight from '../oversight.js';
import { ORDER_TYPES, STP_MODES, TIMES_IN_FORCE, instrumentRules } from '../rules.js';
import type { TradingContext } from '../services.js';
import { listAlerts, listSubscribers, type AlertRow, type SubscriberRow } from '../store/venue.js';
import { bookHalted, type BookRow } from '../store/writer.js';
import { auditOfOrder, listOrders, orderById, tradesOfToken, type OrderRow, type TradeRow } from '../store/orders.js';
import { bookStream, orderStream, tradeStream } from '../streams.js';
import { parseCursor } from '../../kit/follow.js';

type Ctx = TradingContext;

const MAX_DEPTH = 500;
const MAX_LIMIT = 1000;
const seesOrder = (ctx: Ctx, o: OrderRow) => canSee(ctx.caller, { org: o.org, investorId: o.investor_id }, oversight.venueOperator(ctx.services));
const visible = (ctx: Ctx, r: OrderRow | null) => (r && seesOrder(ctx, r) ? r : null);
const limitOf = (n: number | null | undefined) => {
  const l = n ?? 100;
  if (!Number.isInteger(l) || l < 1 || l > MAX_LIMIT) throw badInput('INVALID_LIMIT', `limit must be 1 to ${MAX_LIMIT}`);
  return l;
};
/** Each side's account and fee are shown to that side's organisation (an investor its own side) and to the venue's operators only. */
const seesSide = (ctx: Ctx, org: string | null, investorId: string | null) => canSee(ctx.caller, { org, investorId }, oversight.venueOperator(ctx.services));
const hhmm = (m: number) => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
const marketStatus = (tokenId: string, b: BookRow | null) => ({
  tokenId, halted: !!b && bookHalted(b), operatorHalt: !!b?.halted, haltReason: b?.halted ? b.halt_reason : null, haltedAt: b?.halted ? b.halted_at : null,
  issuerPaused: !!b?.issuer_paused, lastPrice: b?.last_price ?? null, lastTradeAt: b?.last_trade_at ?? null,
});
async function orderBookOf(ctx: Ctx, tokenId: string, depth: number) {
  if (!Number.isInteger(depth) || depth < 1 || depth > MAX_DEPTH) throw badInput('INVALID_DEPTH', `depth must be 1 to ${MAX_DEPTH}`);
  const { rows, cursor } = await ctx.loaders.levels.load(tokenId);
  return bookFromLevels(tokenId, rows, depth, cursor);
}
const orderResult = (r: orders.OrderResult) => ({ order: r.order, accepted: r.accepted, rejections: r.reasons });

export const resolvers = {
  Query: {
    venueRules: (_: unknown, __: unknown, ctx: Ctx) => {
      const v = ctx.services.rules;
      return {
        name: v.name, open: isOpen(v.hours, ctx.services.now()),
        tradingHours: { days: v.hours.days, open: hhmm(v.hours.open), close: hhmm(v.hours.close), timeZone: v.hours.timeZone, text: v.hours.text },
        orderTypes: ORDER_TYPES, timesInForce: TIMES_IN_FORCE, stpModes: STP_MODES, defaultStpMode: v.stpMode,
        defaults: { tokenId: null, ...instrumentRules({ ...v, overrides: {} }, '') },
        instruments: Object.keys(v.overrides).sort().map((tokenId) => ({ tokenId, ...instrumentRules(v, tokenId) })),
        marketCollarBps: v.marketCollarBps, makerFeeBps: v.makerFeeBps, takerFeeBps: v.takerFeeBps, cashAsset: v.cashAsset,
        eligibility: 'Organisations the ATS operator admitted (broker-dealers) and investors trading through them; each order passes the issuer\'s transfer rules for its side and reserves its cash or tokens at custody.',
      };
    },
    orders: (_: unknown, a: { filter?: { tokenId?: string; accountId?: string; side?: string; status?: string[]; before?: string; limit?: number } | null }, ctx: Ctx) => {
      const f = a.filter ?? {};
      const scope = scopeOf(ctx.caller, oversight.venueOperator(ctx.services));
      return listOrders(ctx.db, {
        org: scope.all ? undefined : scope.org, investorId: scope.investorId,
        tokenId: f.tokenId, accountId: f.accountId, side: f.side, statuses: f.status, before: f.before, limit: limitOf(f.limit),
      });
    },
    order: async (_: unknown, a: { id: string }, ctx: Ctx) => visible(ctx, await ctx.loaders.order.load(a.id)),
    trades: (_: unknown, a: { tokenId: string; after?: string | null; limit?: number }, ctx: Ctx) =>
      tradesOfToken(ctx.db, a.tokenId, parseCursor(a.after) ?? 0n, limitOf(a.limit)),
    marketStatus: async (_: unknown, a: { tokenId: string }, ctx: Ctx) => marketStatus(a.tokenId, await ctx.loaders.book.load(a.tokenId)),
    orderBook: (_: unknown, a: { tokenId: string; depth: number }, ctx: Ctx) => orderBookOf(ctx, a.tokenId, a.depth),
    orderAuditTrail: async (_: unknown, a: { orderId: string }, ctx: Ctx) => {
      const o = await orderById(ctx.db, a.orderId);
      if (!o || !seesOrder(ctx, o)) return [];
      return (await auditOfOrder(ctx.db, a.orderId)).map((r) => ({ event: r.event, at: r.at, actor: r.actor, detail: JSON.stringify(r.detail) }));
    },
    surveillanceAlerts: (_: unknown, a: { tokenId?: string; kind?: string; limit?: number }, ctx: Ctx) => {
      const all = oversight.isVenueOperator(ctx.services, ctx.caller);
      if (!all) requireRole(ctx.caller, 'COMPLIANCE_OFFICER', 'AUDITOR');
      return listAlerts(ctx.db, { tokenId: a.tokenId, kind: a.kind, org: all ? undefined : ctx.caller.org, limit: limitOf(a.limit) });
    },
    subscribers: (_: unknown, __: unknown, ctx: Ctx) => {
      oversight.requireVenueOperator(ctx.services, ctx.caller);
      return listSubscribers(ctx.db);
    },
  },
  Mutation: {
    placeOrder: async (_: unknown, a: { input: orders.PlaceOrderInput }, ctx: Ctx) => orderResult(await orders.placeOrder(ctx.services, ctx.caller, a.input)),
    cancelOrder: (_: unknown, a: { orderId: string }, ctx: Ctx) => orders.cancelOrder(ctx.services, ctx.caller, a.orderId),
    replaceOrder: async (_: unknown, a: { orderId: string; price?: bigint | null; quantity?: bigint | null }, ctx: Ctx) =>
      orderResult(await orders.replaceOrder(ctx.services, ctx.caller, a.orderId, a)),
    haltTrading: async (_: unknown, a: { tokenId: string; reason: string }, ctx: Ctx) => marketStatus(a.tokenId, await oversight.haltTrading(ctx.services, ctx.caller, a.tokenId, a.reason)),
    resumeTrading: async (_: unknown, a: { tokenId: string; reason: string }, ctx: Ctx) => marketStatus(a.tokenId, await oversight.resumeTrading(ctx.services, ctx.caller, a.tokenId, a.reason)),
    admitSubscriber: (_: unknown, a: { org: string; reason: string }, ctx: Ctx) => oversight.admitSubscriber(ctx.services, ctx.caller, a.org, a.reason),
    suspendSubscriber: (_: unknown, a: { org: string; reason: string }, ctx: Ctx) => oversight.suspendSubscriber(ctx.services, ctx.caller, a.org, a.reason),
  },
  Subscription: {
    tradeExecuted: {
      subscribe: (_: unknown, a: { tokenId?: string; accountId?: string; after?: string }, ctx: Ctx) => tradeStream(ctx.services, ctx.caller, a),
      resolve: (e: unknown) => e,
    },
    orderBookChanged: {
      subscribe: (_: unknown, a: { tokenId: string; after?: string }, ctx: Ctx) => bookStream(ctx.services, a),
      resolve: (e: unknown) => e,
    },
    orderUpdated: {
      subscribe: (_: unknown, a: { accountId: string; after?: string }, ctx: Ctx) => orderStream(ctx.services, ctx.caller, a),
      resolve: (e: unknown) => e,
    },
  },
  OrderUpdate: {
    order: async (u: { orderId: string }, _: unknown, ctx: Ctx) => ctx.loaders.order.load(u.orderId),
  },
  SecurityToken: {
    __resolveReference: (ref: { id: string }) => ref,
    orderBook: (t: { id: string }, a: { depth: number }, ctx: Ctx) => orderBookOf(ctx, t.id, a.depth),
    lastPrice: async (t: { id: string }, _: unknown, ctx: Ctx) => (await ctx.loaders.book.load(t.id))?.last_price ?? null,
    marketStatus: async (t: { id: string }, _: unknown, ctx: Ctx) => marketStatus(t.id, await ctx.loaders.book.load(t.id)),
  },
  Order: {
    __resolveReference: async (ref: { id: string }, ctx: Ctx) => visible(ctx, await ctx.loaders.order.load(ref.id)),
    token: (o: OrderRow) => ({ id: o.token_id }),
    accountId: (o: OrderRow) => o.account_id,
    investorId: (o: OrderRow) => o.investor_id,
    timeInForce: (o: OrderRow) => o.time_in_force,
    protectionPrice: (o: OrderRow) => o.protection_price,
    postOnly: (o: OrderRow) => o.post_only,
    clientOrderId: (o: OrderRow) => o.client_order_id,
    rejectReasons: (o: OrderRow) => o.reject_reasons,
    cancelReason: (o: OrderRow) => o.cancel_reason,
    createdAt: (o: OrderRow) => o.created_at,
    acceptedAt: (o: OrderRow) => o.accepted_at,
    updatedAt: (o: OrderRow) => o.updated_at,
  },
  Trade: {
    __resolveReference: (ref: { id: string }, ctx: Ctx) => ctx.loaders.trade.load(ref.id),
    cursor: async (t: TradeRow, _: unknown, ctx: Ctx) => t.seq || (await ctx.loaders.trade.load(t.id))?.seq,
    token: (t: TradeRow) => ({ id: t.token_id }),
    cashAmount: (t: TradeRow) => t.cash_amount,
    aggressorSide: (t: TradeRow) => t.aggressor_side,
    buyOrderId: (t: TradeRow) => t.buy_order_id,
    sellOrderId: (t: TradeRow) => t.sell_order_id,
    buyAccountId: (t: TradeRow, _: unknown, ctx: Ctx) => (seesSide(ctx, t.buy_org, t.buy_investor_id) ? t.buy_account_id : null),
    sellAccountId: (t: TradeRow, _: unknown, ctx: Ctx) => (seesSide(ctx, t.sell_org, t.sell_investor_id) ? t.sell_account_id : null),
    buyerFee: (t: TradeRow, _: unknown, ctx: Ctx) => (seesSide(ctx, t.buy_org, t.buy_investor_id) ? t.buyer_fee : null),
    sellerFee: (t: TradeRow, _: unknown, ctx: Ctx) => (seesSide(ctx, t.sell_org, t.sell_investor_id) ? t.seller_fee : null),
    executedAt: (t: TradeRow) => t.executed_at,
  },
  Subscriber: {
    updatedBy: (r: SubscriberRow) => r.updated_by,
    admittedAt: (r: SubscriberRow) => r.admitted_at,
    updatedAt: (r: SubscriberRow) => r.updated_at,
  },
  SurveillanceAlert: {
    token: (r: AlertRow) => ({ id: r.token_id }),
    accountId: (r: AlertRow) => r.account_id,
    investorId: (r: AlertRow) => r.investor_id,
    orderIds: (r: AlertRow) => r.order_ids,
    tradeIds: (r: AlertRow) => r.trade_ids,
    detail: (r: AlertRow) => JSON.stringify(r.detail),
    createdAt: (r: AlertRow) => r.created_at,
  },
};
