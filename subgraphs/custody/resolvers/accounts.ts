import { canSee } from '../../kit/access.js';
import { openCustodyAccount, type OpenAccountInput } from '../accounts.js';
import { effectivePolicy } from '../policies.js';
import type { CustodyContext } from '../services.js';
import { accountsOfOrg, type AccountRow } from '../store/accounts.js';
import type { BalanceRow } from '../store/ledger.js';

/** Thin: custody accounts, their balances and the investors who own them. */

const visible = (ctx: CustodyContext, r: AccountRow | null) =>
  r && canSee(ctx.caller, { org: r.org, investorId: r.investor_id }) ? r : null;

export const accountResolvers = {
  Query: {
    custodyAccounts: async (_: unknown, __: unknown, ctx: CustodyContext) => (await accountsOfOrg(ctx.db, ctx.caller.org)).filter((r) => visible(ctx, r)),
    custodyAccount: async (_: unknown, a: { id: string }, ctx: CustodyContext) => visible(ctx, await ctx.loaders.account.load(a.id)),
  },
  Mutation: {
    openCustodyAccount: async (_: unknown, a: { input: OpenAccountInput }, ctx: CustodyContext) => {
      const row = await openCustodyAccount(ctx.db, ctx.keys, ctx.caller, a.input, ctx.env.investorExists);
      return ctx.loaders.account.load(row.id);
    },
  },
  CustodyAccount: {
    __resolveReference: async (ref: { id: string }, ctx: CustodyContext) => visible(ctx, await ctx.loaders.account.load(ref.id)),
    investor: (r: AccountRow) => ({ id: r.investor_id }),
    walletAddress: (r: AccountRow) => r.wallet_address,
    createdAt: (r: AccountRow) => r.created_at,
    balances: async (r: AccountRow, _: unknown, ctx: CustodyContext) => (await ctx.loaders.balancesOfAccount.load(r.id)).map((b: BalanceRow) => ({
      asset: b.asset, total: b.total, reserved: b.reserved, available: (BigInt(b.total) - BigInt(b.reserved)).toString(),
      // Indexed: the chain figure as of the asset's cursor (0 for a wallet the chain never touched).
      onChain: b.on_chain_block === null ? null : (b.on_chain ?? '0'), onChainBlock: b.on_chain_block, updatedAt: b.updated_at,
    })),
    withdrawalPolicy: (r: AccountRow, _: unknown, ctx: CustodyContext) => effectivePolicy(ctx.db, ctx.env.defaults, r.org, r.id),
    withdrawalDestinations: (r: AccountRow, _: unknown, ctx: CustodyContext) => ctx.loaders.destinationsOfAccount.load(r.id),
    withdrawals: (r: AccountRow, _: unknown, ctx: CustodyContext) => ctx.loaders.withdrawalsOfAccount.load(r.id),
  },
  Investor: {
    __resolveReference: (ref: { id: string }) => ref,
    custodyAccounts: async (i: { id: string }, _: unknown, ctx: CustodyContext) =>
      (await ctx.loaders.accountsOfInvestor.load(i.id)).filter((r) => visible(ctx, r)),
  },
};
