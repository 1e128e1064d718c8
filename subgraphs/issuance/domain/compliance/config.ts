/**
 * Every period and limit the rules use. Regulators change these figures
 * (the Reg CF limits were last raised in 2021 and are inflation-adjusted
 * every five years), so they are configuration, never literals in rules.
 * Defaults are today's figures, each with its source.
 *
 * Money is bigint cents; percentages are basis points (1% = 100 bps).
 */
import { isCountryCode } from '../../../kit/countries.js';
import { check } from './errors.js';
import type { Period } from './time.js';

export interface ComplianceConfig {
  readonly rule144: {
    /** 17 CFR 230.144(d)(1)(ii): issuers not reporting for 90 days before the sale. */
    readonly nonReportingIssuerHoldingPeriod: Period;
    /** 17 CFR 230.144(d)(1)(i): issuers reporting under the Exchange Act for at least 90 days. */
    readonly reportingIssuerHoldingPeriod: Period;
    /** How long the issuer must have been reporting before the shorter period applies (144(d)(1)(i)). */
    readonly reportingHistoryRequired: Period;
    /** 17 CFR 230.144(b)(1): a seller counts as an affiliate if it was one at any time in this period before the sale. */
    readonly formerAffiliateLookback: Period;
    /** 230.144(e)(1): an affiliate's sales within any period this long (three months) are limited... */
    readonly affiliateVolumeWindow: Period;
    /** ...to the greater of this share of the outstanding class, in basis points (144(e)(1)(i): one percent)... */
    readonly affiliateVolumeOutstandingBps: number;
    /** ...and the average weekly volume over this many weeks before the sale (144(e)(1)(ii): four calendar weeks). */
    readonly affiliateVolumeWeeks: number;
    /** 230.144(h)(1): a notice on Form 144 is required when the window's sales exceed this many whole units... */
    readonly form144ThresholdUnits: bigint;
    /** ...or this aggregate sale price, in cents ($50,000). */
    readonly form144ValueThresholdCents: bigint;
  };
  readonly regCf: {
    /** 17 CFR 227.501(a): no transfer during the one-year period beginning when the securities were issued. */
    readonly resaleRestriction: Period;
    /** 17 CFR 227.100(a)(2): limits count investments in the 12 months before the sale. */
    readonly investmentWindow: Period;
    /** 227.100(a)(2)(i): the greater of $2,500... */
    readonly investmentFloorCents: bigint;
    /** ...or 5% of the greater of annual income or net worth, when either is below $124,000. */
    readonly lowerInvestmentBps: number;
    /** The annual income / net worth threshold between the two tiers (227.100(a)(2)(i)/(ii)). */
    readonly incomeOrNetWorthThresholdCents: bigint;
    /** 227.100(a)(2)(ii): 10% of the greater of annual income or net worth when both reach the threshold... */
    readonly higherInvestmentBps: number;
    /** ...not to exceed $124,000. */
    readonly investmentCapCents: bigint;
  };
  readonly regATier2: {
    /** 17 CFR 230.251(d)(2)(i)(C): 10% of the greater of income or net worth (revenue or net assets for entities). */
    readonly investmentLimitBps: number;
  };
  readonly regS: {
    /**
     * Distribution compliance periods of 17 CFR 230.903(b), by category.
     * Category 1 (903(b)(1)) has none: only the general conditions apply.
     */
    readonly category1: Period;
    /** 903(b)(2)(iii): 40 days, equity and debt alike. */
    readonly category2: Period;
    /** 903(b)(3)(ii)(A): 40 days for debt securities. */
    readonly category3Debt: Period;
    /** 903(b)(3)(iii)(A): one year for equity securities... */
    readonly category3Equity: Period;
    /** ...or six months if the issuer is a reporting issuer (230.902(l)). */
    readonly category3EquityReportingIssuer: Period;
  };
  readonly section12g: {
    /**
     * Exchange Act 12(g)(1)(A): a class held of record by 2,000 or more
     * persons... (with total assets over $10 million, which the engine does
     * not check, to stay on the safe side) must be registered. These are the
     * thresholds that trigger registration, so a token stays below them:
     * at most 1,999 holders by default.
     */
    readonly holdersOfRecordThreshold: number;
    /** ...or by 500 or more persons who are not accredited investors. */
    readonly nonAccreditedHoldersThreshold: number;
  };
  readonly section3c1: {
    /**
     * Investment Company Act 3(c)(1): beneficially owned by not more than
     * 100 persons (a maximum, unlike 12(g)'s threshold)... Issuers wanting a
     * margin of one, as some do with 99, set a lower figure or a policy cap.
     */
    readonly maxHolders: number;
    /** ...or 250 for a qualifying venture capital fund (3(c)(1)(C)). */
    readonly maxHoldersQualifyingVentureCapitalFund: number;
  };
  readonly rule506b: {
    /** 17 CFR 230.506(b)(2)(i): no more than 35 non-accredited purchasers in the offering. */
    readonly maxNonAccreditedPurchasers: number;
  };
  readonly kyc: {
    /** How long an approval lasts when the KYC record carries no expiry of its own (issuer policy). */
    readonly validity: Period;
  };
  readonly aml: {
    /** The oldest screening result a decision may rely on; older ones must be re-run (issuer policy). */
    readonly maxScreeningAge: Period;
  };
  readonly accreditation: {
    /**
     * How long a verification lasts when the record carries no expiry. 90
     * days follows the "within the prior three months" of 17 CFR
     * 230.506(c)(2)(ii)(B)-(C) (net worth evidence, third-party letters).
     */
    readonly validity: Period;
  };
  /**
   * Jurisdictions no party may be in, whatever the token's own policy says.
   * Default: the countries under comprehensive OFAC embargo (Cuba, Iran,
   * North Korea). Syria's programme was revoked on 1 July 2025; the
   * region-based programmes (Crimea, the so-called DNR and LNR) have no
   * ISO 3166-1 code and are left to AML screening. Review with counsel.
   */
  readonly sanctionedCountries: readonly string[];
}

