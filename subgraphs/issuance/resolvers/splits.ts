import { canSee } from '../../kit/access.js';
import { canReadCapTable } from '../captable.js';
import type { IssuanceContext as Ctx } from '../services.js';
import { announceSplit, type AnnounceSplitInput } from '../splits.js';
import { investorOrgs } from '../store/investors.js';
import { splitStatusStream, type SplitStatusEvent } from '../split-stream.js';
import { listDistributions } from '../distributions.js';
import { cashInLieuDistributionId, holdersWithCash, splitById, splitsOfToken, type SplitRow } from '../store/splits.js';

type HolderWithCash = Awaited<ReturnType<typeof holdersWithCash>>[number];
/** The holder's cash in lieu as its entitlement stands (PENDING is OWED); without one, as the split recorded it. */
const cashStatus = (h: HolderWithCash) => (h.entitlement_status === null ? h.cash_status : h.entitlement_status === 'PENDING' ? 'OWED' : h.entitlement_status);

/** A holder's row is the issuer side's, and the holder's own and its organisations' (the one that onboarded it, its custodians). */
async function visibleHolders(ctx: Ctx, s: SplitRow): Promise<HolderWithCash[]> {
  const rows = await holdersWithCash(ctx.db, s.id);
  const token = await ctx.loaders.token.load(s.token_id);
  if (token && canReadCapTable(ctx.caller, token)) return rows;
  const orgs = await investorOrgs(ctx.db, rows.map((r) => r.investor_id));
  return rows.filter((r) => orgs.some((o) => o.id === r.investor_id && canSee(ctx.caller, { org: o.org, investorId: r.investor_id })));
}

export const splitResolvers = {
  Query: {
    splits: (_: unknown, a: { tokenId: string }, ctx: Ctx) => splitsOfToken(ctx.db, a.tokenId),
  },
  Mutation: {
    announceSplit: (_: unknown, a: { input: AnnounceSplitInput }, ctx: Ctx) => announceSplit(ctx.services.splits, ctx.caller, a.input),
  },
  Subscription: {
    splitStatusChanged: {
      subscribe: (_: unknown, a: { tokenId: string; after?: string | null }, ctx: Ctx) => splitStatusStream(ctx.db, ctx.services.outbox, a),
      resolve: (e: SplitStatusEvent) => e,
    },
  },
  SplitStatusEvent: {
    split: (e: SplitStatusEvent, _: unknown, ctx: Ctx) => splitById(ctx.db, e.splitId),
  },
  Split: {
    token: (s: SplitRow, _: unknown, ctx: Ctx) => ctx.loaders.token.load(s.token_id),
    numerator: (s: SplitRow) => BigInt(s.numerator),
    denominator: (s: SplitRow) => BigInt(s.denominator),
    effectiveAt: (s: SplitRow) => s.effective_at,
    cashInLieuPrice: (s: SplitRow) => BigInt(s.cash_in_lieu_price),
    supplyBefore: (s: SplitRow) => (s.supply_before === null ? null : BigInt(s.supply_before)),
    supplyAfter: (s: SplitRow) => (s.supply_after === null ? null : BigInt(s.supply_after)),
    txHashes: (s: SplitRow) => s.tx_hashes,
    appliedAt: (s: SplitRow) => s.applied_at,
    doneAt: (s: SplitRow) => s.done_at,
    lastError: (s: SplitRow, _: unknown, ctx: Ctx) => (ctx.caller.kind === 'service' || ctx.caller.org === s.org ? s.last_error : null),
    holders: async (s: SplitRow, _: unknown, ctx: Ctx) => (await visibleHolders(ctx, s)).map((h) => ({
      investorId: h.investor_id, before: BigInt(h.before), after: BigInt(h.after), fractionNumerator: BigInt(h.fraction_numerator),
      cashInLieu: BigInt(h.cash_in_lieu), cashInLieuStatus: cashStatus(h), cashInLieuWithheld: h.withheld === null ? null : BigInt(h.withheld), cashInLieuTxHash: h.tx_hash,
    })),
    payingAccountId: (s: SplitRow, _: unknown, ctx: Ctx) => (ctx.caller.kind === 'service' || ctx.caller.org === s.org ? s.paying_account_id : null),
    // Scoped as any distribution: the issuer's side, or an organisation with an entitlement in it.
    cashInLieuDistribution: async (s: SplitRow, _: unknown, ctx: Ctx) => {
      const id = await cashInLieuDistributionId(ctx.db, s.id);
      return id ? (await listDistributions(ctx.db, ctx.caller, { id }))[0] ?? null : null;
    },
  },
};
