/**
 * The snapshot the engine evaluates: everything a decision needs, read by
 * the caller (the issuance service) at decision time. No I/O happens inside
 * the engine, so the same snapshot always gives the same answer, and an
 * auditor can replay a decision from the stored snapshot.
 *
 * The cost of an evaluation must not grow with the number of holders, so
 * the token's population arrives as counts (`holders`, `offering`). The only
 * lists are bounded by one party's own history (the sender's lots, the
 * receiver's prior investments) or by the issuer's policy (country lists).
 *
 * Amounts of the token are bigint base units; money is bigint cents (USD);
 * instants are Date; counts are plain integers.
 */
import type { RuleCode } from './codes.js';
import type { Period } from './time.js';

export type { Period };

export type Exemption = 'REG_D_506B' | 'REG_D_506C' | 'REG_S' | 'REG_A_TIER1' | 'REG_A_TIER2' | 'REG_CF';

/**
 * PRIMARY_ISSUANCE: the issuer mints to a purchaser (no sender).
 * SECONDARY_TRADE: one investor transfers to another (trading, OTC).
 * FORCED_TRANSFER: the issuer's agent moves tokens (ERC-3643 forcedTransfer),
 * overriding the issuer's own controls and policy but not the law.
 */
export type TransferKind = 'PRIMARY_ISSUANCE' | 'SECONDARY_TRADE' | 'FORCED_TRANSFER';

/**
 * Why the tokens move. A transfer that is not a sale (a gift, an estate, a
 * divorce settlement) is not a resale under Rule 144, and death or divorce
 * are exceptions to the Reg CF resale restriction (17 CFR 227.501(a)(4)).
 */
export type TransferOccasion = 'SALE' | 'GIFT' | 'INHERITANCE' | 'FAMILY_TRUST' | 'DIVORCE';

export type InvestorType = 'INDIVIDUAL' | 'ENTITY';
export type KycStatus = 'APPROVED' | 'PENDING' | 'REJECTED';
export type AmlStatus = 'CLEAR' | 'PENDING' | 'POTENTIAL_MATCH' | 'CONFIRMED_MATCH';

/**
 * How accreditation was established. SELF_CERTIFIED is enough where the
 * issuer may rely on a reasonable belief (506(b), Reg CF, Reg A); 506(c)
 * requires reasonable steps to verify (230.506(c)(2)(ii)), so it needs one
 * of the others.
 */
export type AccreditationMethod =
  | 'SELF_CERTIFIED'
  | 'INCOME'
  | 'NET_WORTH'
  | 'THIRD_PARTY_LETTER'
  | 'PROFESSIONAL_CERTIFICATION'
  | 'ENTITY_ASSETS'
  | 'OTHER_VERIFIED';

/** Whether a party is the issuer itself or an affiliate of it (17 CFR 230.144(a)(1)). */
export type IssuerRelation = 'NONE' | 'ISSUER' | 'AFFILIATE';

/**
 * The receiver's relation to the sender, as listed by 17 CFR 227.501(a)(4)
 * and (c): family members (adoptive relationships included) and trusts.
 */
export type FamilyRelation =
  | 'SPOUSE'
  | 'SPOUSAL_EQUIVALENT'
  | 'CHILD'
  | 'STEPCHILD'
  | 'GRANDCHILD'
  | 'PARENT'
  | 'STEPPARENT'
  | 'GRANDPARENT'
  | 'SIBLING'
  | 'PARENT_IN_LAW'
  | 'CHILD_IN_LAW'
  | 'SIBLING_IN_LAW'
  | 'TRUST_CONTROLLED_BY_PURCHASER'
  | 'TRUST_FOR_FAMILY_MEMBER';

export interface KycRecord {
  readonly status: KycStatus;
  readonly approvedAt: Date | null;
  /** Null: valid for `config.kyc.validity` from `approvedAt`. */
  readonly expiresAt: Date | null;
}

export interface AmlRecord {
  readonly status: AmlStatus;
  readonly screenedAt: Date | null;
}

export interface AccreditationRecord {
  readonly accredited: boolean;
  readonly method: AccreditationMethod;
  readonly verifiedAt: Date;
  /** Null: valid for `config.accreditation.validity` from `verifiedAt`. */
  readonly expiresAt: Date | null;
}

