import { canSee } from '../kit/auth.js';
import type { BaseContext_ } from '../kit/subgraph.js';
import { trimDecimal } from '../kit/scalars.js';
import type { SettlementLoaders } from './loaders.js';
import * as service from './service.js';
import { settlementsOfOrg, type SettlementRow } from './store.js';

export interface SettlementContext extends BaseContext_ { loaders: SettlementLoaders }

const visible = (ctx: SettlementContext, r: SettlementRow | null) => (r && canSee(ctx.caller, { org: r.org }) ? r : null);

export const resolvers = {
  Query: {
    settlements: (_: unknown, __: unknown, ctx: SettlementContext) => settlementsOfOrg(ctx.db, ctx.caller.org),
    settlement: async (_: unknown, a: { id: string }, ctx: SettlementContext) => visible(ctx, await ctx.loaders.settlement.load(a.id)),
  },
  Mutation: {
    submitExternalTrade: (_: unknown, a: { input: service.ExternalTradeInput }, ctx: SettlementContext) => service.submitExternalTrade(ctx.db, ctx.caller, a.input),
  },
  Settlement: {
    __resolveReference: async (ref: { id: string }, ctx: SettlementContext) => visible(ctx, await ctx.loaders.settlement.load(ref.id)),
    token: (s: SettlementRow) => ({ id: s.token_id }),
    quantity: (s: SettlementRow) => BigInt(s.quantity),
    price: (s: SettlementRow) => trimDecimal(s.price),
    buyerAccountId: (s: SettlementRow) => s.buyer_account_id,
    sellerAccountId: (s: SettlementRow) => s.seller_account_id,
    venueReference: (s: SettlementRow) => s.venue_reference,
    tradeTime: (s: SettlementRow) => s.trade_time,
    createdAt: (s: SettlementRow) => s.created_at,
    history: (s: SettlementRow, _: unknown, ctx: SettlementContext) => ctx.loaders.history.load(s.id),
  },
};
