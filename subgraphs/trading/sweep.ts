/**
 * The trading process's periodic work: retry releases owed to custody, take
 * over books whose writer is gone (queued commands waiting), expire DAY
 * orders whose session ended, and recover orders and reservations a dead
 * process left half-way.
 */
import { appendEvent } from '../kit/outbox.js';
import { dayOrdersPlacedBefore } from './domain/hours.js';
import { cancelForSplits } from './oversight.js';
import type { TradingServices } from './services.js';
import { recoverStale } from './store/venue.js';
import { tokensWithPendingCommands } from './store/writer.js';
import { insertAudit, tokensWithDayOrdersBefore } from './store/orders.js';

export async function sweepOnce(s: TradingServices): Promise<void> {
  await s.releaser.kick();
  for (const { token_id } of await tokensWithPendingCommands(s.db)) {
    if (await s.venue.writerFor(token_id).catch(() => null)) await s.venue.pull(token_id);
  }
  await expireDayOrders(s);
  await cancelForSplits(s);
  await recover(s);
}

export async function expireDayOrders(s: TradingServices): Promise<void> {
  const before = dayOrdersPlacedBefore(s.rules.hours, s.now());
  const due = await tokensWithDayOrdersBefore(s.db, before);
  for (const { token_id } of due) {
    if (await s.venue.writerFor(token_id).catch(() => null)) await s.venue.submit(token_id, { kind: 'EXPIRE', before: before.getTime() });
  }
}

async function recover(s: TradingServices): Promise<void> {
  const rejected = await s.db.tx(async (q) => {
    const rows = await recoverStale(q, s.config.TRADING_PENDING_TIMEOUT_MS);
    for (const r of rows) {
      await insertAudit(q, [{ orderId: r.id, tokenId: r.token_id, org: r.org, event: 'REJECTED', detail: { reasons: r.reject_reasons }, actor: null }]);
      await appendEvent(q, 'order.updated', r.id, {
        orderId: r.id, tokenId: r.token_id, accountId: r.account_id, investorId: r.investor_id, org: r.org, clientOrderId: r.client_order_id, side: r.side, type: r.type,
        timeInForce: r.time_in_force, price: r.price, quantity: r.quantity, filled: r.filled, remaining: r.remaining, status: r.status,
        cancelReason: null, rejectReasons: r.reject_reasons, events: ['REJECTED'], bookSeq: null,
      });
    }
    return rows.length;
  });
  if (rejected) s.log.warn({ rejected }, 'orders left half-way by a stopped process were rejected');
  void s.releaser.kick();
}

/** Runs the sweep every `ms` until stopped. */
export function startSweeper(s: TradingServices, ms: number): () => Promise<void> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const tick = () => {
    running = sweepOnce(s).catch((e) => { s.log.warn({ err: (e as Error).message }, 'trading sweep failed; retrying'); }).finally(() => {
      running = undefined;
      if (!stopped) timer = setTimeout(tick, ms);
    });
  };
  timer = setTimeout(tick, ms);
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
