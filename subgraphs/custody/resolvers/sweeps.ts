import { requireCustodian, type CustodyContext } from '../services.js';
import { sweepsOfOrg, type SweepRow } from '../store/sweeps.js';
import * as sweeps from '../sweeps.js';

/** Thin: wallet sweeps to the HSM (sweeps.ts decides). */
export const sweepResolvers = {
  Query: {
    walletSweeps: (_: unknown, __: unknown, ctx: CustodyContext) => {
      requireCustodian(ctx.caller);
      return sweepsOfOrg(ctx.db, ctx.caller.org);
    },
  },
  Mutation: {
    requestWalletSweep: (_: unknown, a: { input: sweeps.RequestSweepInput }, ctx: CustodyContext) => sweeps.requestWalletSweep(ctx.env, ctx.keys, ctx.caller, a.input),
    approveWalletSweep: (_: unknown, a: { id: string }, ctx: CustodyContext) => sweeps.approveWalletSweep(ctx.env, ctx.keys, ctx.caller, a.id),
    rejectWalletSweep: (_: unknown, a: { id: string; reason: string }, ctx: CustodyContext) => sweeps.rejectWalletSweep(ctx.env, ctx.caller, a.id, a.reason),
  },
  WalletSweep: {
    account: (s: SweepRow, _: unknown, ctx: CustodyContext) => ctx.loaders.account.load(s.account_id),
    oldWallet: (s: SweepRow) => s.old_wallet,
    newWallet: (s: SweepRow) => s.new_wallet,
    initiatedBy: (s: SweepRow) => s.initiated_by,
    approvalsRequired: (s: SweepRow) => s.approvals_required,
    approvals: async (s: SweepRow, _: unknown, ctx: CustodyContext) =>
      (await ctx.loaders.sweepApprovals.load(s.id)).map((r) => ({ approver: r.approver, approvedAt: r.created_at })),
    cashAmount: (s: SweepRow) => s.cash_amount,
    txHash: (s: SweepRow) => s.cash_tx_hash ?? (s.phase === 'CASH' ? s.tx_hash : null),
    tokensMoved: (s: SweepRow) => s.tokens_moved,
    gasAmount: (s: SweepRow) => s.gas_amount,
    gasTxHash: (s: SweepRow) => s.gas_tx_hash ?? (s.phase === 'GAS' ? s.tx_hash : null),
    lastError: (s: SweepRow) => s.last_error,
    decidedBy: (s: SweepRow) => s.decided_by,
    decisionReason: (s: SweepRow) => s.decision_reason,
    createdAt: (s: SweepRow) => s.created_at,
    updatedAt: (s: SweepRow) => s.updated_at,
  },
};
