/**
 * Rule 144(d) holding period for restricted securities, per lot. Restricted
 * here: Reg D 506(b)/(c) securities, and equity of a domestic issuer sold
 * under Reg S (230.905). Reg A and Reg CF securities are not restricted
 * securities (Reg CF has its own one-year restriction, see reg-cf.ts).
 *
 * Interpretation: the token enforces the holding period on every resale, as
 * transfer agents do for legended shares; the private-resale routes that
 * need no holding period (Section 4(a)(7), "4(a)(1½)") are not modelled.
 * Each lot carries where its period started and whether it is still
 * restricted (lot-origin.ts): a buyer from a non-affiliate tacks, a buyer
 * from an affiliate starts afresh.
 * For affiliates only the holding period is checked, not the other Rule 144
 * conditions (current information, volume, manner of sale, Form 144).
 */
import type { ComplianceConfig } from '../config.js';
import { rule144ReportingFrom } from '../credentials.js';
import { formatInstant, formatPeriod, formatUnits } from '../format.js';
import { lotCoverage } from '../lots.js';
import { hasSender, type Rule } from '../rule.js';
import { addPeriod, earlierOf, laterOf } from '../time.js';
import type { PartySnapshot, TokenSnapshot } from '../types.js';

/** A lot no longer restricted matured before any instant. */
const FREE = new Date(0);

/** A buyer an offshore transaction can be made with (230.902(h)(1)(i)(A), 230.902(k)): outside the United States and not a U.S. person. */
export const isOffshoreBuyer = (p: PartySnapshot): boolean => !p.usPerson && p.jurisdiction !== 'US';

export function isRestrictedSecurity(token: TokenSnapshot): boolean {
  switch (token.exemption) {
    case 'REG_D_506B':
    case 'REG_D_506C':
      return true;
    case 'REG_S':
      return token.regS?.securityType === 'EQUITY' && token.regS.domesticIssuer;
    default:
      return false;
  }
}

/**
 * When a lot whose holding period started at `start` may be resold: after
 * the long period, or after the short one once the issuer has also been
 * reporting for the required 90 days, whichever comes first.
 */
export function rule144Maturity(start: Date, token: TokenSnapshot, config: ComplianceConfig): Date {
  const long = addPeriod(start, config.rule144.nonReportingIssuerHoldingPeriod);
  const reportingFrom = rule144ReportingFrom(token, config);
  if (!reportingFrom) return long;
  return earlierOf(long, laterOf(addPeriod(start, config.rule144.reportingIssuerHoldingPeriod), reportingFrom));
}

export const rule144HoldingPeriod: Rule = {
  code: 'RULE_144_HOLDING_PERIOD',
  regulation: '17 CFR 230.144(d)',
  appliesTo: (input) => hasSender(input) && isRestrictedSecurity(input.token),
  check(input, config) {
    const { token, amount, at, from } = input;
    if (!from) return undefined;
    const occasion = input.occasion ?? 'SALE';
    const units = (v: bigint): string => formatUnits(v, token.decimals);
    if (from.issuerRelation === 'ISSUER') {
      return { passed: true, message: 'The issuer is transferring its own tokens, which is not a resale by a holder, so no holding period applies.' };
    }
    if (occasion !== 'SALE') {
      return { passed: true, message: `A transfer by ${occasion.toLowerCase()} is not a sale; the receiver takes over the sender's holding period (Rule 144(d)(3)) once the transfer is recorded with its occasion.` };
    }
    const reportingFrom = rule144ReportingFrom(token, config);
    const reporting = reportingFrom !== null && reportingFrom.getTime() <= at.getTime();
    const period = reporting
      ? `${formatPeriod(config.rule144.reportingIssuerHoldingPeriod)}, the issuer having reported for at least ${formatPeriod(config.rule144.reportingHistoryRequired)}`
      : `${formatPeriod(config.rule144.nonReportingIssuerHoldingPeriod)} for an issuer not reporting for ${formatPeriod(config.rule144.reportingHistoryRequired)}`;
    const coverage = lotCoverage(
      input.senderLots.map((lot) => ({ amount: lot.amount, maturesAt: lot.restricted === false ? FREE : rule144Maturity(lot.holdingPeriodStart ?? lot.acquiredAt, token, config) })),
      amount,
      at,
    );
    const currentValue = units(coverage.matured);
    const limit = units(amount);
    if (!coverage.covered && token.policy.allowOffshoreResales && from.issuerRelation === 'NONE') {
      // Rule 904: the issuer lets non-affiliates resell offshore; that depends on the buyer.
      if (!input.to) return undefined;
      if (isOffshoreBuyer(input.to)) {
        return {
          passed: true,
          message: `Only ${currentValue} of the ${limit} tokens have completed the Rule 144 holding period, but the issuer allows offshore resales under Rule 904 (17 CFR 230.904) and the buyer is outside the United States (${input.to.jurisdiction}) and not a U.S. person: an offshore transaction (230.902(h)), with no directed selling efforts in the United States required of the seller.`,
          currentValue,
          limit,
        };
      }
    }
    if (coverage.covered) {
      const affiliate = from.issuerRelation === 'AFFILIATE'
        ? ' The sender is an affiliate: the other Rule 144 conditions (volume, manner of sale, notice) still apply and are not checked here.'
        : '';
      return { passed: true, message: `${currentValue} of the sender's tokens have completed the Rule 144 holding period (${period}), covering the ${limit} transferred.${affiliate}`, currentValue, limit };
    }
    const until = coverage.coveredAt
      ? ` Enough lots complete it on ${formatInstant(coverage.coveredAt)}.`
      : ` The sender's recorded lots do not cover ${limit} in total.`;
    return {
      passed: false,
      message: `Only ${currentValue} of the ${limit} tokens transferred have completed the Rule 144 holding period (${period}).${until}`,
      currentValue,
      limit,
      blockingUntil: coverage.coveredAt ?? undefined,
    };
  },
};
