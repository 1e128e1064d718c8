/**
 * Market surveillance over the venue's own event stream (its outbox), with
 * a stored cursor moved in the same transaction as the alerts it raised, so
 * each event is examined once even across restarts and processes.
 * - WASH_TRADE: one beneficial owner (investor) on both sides of a trade
 *   (possible when an order opts out of self-trade prevention, or through two
 *   broker-dealers).
 * - LAYERING: an account cancels orders at several prices on one side within
 *   a window in which it traded on the other side.
 */
import type { Db, Queryable } from '../kit/db/types.js';
import { newId } from '../kit/ids.js';
import type { Logger } from '../kit/log.js';
import { appendEvent, type OutboxEvent, type OutboxWatcher } from '../kit/outbox.js';
import { claimEvents, cursorPosition } from '../kit/feed-cursors.js';
import { insertAlert, layeringFacts, type AlertRow } from './store/venue.js';

const SOURCE = 'trading:surveillance';
const TOPICS = ['trade.executed', 'order.updated'];

export interface SurveillanceSettings { layeringOrders: number; layeringWindowMs: number }

const alertId = () => `alr_${newId('evt').slice(4)}`;

async function raise(q: Queryable, a: Omit<AlertRow, 'created_at' | 'id'> & { dedupe_key: string }): Promise<void> {
  const row = await insertAlert(q, { ...a, id: alertId() });
  if (row) {
    await appendEvent(q, 'surveillance.alert', row.id, {
      alertId: row.id, kind: row.kind, tokenId: row.token_id, orgs: row.orgs, accountId: row.account_id, investorId: row.investor_id,
      orderIds: row.order_ids, tradeIds: row.trade_ids, detail: row.detail,
    });
  }
}

/** What surveillance reads of a trade.executed event (ids and amounts as on the wire). */
interface TradeSeen {
  tradeId: string; tokenId: string; price: string; quantity: string; buyOrderId: string; sellOrderId: string;
  buyAccountId: string; sellAccountId: string; buyInvestorId: string | null; sellInvestorId: string | null; buyOrg: string; sellOrg: string;
}
/** What surveillance reads of an order.updated event. */
interface OrderSeen {
  status: string; cancelReason?: string | null; price?: string | null; accountId: string; tokenId: string; side: 'BUY' | 'SELL'; org: string; investorId?: string | null;
}

export async function examine(q: Queryable, e: OutboxEvent, o: SurveillanceSettings): Promise<void> {
  if (e.topic === 'trade.executed') {
    const p = e.payload as unknown as TradeSeen;
    if (p.buyInvestorId && p.buyInvestorId === p.sellInvestorId) {
      await raise(q, {
        kind: 'WASH_TRADE', token_id: p.tokenId, orgs: [...new Set<string>([p.buyOrg, p.sellOrg])], account_id: p.buyAccountId, investor_id: p.buyInvestorId,
        order_ids: [p.buyOrderId, p.sellOrderId], trade_ids: [p.tradeId],
        detail: { price: p.price, quantity: p.quantity, buyAccountId: p.buyAccountId, sellAccountId: p.sellAccountId, reason: 'the same beneficial owner bought and sold' },
        dedupe_key: `wash:${p.tradeId}`,
      });
    }
    return;
  }
  const p = e.payload as unknown as OrderSeen;
  if (p.status !== 'CANCELLED' || p.cancelReason !== 'USER' || !p.price) return;
  const at = new Date(e.createdAt);
  const { cancelled, fills } = await layeringFacts(q, p.accountId, p.tokenId, p.side, at, o.layeringWindowMs);
  const prices = new Set(cancelled.map((c) => c.price));
  if (prices.size < o.layeringOrders || fills.length === 0) return;
  await raise(q, {
    kind: 'LAYERING', token_id: p.tokenId, orgs: [p.org], account_id: p.accountId, investor_id: p.investorId ?? null,
    order_ids: cancelled.map((c) => c.id), trade_ids: fills.map((f) => f.id),
    detail: { side: p.side, distinctPrices: prices.size, windowMs: o.layeringWindowMs, reason: `${cancelled.length} ${p.side} orders at ${prices.size} prices cancelled around fills on the other side` },
    // One alert per account, token and side while the pattern repeats within a window.
    dedupe_key: `layering:${p.accountId}:${p.tokenId}:${p.side}:${Math.floor(at.getTime() / o.layeringWindowMs)}`,
  });
}

export class SurveillanceMonitor {
  private ac = new AbortController();
  private loop?: Promise<void>;

  constructor(private readonly db: Db, private readonly outbox: OutboxWatcher, private readonly o: SurveillanceSettings, private readonly log: Logger) {}

  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.ac.abort();
    await this.loop;
  }

  async position(): Promise<bigint> {
    return cursorPosition(this.db, SOURCE);
  }

  private async run(): Promise<void> {
    const { signal } = this.ac;
    // The stored cursor is read at start and after a failure; otherwise the position is where the last batch left it
    // (a replica that moved it further only makes the next read bring events the cursor check skips).
    let position: bigint | null = null;
    while (!signal.aborted) {
      try {
        position ??= await this.position();
        const events = await this.outbox.read({ after: position, limit: 200, topics: TOPICS, waitMs: 5_000, signal });
        if (events.length === 0) continue;
        // One transaction per batch read: the alerts and the cursor commit together.
        const from = position;
        await this.db.tx(async (q) => {
          for (const e of await claimEvents(q, SOURCE, from, events)) await examine(q, e, this.o);
        });
        position = BigInt(events[events.length - 1].seq);
      } catch (e) {
        position = null;
        if (signal.aborted) break;
        this.log.warn({ err: (e as Error).message }, 'surveillance retrying');
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
}
