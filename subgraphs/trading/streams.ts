/** The three public subscriptions, scoped to the caller's organisation (plain functions over `follow`). */
import { parseEvent } from '../kit/contracts/events.js';
import type { Caller } from '../kit/auth.js';
import { canSee } from '../kit/access.js';
import { badInput, notFound } from '../kit/errors.js';
import type { OutboxEvent } from '../kit/outbox.js';
import { isVenueOperator, venueOperator } from './oversight.js';
import type { TradingServices } from './services.js';
import { accountOwner, type TradeRow } from './store/orders.js';
import { follow, parseCursor } from '../kit/follow.js';
import { isId } from '../kit/inputs.js';


/** The account must be the caller's organisation's (an investor's own); custody is asked when no order names it yet. */
async function assertAccountVisible(s: TradingServices, caller: Caller, accountId: string): Promise<void> {
  if (!isId(accountId, 'acc')) throw badInput('INVALID_ACCOUNT_ID', `"${String(accountId).slice(0, 40)}" is not a custody account id`);
  if (isVenueOperator(s, caller)) return;
  const known = await accountOwner(s.db, accountId);
  const owner = known ? { org: known.org, investorId: known.investor_id } : await s.peers.account(accountId).then((a) => a && { org: a.org, investorId: a.investorId });
  if (!owner || !canSee(caller, owner)) throw notFound('custody account', accountId);
}

/** A trade row from a trade.executed payload, read with the topic's one parser (the stream does not read the trades table). */
export function tradeOfEvent(payload: unknown): TradeRow {
  const p = parseEvent('trade.executed', payload);
  return {
    id: p.tradeId, seq: '', token_id: p.tokenId, price: p.price, quantity: p.quantity, buy_order_id: p.buyOrderId, sell_order_id: p.sellOrderId,
    executed_at: new Date(p.executedAt), aggressor_side: p.aggressorSide, buy_account_id: p.buyAccountId, sell_account_id: p.sellAccountId,
    buy_investor_id: p.buyInvestorId, sell_investor_id: p.sellInvestorId, buy_org: p.buyOrg, sell_org: p.sellOrg, cash_amount: p.cashAmount,
    buyer_fee: p.buyerFee, seller_fee: p.sellerFee, book_seq: String(p.bookSeq),
  };
}

/**
 * Fills of a token alone are public market data: the gateway runs them once for
 * every identity (kit/sharing.ts lists this stream and the Trade fields that
 * answer alike). A check on the caller added here for the token-only case must
 * come off that list.
 */
export async function tradeStream(s: TradingServices, caller: Caller, a: { tokenId?: string | null; accountId?: string | null; after?: string | null }) {
  if (!a.tokenId && !a.accountId) throw badInput('TOKEN_OR_ACCOUNT_REQUIRED', 'give a tokenId, an accountId or both');
  const after = parseCursor(a.after);
  if (a.accountId) await assertAccountVisible(s, caller, a.accountId);
  return follow(s.db, s.outbox, {
    after, topics: ['trade.executed'],
    match: (e: OutboxEvent) => {
      const p = e.payload as Record<string, unknown>;
      return (!a.tokenId || p.tokenId === a.tokenId) && (!a.accountId || p.buyAccountId === a.accountId || p.sellAccountId === a.accountId);
    },
    map: (e) => ({ cursor: e.seq, trade: tradeOfEvent(e.payload) }),
  });
}

export async function bookStream(s: TradingServices, a: { tokenId: string; after?: string | null }) {
  if (!isId(a.tokenId, 'tok')) throw badInput('INVALID_TOKEN_ID', `"${String(a.tokenId).slice(0, 40)}" is not a token id`);
  return follow(s.db, s.outbox, {
    after: parseCursor(a.after), topics: ['book.changed'],
    match: (e) => e.key === a.tokenId,
    map: (e) => {
      const p = parseEvent('book.changed', e.payload);
      return { cursor: e.seq, tokenId: p.tokenId, bookSeq: String(p.bookSeq), changes: p.levels };
    },
  });
}

export async function orderStream(s: TradingServices, caller: Caller, a: { accountId: string; after?: string | null }) {
  const after = parseCursor(a.after);
  await assertAccountVisible(s, caller, a.accountId);
  const op = venueOperator(s);
  return follow(s.db, s.outbox, {
    after, topics: ['order.updated'],
    match: (e) => {
      const p = e.payload as { accountId?: string; org?: string; investorId?: string | null };
      return p.accountId === a.accountId && canSee(caller, { org: p.org ?? null, investorId: p.investorId }, op);
    },
    map: (e) => {
      // The payload is the order as trading wrote it (orderJson plus its events): passed on as it is.
      const p = e.payload;
      return { cursor: e.seq, status: p.status, filled: p.filled, remaining: p.remaining, price: p.price, quantity: p.quantity, events: p.events ?? [], orderId: p.orderId };
    },
  });
}
