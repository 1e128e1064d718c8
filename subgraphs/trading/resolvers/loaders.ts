import type { Db } from '../../kit/db/types.js';
import { keyedLoader } from '../../kit/loaders.js';
import DataLoader from 'dataloader';
import { lastSeq } from '../../kit/outbox.js';
import { booksByIds } from '../store/writer.js';
import { levelsOfTokens, ordersByIds, tradesByIds, type LevelRow } from '../store/orders.js';

/** Levels of many tokens and the outbox position, read in one snapshot (a client applies changes after that cursor). */
function levelsLoader(db: Db) {
  return new DataLoader<string, { rows: LevelRow[]; cursor: string }>(async (ids) => {
    const { rows, cursor } = await db.tx(async (q) => ({ rows: await levelsOfTokens(q, ids), cursor: (await lastSeq(q)).toString() }), { isolation: 'repeatable read' });
    return ids.map((id) => ({ rows: rows.filter((r) => r.token_id === id), cursor }));
  });
}

export const createLoaders = (db: Db) => ({
  order: keyedLoader((ids) => ordersByIds(db, ids), (r) => r.id),
  trade: keyedLoader((ids) => tradesByIds(db, ids), (r) => r.id),
  book: keyedLoader((ids) => booksByIds(db, ids), (r) => r.token_id),
  levels: levelsLoader(db),
});
export type TradingLoaders = ReturnType<typeof createLoaders>;
