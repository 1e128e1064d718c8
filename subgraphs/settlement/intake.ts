import { type Caller } from '../kit/auth.js';
import { requireRole } from '../kit/access.js';
import type { Queryable } from '../kit/db/types.js';
import { appError, badInput, forbidden } from '../kit/errors.js';
import { assertSameRequest, requestHash } from '../kit/idempotency.js';
import { newId } from '../kit/ids.js';
import type { OutboxEvent } from '../kit/outbox.js';
import { trimDecimal } from '../kit/scalars.js';
import { AmountError, cashAmountOf, parsePrice } from './domain/amounts.js';
import { recordReceived } from './lifecycle.js';
import { SERVICE_ACTOR, type SettlementServices } from './services.js';
import { appendAnchoredAudit } from './store-audit.js';
import { sees, visibilityOf } from './access.js';
import { insertExternalSettlement, insertTradeSettlement, venueMayTrade, type SettlementRow, type TradingShares, type TransferOccasion } from './store.js';
import { isId, isPrintable } from '../kit/inputs.js';

/**
 * How trades arrive: every fill of trading's venue (its `trade.executed`
 * outbox events, exactly one settlement each) and trades from other venues
 * submitted by a settlement agent or a broker-dealer party to them.
 */

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

export interface ExternalTradeInput {
  venue: string; venueReference: string; tokenId: string; buyerAccountId: string; sellerAccountId: string;
  quantity: bigint; price: string; tradeTime: Date; cashAmount?: bigint | null;
  /** Not a sale: a gift, an inheritance, a family trust or a divorce settlement (the receiver tacks the giver's holding period). */
  occasion?: TransferOccasion | null;
}

const MAX_FUTURE_MS = 5 * 60_000;

/**
 * Records a trade executed on another venue as RECEIVED; the worker verifies
 * and settles it like any fill. The venue's reference is the idempotency key.
 * Bad input and what cannot be settled at all (unknown token or account, a
 * token the venue may not trade, amounts that do not add up) are typed errors
 * and record nothing; what the rules refuse is REJECTED at verification.
 */
