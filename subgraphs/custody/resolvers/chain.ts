import type { CustodyContext } from '../services.js';
import { listDeposits } from '../deposits.js';
import { reconciliation, type Reconciliation, type ReconciliationLine } from '../reconciliation.js';
import { openBreaks, type BreakRow } from '../store/reconciliation.js';
import { recoverCustodyWallet, type RecoverWalletInput } from '../recovery.js';
import type { RecoveryRow } from '../store/recoveries.js';
import type { AccountRow, WalletRow } from '../store/accounts.js';
import type { DepositRow } from '../store/chain.js';

/** Thin: the chain side of custody (deposits, reconciliation, wallet recovery). */
export const chainResolvers = {
  Query: {
    deposits: (_: unknown, a: { accountId?: string | null; asset?: string | null }, ctx: CustodyContext) => listDeposits(ctx.db, ctx.caller, a),
    reconciliation: async (_: unknown, a: { asOf?: Date | null }, ctx: CustodyContext) =>
      ({ ...(await reconciliation(ctx.db, ctx.caller, a.asOf, ctx.env.now())), org: ctx.caller.org }),
  },
  Mutation: {
    recoverCustodyWallet: (_: unknown, a: { input: RecoverWalletInput }, ctx: CustodyContext) => recoverCustodyWallet(ctx.env, ctx.keys, ctx.caller, a.input),
  },
  CustodyAccount: {
    wallets: async (r: AccountRow, _: unknown, ctx: CustodyContext) => (await ctx.loaders.walletsOfAccount.load(r.id)).map((w: WalletRow) => ({
      address: w.address, active: !w.retired_at, createdAt: w.created_at, retiredAt: w.retired_at,
    })),
    deposits: (r: AccountRow, _: unknown, ctx: CustodyContext) => ctx.loaders.depositsOfAccount.load(r.id),
  },
  Deposit: {
    id: (d: DepositRow) => `${d.tx_hash}:${d.log_index}`,
    account: (d: DepositRow, _: unknown, ctx: CustodyContext) => ctx.loaders.account.load(d.account_id),
    fromAddress: (d: DepositRow) => d.from_address,
    walletAddress: (d: DepositRow) => d.wallet,
    txHash: (d: DepositRow) => d.tx_hash,
    logIndex: (d: DepositRow) => d.log_index,
    blockNumber: (d: DepositRow) => d.block,
    blockTime: (d: DepositRow) => d.block_time,
    creditedAt: (d: DepositRow) => d.credited_at,
  },
  Reconciliation: {
    differences: (r: Reconciliation) => r.lines.filter((l) => l.difference !== 0n),
    openBreaks: (r: Reconciliation & { org: string }, _: unknown, ctx: CustodyContext) => openBreaks(ctx.db, r.org),
  },
  ReconciliationLine: {
    account: (l: ReconciliationLine, _: unknown, ctx: CustodyContext) => ctx.loaders.account.load(l.accountId),
  },
  ReconciliationBreak: {
    account: (b: BreakRow, _: unknown, ctx: CustodyContext) => ctx.loaders.account.load(b.account_id),
    onChain: (b: BreakRow) => b.on_chain,
    difference: (b: BreakRow) => (BigInt(b.books) - BigInt(b.on_chain)).toString(),
    since: (b: BreakRow) => b.opened_at,
  },
  WalletRecovery: {
    account: (w: RecoveryRow, _: unknown, ctx: CustodyContext) => ctx.loaders.account.load(w.account_id),
    lostWallet: (w: RecoveryRow) => w.lost_wallet,
    newWallet: (w: RecoveryRow) => w.new_wallet,
    requestedBy: (w: RecoveryRow) => w.requested_by,
    createdAt: (w: RecoveryRow) => w.created_at,
  },
};