export interface PartySnapshot {
  readonly investorId: string;
  readonly type: InvestorType;
  /** ISO 3166-1 alpha-2. */
  readonly jurisdiction: string;
  /** U.S. person as defined by 17 CFR 230.902(k). */
  readonly usPerson: boolean;
  readonly kyc: KycRecord;
  readonly aml: AmlRecord;
  readonly accreditation: AccreditationRecord | null;
  readonly issuerRelation: IssuerRelation;
  /** Only read on the receiver: its relation to the sender. */
  readonly relationToCounterparty?: FamilyRelation | null;
  /** ERC-3643 setAddressFrozen on the party's wallet. */
  readonly walletFrozen: boolean;
  /** ERC-3643 freezePartialTokens: base units that may not leave the wallet. */
  readonly frozenAmount: bigint;
  /** The issuer lets this investor sell but not buy (e.g. pending redemption or off-boarding). */
  readonly liquidateOnly: boolean;
  /** Cents. For an entity: annual revenue. Null when not recorded (counts as zero). */
  readonly annualIncomeCents: bigint | null;
  /** Cents, excluding the primary residence for a natural person. For an entity: net assets. Null when not recorded. */
  readonly netWorthCents: bigint | null;
  /** The investor's balance of this token across all its wallets, before the transfer, in base units. */
  readonly balance: bigint;
}

/** One acquisition by the sender, so that holding periods run per lot. */
export interface Lot {
  readonly lotId?: string;
  readonly amount: bigint;
  readonly acquiredAt: Date;
  /**
   * When the Rule 144 holding period started. Defaults to `acquiredAt`; set
   * it earlier where 144(d)(3) lets the holder tack a previous holder's
   * period (gifts, estates, stock dividends, conversions).
   */
  readonly holdingPeriodStart?: Date;
  /**
   * When the issuer issued these securities: the Reg CF one-year
   * restriction runs from here (227.501(a)). Defaults to the holding
   * period start; set it for lots bought from another holder.
   */
  readonly issuedAt?: Date;
  /**
   * False once a non-affiliate's resale after the holding period freed the
   * securities (230.144(b)(1)): no holding period applies to them again.
   * Default true.
   */
  readonly restricted?: boolean;
}

export type RegSCategory = 'CATEGORY_1' | 'CATEGORY_2' | 'CATEGORY_3';

export interface RegSTerms {
  /** Chosen by the issuer under 17 CFR 230.903(b) when making the offering. */
  readonly category: RegSCategory;
  readonly securityType: 'EQUITY' | 'DEBT';
  /** Equity of a domestic issuer sold under Reg S is "restricted" (230.905), so Rule 144 applies too. */
  readonly domesticIssuer: boolean;
  /** The later of the first offer to non-distributors and the closing (230.902(f)). */
  readonly distributionCompliancePeriodStart: Date;
}

/** The issuer's own transfer policy. An absent field sets no constraint. */
export interface TransferPolicy {
  /** When non-empty, receivers must be in one of these jurisdictions. Empty means no allow list. */
  readonly allowedCountries?: readonly string[];
  /** No party may be in one of these jurisdictions. */
  readonly blockedCountries?: readonly string[];
  /** Base units a single investor may hold. */
  readonly maxBalance?: bigint;
  /** Share of the total supply a single investor may hold, in basis points. */
  readonly maxSupplyShareBps?: number;
  /** A holding must be zero or at least this many base units, on both sides of a transfer. */
  readonly minHolding?: bigint;
  readonly maxHolders?: number;
  /** E.g. to stay below the 300 U.S. residents of Rule 12g3-2(a) for a foreign private issuer. */
  readonly maxUsHolders?: number;
  /** Issuer lock-up: no secondary transfer before this instant (e.g. a post-offering lock-up agreed with investors). */
  readonly lockupUntil?: Date;
  /**
   * Let holders of restricted tokens resell them in an offshore transaction
   * to a buyer outside the United States who is not a U.S. person, under
   * Rule 904 (17 CFR 230.904), even within the Rule 144 holding period.
   * Default off.
   */
  readonly allowOffshoreResales?: boolean;
  /**
   * Whether the Section 12(g) holder caps apply. Default: yes, except for
   * Reg CF (Rule 12g-6) and Reg A Tier 2 (Rule 12g5-1(a)(7)) tokens, whose
   * holders are conditionally excluded from the count.
   */
  readonly apply12gHolderCaps?: boolean;
  /** Set when the issuer relies on Investment Company Act 3(c)(1). */
  readonly fund3c1?: { readonly qualifyingVentureCapitalFund: boolean };
}

export interface TokenSnapshot {
  readonly tokenId: string;
  readonly decimals: number;
  readonly exemption: Exemption;
  /** When the issuer became subject to Exchange Act reporting (section 13 or 15(d)); null if it is not. */
  readonly issuerReportingSince: Date | null;
  /** ERC-3643 pause. */
  readonly paused: boolean;
  /** Before the transfer, in base units. */
  readonly totalSupply: bigint;
  /** Required for REG_S tokens. */
  readonly regS?: RegSTerms;
  /** Reg A Tier 2 investment limits do not apply to securities listed on a national securities exchange (230.251(d)(2)(i)(D)). */
  readonly listedOnNationalExchange?: boolean;
  readonly policy: TransferPolicy;
}

