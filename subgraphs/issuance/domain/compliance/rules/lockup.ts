import { isSecondary, type Rule } from '../rule.js';

/**
 * The issuer's own lock-up period: no secondary transfer until it ends
 * (issuer policy, agreed in the offering documents). Primary issuance and
 * forced transfers are not resales and are not held back.
 */
export const issuerLockup: Rule = {
  code: 'ISSUER_LOCKUP',
  regulation: 'issuer policy',
  appliesTo: (input) => !!input.token.policy.lockupUntil && isSecondary(input),
  check(input) {
    const until = input.token.policy.lockupUntil!;
    const limit = until.toISOString();
    if (input.at.getTime() >= until.getTime()) return { passed: true, message: `The issuer's lock-up ended on ${limit}.`, limit };
    return { passed: false, message: `The issuer's lock-up forbids transfers until ${limit}.`, limit, blockingUntil: until };
  },
};
