import type { Queryable } from '../kit/db/types.js';
import { groupedLoader, keyedLoader } from '../kit/loaders.js';
import { accountsByIds, accountsByInvestors } from './store.js';

export const createLoaders = (q: Queryable) => ({
  account: keyedLoader((ids) => accountsByIds(q, ids), (r) => r.id),
  accountsOfInvestor: groupedLoader((ids) => accountsByInvestors(q, ids), (r) => r.investor_id),
});
export type CustodyLoaders = ReturnType<typeof createLoaders>;
