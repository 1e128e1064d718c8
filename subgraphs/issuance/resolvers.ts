import { canSee } from '../kit/auth.js';
import type { BaseContext_ } from '../kit/subgraph.js';
import type { IssuanceLoaders } from './loaders.js';
import * as service from './service.js';
import { investorsOfOrg, listTokens, type InvestorRow, type TokenRow } from './store.js';

export interface IssuanceContext extends BaseContext_ { loaders: IssuanceLoaders }

const visibleInvestor = (ctx: IssuanceContext, r: InvestorRow | null) =>
  r && canSee(ctx.caller, { org: r.org, investorId: r.id }) ? r : null;

export const resolvers = {
  Query: {
    securityTokens: (_: unknown, __: unknown, ctx: IssuanceContext) => listTokens(ctx.db),
    securityToken: (_: unknown, a: { id: string }, ctx: IssuanceContext) => ctx.loaders.token.load(a.id),
    investors: async (_: unknown, __: unknown, ctx: IssuanceContext) =>
      (await investorsOfOrg(ctx.db, ctx.caller.org)).filter((r) => visibleInvestor(ctx, r)),
    investor: async (_: unknown, a: { id: string }, ctx: IssuanceContext) => visibleInvestor(ctx, await ctx.loaders.investor.load(a.id)),
  },
  Mutation: {
    createSecurityToken: (_: unknown, a: { input: service.CreateTokenInput }, ctx: IssuanceContext) => service.createSecurityToken(ctx.db, ctx.caller, a.input),
    registerInvestor: (_: unknown, a: { input: service.RegisterInvestorInput }, ctx: IssuanceContext) => service.registerInvestor(ctx.db, ctx.caller, a.input),
  },
  SecurityToken: {
    __resolveReference: (ref: { id: string }, ctx: IssuanceContext) => ctx.loaders.token.load(ref.id),
    issuerOrg: (t: TokenRow) => t.issuer_org,
    totalSupply: (t: TokenRow) => BigInt(t.total_supply),
    createdAt: (t: TokenRow) => t.created_at,
  },
  Investor: {
    __resolveReference: async (ref: { id: string }, ctx: IssuanceContext) => visibleInvestor(ctx, await ctx.loaders.investor.load(ref.id)),
    legalName: (r: InvestorRow) => r.legal_name,
    usPerson: (r: InvestorRow) => r.us_person,
    createdAt: (r: InvestorRow) => r.created_at,
  },
};
