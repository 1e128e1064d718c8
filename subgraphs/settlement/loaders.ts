import type { Queryable } from '../kit/db/types.js';
import { groupedLoader, keyedLoader } from '../kit/loaders.js';
import { historyOf, settlementsByIds } from './store.js';

export const createLoaders = (q: Queryable) => ({
  settlement: keyedLoader((ids) => settlementsByIds(q, ids), (r) => r.id),
  history: groupedLoader((ids) => historyOf(q, ids), (r) => r.settlement_id),
});
export type SettlementLoaders = ReturnType<typeof createLoaders>;
