/**
 * Who the parties are: KYC approved and unexpired, AML screening clear and
 * recent. The receiver is checked on every transfer (ERC-3643 refuses any
 * transfer, mint or forced transfer to an unverified identity). The sender
 * is checked on secondary trades; a forced transfer by the agent skips the
 * sender's KYC (it is how tokens are taken from a holder whose credentials
 * lapsed) but not its AML screening: sanctioned property must stay blocked.
 */
import { amlExpiry, isWithin, kycExpiry } from '../credentials.js';
import { formatInstant, formatPeriod } from '../format.js';
import { hasSender, isSecondary, party, type Rule, type Side } from '../rule.js';

const KYC_REGULATION = 'KYC, all regimes (ERC-3643 identity claim)';
const AML_REGULATION = 'AML / sanctions screening, all regimes (Bank Secrecy Act; OFAC, 31 CFR Chapter V)';

const who = (side: Side, id: string): string => `The ${side} (${id})`;

function kycValid(side: Side): Rule {
  return {
    code: side === 'receiver' ? 'KYC_VALID_RECEIVER' : 'KYC_VALID_SENDER',
    regulation: KYC_REGULATION,
    appliesTo: side === 'receiver' ? () => true : isSecondary,
    check(input, config) {
      const p = party(input, side);
      if (!p) return undefined;
      const { status, approvedAt } = p.kyc;
      const expiry = kycExpiry(p, config);
      const limit = expiry ? formatInstant(expiry) : undefined;
      const subject = who(side, p.investorId);
      if (status !== 'APPROVED') {
        const state = status === 'PENDING' ? 'is still pending' : 'was rejected';
        return { passed: false, message: `${subject} cannot take part: its KYC ${state}.`, currentValue: status };
      }
      if (!approvedAt || !expiry) {
        return { passed: false, message: `${subject} has an approved KYC with no approval date, so its validity cannot be established.`, currentValue: status };
      }
      if (isWithin(input.at, approvedAt, expiry)) {
        return { passed: true, message: `${subject} has KYC approved on ${formatInstant(approvedAt)}, valid until ${limit}.`, currentValue: status, limit };
      }
      if (approvedAt.getTime() > input.at.getTime()) {
        return { passed: false, message: `${subject} had no approved KYC yet at ${formatInstant(input.at)}: it was approved on ${formatInstant(approvedAt)}.`, currentValue: 'NOT_YET_APPROVED', limit };
      }
      const note = p.kyc.expiresAt ? '' : ` (approvals last ${formatPeriod(config.kyc.validity)})`;
      return { passed: false, message: `${subject} has KYC that expired on ${limit}${note}; it must be renewed.`, currentValue: 'EXPIRED', limit };
    },
  };
}

function amlClear(side: Side): Rule {
  return {
    code: side === 'receiver' ? 'AML_CLEAR_RECEIVER' : 'AML_CLEAR_SENDER',
    regulation: AML_REGULATION,
    appliesTo: side === 'receiver' ? () => true : hasSender,
    check(input, config) {
      const p = party(input, side);
      if (!p) return undefined;
      const { status, screenedAt } = p.aml;
      const subject = who(side, p.investorId);
      const maxAge = formatPeriod(config.aml.maxScreeningAge);
      if (status !== 'CLEAR') {
        const state =
          status === 'PENDING' ? 'its AML screening is still pending'
          : status === 'POTENTIAL_MATCH' ? 'its AML screening has a potential sanctions or watch-list match awaiting review'
          : 'its AML screening confirmed a sanctions or watch-list match';
        return { passed: false, message: `${subject} cannot take part: ${state}.`, currentValue: status };
      }
      const expiry = amlExpiry(p, config);
      const limit = expiry ? formatInstant(expiry) : undefined;
      if (isWithin(input.at, screenedAt, expiry)) {
        return { passed: true, message: `${subject} was screened clear on ${formatInstant(screenedAt!)}; screenings are relied on for ${maxAge}.`, currentValue: status, limit };
      }
      if (!screenedAt || screenedAt.getTime() > input.at.getTime()) {
        return { passed: false, message: `${subject} had not been screened for AML at ${formatInstant(input.at)}.`, currentValue: 'NOT_SCREENED', limit };
      }
      return { passed: false, message: `${subject} was last screened on ${formatInstant(screenedAt)}, more than ${maxAge} ago; it must be screened again.`, currentValue: 'STALE', limit };
    },
  };
}

export const identityRules: readonly Rule[] = [kycValid('receiver'), kycValid('sender'), amlClear('receiver'), amlClear('sender')];
