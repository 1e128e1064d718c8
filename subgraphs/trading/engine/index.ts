/** The ATS venue's in-memory matching engine: pure, deterministic, no I/O. */
export { OrderBook, MAX_PRICE } from './orderBook.js';
export type * from './types.js';
