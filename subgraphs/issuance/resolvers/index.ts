import { canSee } from '../../kit/access.js';
import { canReadCapTable, capTable } from '../captable.js';
import * as controls from '../controls.js';
import { deploySecurityToken } from '../deploy.js';
import { assertMayAsk, kindOf, priceCentsOf, transferEligibility } from '../eligibility.js';
import * as investors from '../investors.js';
import { issueTokens, type IssueInput } from '../issue.js';
import type { FamilyRelation, TransferOccasion } from '../domain/compliance/index.js';
import type { IssuanceContext } from '../services.js';
import type { AffiliationRow, WalletRow } from '../store/holdings.js';
import type { AuditRow, DocumentRow } from '../store/records.js';
import { listTokens, type TokenRow } from '../store/tokens.js';
import { investorsOfOrg, type InvestorRow } from '../store/investors.js';
import * as tokens from '../tokens.js';
import { voteResolvers } from './votes.js';
import { splitResolvers } from './splits.js';

type Ctx = IssuanceContext;
interface EligibilityArgs {
  tokenId: string; from?: string | null; to?: string | null; amount: bigint; at?: Date | null; kind?: string | null;
  occasion?: TransferOccasion | null; receiverRelation?: FamilyRelation | null; price?: string | null; currency?: string | null;
}
const visibleInvestor = (ctx: Ctx, r: InvestorRow | null) => (r && canSee(ctx.caller, { org: r.org, investorId: r.id }) ? r : null);
const reload = async (ctx: Ctx, id: string) => (await ctx.loaders.investor.clear(id).load(id))!;

