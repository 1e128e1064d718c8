import { canSee } from '../../kit/access.js';
import type { IssuanceContext as Ctx } from '../services.js';
import { announceDistribution, listDistributions, listEntitlements, readsWhole, recordTaxForm, type AnnounceInput, type TaxFormInput } from '../distributions.js';
import { actOnEntitlement, type EntitlementAction, type EntitlementActionInput } from '../entitlement-actions.js';
import { entitlementStream, type EntitlementEventView } from '../subscriptions.js';
import { withholdingReport, type DistributionRow, type EntitlementRow, type TaxFormRow } from '../store/distributions.js';

/** Thin resolvers of distributions, entitlements and tax forms (logic in distributions.ts). */
const whole = <T>(ctx: Ctx, d: DistributionRow, v: () => T): T | null => (readsWhole(ctx.caller, d) ? v() : null);
const big = (v: string | null) => (v === null ? null : BigInt(v));

async function statusOf(ctx: Ctx, d: DistributionRow): Promise<'AWAITING_RECORD_DATE' | 'ANNOUNCED' | 'PAYING' | 'COMPLETED' | 'LAPSED'> {
  if (!d.fixed_at) return 'AWAITING_RECORD_DATE';
  if (d.lapsed_reason) return 'LAPSED';
  if (!d.payment_started_at) return 'ANNOUNCED';
  const open = (await ctx.loaders.entitlementCounts.load(d.id)).some((c) => c.status === 'PENDING' || c.status === 'FAILED');
  return open ? 'PAYING' : 'COMPLETED';
}

async function actOn(ctx: Ctx, action: EntitlementAction, input: EntitlementActionInput) {
  const svc = ctx.services.distributions;
  const e = await actOnEntitlement(ctx.db, svc.sanctionedCountries, ctx.caller, action, input, svc.now());
  svc.kickPayments();
  return e;
}

