/**
 * The state after the transfer, computed once and shared by the rules that
 * need it (holder caps, balance limits, min holding). Balances are per
 * investor across wallets, so a transfer between two wallets of the same
 * investor changes nothing. When the question leaves a party out, the
 * figures about that party are null or false, and the unknown counterparty
 * is taken to be another investor.
 */
import type { ComplianceConfig } from './config.js';
import { isAccredited } from './credentials.js';
import type { TransferInput } from './types.js';

export interface TransferEffects {
  readonly sameInvestor: boolean;
  /** Null without a sender. */
  readonly senderBalanceAfter: bigint | null;
  /** Null without a receiver. */
  readonly receiverBalanceAfter: bigint | null;
  /** A primary issuance mints, so the supply grows by the amount. */
  readonly supplyAfter: bigint;
  /** The receiver held none before, so the transfer adds a holder (false when the receiver is not known). */
  readonly receiverJoins: boolean;
  /** The sender sells its whole holding, so the transfer removes a holder (false when the sender is not known). */
  readonly senderLeaves: boolean;
  /** False when the receiver is not known. */
  readonly receiverAccredited: boolean;
}

export function transferEffects(input: TransferInput, config: ComplianceConfig): TransferEffects {
  const { from, to, amount, at } = input;
  const sameInvestor = from !== null && to !== null && from.investorId === to.investorId;
  const senderBalanceAfter = from === null ? null : sameInvestor ? from.balance : from.balance - amount;
  const receiverBalanceAfter = to === null ? null : sameInvestor ? to.balance : to.balance + amount;
  return {
    sameInvestor,
    senderBalanceAfter,
    receiverBalanceAfter,
    supplyAfter: input.kind === 'PRIMARY_ISSUANCE' ? input.token.totalSupply + amount : input.token.totalSupply,
    receiverJoins: to !== null && !sameInvestor && to.balance === 0n,
    senderLeaves: from !== null && !sameInvestor && senderBalanceAfter === 0n,
    receiverAccredited: to !== null && isAccredited(to, at, config),
  };
}
