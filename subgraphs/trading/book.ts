import type { LevelRow } from './store/orders.js';

export interface PriceLevel { price: bigint; quantity: bigint; orders: number }
export interface Book { tokenId: string; bids: PriceLevel[]; asks: PriceLevel[]; cursor: string }

/** Best first: bids high to low, asks low to high; cut to depth. */
export function bookFromLevels(tokenId: string, rows: LevelRow[], depth: number, cursor: string): Book {
  const level = (r: LevelRow): PriceLevel => ({ price: BigInt(r.price), quantity: BigInt(r.quantity), orders: Number(r.orders) });
  const cmp = (a: PriceLevel, b: PriceLevel) => (a.price < b.price ? -1 : a.price > b.price ? 1 : 0);
  const bids = rows.filter((r) => r.side === 'BUY').map(level).sort((a, b) => cmp(b, a));
  const asks = rows.filter((r) => r.side === 'SELL').map(level).sort(cmp);
  return { tokenId, bids: bids.slice(0, depth), asks: asks.slice(0, depth), cursor };
}
