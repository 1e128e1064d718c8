/**
 * The venue's bound on the settlement backlog: a token whose fills settlement
 * has not finished (no final status on its `settlement.status` feed) reach
 * TRADING_MAX_UNSETTLED takes no new orders until settlement catches up, so
 * the venue never fills faster than settlement can keep up for long. The
 * count is read from the trades table (each fill unsettled until the feed
 * marks it), so a restart neither forgets nor doubles it.
 */
import type { Caller } from '../kit/auth.js';
import type { Queryable } from '../kit/db/types.js';
import { appError } from '../kit/errors.js';
import { isId } from '../kit/inputs.js';
import type { OutboxEvent } from '../kit/outbox.js';
import type { TradingServices } from './services.js';
import { markSettlementFinal, type EntryFacts } from './store-venue.js';
import { orderOfClient } from './store.js';

const FINAL = new Set(['SETTLED', 'REJECTED', 'CANCELLED', 'FAILED']);

/** settlement.status: a final status of one of the venue's fills ends its place in the backlog (other venues' trades carry no tradeId). */
export async function onSettlementStatus(q: Queryable, e: OutboxEvent): Promise<void> {
  const { tradeId, status, final } = e.payload as { tradeId?: unknown; status?: unknown; final?: unknown };
  if (final !== true || typeof status !== 'string' || !FINAL.has(status) || !isId(tradeId, 'trd')) return;
  await markSettlementFinal(q, tradeId, status);
}

/** The refusal of a new order while the token's backlog is at the bound: nothing is recorded, so the same clientOrderId may be retried. */
const settlementBacklog = (tokenId: string, unsettled: number, max: number) =>
  appError('TRADING.SETTLEMENT_BACKLOG', `${tokenId} has ${unsettled} fills not yet settled (the venue's bound is ${max}); new orders are refused until settlement catches up, retry later`,
    { retryable: true, details: { tokenId, unsettled, maxUnsettled: max } });

/**
 * Refuses a new order of a token at its backlog bound. A replay of an order the venue already took (its
 * clientOrderId is known) is let through: intake answers it with what the first request got.
 */
export async function checkBacklog(s: TradingServices, caller: Caller, tokenId: string, clientOrderId: string, f: EntryFacts): Promise<void> {
  const max = s.config.TRADING_MAX_UNSETTLED;
  if (max === 0 || f.unsettled < max) return;
  if (await orderOfClient(s.db, caller.org, clientOrderId)) return;
  throw settlementBacklog(tokenId, f.unsettled, max);
}
