/**
 * Trading's pure domain (no database, GraphQL or kit/errors): the matching
 * engine exported here (orderBook.ts, types.ts; naiveBook.ts is the property
 * test's oracle), trading hours (hours.ts), an order as the book writer tracks
 * it (live.ts) and the self-trade prevention modes a rulebook offers
 * (stp-modes.ts).
 *
 * The ATS venue's in-memory matching engine: one `OrderBook` per instrument,
 * single writer, pure and deterministic (no clock, no I/O, no randomness).
 *
 * Integrating it (trading subgraph):
 * - Pre-trade checks (venue open, halts, tick/lot, price bands, eligibility,
 *   reservations, clientOrderId idempotency) happen before `place`; the engine
 *   only refuses malformed orders and the book-dependent cases (NO_LIQUIDITY,
 *   POST_ONLY_WOULD_CROSS, FOK_NOT_FILLABLE, DUPLICATE_ORDER_ID among live
 *   orders, UNKNOWN_ORDER).
 * - Journal every call's events in the same transaction as the command. The
 *   order rows follow from them: RESTED sets `priority` (its seq) and the open
 *   quantity; TRADE gives both remainings (0n = filled); SELF_TRADE_PREVENTED
 *   (DECREMENT) gives both remainings; CANCELLED / EXPIRED close an order;
 *   REPLACED with priorityKept=false is followed by trades and/or RESTED with
 *   the new priority. Quantities released for custody reservations:
 *   TRADE.quantity, CANCELLED.cancelledQuantity, EXPIRED.expiredQuantity,
 *   SELF_TRADE_PREVENTED.quantity (both orders), and oldQuantity - quantity of a
 *   REPLACED that shrank.
 * - Restart: `OrderBook.fromRestingOrders(rows, { lastEventSeq })` with the
 *   open orders (remaining, filled, priority, timeInForce, postOnly, stp,
 *   placedAt) and the book's last journaled event seq; the rebuilt book
 *   matches exactly as the original would have. Since the book mutates before
 *   the journal commits, rebuild it the same way when a journal write fails.
 * - Event seqs are per book and strictly increasing by one; use them as the
 *   outbox ordering within an instrument and as trade ids (`trd_…<seq>`).
 */
export { OrderBook, MAX_PRICE } from './orderBook.js';
export type * from './types.js';