export const distributionResolvers = {
  Query: {
    distributions: (_: unknown, a: { tokenId?: string | null }, ctx: Ctx) => listDistributions(ctx.db, ctx.caller, { tokenId: a.tokenId }),
    distribution: async (_: unknown, a: { id: string }, ctx: Ctx) => (await listDistributions(ctx.db, ctx.caller, { id: a.id }))[0] ?? null,
    entitlements: async (_: unknown, a: { distributionId?: string | null; investorId?: string | null; status?: string | null }, ctx: Ctx) => {
      const d = a.distributionId ? await ctx.loaders.distribution.load(a.distributionId) : null;
      return listEntitlements(ctx.db, ctx.caller, a, d ? [d] : []);
    },
  },
  Mutation: {
    announceDistribution: async (_: unknown, a: { input: AnnounceInput }, ctx: Ctx) => {
      const d = await announceDistribution(ctx.db, ctx.services.distributions, ctx.caller, a.input);
      ctx.services.distributions.kickPayments();
      return d;
    },
    releaseEntitlement: (_: unknown, a: { input: EntitlementActionInput }, ctx: Ctx) => actOn(ctx, 'RELEASE', a.input),
    retryEntitlement: (_: unknown, a: { input: EntitlementActionInput }, ctx: Ctx) => actOn(ctx, 'RETRY', a.input),
    recordTaxForm: async (_: unknown, a: { input: TaxFormInput }, ctx: Ctx) => {
      const r = await recordTaxForm(ctx.db, ctx.services.distributions, ctx.caller, a.input);
      ctx.loaders.taxForms.clear(r.id);
      return r;
    },
  },
  Subscription: {
    entitlementUpdated: {
      subscribe: (_: unknown, a: { investorId?: string | null; distributionId?: string | null; after?: string | null }, ctx: Ctx) =>
        entitlementStream(ctx.db, ctx.services.outbox, ctx.caller, a),
      resolve: (e: EntitlementEventView) => e,
    },
  },
  EntitlementEvent: {
    gross: (e: EntitlementEventView) => BigInt(e.gross),
    withheld: (e: EntitlementEventView) => BigInt(e.withheld),
    net: (e: EntitlementEventView) => BigInt(e.net),
  },
  Distribution: {
    token: (d: DistributionRow, _: unknown, ctx: Ctx) => ctx.loaders.token.load(d.token_id),
    recordDate: (d: DistributionRow) => d.record_date,
    paymentDate: (d: DistributionRow) => d.payment_date,
    payingAccountId: (d: DistributionRow, _: unknown, ctx: Ctx) => whole(ctx, d, () => d.paying_account_id),
    amountPerUnit: (d: DistributionRow) => big(d.amount_per_unit),
    totalAmount: (d: DistributionRow) => big(d.total_amount),
    excludeIssuer: (d: DistributionRow) => d.exclude_issuer,
    status: (d: DistributionRow, _: unknown, ctx: Ctx) => statusOf(ctx, d),
    fixedAt: (d: DistributionRow) => d.fixed_at,
    lapsedReason: (d: DistributionRow) => d.lapsed_reason,
    units: (d: DistributionRow, _: unknown, ctx: Ctx) => whole(ctx, d, () => big(d.units)),
    gross: (d: DistributionRow, _: unknown, ctx: Ctx) => whole(ctx, d, () => big(d.gross)),
    withheld: (d: DistributionRow, _: unknown, ctx: Ctx) => whole(ctx, d, () => big(d.withheld)),
    net: (d: DistributionRow, _: unknown, ctx: Ctx) => whole(ctx, d, () => big(d.net)),
    unallocated: (d: DistributionRow, _: unknown, ctx: Ctx) => whole(ctx, d, () => BigInt(d.unallocated)),
    counts: async (d: DistributionRow, _: unknown, ctx: Ctx) => {
      if (!readsWhole(ctx.caller, d)) return null;
      const rows = await ctx.loaders.entitlementCounts.load(d.id);
      const of = (s: string) => Number(rows.find((r) => r.status === s)?.n ?? 0);
      return { pending: of('PENDING'), paid: of('PAID'), failed: of('FAILED'), held: of('HELD'), skipped: of('SKIPPED') };
    },
    entitlements: (d: DistributionRow, a: { status?: string | null }, ctx: Ctx) => listEntitlements(ctx.db, ctx.caller, { distributionId: d.id, status: a.status }, [d]),
    withholdingReport: async (d: DistributionRow, _: unknown, ctx: Ctx) => (readsWhole(ctx.caller, d)
      ? (await withholdingReport(ctx.db, d.id)).map((r) => ({ jurisdiction: r.jurisdiction, rateBps: r.rate_bps, basis: r.basis, holders: Number(r.holders), gross: BigInt(r.gross), withheld: BigInt(r.withheld), net: BigInt(r.net) }))
      : null),
    announcedBy: (d: DistributionRow, _: unknown, ctx: Ctx) => whole(ctx, d, () => d.announced_by),
    createdAt: (d: DistributionRow) => d.created_at,
  },
  Entitlement: {
    distribution: (e: EntitlementRow, _: unknown, ctx: Ctx) => ctx.loaders.distribution.load(e.distribution_id),
    investor: async (e: EntitlementRow, _: unknown, ctx: Ctx) => {
      const r = await ctx.loaders.investor.load(e.investor_id);
      return r && canSee(ctx.caller, { org: r.org, investorId: r.id }) ? r : null;
    },
    investorId: (e: EntitlementRow) => e.investor_id,
    units: (e: EntitlementRow) => BigInt(e.units),
    gross: (e: EntitlementRow) => BigInt(e.gross),
    withheld: (e: EntitlementRow) => BigInt(e.withheld),
    net: (e: EntitlementRow) => BigInt(e.net),
    rateBps: (e: EntitlementRow) => e.rate_bps,
    withholdingBasis: (e: EntitlementRow) => e.basis,
    taxForm: (e: EntitlementRow) => e.tax_form,
    txHash: (e: EntitlementRow) => e.tx_hash,
    paidTo: (e: EntitlementRow) => e.paid_to,
    paidAt: (e: EntitlementRow) => e.paid_at,
    updatedAt: (e: EntitlementRow) => e.updated_at,
  },
  TaxForm: {
    treatyCountry: (f: TaxFormRow) => f.treaty_country,
    signedAt: (f: TaxFormRow) => f.signed_at,
    expiresAt: (f: TaxFormRow) => f.expires_at,
    recordedAt: (f: TaxFormRow) => f.recorded_at,
  },
  Investor: {
    taxForms: (r: { id: string }, _: unknown, ctx: Ctx) => ctx.loaders.taxForms.load(r.id),
  },
};

type ResolverMap = Record<string, Record<string, unknown>>;
/** Resolver maps merged type by type (a later map adds fields to a type an earlier one has). */
export function mergeResolvers(...maps: ResolverMap[]): ResolverMap {
  const out: ResolverMap = {};
  for (const m of maps) for (const [type, fields] of Object.entries(m)) out[type] = { ...(out[type] ?? {}), ...fields };
  return out;
}
