/**
 * Where the parties are. Sanctioned jurisdictions (configuration) bind every
 * regime and every kind of transfer, both sides: property of a person in an
 * embargoed country may be neither received nor moved. The issuer's own
 * block and allow lists are policy, so a forced transfer overrides them;
 * the block list applies to both sides, the allow list to the receiver only
 * (it says where the token may be distributed; a holder who has moved away
 * may still sell).
 */
import { hasSender, isForced, party, type Rule, type Side } from '../rule.js';

const listed = (list: readonly string[] | undefined): list is readonly string[] => !!list && list.length > 0;

function notSanctioned(side: Side): Rule {
  return {
    code: side === 'receiver' ? 'COUNTRY_NOT_SANCTIONED_RECEIVER' : 'COUNTRY_NOT_SANCTIONED_SENDER',
    regulation: 'OFAC sanctions (31 CFR Chapter V)',
    appliesTo: side === 'receiver' ? () => true : hasSender,
    check(input, config) {
      const p = party(input, side);
      if (!p) return undefined;
      const sanctioned = config.sanctionedCountries.includes(p.jurisdiction);
      return {
        passed: !sanctioned,
        message: sanctioned
          ? `The ${side} (${p.investorId}) is in ${p.jurisdiction}, a comprehensively sanctioned jurisdiction.`
          : `The ${side}'s jurisdiction ${p.jurisdiction} is not under comprehensive sanctions.`,
        currentValue: p.jurisdiction,
      };
    },
  };
}

function notBlocked(side: Side): Rule {
  return {
    code: side === 'receiver' ? 'COUNTRY_NOT_BLOCKED_RECEIVER' : 'COUNTRY_NOT_BLOCKED_SENDER',
    regulation: 'issuer policy',
    appliesTo: (input) => listed(input.token.policy.blockedCountries) && !isForced(input) && (side === 'receiver' || hasSender(input)),
    check(input) {
      const p = party(input, side);
      if (!p) return undefined;
      const blocked = input.token.policy.blockedCountries!.includes(p.jurisdiction);
      return {
        passed: !blocked,
        message: blocked
          ? `The ${side} (${p.investorId}) is in ${p.jurisdiction}, which the issuer has blocked for this token.`
          : `The ${side}'s jurisdiction ${p.jurisdiction} is not on the issuer's block list.`,
        currentValue: p.jurisdiction,
      };
    },
  };
}

const allowedReceiver: Rule = {
  code: 'COUNTRY_ALLOWED_RECEIVER',
  regulation: 'issuer policy',
  appliesTo: (input) => listed(input.token.policy.allowedCountries) && !isForced(input),
  check(input) {
    if (!input.to) return undefined;
    const allowed = input.token.policy.allowedCountries!;
    const { jurisdiction, investorId } = input.to;
    const ok = allowed.includes(jurisdiction);
    return {
      passed: ok,
      message: ok
        ? `The receiver's jurisdiction ${jurisdiction} is on the issuer's allow list.`
        : `The receiver (${investorId}) is in ${jurisdiction}, which is not among the jurisdictions the issuer allows for this token.`,
      currentValue: jurisdiction,
      limit: allowed.join(', '),
    };
  },
};

export const sanctionRules: readonly Rule[] = [notSanctioned('receiver'), notSanctioned('sender')];
export const countryPolicyRules: readonly Rule[] = [notBlocked('receiver'), notBlocked('sender'), allowedReceiver];
