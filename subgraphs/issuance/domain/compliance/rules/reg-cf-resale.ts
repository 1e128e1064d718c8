/**
 * 17 CFR 227.501: securities issued under Reg CF may not be transferred by
 * a purchaser during the one year beginning when they were issued, except
 * (a)(1) to the issuer, (a)(2) to an accredited investor, (a)(3) as part of
 * a registered offering (not a transfer this engine sees), or (a)(4) to a
 * family member or the equivalent, to a trust controlled by the purchaser or
 * created for a family member, or in connection with the purchaser's death
 * or divorce. The year runs per lot, from the lot's issue date.
 * A one-sided question decides it only when the known party settles it
 * (matured lots, or a receiver that is an exception whoever sells).
 */
import { isAccredited } from '../credentials.js';
import { formatInstant, formatPeriod, formatUnits } from '../format.js';
import { lotCoverage } from '../lots.js';
import { hasSender, type Rule } from '../rule.js';
import { addPeriod } from '../time.js';
import type { TransferInput } from '../types.js';
import type { ComplianceConfig } from '../config.js';

/** The exception that lets the transfer through during the year, if any, as a clause to quote. */
function exception(input: TransferInput, config: ComplianceConfig): string | null {
  const { to } = input;
  if (to?.issuerRelation === 'ISSUER') return 'the receiver is the issuer (227.501(a)(1))';
  if (to && isAccredited(to, input.at, config)) return 'the receiver is an accredited investor (227.501(a)(2))';
  if (to?.relationToCounterparty) {
    const relation = to.relationToCounterparty.toLowerCase().replace(/_/g, ' ');
    return `the receiver is the sender's ${relation} (227.501(a)(4))`;
  }
  if (input.occasion === 'INHERITANCE') return 'the transfer follows the purchaser\'s death (227.501(a)(4))';
  if (input.occasion === 'DIVORCE') return 'the transfer is in connection with the purchaser\'s divorce (227.501(a)(4))';
  return null;
}

export const regCfResaleRestriction: Rule = {
  code: 'REG_CF_RESALE_RESTRICTION',
  regulation: '17 CFR 227.501',
  appliesTo: (input) => hasSender(input) && input.token.exemption === 'REG_CF',
  check(input, config) {
    const { token, amount, at, from } = input;
    if (!from) {
      const allowedBy = exception(input, config);
      return allowedBy ? { passed: true, message: `Whatever the sender's lots, the transfer is allowed during the Reg CF resale restriction because ${allowedBy}.` } : undefined;
    }
    if (from.issuerRelation === 'ISSUER') {
      return { passed: true, message: 'The issuer is transferring its own tokens; the restriction binds purchasers only.' };
    }
    const period = config.regCf.resaleRestriction;
    const units = (v: bigint): string => formatUnits(v, token.decimals);
    const coverage = lotCoverage(
      input.senderLots.map((lot) => ({ amount: lot.amount, maturesAt: addPeriod(lot.issuedAt ?? lot.holdingPeriodStart ?? lot.acquiredAt, period) })),
      amount,
      at,
    );
    const currentValue = units(coverage.matured);
    const limit = units(amount);
    const span = formatPeriod(period);
    if (coverage.covered) {
      return { passed: true, message: `${currentValue} of the sender's tokens were issued more than ${span} ago, covering the ${limit} transferred.`, currentValue, limit };
    }
    const allowedBy = exception(input, config);
    if (allowedBy) {
      return { passed: true, message: `The tokens are within ${span} of issue, but the transfer is allowed because ${allowedBy}.`, currentValue, limit };
    }
    if (!input.to) return undefined;
    const until = coverage.coveredAt ? ` Enough lots are free of it on ${formatInstant(coverage.coveredAt)}.` : ` The sender's recorded lots do not cover ${limit} in total.`;
    return {
      passed: false,
      message: `Only ${currentValue} of the ${limit} tokens transferred are past the Reg CF resale restriction (${span} from issue), and the receiver is not the issuer, an accredited investor or a family member of the sender.${until}`,
      currentValue,
      limit,
      blockingUntil: coverage.coveredAt ?? undefined,
    };
  },
};
