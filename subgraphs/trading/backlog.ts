/**
 * The venue's bound on the settlement backlog: a token whose fills settlement
 * has not finished (no final status on its `settlement.status` feed) reach
 * TRADING_MAX_UNSETTLED takes no new orders until settlement catches up, so
 * the venue never fills faster than settlement can keep up for long. The
 * count is read from the trades table (each fill unsettled until the feed
 * marks it), so a restart neither forgets nor doubles it.
 */
import type { Queryable } from '../kit/db/types.js';
import { appError } from '../kit/errors.js';
import { isId } from '../kit/inputs.js';
import type { OutboxEvent } from '../kit/outbox.js';
import { markSettlementFinal } from './store/venue.js';

const FINAL = new Set(['SETTLED', 'REJECTED', 'CANCELLED', 'FAILED']);

/** settlement.status: a final status of one of the venue's fills ends its place in the backlog (other venues' trades carry no tradeId). */
export async function onSettlementStatus(q: Queryable, e: OutboxEvent): Promise<void> {
  const { tradeId, status, final } = e.payload as { tradeId?: unknown; status?: unknown; final?: unknown };
  if (final !== true || typeof status !== 'string' || !FINAL.has(status) || !isId(tradeId, 'trd')) return;
  await markSettlementFinal(q, tradeId, status);
}

/**
 * The refusal of a new order while the token's backlog is at the bound (checked in the statement that claims
 * the order, store/orders.ts insertPendingOrders; orders.ts turns its AtBacklogBound into this): nothing is recorded, so the same clientOrderId may be sent again.
 */
export const settlementBacklog = (tokenId: string, max: number) =>
  appError('TRADING.SETTLEMENT_BACKLOG', `${tokenId} has ${max} or more fills not yet settled (the venue's bound); new orders are refused until settlement catches up, retry later`,
    { retryable: true, details: { tokenId, maxUnsettled: max } });
