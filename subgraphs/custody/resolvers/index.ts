import { accountResolvers } from './accounts.js';
import { chainResolvers } from './chain.js';
import { sweepResolvers } from './sweeps.js';
import { withdrawalResolvers } from './withdrawals.js';

/** Custody's GraphQL resolvers, one file per area (each imports the request context from services.ts, none another). */
export const resolvers = {
  Query: {
    ...accountResolvers.Query,
    ...withdrawalResolvers.Query,
    ...chainResolvers.Query,
    ...sweepResolvers.Query,
  },
  Mutation: {
    ...accountResolvers.Mutation,
    ...withdrawalResolvers.Mutation,
    ...chainResolvers.Mutation,
    ...sweepResolvers.Mutation,
  },
  CustodyAccount: {
    ...accountResolvers.CustodyAccount,
    ...chainResolvers.CustodyAccount,
  },
  Investor: accountResolvers.Investor,
  Withdrawal: withdrawalResolvers.Withdrawal,
  WithdrawalDestination: withdrawalResolvers.WithdrawalDestination,
  PolicyChange: withdrawalResolvers.PolicyChange,
  HoldingProof: withdrawalResolvers.HoldingProof,
  Deposit: chainResolvers.Deposit,
  Reconciliation: chainResolvers.Reconciliation,
  ReconciliationLine: chainResolvers.ReconciliationLine,
  ReconciliationBreak: chainResolvers.ReconciliationBreak,
  WalletRecovery: chainResolvers.WalletRecovery,
  WalletSweep: sweepResolvers.WalletSweep,
};
