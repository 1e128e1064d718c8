import type { Queryable } from '../../kit/db/types.js';
import { groupedLoader, keyedLoader } from '../../kit/loaders.js';
import { auditOfSettlements } from '../store/audit.js';
import { batchesByIds } from '../store/batches.js';
import { historyOf, settlementsByIds, settlementsByTradeIds } from '../store/settlements.js';

export const createLoaders = (q: Queryable) => ({
  settlement: keyedLoader((ids) => settlementsByIds(q, ids), (r) => r.id),
  settlementOfTrade: keyedLoader((ids) => settlementsByTradeIds(q, ids), (r) => r.trade_id!),
  history: groupedLoader((ids) => historyOf(q, ids), (r) => r.settlement_id),
  batch: keyedLoader((ids) => batchesByIds(q, ids), (r) => r.id),
  audit: groupedLoader((ids) => auditOfSettlements(q, ids), (e) => e.settlementId!),
});
export type SettlementLoaders = ReturnType<typeof createLoaders>;
