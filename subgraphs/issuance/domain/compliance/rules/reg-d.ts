/**
 * Reg D 506 conditions on the offering itself, so they apply to primary
 * issuance only: resales of Reg D securities are governed by Rule 144 (see
 * rule-144.ts), not by 506.
 */
import type { ComplianceConfig } from '../config.js';
import { accreditationExpiry, isAccredited } from '../credentials.js';
import { formatCount, formatInstant } from '../format.js';
import { isPrimary, type Outcome, type Rule } from '../rule.js';
import type { PartySnapshot, TransferInput } from '../types.js';

/** 230.506(c)(2)(i): all purchasers are accredited, verified by reasonable steps (506(c)(2)(ii)). */
export const accreditedOnly506c: Rule = {
  code: 'REG_D_506C_ACCREDITED_ONLY',
  regulation: 'Reg D 506(c) (17 CFR 230.506(c))',
  appliesTo: (input) => isPrimary(input) && input.token.exemption === 'REG_D_506C',
  check: (input, config) => (input.to ? verifiedAccreditation(input.to, input, config) : undefined),
};

function verifiedAccreditation(p: PartySnapshot, input: TransferInput, config: ComplianceConfig): Outcome {
  const a = p.accreditation;
  const subject = `The purchaser (${p.investorId})`;
  if (!a || !a.accredited) {
    return { passed: false, message: `${subject} is not an accredited investor; a 506(c) offering may only sell to accredited investors.`, currentValue: 'NOT_ACCREDITED' };
  }
  const expiry = accreditationExpiry(a, config);
  const limit = formatInstant(expiry);
  if (a.method === 'SELF_CERTIFIED') {
    return { passed: false, message: `${subject} has only self-certified accreditation; 506(c) requires the issuer to take reasonable steps to verify it.`, currentValue: a.method, limit };
  }
  if (isAccredited(p, input.at, config, true)) {
    return { passed: true, message: `${subject} is an accredited investor, verified by ${a.method} on ${formatInstant(a.verifiedAt)}, valid until ${limit}.`, currentValue: a.method, limit };
  }
  if (a.verifiedAt.getTime() > input.at.getTime()) {
    return { passed: false, message: `${subject}'s accreditation was verified only on ${formatInstant(a.verifiedAt)}, after ${formatInstant(input.at)}.`, currentValue: 'NOT_YET_VERIFIED', limit };
  }
  return { passed: false, message: `${subject}'s accreditation verification expired on ${limit}; it must be verified again.`, currentValue: 'EXPIRED', limit };
}

/** 230.506(b)(2)(i): no more than 35 non-accredited purchasers in the offering. */
export const nonAccreditedPurchasers506b: Rule = {
  code: 'REG_D_506B_NON_ACCREDITED_PURCHASERS',
  regulation: 'Reg D 506(b) (17 CFR 230.506(b)(2)(i))',
  appliesTo: (input) => isPrimary(input) && input.token.exemption === 'REG_D_506B',
  check(input, config, effects) {
    if (!input.to) return undefined;
    const max = config.rule506b.maxNonAccreditedPurchasers;
    const { nonAccreditedPurchasers, receiverAlreadyPurchased } = input.offering!;
    const limit = formatCount(max);
    if (effects.receiverAccredited) {
      return { passed: true, message: `The purchaser is accredited, so it does not count towards the ${limit} non-accredited purchasers allowed.`, currentValue: formatCount(nonAccreditedPurchasers), limit };
    }
    if (receiverAlreadyPurchased) {
      return { passed: true, message: `The purchaser is not accredited but has already purchased in this offering, so it is already counted (${formatCount(nonAccreditedPurchasers)} of ${limit}).`, currentValue: formatCount(nonAccreditedPurchasers), limit };
    }
    const after = nonAccreditedPurchasers + 1;
    const passed = after <= max;
    return {
      passed,
      message: passed
        ? `The purchaser would be non-accredited purchaser ${formatCount(after)} of the ${limit} a 506(b) offering allows.`
        : `The offering already has ${formatCount(nonAccreditedPurchasers)} non-accredited purchasers; a 506(b) offering allows at most ${limit}, so only accredited investors may still purchase.`,
      currentValue: formatCount(after),
      limit,
    };
  },
};

export const regDRules: readonly Rule[] = [accreditedOnly506c, nonAccreditedPurchasers506b];
