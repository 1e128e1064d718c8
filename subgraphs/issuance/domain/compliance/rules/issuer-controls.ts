/**
 * The issuer's controls, mirroring ERC-3643: a paused token refuses
 * transfers between investors (not the agent's mint or forced transfer); a
 * frozen wallet can neither send nor receive; frozen tokens cannot leave the
 * wallet. A forced transfer is the agent overriding these controls, as
 * ERC-3643 forcedTransfer does (it unfreezes what it needs), so for it only
 * the sender's total balance must cover the amount.
 *
 * Stricter than the chain on one point: a primary issuance to a frozen
 * wallet or to a liquidate-only investor is refused, though ERC-3643 mint
 * checks neither; issuing into a frozen position contradicts the freeze.
 */
import { formatUnits } from '../format.js';
import { hasSender, isForced, isSecondary, party, type Rule, type Side } from '../rule.js';

const ERC3643 = 'ERC-3643 issuer control';

export const tokenNotPaused: Rule = {
  code: 'TOKEN_NOT_PAUSED',
  regulation: ERC3643,
  appliesTo: isSecondary,
  check: (input) => input.token.paused
    ? { passed: false, message: 'The issuer has paused the token: no transfers between investors until it is unpaused.', currentValue: 'PAUSED' }
    : { passed: true, message: 'The token is not paused.', currentValue: 'ACTIVE' },
};

function walletNotFrozen(side: Side): Rule {
  return {
    code: side === 'sender' ? 'WALLET_NOT_FROZEN_SENDER' : 'WALLET_NOT_FROZEN_RECEIVER',
    regulation: ERC3643,
    appliesTo: side === 'sender' ? isSecondary : (input) => !isForced(input),
    check(input) {
      const p = party(input, side);
      if (!p) return undefined;
      return p.walletFrozen
        ? { passed: false, message: `The issuer has frozen the ${side}'s wallet (${p.investorId}): it can neither send nor receive the token.`, currentValue: 'FROZEN' }
        : { passed: true, message: `The ${side}'s wallet is not frozen.`, currentValue: 'NOT_FROZEN' };
    },
  };
}

export const freeBalanceSender: Rule = {
  code: 'FREE_BALANCE_SENDER',
  regulation: ERC3643,
  appliesTo: hasSender,
  check(input) {
    const from = input.from;
    if (!from) return undefined;
    const d = input.token.decimals;
    const amount = formatUnits(input.amount, d);
    if (isForced(input)) {
      const passed = from.balance >= input.amount;
      return {
        passed,
        message: passed
          ? `The sender holds ${formatUnits(from.balance, d)}, enough for the forced transfer of ${amount} (frozen tokens are released as needed).`
          : `The sender holds only ${formatUnits(from.balance, d)}, less than the ${amount} to be transferred.`,
        currentValue: formatUnits(from.balance, d),
        limit: amount,
      };
    }
    const free = from.balance - from.frozenAmount;
    const currentValue = formatUnits(free < 0n ? 0n : free, d);
    const passed = free >= input.amount;
    const frozen = from.frozenAmount > 0n ? ` (${formatUnits(from.balance, d)} held, ${formatUnits(from.frozenAmount, d)} frozen by the issuer)` : '';
    return {
      passed,
      message: passed
        ? `The sender has ${currentValue} free to transfer${frozen}, enough for ${amount}.`
        : `The sender has only ${currentValue} free to transfer${frozen}, less than the ${amount} transferred.`,
      currentValue,
      limit: amount,
    };
  },
};

export const receiverNotLiquidateOnly: Rule = {
  code: 'RECEIVER_NOT_LIQUIDATE_ONLY',
  regulation: 'issuer control',
  appliesTo: (input) => !isForced(input),
  check: ({ to }) => !to ? undefined : to.liquidateOnly
    ? { passed: false, message: `The receiver (${to.investorId}) may only sell this token, not acquire more.`, currentValue: 'LIQUIDATE_ONLY' }
    : { passed: true, message: 'The receiver is not restricted to selling.', currentValue: 'UNRESTRICTED' },
};

export const issuerControlRules: readonly Rule[] = [
  tokenNotPaused,
  walletNotFrozen('sender'),
  walletNotFrozen('receiver'),
  freeBalanceSender,
  receiverNotLiquidateOnly,
];
