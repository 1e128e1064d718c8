import type { Queryable } from '../kit/db/types.js';
import { notFound } from '../kit/errors.js';
import type {
  AccreditationMethod, AmlStatus, ComplianceConfig, DatedAmount, Exemption, FamilyRelation, InvestorType, IssuerRelation, KycStatus, PartySnapshot, TokenSnapshot,
  TransferInput, TransferKind, TransferOccasion, TransferPolicy,
} from './domain/compliance/index.js';
import { affiliateSales, nonAccreditedPurchasers, purchasesBetween } from './store/holdings.js';
import { snapshotReads, type SnapshotReads } from './snapshot-reads.js';
import type { PolicyJson, TokenRow } from './store/tokens.js';
import type { InvestorRow } from './store/investors.js';

/**
 * Reads, at decision time, everything the compliance engine needs for one
 * transfer. Each read is by key (token, the two parties, the sender's lots,
 * the token's holder counters): the cost does not grow with the number of holders.
 */
export function policyFromJson(p: PolicyJson): TransferPolicy {
  return {
    allowedCountries: p.allowedCountries ?? [],
    blockedCountries: p.blockedCountries ?? [],
    maxBalance: p.maxBalance !== undefined ? BigInt(p.maxBalance) : undefined,
    maxSupplyShareBps: p.maxSupplyShareBps,
    minHolding: p.minHolding !== undefined ? BigInt(p.minHolding) : undefined,
    maxHolders: p.maxHolders,
    maxUsHolders: p.maxUsHolders,
    apply12gHolderCaps: p.apply12gHolderCaps,
    fund3c1: p.fund3c1 ? { qualifyingVentureCapitalFund: !!p.qualifyingVentureCapitalFund } : undefined,
    lockupUntil: p.lockupUntil ? new Date(p.lockupUntil) : undefined,
    allowOffshoreResales: p.allowOffshoreResales,
  };
}

export function tokenSnapshot(t: TokenRow): TokenSnapshot {
  return {
    tokenId: t.id,
    decimals: t.decimals,
    exemption: t.exemption as Exemption,
    issuerReportingSince: t.issuer_reporting_since ? new Date(t.issuer_reporting_since) : null,
    paused: t.paused,
    totalSupply: BigInt(t.total_supply),
    regS: t.reg_s
      ? {
          category: t.reg_s.category as 'CATEGORY_1' | 'CATEGORY_2' | 'CATEGORY_3',
          securityType: t.reg_s.securityType as 'EQUITY' | 'DEBT',
          domesticIssuer: t.reg_s.domesticIssuer,
          distributionCompliancePeriodStart: new Date(t.reg_s.distributionCompliancePeriodStart),
        }
      : undefined,
    listedOnNationalExchange: t.listed_on_national_exchange,
    policy: policyFromJson(t.policy),
  };
}

async function party(reads: SnapshotReads, tokenId: string, i: InvestorRow, issuerRelation: IssuerRelation): Promise<PartySnapshot> {
  const [controls, balance] = await Promise.all([reads.controls(tokenId, i.id), reads.position(tokenId, i.id)]);
  return {
    investorId: i.id,
    type: i.type as InvestorType,
    jurisdiction: i.jurisdiction,
    usPerson: i.us_person,
    kyc: { status: i.kyc_status as KycStatus, approvedAt: i.kyc_approved_at, expiresAt: i.kyc_expires_at },
    aml: { status: i.aml_status as AmlStatus, screenedAt: i.aml_screened_at },
    accreditation: i.accredited === null || !i.accreditation_verified_at
      ? null
      : { accredited: i.accredited, method: i.accreditation_method as AccreditationMethod, verifiedAt: i.accreditation_verified_at, expiresAt: i.accreditation_expires_at },
    issuerRelation,
    relationToCounterparty: null,
    walletFrozen: controls.wallet_frozen,
    frozenAmount: BigInt(controls.frozen_amount),
    liquidateOnly: controls.liquidate_only,
    annualIncomeCents: i.annual_income_cents === null ? null : BigInt(i.annual_income_cents),
    netWorthCents: i.net_worth_cents === null ? null : BigInt(i.net_worth_cents),
    balance,
  };
}

