/**
 * Reg S distribution compliance period (17 CFR 230.903(b)): until it ends,
 * no offer or sale to a U.S. person or for its account. By category:
 *   Category 1 (903(b)(1)): no period.
 *   Category 2 (903(b)(2)(iii)): 40 days, equity and debt.
 *   Category 3 (903(b)(3)): debt 40 days; equity one year, or six months
 *   if the issuer is a reporting issuer (230.902(l)).
 * The period starts at the later of the first offer to non-distributors and
 * the closing (230.902(f)). The token refuses every transfer to a U.S.
 * person during it, whoever sells: 903(b)(3)(iii)(B)(4) requires a
 * Category 3 issuer to refuse to register transfers not made under Reg S,
 * and the on-chain lockup cannot tell a distributor from a holder.
 * Without a known receiver the rule is decided only once the period is over.
 */
import type { ComplianceConfig } from '../config.js';
import { isRegSReportingIssuer } from '../credentials.js';
import { formatInstant, formatPeriod } from '../format.js';
import type { Rule } from '../rule.js';
import { addPeriod, isZeroPeriod, type Period } from '../time.js';
import type { RegSTerms, TokenSnapshot } from '../types.js';

export function regSPeriod(token: TokenSnapshot, terms: RegSTerms, config: ComplianceConfig): { period: Period; why: string } {
  const c = config.regS;
  switch (terms.category) {
    case 'CATEGORY_1':
      return { period: c.category1, why: 'Category 1' };
    case 'CATEGORY_2':
      return { period: c.category2, why: 'Category 2' };
    case 'CATEGORY_3':
      if (terms.securityType === 'DEBT') return { period: c.category3Debt, why: 'Category 3 debt' };
      return isRegSReportingIssuer(token, terms.distributionCompliancePeriodStart)
        ? { period: c.category3EquityReportingIssuer, why: 'Category 3 equity of a reporting issuer' }
        : { period: c.category3Equity, why: 'Category 3 equity of a non-reporting issuer' };
  }
}

export const regSDistributionCompliancePeriod: Rule = {
  code: 'REG_S_DISTRIBUTION_COMPLIANCE_PERIOD',
  regulation: 'Reg S (17 CFR 230.903(b))',
  appliesTo: (input) => input.token.exemption === 'REG_S',
  check(input, config) {
    const terms = input.token.regS!;
    const { period, why } = regSPeriod(input.token, terms, config);
    const { to } = input;
    const currentValue = to === null ? undefined : to.usPerson ? 'U.S. person' : 'non-U.S. person';
    if (isZeroPeriod(period)) {
      return { passed: true, message: `${why} offerings have no distribution compliance period.`, currentValue };
    }
    const end = addPeriod(terms.distributionCompliancePeriodStart, period);
    const limit = formatInstant(end);
    const span = `${formatPeriod(period)} for ${why}`;
    if (input.at.getTime() >= end.getTime()) {
      return { passed: true, message: `The distribution compliance period (${span}) ended on ${limit}.`, currentValue, limit };
    }
    if (!to) return undefined;
    if (!to.usPerson) {
      return { passed: true, message: `The receiver is not a U.S. person, so the distribution compliance period (${span}, until ${limit}) does not restrict it.`, currentValue, limit };
    }
    return {
      passed: false,
      message: `The receiver (${to.investorId}) is a U.S. person, and no transfer to U.S. persons may happen during the distribution compliance period (${span}), which ends on ${limit}.`,
      currentValue,
      limit,
      blockingUntil: end,
    };
  },
};
