/**
 * The state after the transfer, computed once and shared by the rules that
 * need it (holder caps, balance limits, min holding). Balances are per
 * investor across wallets, so a transfer between two wallets of the same
 * investor changes nothing.
 */
import type { ComplianceConfig } from './config.js';
import { isAccredited } from './credentials.js';
import type { TransferInput } from './types.js';

export interface TransferEffects {
  readonly sameInvestor: boolean;
  /** Null for a primary issuance. */
  readonly senderBalanceAfter: bigint | null;
  readonly receiverBalanceAfter: bigint;
  /** A primary issuance mints, so the supply grows by the amount. */
  readonly supplyAfter: bigint;
  /** The receiver held none before, so the transfer adds a holder. */
  readonly receiverJoins: boolean;
  /** The sender sells its whole holding, so the transfer removes a holder. */
  readonly senderLeaves: boolean;
  readonly holdersAfter: number;
  readonly nonAccreditedHoldersAfter: number;
  readonly usHoldersAfter: number;
  readonly receiverAccredited: boolean;
}

export function transferEffects(input: TransferInput, config: ComplianceConfig): TransferEffects {
  const { from, to, amount, at, holders } = input;
  const sameInvestor = from !== null && from.investorId === to.investorId;
  const receiverAccredited = isAccredited(to, at, config);
  const senderBalanceAfter = from === null ? null : sameInvestor ? from.balance : from.balance - amount;
  const receiverBalanceAfter = sameInvestor ? to.balance : to.balance + amount;
  const receiverJoins = !sameInvestor && to.balance === 0n;
  const senderLeaves = from !== null && !sameInvestor && senderBalanceAfter === 0n;
  const delta = (joins: boolean, leaves: boolean): number => (joins ? 1 : 0) - (leaves ? 1 : 0);
  return {
    sameInvestor,
    senderBalanceAfter,
    receiverBalanceAfter,
    supplyAfter: input.kind === 'PRIMARY_ISSUANCE' ? input.token.totalSupply + amount : input.token.totalSupply,
    receiverJoins,
    senderLeaves,
    holdersAfter: holders.total + delta(receiverJoins, senderLeaves),
    nonAccreditedHoldersAfter:
      holders.nonAccredited +
      delta(receiverJoins && !receiverAccredited, senderLeaves && !isAccredited(from!, at, config)),
    usHoldersAfter: holders.usPersons + delta(receiverJoins && to.usPerson, senderLeaves && from!.usPerson),
    receiverAccredited,
  };
}
