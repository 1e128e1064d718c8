import type { Queryable } from '../kit/db/types.js';
import { keyedLoader } from '../kit/loaders.js';
import { investorsByIds, tokensByIds } from './store.js';

export const createLoaders = (q: Queryable) => ({
  token: keyedLoader((ids) => tokensByIds(q, ids), (r) => r.id),
  investor: keyedLoader((ids) => investorsByIds(q, ids), (r) => r.id),
});
export type IssuanceLoaders = ReturnType<typeof createLoaders>;
