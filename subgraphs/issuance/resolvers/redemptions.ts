import type { IssuanceContext as Ctx } from '../services.js';
import { announceRedemption, holderLines, listRedemptions, readsRedemption, type AnnounceRedemptionInput } from '../redemptions.js';
import { releaseRedemptionHolder, type ReleaseHolderInput } from '../redemption-releases.js';
import { entitlementById, statusCounts } from '../store/distributions.js';
import type { RedemptionHolderRow, RedemptionRow } from '../store/redemptions.js';

/** Thin resolvers of redemptions (logic in redemptions.ts and redemption-steps.ts). */
const whole = <T>(ctx: Ctx, r: RedemptionRow, v: () => T): T | null => (readsRedemption(ctx.caller, r) ? v() : null);
const big = (v: string | null) => (v === null ? null : BigInt(v));

async function statusOf(ctx: Ctx, r: RedemptionRow): Promise<string> {
  if (r.status !== 'DONE') return r.status;
  const ids = [r.distribution_id, r.coupon_distribution_id].filter((d): d is string => !!d);
  const open = (await statusCounts(ctx.db, ids)).some((c) => c.status === 'PENDING' || c.status === 'FAILED');
  return open ? 'PAYING' : 'COMPLETED';
}

export const redemptionResolvers = {
  Query: {
    redemptions: (_: unknown, a: { tokenId: string }, ctx: Ctx) => listRedemptions(ctx.db, ctx.caller, a.tokenId),
  },
  Mutation: {
    announceRedemption: (_: unknown, a: { input: AnnounceRedemptionInput }, ctx: Ctx) => announceRedemption(ctx.db, ctx.services.distributions, ctx.caller, a.input),
    releaseRedemptionHolder: (_: unknown, a: { input: ReleaseHolderInput }, ctx: Ctx) => releaseRedemptionHolder(ctx.services.redemptions, ctx.caller, a.input),
  },
  Redemption: {
    token: (r: RedemptionRow, _: unknown, ctx: Ctx) => ctx.loaders.token.load(r.token_id),
    redemptionDate: (r: RedemptionRow) => r.redemption_at,
    pricePerUnit: (r: RedemptionRow) => BigInt(r.price_per_unit),
    payingAccountId: (r: RedemptionRow, _: unknown, ctx: Ctx) => whole(ctx, r, () => r.paying_account_id),
    finalCouponPerUnit: (r: RedemptionRow) => big(r.coupon_per_unit),
    finalCouponTotal: (r: RedemptionRow) => big(r.coupon_total),
    status: (r: RedemptionRow, _: unknown, ctx: Ctx) => statusOf(ctx, r),
    fixedAt: (r: RedemptionRow) => r.fixed_at,
    units: (r: RedemptionRow, _: unknown, ctx: Ctx) => whole(ctx, r, () => big(r.units)),
    gross: (r: RedemptionRow, _: unknown, ctx: Ctx) => whole(ctx, r, () => big(r.gross)),
    unallocated: (r: RedemptionRow, _: unknown, ctx: Ctx) => whole(ctx, r, () => big(r.unallocated)),
    txHashes: (r: RedemptionRow) => r.tx_hashes,
    lastError: (r: RedemptionRow, _: unknown, ctx: Ctx) => whole(ctx, r, () => r.last_error),
    distribution: (r: RedemptionRow, _: unknown, ctx: Ctx) => (r.distribution_id ? ctx.loaders.distribution.load(r.distribution_id) : null),
    couponDistribution: (r: RedemptionRow, _: unknown, ctx: Ctx) => (r.coupon_distribution_id ? ctx.loaders.distribution.load(r.coupon_distribution_id) : null),
    holders: (r: RedemptionRow, _: unknown, ctx: Ctx) => holderLines(ctx.db, ctx.caller, r),
  },
  RedemptionHolder: {
    investorId: (h: RedemptionHolderRow) => h.investor_id,
    units: (h: RedemptionHolderRow) => BigInt(h.units),
    gross: (h: RedemptionHolderRow) => BigInt(h.gross),
    releasedAt: (h: RedemptionHolderRow) => h.released_at ?? null,
    releaseReason: (h: RedemptionHolderRow) => h.release_reason ?? null,
    // The line is the caller's to see (the same scoping as entitlements), and so is its payment.
    payment: async (h: RedemptionHolderRow, _: unknown, ctx: Ctx) =>
      (h.entitlement_id ? entitlementById(ctx.db, h.entitlement_id) : null),
  },
};
