/**
 * Which Transfers into a custody wallet are deposits (credited to the books
 * by the indexer) and which were booked by the flow that made them. No I/O.
 *
 * - From outside (any address that is not a custody wallet): a deposit. That
 *   includes mints (from the zero address): issuance mints security tokens
 *   straight into custody wallets and never credits custody, and the cash
 *   token's issuer mints into the wallet when a client pays in. Nothing else
 *   books them, so the chain is the one source of these credits.
 * - From another custody wallet: booked already. Settlement's DvP legs run
 *   wallet to wallet and settlement books both sides with `bookSettlement`;
 *   a wallet recovery moves the account's own tokens to its new wallet, the
 *   books of the account do not change.
 * - Except a withdrawal custody signed to a wallet of another account (or the
 *   same one): the withdrawal consumed the sender's side only, so the receiver
 *   is credited as a deposit.
 *
 * Anything that books such a transfer by hand as well (the internal `credit`)
 * would count it twice: `credit` is for moves the chain does not show.
 */
export interface TransferInto {
  /** The sender is a custody wallet (active or retired). */
  fromCustodyWallet: boolean;
  /** The transaction is a withdrawal custody signed. */
  withdrawal: boolean;
}

export const isDeposit = (t: TransferInto): boolean => !t.fromCustodyWallet || t.withdrawal;