export const defaultComplianceConfig: ComplianceConfig = deepFreeze({
  rule144: {
    nonReportingIssuerHoldingPeriod: { months: 12 },
    reportingIssuerHoldingPeriod: { months: 6 },
    reportingHistoryRequired: { days: 90 },
    formerAffiliateLookback: { months: 3 },
    affiliateVolumeWindow: { months: 3 },
    affiliateVolumeOutstandingBps: 100,
    affiliateVolumeWeeks: 4,
    form144ThresholdUnits: 5_000n,
    form144ValueThresholdCents: 50_000_00n,
  },
  regCf: {
    resaleRestriction: { months: 12 },
    investmentWindow: { months: 12 },
    investmentFloorCents: 2_500_00n,
    lowerInvestmentBps: 500,
    incomeOrNetWorthThresholdCents: 124_000_00n,
    higherInvestmentBps: 1_000,
    investmentCapCents: 124_000_00n,
  },
  regATier2: { investmentLimitBps: 1_000 },
  regS: {
    category1: {},
    category2: { days: 40 },
    category3Debt: { days: 40 },
    category3Equity: { months: 12 },
    category3EquityReportingIssuer: { months: 6 },
  },
  section12g: { holdersOfRecordThreshold: 2_000, nonAccreditedHoldersThreshold: 500 },
  section3c1: { maxHolders: 100, maxHoldersQualifyingVentureCapitalFund: 250 },
  rule506b: { maxNonAccreditedPurchasers: 35 },
  kyc: { validity: { months: 12 } },
  aml: { maxScreeningAge: { days: 30 } },
  accreditation: { validity: { days: 90 } },
  sanctionedCountries: ['CU', 'IR', 'KP'],
});

/** Each section may be overridden in part; lists are replaced whole. */
export type ComplianceConfigOverrides = {
  readonly [K in keyof ComplianceConfig]?: ComplianceConfig[K] extends readonly unknown[]
    ? ComplianceConfig[K]
    : Partial<ComplianceConfig[K]>;
};

/** The defaults with `overrides` applied, validated and frozen. Throws ComplianceInputError on a bad figure. */
export function complianceConfigFrom(overrides: ComplianceConfigOverrides = {}): ComplianceConfig {
  const d = defaultComplianceConfig;
  const o = overrides;
  const config: ComplianceConfig = {
    rule144: { ...d.rule144, ...o.rule144 },
    regCf: { ...d.regCf, ...o.regCf },
    regATier2: { ...d.regATier2, ...o.regATier2 },
    regS: { ...d.regS, ...o.regS },
    section12g: { ...d.section12g, ...o.section12g },
    section3c1: { ...d.section3c1, ...o.section3c1 },
    rule506b: { ...d.rule506b, ...o.rule506b },
    kyc: { ...d.kyc, ...o.kyc },
    aml: { ...d.aml, ...o.aml },
    accreditation: { ...d.accreditation, ...o.accreditation },
    sanctionedCountries: [...(o.sanctionedCountries ?? d.sanctionedCountries)],
  };
  validateConfig(config);
  return deepFreeze(config);
}

function validateConfig(c: ComplianceConfig): void {
  for (const [section, fields] of Object.entries(c)) {
    if (Array.isArray(fields)) continue;
    for (const [name, value] of Object.entries(fields as Record<string, unknown>)) {
      const field = `config.${section}.${name}`;
      if (typeof value === 'bigint') check(value >= 0n, field, 'must not be negative');
      else if (name.endsWith('Cents') || name.endsWith('Units')) check(false, field, 'must be a bigint (a decimal string in JSON)');
      else if (typeof value === 'number') {
        check(Number.isSafeInteger(value) && value >= 0, field, 'must be a non-negative integer');
        if (name.endsWith('Bps')) check(value <= 10_000, field, 'basis points cannot exceed 10,000 (100%)');
      } else checkPeriod(value as Period, field);
    }
  }
  check(c.rule144.affiliateVolumeWeeks >= 1, 'config.rule144.affiliateVolumeWeeks', 'must be at least 1');
  check(c.section12g.holdersOfRecordThreshold >= 1, 'config.section12g.holdersOfRecordThreshold', 'must be at least 1');
  check(c.section12g.nonAccreditedHoldersThreshold >= 1, 'config.section12g.nonAccreditedHoldersThreshold', 'must be at least 1');
  c.sanctionedCountries.forEach((code, i) =>
    check(isCountryCode(code), `config.sanctionedCountries[${i}]`, `"${code}" is not an ISO 3166-1 alpha-2 code`));
}

function checkPeriod(p: Period, field: string): void {
  check(typeof p === 'object' && p !== null, field, 'must be a period ({ months?, days? })');
  for (const unit of ['months', 'days'] as const) {
    const v = p[unit];
    check(v === undefined || (Number.isSafeInteger(v) && v >= 0), `${field}.${unit}`, 'must be a non-negative integer');
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
