/**
 * The issuer's limits on a single holding: a maximum balance, a maximum
 * share of the supply, and a minimum holding (both sides must end at zero
 * or at least the minimum, so no one is left with an odd lot). Policy, so
 * a forced transfer overrides it.
 */
import { formatBps, formatShare, formatUnits } from '../format.js';
import { isForced, isSecondary, type Rule } from '../rule.js';

export const maxBalanceReceiver: Rule = {
  code: 'MAX_BALANCE_RECEIVER',
  regulation: 'issuer policy',
  appliesTo: (input) => input.token.policy.maxBalance !== undefined && !isForced(input),
  check(input, _config, effects) {
    const max = input.token.policy.maxBalance!;
    const after = effects.receiverBalanceAfter;
    if (after === null || !input.to) return undefined;
    const currentValue = formatUnits(after, input.token.decimals);
    const limit = formatUnits(max, input.token.decimals);
    const passed = after <= max || effects.sameInvestor;
    return {
      passed,
      message: passed
        ? `The receiver would hold ${currentValue}, within the issuer's maximum of ${limit} per investor.`
        : `The receiver (${input.to.investorId}) would hold ${currentValue}, above the issuer's maximum of ${limit} per investor.`,
      currentValue,
      limit,
    };
  },
};

export const maxSupplyShareReceiver: Rule = {
  code: 'MAX_SUPPLY_SHARE_RECEIVER',
  regulation: 'issuer policy',
  appliesTo: (input) => input.token.policy.maxSupplyShareBps !== undefined && !isForced(input),
  check(input, _config, effects) {
    const bps = input.token.policy.maxSupplyShareBps!;
    const after = effects.receiverBalanceAfter;
    if (after === null || !input.to) return undefined;
    const supply = effects.supplyAfter;
    const currentValue = formatShare(after, supply);
    const limit = formatBps(bps);
    const passed = after * 10_000n <= BigInt(bps) * supply || effects.sameInvestor;
    return {
      passed,
      message: passed
        ? `The receiver would hold ${currentValue} of the supply, within the issuer's maximum of ${limit} per investor.`
        : `The receiver (${input.to.investorId}) would hold ${currentValue} of the supply (${formatUnits(after, input.token.decimals)} of ${formatUnits(supply, input.token.decimals)}), above the issuer's maximum of ${limit} per investor.`,
      currentValue,
      limit,
    };
  },
};

function minHolding(side: 'sender' | 'receiver'): Rule {
  return {
    code: side === 'sender' ? 'MIN_HOLDING_SENDER' : 'MIN_HOLDING_RECEIVER',
    regulation: 'issuer policy',
    appliesTo: (input) => input.token.policy.minHolding !== undefined && (side === 'sender' ? isSecondary(input) : !isForced(input)),
    check(input, _config, effects) {
      const min = input.token.policy.minHolding!;
      const after = side === 'sender' ? effects.senderBalanceAfter : effects.receiverBalanceAfter;
      if (after === null) return undefined;
      const currentValue = formatUnits(after, input.token.decimals);
      const limit = formatUnits(min, input.token.decimals);
      if (after < 0n) {
        return { passed: false, message: `The sender holds less than the amount transferred, so it cannot keep a valid holding.`, currentValue, limit };
      }
      const passed = after === 0n || after >= min;
      const keeps = side === 'sender' ? 'would keep' : 'would hold';
      return {
        passed,
        message: passed
          ? after === 0n
            ? `The ${side} would hold nothing afterwards, which the minimum holding allows.`
            : `The ${side} ${keeps} ${currentValue}, at least the issuer's minimum holding of ${limit}.`
          : `The ${side} ${keeps} ${currentValue}, less than the issuer's minimum holding of ${limit}; a holding must be zero or at least the minimum.`,
        currentValue,
        limit,
      };
    },
  };
}

export const holdingRules: readonly Rule[] = [maxBalanceReceiver, maxSupplyShareReceiver, minHolding('sender'), minHolding('receiver')];