/** Holders of the token before the transfer, as counted by the cap table. Each investor counts once. */
export interface HolderCounts {
  readonly total: number;
  /** Holders not accredited at the evaluation instant. */
  readonly nonAccredited: number;
  readonly usPersons: number;
}

/** For a 506(b) primary issuance: the offering's purchasers so far. */
export interface OfferingCounts {
  /** Excluding those 230.501(e) lets the issuer exclude (relatives sharing a home, and so on). */
  readonly nonAccreditedPurchasers: number;
  /** The receiver has already purchased in this offering, so is already counted. */
  readonly receiverAlreadyPurchased: boolean;
}

export interface DatedAmount {
  readonly at: Date;
  readonly amountCents: bigint;
}

export interface TransferInput {
  readonly kind: TransferKind;
  /** Default SALE. */
  readonly occasion?: TransferOccasion;
  /** The instant the decision is made for (now, or a past instant to replay). */
  readonly at: Date;
  /** Base units, > 0. */
  readonly amount: bigint;
  /** What the receiver pays, in cents. Required for Reg CF and Reg A Tier 2 primary issuance. */
  readonly priceCents?: bigint;
  readonly token: TokenSnapshot;
  /**
   * Null for a primary issuance; for a secondary trade, null when the
   * question is about the receiver alone (a buy order: the seller is not
   * known yet).
   */
  readonly from: PartySnapshot | null;
  /** Null when the question is about the sender alone (a sell order: the buyer is not known yet); never for a primary issuance or a forced transfer. */
  readonly to: PartySnapshot | null;
  /** The sender's lots of this token; empty without a sender. */
  readonly senderLots: readonly Lot[];
  readonly holders: HolderCounts;
  /** Required for a REG_D_506B primary issuance. */
  readonly offering?: OfferingCounts;
  /**
   * The receiver's earlier purchases that count towards its investment
   * limit. Reg CF: in any issuer's Reg CF offering (227.100(a)(2) is across
   * all issuers; the intermediary may rely on the investor's statement);
   * the engine keeps those in the trailing window. Reg A Tier 2: in this
   * offering (the limit is per offering, all of them count).
   */
  readonly receiverPriorInvestments?: readonly DatedAmount[];
  /**
   * For a sender that is (or in the lookback was) an affiliate: the base
   * units it sold of this token in the Rule 144(e) window before `at`, and
   * the units transferred between investors in the weeks before `at` (the
   * token's weekly volume, 144(e)(1)(ii)). Absent: none.
   */
  readonly affiliateSales?: AffiliateSales;
}

export interface AffiliateSales {
  readonly soldInWindow: bigint;
  readonly recentVolume: bigint;
}

/** A filing a passed rule requires alongside the transfer (it does not block it). */
export interface RequiredFiling {
  readonly code: RuleCode;
  /** E.g. 'FORM_144'. */
  readonly form: string;
  readonly regulation: string;
  readonly message: string;
}

export interface RuleResult {
  readonly code: RuleCode;
  readonly passed: boolean;
  /** A sentence a compliance officer understands. */
  readonly message: string;
  /** Where the rule comes from, e.g. '17 CFR 230.144(d)' or 'issuer policy'. */
  readonly regulation: string;
  readonly currentValue?: string;
  readonly limit?: string;
  /** For a failed time-bound rule: the first instant at which it stops blocking. */
  readonly blockingUntil?: Date;
}

/** The party a one-sided question leaves out. */
export type MissingParty = 'SENDER' | 'RECEIVER';

export interface TransferEvaluation {
  /** True only if every result passed and no applicable rule was left undecided (so never for a one-sided question). */
  readonly allowed: boolean;
  /** Every applicable rule the known parties decide, passed or failed, in RULE_CODES order. */
  readonly results: readonly RuleResult[];
  /** The rules that do not apply to this token and kind of transfer. */
  readonly notApplicable: readonly RuleCode[];
  /** Null when both parties are known; otherwise the one the question left out. */
  readonly missingParty: MissingParty | null;
  /** Applicable rules that depend on the missing party: neither passed nor failed, to be decided when it is known. */
  readonly notEvaluated: readonly RuleCode[];
  /** Filings the transfer requires (a Form 144 notice), whether or not it is allowed. */
  readonly requiredFilings: readonly RequiredFiling[];
}
