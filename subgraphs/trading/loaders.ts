import type { Queryable } from '../kit/db/types.js';
import { groupedLoader, keyedLoader } from '../kit/loaders.js';
import { levelsOfTokens, ordersByIds, tradesByIds } from './store.js';

export const createLoaders = (q: Queryable) => ({
  order: keyedLoader((ids) => ordersByIds(q, ids), (r) => r.id),
  trade: keyedLoader((ids) => tradesByIds(q, ids), (r) => r.id),
  levels: groupedLoader((ids) => levelsOfTokens(q, ids), (r) => r.token_id),
});
export type TradingLoaders = ReturnType<typeof createLoaders>;