export const resolvers = {
  Query: {
    securityTokens: (_: unknown, __: unknown, ctx: Ctx) => listTokens(ctx.db),
    securityToken: (_: unknown, a: { id: string }, ctx: Ctx) => ctx.loaders.token.load(a.id),
    investors: async (_: unknown, __: unknown, ctx: Ctx) => (await investorsOfOrg(ctx.db, ctx.caller.org)).filter((r) => visibleInvestor(ctx, r)),
    investor: async (_: unknown, a: { id: string }, ctx: Ctx) => visibleInvestor(ctx, await ctx.loaders.investor.load(a.id)),
    transferEligibility: async (_: unknown, a: EligibilityArgs, ctx: Ctx) => {
      await assertMayAsk(ctx.db, ctx.caller, ctx.services.settlementOperatorOrgs, a.tokenId, [a.from ?? null, a.to ?? null]);
      return transferEligibility(ctx.db, ctx.services.config, {
        tokenId: a.tokenId, fromInvestorId: a.from ?? null, toInvestorId: a.to ?? null, amount: a.amount, at: a.at ?? new Date(), kind: kindOf(a.from, a.kind),
        occasion: a.occasion ?? undefined, receiverRelation: a.receiverRelation ?? null, priceCents: priceCentsOf(a.price, a.currency),
      });
    },
    ...voteResolvers.Query,
    ...splitResolvers.Query,
  },
  Mutation: {
    createSecurityToken: (_: unknown, a: { input: tokens.CreateTokenInput }, ctx: Ctx) => tokens.createSecurityToken(ctx.db, ctx.caller, a.input),
    deploySecurityToken: (_: unknown, a: { tokenId: string }, ctx: Ctx) => deploySecurityToken(ctx.db, ctx.services.chain, ctx.services.config, ctx.caller, a.tokenId),
    setTransferRules: async (_: unknown, a: { tokenId: string; rules: tokens.PolicyInput; reason: string }, ctx: Ctx) => {
      const row = await tokens.setTransferRules(ctx.db, ctx.caller, a.tokenId, a.rules, a.reason);
      ctx.services.kick();
      return row;
    },
    issueTokens: (_: unknown, a: { input: IssueInput }, ctx: Ctx) =>
      issueTokens(ctx.db, ctx.services.chain, ctx.services.config, ctx.caller, a.input, { beforeMint: () => ctx.services.jobs.runDue(), afterMint: ctx.services.afterChainWrite }).then((r) => ({ ...r, id: r.id || null })),
    pauseToken: (_: unknown, a: { tokenId: string; reason: string }, ctx: Ctx) => controls.setPaused(ctx.db, ctx.services.chain, ctx.caller, a.tokenId, true, a.reason),
    unpauseToken: (_: unknown, a: { tokenId: string; reason: string }, ctx: Ctx) => controls.setPaused(ctx.db, ctx.services.chain, ctx.caller, a.tokenId, false, a.reason),
    freezeInvestor: (_: unknown, a: { tokenId: string; investorId: string; frozen: boolean; reason: string }, ctx: Ctx) => controls.freezeInvestor(ctx.db, ctx.services.chain, ctx.caller, a),
    freezePartialTokens: (_: unknown, a: { tokenId: string; investorId: string; amount: bigint; reason: string }, ctx: Ctx) => controls.freezePartialTokens(ctx.db, ctx.services.chain, ctx.caller, a),
    setLiquidateOnly: async (_: unknown, a: { tokenId: string; investorId: string; liquidateOnly: boolean; reason: string }, ctx: Ctx) => {
      const r = await controls.setLiquidateOnly(ctx.db, ctx.caller, a);
      ctx.services.kick();
      return r;
    },
    forcedTransfer: async (_: unknown, a: controls.ForcedTransferArgs, ctx: Ctx) => {
      const r = await controls.forcedTransfer(ctx.db, ctx.services.chain, ctx.services.config, ctx.caller, a);
      if (r.txHash) await ctx.services.afterChainWrite();
      return r;
    },
    recoverInvestorWallet: async (_: unknown, a: { investorId: string; lostWallet: string; newWallet: string; reason: string }, ctx: Ctx) => {
      const r = await controls.recoverInvestorWallet(ctx.db, ctx.services.chain, ctx.caller, a);
      await ctx.services.afterChainWrite();
      return reload(ctx, r.id);
    },
    attachDocument: (_: unknown, a: { tokenId: string; name: string; uri: string; hash: string }, ctx: Ctx) => tokens.attachDocument(ctx.db, ctx.caller, a.tokenId, a),
    registerInvestor: (_: unknown, a: { input: investors.RegisterInvestorInput }, ctx: Ctx) => investors.registerInvestor(ctx.db, ctx.caller, a.input),
    recordKyc: (_: unknown, a: Parameters<typeof investors.recordKyc>[2], ctx: Ctx) => kicked(ctx, investors.recordKyc(ctx.db, ctx.caller, a)),
    recordAmlScreening: (_: unknown, a: Parameters<typeof investors.recordAmlScreening>[2], ctx: Ctx) => kicked(ctx, investors.recordAmlScreening(ctx.db, ctx.caller, a)),
    recordAffiliation: (_: unknown, a: Parameters<typeof investors.recordAffiliation>[2], ctx: Ctx) =>
      kicked(ctx, investors.recordAffiliation(ctx.db, ctx.caller, a)).then((r) => { ctx.loaders.affiliations.clear(r.id); return r; }),
    recordAccreditation: (_: unknown, a: Parameters<typeof investors.recordAccreditation>[3], ctx: Ctx) => kicked(ctx, investors.recordAccreditation(ctx.db, ctx.services.config, ctx.caller, a)),
    addInvestorWallet: (_: unknown, a: Parameters<typeof investors.addInvestorWallet>[2], ctx: Ctx) => kicked(ctx, investors.addInvestorWallet(ctx.db, ctx.caller, a)),
    ...voteResolvers.Mutation,
    ...splitResolvers.Mutation,
  },
  Subscription: { ...voteResolvers.Subscription, ...splitResolvers.Subscription },
  Vote: voteResolvers.Vote,
  Ballot: voteResolvers.Ballot,
  VoteStatusEvent: voteResolvers.VoteStatusEvent,
  Split: splitResolvers.Split,
  SplitStatusEvent: splitResolvers.SplitStatusEvent,
  SecurityToken: {
    __resolveReference: (ref: { id: string }, ctx: Ctx) => ctx.loaders.token.load(ref.id),
    issuerOrg: (t: TokenRow) => t.issuer_org,
    totalSupply: (t: TokenRow) => BigInt(t.total_supply),
    createdAt: (t: TokenRow) => t.created_at,
    issuerReportingSince: (t: TokenRow) => t.issuer_reporting_since,
    regS: (t: TokenRow) => t.reg_s && { ...t.reg_s, distributionCompliancePeriodStart: new Date(t.reg_s.distributionCompliancePeriodStart) },
    listedOnNationalExchange: (t: TokenRow) => t.listed_on_national_exchange,
    transferRules: (t: TokenRow) => ({
      allowedCountries: t.policy.allowedCountries ?? [], blockedCountries: t.policy.blockedCountries ?? [],
      maxBalance: t.policy.maxBalance ?? null, maxSupplyShareBps: t.policy.maxSupplyShareBps ?? null, minHolding: t.policy.minHolding ?? null,
      maxHolders: t.policy.maxHolders ?? null, maxUsHolders: t.policy.maxUsHolders ?? null, apply12gHolderCaps: t.policy.apply12gHolderCaps ?? null,
      fund3c1: !!t.policy.fund3c1, qualifyingVentureCapitalFund: !!t.policy.qualifyingVentureCapitalFund,
      lockupUntil: t.policy.lockupUntil ? new Date(t.policy.lockupUntil) : null,
      allowOffshoreResales: !!t.policy.allowOffshoreResales,
    }),
    contracts: (t: TokenRow) => t.chain && { ...t.chain, rulesModule: t.chain.rulesModule ?? null, deployedBlock: BigInt(t.deployed_block ?? 0) },
    documents: async (t: TokenRow, a: { name?: string | null }, ctx: Ctx) =>
      (await ctx.loaders.documents.load(t.id)).filter((d: DocumentRow) => !a.name || d.name === a.name),
    capTable: (t: TokenRow, a: { asOf?: Date | null }, ctx: Ctx) => (canReadCapTable(ctx.caller, t) ? capTable(ctx.db, t, a.asOf ?? new Date()) : null),
  },
  TokenDocument: {
    attachedBy: (d: DocumentRow) => d.attached_by,
    attachedAt: (d: DocumentRow) => d.attached_at,
  },
  TransferPolicy: {
    maxBalance: (p: { maxBalance: string | null }) => (p.maxBalance === null ? null : BigInt(p.maxBalance)),
    minHolding: (p: { minHolding: string | null }) => (p.minHolding === null ? null : BigInt(p.minHolding)),
  },
  Investor: {
    __resolveReference: async (ref: { id: string }, ctx: Ctx) => visibleInvestor(ctx, await ctx.loaders.investor.load(ref.id)),
    legalName: (r: InvestorRow) => r.legal_name,
    usPerson: (r: InvestorRow) => r.us_person,
    createdAt: (r: InvestorRow) => r.created_at,
    kyc: (r: InvestorRow) => ({ status: r.kyc_status, approvedAt: r.kyc_approved_at, expiresAt: r.kyc_expires_at }),
    aml: (r: InvestorRow) => ({ status: r.aml_status, screenedAt: r.aml_screened_at }),
    accreditation: (r: InvestorRow) => (r.accredited === null || !r.accreditation_verified_at ? null : {
      accredited: r.accredited, method: r.accreditation_method, verifiedAt: r.accreditation_verified_at, expiresAt: r.accreditation_expires_at,
    }),
    issuerRelation: (r: InvestorRow) => r.issuer_relation,
    identityAddress: (r: InvestorRow) => r.identity_address,
    wallets: (r: InvestorRow, _: unknown, ctx: Ctx) => ctx.loaders.wallets.load(r.id),
    affiliations: async (r: InvestorRow, _: unknown, ctx: Ctx) => (await ctx.loaders.affiliations.load(r.id)).map((a: AffiliationRow) => ({
      since: a.since, until: a.until, reason: a.reason, recordedBy: a.recorded_by, recordedAt: a.recorded_at,
    })),
    auditTrail: async (r: InvestorRow, _: unknown, ctx: Ctx) => (await ctx.loaders.audit.load(r.id)).map((e: AuditRow) => ({
      at: e.at, actor: e.actor, action: e.action, reason: e.reason, details: JSON.stringify(e.details),
    })),
  },
  InvestorWallet: {
    registeredOnChain: (w: WalletRow) => w.registered_on_chain,
  },
};

async function kicked<T>(ctx: Ctx, p: Promise<T>): Promise<T> {
  const r = await p;
  ctx.services.kick();
  return r;
}