async function investor(reads: SnapshotReads, id: string): Promise<InvestorRow> {
  const i = await reads.investor(id);
  if (!i) throw notFound('investor', id);
  return i;
}

export interface SnapshotRequest {
  tokenId: string;
  /** Null for a primary issuance, or for a question about the receiver alone. */
  fromInvestorId: string | null;
  /** Null for a question about the sender alone. */
  toInvestorId: string | null;
  amount: bigint;
  at: Date;
  kind: TransferKind;
  priceCents?: bigint;
  /** Why the tokens move (a gift or an estate is not a resale); default SALE. */
  occasion?: TransferOccasion;
  /** The receiver's family relation to the sender (Reg CF resale exceptions). */
  receiverRelation?: FamilyRelation | null;
}

// Purchases older than this cannot count towards a 12-month limit, whatever the configuration says (a guard on the read).
const PURCHASE_LOOKBACK_DAYS = 400;

/** `reads`: shared by the questions decided together (one statement per kind of row for all of them). */
export async function buildTransferInput(q: Queryable, r: SnapshotRequest, config: ComplianceConfig, reads: SnapshotReads = snapshotReads(q)): Promise<TransferInput> {
  const t = await reads.token(r.tokenId);
  if (!t) throw notFound('security token', r.tokenId);
  const token = tokenSnapshot(t);
  const [toRow, fromRow] = await Promise.all([r.toInvestorId ? investor(reads, r.toInvestorId) : null, r.fromInvestorId ? investor(reads, r.fromInvestorId) : null]);
  // A seller that was an affiliate within the lookback sells as one (230.144(b)(1)); the receiver's relation is as of the instant.
  const c144 = config.rule144;
  const fromRelation = fromRow ? await reads.relation(fromRow.id, r.at, c144.formerAffiliateLookback) : 'NONE';
  const [to, from, lots, counts, sales] = await Promise.all([
    toRow ? reads.relation(toRow.id, r.at).then((rel) => party(reads, t.id, toRow, rel)) : Promise.resolve(null),
    fromRow ? party(reads, t.id, fromRow, fromRelation) : Promise.resolve(null),
    fromRow ? reads.openLots(t.id, fromRow.id) : Promise.resolve([]),
    reads.holderCounts(t.id),
    fromRow && fromRelation === 'AFFILIATE'
      ? affiliateSales(q, t.id, fromRow.id, r.at, c144.affiliateVolumeWindow, c144.affiliateVolumeWeeks)
      : Promise.resolve(undefined),
  ]);
  let prior: DatedAmount[] | undefined;
  if (toRow && (token.exemption === 'REG_CF' || token.exemption === 'REG_A_TIER2')) {
    // Reg CF counts the trailing window across issuers; Reg A Tier 2 every purchase in this offering.
    const since = token.exemption === 'REG_CF' ? new Date(r.at.getTime() - PURCHASE_LOOKBACK_DAYS * 86_400_000) : new Date(0);
    const rows = await purchasesBetween(q, toRow.id, [token.exemption], since, r.at);
    prior = rows.filter((p) => token.exemption === 'REG_CF' || p.token_id === t.id).map((p) => ({ at: new Date(p.at), amountCents: BigInt(p.amount_cents) }));
  }
  const offering = toRow && token.exemption === 'REG_D_506B' && r.kind === 'PRIMARY_ISSUANCE' ? await nonAccreditedPurchasers(q, t.id, toRow.id, r.at) : undefined;
  return {
    kind: r.kind,
    occasion: r.occasion,
    at: r.at,
    amount: r.amount,
    priceCents: r.priceCents,
    token,
    from,
    to: to && { ...to, relationToCounterparty: r.receiverRelation ?? null },
    senderLots: lots.map((l) => ({ lotId: l.id, amount: BigInt(l.remaining), acquiredAt: new Date(l.acquired_at), holdingPeriodStart: new Date(l.holding_period_start), issuedAt: new Date(l.issued_at), restricted: l.restricted })),
    holders: { total: counts.total, nonAccredited: counts.non_accredited, usPersons: counts.us_persons },
    offering,
    receiverPriorInvestments: prior,
    affiliateSales: sales,
  };
}
