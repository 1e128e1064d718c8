import { FeedConsumer, feedUrlOf } from '../kit/feed.js';
import type { Queryable } from '../kit/db/types.js';
import { requestHash } from '../kit/idempotency.js';
import { newId } from '../kit/ids.js';
import { isId } from '../kit/inputs.js';
import type { OutboxEvent } from '../kit/outbox.js';
import type { SubgraphRuntime } from '../kit/subgraph.js';
import { recordReceived } from './lifecycle.js';
import { SERVICE_ACTOR, type SettlementServices } from './services.js';
import { appendAnchoredAudit } from './store/audit.js';
import { insertTradeSettlement, type SettlementRow, type TradingShares } from './store/settlements.js';

/**
 * The events of other subgraphs settlement reads: trading's `trade.executed`
 * (its outbox feed), every fill of trading's venue becoming exactly one
 * RECEIVED settlement in the consumer's transaction, the cursor stored with it.
 */

/** Follows trading's trade.executed feed when SETTLEMENT_CONSUME_TRADES is on (else undefined). */
export function startTradeFeed(rt: Pick<SubgraphRuntime, 'db' | 'serviceToken'>, s: Pick<SettlementServices, 'config' | 'log'>): FeedConsumer | undefined {
  if (!s.config.SETTLEMENT_CONSUME_TRADES) return undefined;
  const consumer = new FeedConsumer({
    db: rt.db, source: 'trading:trade.executed', feedUrl: feedUrlOf(s.config.TRADING_URL), token: rt.serviceToken,
    topics: ['trade.executed'], handle: (q, e) => recordTradeExecuted(q, s, e).then(() => undefined), log: s.log, waitMs: 10_000,
  });
  consumer.start();
  return consumer;
}

const isInt = (v: unknown): v is string => typeof v === 'string' && /^\d{1,78}$/.test(v);
const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 200;

interface TradeExecuted {
  tradeId: string; tokenId: string; price: string; quantity: string; cashAmount: string; cashAsset: string; buyOrderId: string; sellOrderId: string;
  buyAccountId: string; sellAccountId: string; buyInvestorId: string | null; sellInvestorId: string | null; buyOrg: string; sellOrg: string;
  buyerFee: string; sellerFee: string; reservations: TradingShares; executedAt: string;
}

/** Checks a trade.executed payload; returns what is wrong with it (nothing: it can be settled). */
export function problemsOfTrade(p: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const need = (ok: boolean, what: string) => { if (!ok) problems.push(what); };
  need(isId(p.tradeId, 'trd'), 'tradeId');
  need(isId(p.tokenId, 'tok'), 'tokenId');
  need(isInt(p.price) && BigInt(p.price) > 0n, 'price');
  need(isInt(p.quantity) && BigInt(p.quantity) > 0n, 'quantity');
  need(isInt(p.cashAmount) && BigInt(p.cashAmount) > 0n, 'cashAmount');
  need(isStr(p.cashAsset), 'cashAsset');
  need(isId(p.buyAccountId, 'acc'), 'buyAccountId');
  need(isId(p.sellAccountId, 'acc'), 'sellAccountId');
  need(p.buyAccountId !== p.sellAccountId, 'distinct accounts');
  need(isStr(p.buyOrg) && isStr(p.sellOrg), 'buyOrg/sellOrg');
  need(typeof p.executedAt === 'string' && !Number.isNaN(Date.parse(p.executedAt)), 'executedAt');
  const r = p.reservations as TradingShares | undefined;
  const sum = (xs: { amount: string }[] | undefined) => (xs ?? []).reduce((n, x) => n + (isInt(x?.amount) ? BigInt(x.amount) : -1n << 300n), 0n);
  need(!!r && Array.isArray(r.buy) && Array.isArray(r.sell) && r.buy.every((x) => isStr(x?.key)) && r.sell.every((x) => isStr(x?.key)), 'reservations');
  if (r && Array.isArray(r.buy) && Array.isArray(r.sell) && isInt(p.quantity) && isInt(p.cashAmount)) {
    need(sum(r.sell) === BigInt(p.quantity), 'reservations.sell sum to the quantity');
    need(sum(r.buy) === BigInt(p.cashAmount), 'reservations.buy sum to the cash amount');
  }
  return problems;
}

/** Applies one trade.executed event in the feed consumer's transaction: a new RECEIVED settlement, or nothing if the trade has one. */
export async function recordTradeExecuted(q: Queryable, s: Pick<SettlementServices, 'config' | 'log'>, e: OutboxEvent): Promise<SettlementRow | null> {
  const p = e.payload as Record<string, unknown>;
  const problems = problemsOfTrade(p);
  if (problems.length) {
    // A malformed event must not stop the feed; the refusal is a decision like any other and is audited.
    s.log.error({ seq: e.seq, key: e.key, problems }, 'trade.executed event refused');
    await appendAnchoredAudit(q, { settlementId: null, kind: 'TRADE_EVENT_REFUSED', actor: SERVICE_ACTOR, detail: { feedSeq: e.seq, key: e.key, problems } });
    return null;
  }
  const t = p as unknown as TradeExecuted;
  const row = await insertTradeSettlement(q, {
    id: newId('stl'), org: t.buyOrg, token_id: t.tokenId, quantity: t.quantity, price: t.price, buyer_account_id: t.buyAccountId, seller_account_id: t.sellAccountId,
    venue: s.config.SETTLEMENT_TRADING_VENUE, venue_reference: t.tradeId, trade_time: new Date(t.executedAt), request_hash: requestHash(p),
    source: 'TRADING', trade_id: t.tradeId, cash_asset: t.cashAsset, cash_amount: t.cashAmount, buyer_investor_id: t.buyInvestorId ?? null,
    seller_investor_id: t.sellInvestorId ?? null, buyer_org: t.buyOrg, seller_org: t.sellOrg, buyer_fee: isInt(t.buyerFee) ? t.buyerFee : '0',
    seller_fee: isInt(t.sellerFee) ? t.sellerFee : '0', trading_reservations: { buy: t.reservations.buy, sell: t.reservations.sell }, mode: s.config.SETTLEMENT_MODE,
  });
  if (!row) return null;
  await recordReceived(q, row, 'trading', { tradeId: t.tradeId, feedSeq: e.seq, buyOrderId: t.buyOrderId, sellOrderId: t.sellOrderId, cashAmount: t.cashAmount });
  return row;
}
