import { canSee } from '../kit/auth.js';
import { badInput } from '../kit/errors.js';
import type { BaseContext_ } from '../kit/subgraph.js';
import { bookFromLevels } from './book.js';
import type { TradingLoaders } from './loaders.js';
import * as service from './service.js';
import { ordersOfOrg, tradesOfToken, type OrderRow, type TradeRow } from './store.js';

export interface TradingContext extends BaseContext_ { loaders: TradingLoaders }

const MAX_DEPTH = 500;
const visible = (ctx: TradingContext, r: OrderRow | null) => (r && canSee(ctx.caller, { org: r.org }) ? r : null);

export const resolvers = {
  Query: {
    orders: (_: unknown, __: unknown, ctx: TradingContext) => ordersOfOrg(ctx.db, ctx.caller.org),
    order: async (_: unknown, a: { id: string }, ctx: TradingContext) => visible(ctx, await ctx.loaders.order.load(a.id)),
    trades: (_: unknown, a: { tokenId: string }, ctx: TradingContext) => tradesOfToken(ctx.db, a.tokenId),
  },
  Mutation: {
    placeOrder: (_: unknown, a: { input: service.PlaceOrderInput }, ctx: TradingContext) => service.placeOrder(ctx.db, ctx.caller, a.input),
  },
  SecurityToken: {
    __resolveReference: (ref: { id: string }) => ref,
    orderBook: async (t: { id: string }, a: { depth: number }, ctx: TradingContext) => {
      if (!Number.isInteger(a.depth) || a.depth < 1 || a.depth > MAX_DEPTH) throw badInput('INVALID_DEPTH', `depth must be 1 to ${MAX_DEPTH}`);
      return bookFromLevels(t.id, await ctx.loaders.levels.load(t.id), a.depth);
    },
  },
  Order: {
    __resolveReference: async (ref: { id: string }, ctx: TradingContext) => visible(ctx, await ctx.loaders.order.load(ref.id)),
    token: (o: OrderRow) => ({ id: o.token_id }),
    accountId: (o: OrderRow) => o.account_id,
    clientOrderId: (o: OrderRow) => o.client_order_id,
    createdAt: (o: OrderRow) => o.created_at,
  },
  Trade: {
    __resolveReference: (ref: { id: string }, ctx: TradingContext) => ctx.loaders.trade.load(ref.id),
    token: (t: TradeRow) => ({ id: t.token_id }),
    buyOrderId: (t: TradeRow) => t.buy_order_id,
    sellOrderId: (t: TradeRow) => t.sell_order_id,
    executedAt: (t: TradeRow) => t.executed_at,
  },
};