export async function submitExternalTrade(s: SettlementServices, caller: Caller, input: ExternalTradeInput): Promise<SettlementRow> {
  requireRole(caller, 'SETTLEMENT_AGENT', 'BROKER_DEALER');
  if (!isPrintable(input.venue, 64)) throw badInput('INVALID_VENUE', 'venue must be 1 to 64 printable characters');
  if (!isPrintable(input.venueReference, 128)) throw badInput('INVALID_VENUE_REFERENCE', 'venueReference must be 1 to 128 printable characters');
  if (input.venue === s.config.SETTLEMENT_TRADING_VENUE) throw badInput('RESERVED_VENUE', `${input.venue} is this platform's own venue; its fills arrive from trading`);
  if (!isId(input.tokenId, 'tok')) throw badInput('INVALID_TOKEN_ID', 'tokenId is not a token id');
  for (const [f, v] of [['buyerAccountId', input.buyerAccountId], ['sellerAccountId', input.sellerAccountId]] as const) {
    if (!isId(v, 'acc')) throw badInput('INVALID_ACCOUNT_ID', `${f} is not a custody account id`, { field: f });
  }
  if (input.buyerAccountId === input.sellerAccountId) throw badInput('SAME_PARTIES', 'buyer and seller accounts must differ');
  if (input.quantity <= 0n) throw badInput('INVALID_QUANTITY', 'quantity must be positive');
  try {
    parsePrice(input.price);
  } catch (e) {
    throw badInput('INVALID_PRICE', (e as Error).message);
  }
  if (input.cashAmount !== undefined && input.cashAmount !== null && input.cashAmount <= 0n) throw badInput('INVALID_CASH_AMOUNT', 'cashAmount must be positive');
  if (input.tradeTime.getTime() > s.now().getTime() + MAX_FUTURE_MS) throw badInput('TRADE_TIME_IN_FUTURE', 'tradeTime is in the future');

  const price = trimDecimal(input.price);
  const occasion = input.occasion ?? 'SALE';
  // A sale hashes as before the occasion existed, so earlier reports replay unchanged.
  const { occasion: _o, ...rest } = input;
  const hash = requestHash({ ...rest, price, cashAmount: input.cashAmount ?? null, ...(occasion !== 'SALE' && { occasion }) });
  // A replay is answered from what was recorded, whatever the peers say now.
  const [prior] = await s.db.query<SettlementRow>('SELECT * FROM settlements WHERE venue = $1 AND venue_reference = $2', [input.venue, input.venueReference]);
  if (prior) {
    // Another organisation's report is not shown to a caller who is not party to it: the reference is only said to be taken.
    if (!sees(visibilityOf(caller, s.config), prior)) {
      throw appError('INPUT.IDEMPOTENCY_KEY_REUSED', `venue reference ${input.venue}/${input.venueReference} was already used`, { details: { venue: input.venue, venueReference: input.venueReference } });
    }
    assertSameRequest(prior.request_hash, hash, `${input.venue}/${input.venueReference}`);
    return prior;
  }
  if (!(await venueMayTrade(s.db, input.venue, input.tokenId))) {
    throw appError('SETTLEMENT.VENUE_NOT_AUTHORIZED', `venue ${input.venue} may not submit trades in ${input.tokenId}`, { details: { venue: input.venue, tokenId: input.tokenId } });
  }
  const token = await s.peers.token(input.tokenId);
  if (!token) throw appError('SETTLEMENT.UNKNOWN_TOKEN', `issuance knows no token ${input.tokenId}`, { details: { tokenId: input.tokenId } });
  // A token not (yet) on chain is recorded and REJECTED at verification with that reason: the report stays on file.
  const [buyer, seller] = await Promise.all([s.peers.account(input.buyerAccountId), s.peers.account(input.sellerAccountId)]);
  for (const [side, a, id] of [['buyer', buyer, input.buyerAccountId], ['seller', seller, input.sellerAccountId]] as const) {
    if (!a) throw appError('SETTLEMENT.UNKNOWN_ACCOUNT', `custody knows no ${side} account ${id}`, { details: { side, accountId: id } });
  }
  // Only services and settlement operators (SETTLEMENT_OPERATOR_ORGS) report trades between other organisations' accounts.
  if (!visibilityOf(caller, s.config).all && ![buyer!.org, seller!.org].includes(caller.org)) {
    throw forbidden('only a settlement operator may submit a trade none of its organisation\'s accounts is party to');
  }
  let cash: bigint;
  try {
    cash = cashAmountOf(price, input.quantity, token.decimals, s.config.SETTLEMENT_CASH_DECIMALS);
  } catch (e) {
    if (e instanceof AmountError) throw badInput(e.code, e.message);
    throw e;
  }
  if (input.cashAmount !== undefined && input.cashAmount !== null && input.cashAmount !== cash) {
    throw badInput('AMOUNT_MISMATCH', `cashAmount ${input.cashAmount} is not price x quantity (${cash})`, { expected: cash.toString(), given: input.cashAmount.toString() });
  }
  return s.db.tx(async (q) => {
    const { row, created } = await insertExternalSettlement(q, {
      id: newId('stl'), org: caller.org, token_id: input.tokenId, quantity: input.quantity.toString(), price, buyer_account_id: input.buyerAccountId,
      seller_account_id: input.sellerAccountId, venue: input.venue, venue_reference: input.venueReference, trade_time: input.tradeTime, request_hash: hash,
      source: 'EXTERNAL', trade_id: null, cash_asset: 'CASH', cash_amount: cash.toString(), buyer_investor_id: buyer!.investorId, seller_investor_id: seller!.investorId,
      buyer_org: buyer!.org, seller_org: seller!.org, buyer_fee: '0', seller_fee: '0', trading_reservations: null, mode: s.config.SETTLEMENT_MODE,
      occasion,
    });
    if (created) await recordReceived(q, row, caller.subject, { venue: input.venue, venueReference: input.venueReference, submittedBy: caller.subject, org: caller.org, cashAmount: cash.toString() });
    return row;
  });
}
