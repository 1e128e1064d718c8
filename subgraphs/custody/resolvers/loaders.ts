import type { Queryable } from '../../kit/db/types.js';
import { groupedLoader, keyedLoader } from '../../kit/loaders.js';
import { accountsByIds, accountsByInvestors, walletsOfAccounts } from '../store/accounts.js';
import { depositsOfAccounts } from '../store/chain.js';
import { balancesOfAccounts } from '../store/ledger.js';
import { policyApprovals } from '../store/policies.js';
import { sweepApprovals } from '../store/sweeps.js';
import { destinationsOfAccounts, withdrawalApprovals, withdrawalsByIds, withdrawalsOfAccounts } from '../store/withdrawals.js';

export const createLoaders = (q: Queryable) => ({
  account: keyedLoader((ids) => accountsByIds(q, ids), (r) => r.id),
  accountsOfInvestor: groupedLoader((ids) => accountsByInvestors(q, ids), (r) => r.investor_id),
  balancesOfAccount: groupedLoader((ids) => balancesOfAccounts(q, ids), (r) => r.account_id),
  withdrawal: keyedLoader((ids) => withdrawalsByIds(q, ids), (r) => r.id),
  withdrawalsOfAccount: groupedLoader((ids) => withdrawalsOfAccounts(q, ids), (r) => r.account_id),
  withdrawalApprovals: groupedLoader((ids) => withdrawalApprovals(q, ids), (r) => r.withdrawal_id),
  destinationsOfAccount: groupedLoader((ids) => destinationsOfAccounts(q, ids), (r) => r.account_id),
  walletsOfAccount: groupedLoader((ids) => walletsOfAccounts(q, ids), (r) => r.account_id),
  depositsOfAccount: groupedLoader((ids) => depositsOfAccounts(q, ids), (r) => r.account_id),
  policyChangeApprovals: groupedLoader((ids) => policyApprovals(q, ids), (r) => r.change_id),
  sweepApprovals: groupedLoader((ids) => sweepApprovals(q, ids), (r) => r.sweep_id),
});
export type CustodyLoaders = ReturnType<typeof createLoaders>;
