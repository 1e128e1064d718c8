import { canSee } from '../kit/auth.js';
import type { BaseContext_ } from '../kit/subgraph.js';
import type { CustodyLoaders } from './loaders.js';
import * as service from './service.js';
import { accountsOfOrg, type AccountRow } from './store.js';

export interface CustodyContext extends BaseContext_ { loaders: CustodyLoaders; kek: string }

const visible = (ctx: CustodyContext, r: AccountRow | null) =>
  r && canSee(ctx.caller, { org: r.org, investorId: r.investor_id }) ? r : null;

export const resolvers = {
  Query: {
    custodyAccounts: async (_: unknown, __: unknown, ctx: CustodyContext) => (await accountsOfOrg(ctx.db, ctx.caller.org)).filter((r) => visible(ctx, r)),
    custodyAccount: async (_: unknown, a: { id: string }, ctx: CustodyContext) => visible(ctx, await ctx.loaders.account.load(a.id)),
  },
  Mutation: {
    openCustodyAccount: async (_: unknown, a: { input: service.OpenAccountInput }, ctx: CustodyContext) => {
      const row = await service.openCustodyAccount(ctx.db, ctx.kek, ctx.caller, a.input);
      return ctx.loaders.account.load(row.id);
    },
  },
  CustodyAccount: {
    __resolveReference: async (ref: { id: string }, ctx: CustodyContext) => visible(ctx, await ctx.loaders.account.load(ref.id)),
    investor: (r: AccountRow) => ({ id: r.investor_id }),
    walletAddress: (r: AccountRow) => r.wallet_address,
    createdAt: (r: AccountRow) => r.created_at,
  },
  Investor: {
    __resolveReference: (ref: { id: string }) => ref,
    custodyAccounts: async (i: { id: string }, _: unknown, ctx: CustodyContext) =>
      (await ctx.loaders.accountsOfInvestor.load(i.id)).filter((r) => visible(ctx, r)),
  },
};
