import { type Caller } from '../kit/auth.js';
import { requireRole } from '../kit/access.js';
import { appError, badInput, forbidden } from '../kit/errors.js';
import { assertSameRequest, requestHash } from '../kit/idempotency.js';
import { newId } from '../kit/ids.js';
import { trimDecimal } from '../kit/scalars.js';
import { AmountError, cashAmountOf, parsePrice } from './domain/amounts.js';
import { recordReceived } from './lifecycle.js';
import type { SettlementServices } from './services.js';
import { sees, visibilityOf } from './access.js';
import { insertExternalSettlement, settlementOfVenueReference, type SettlementRow, type TransferOccasion } from './store/settlements.js';
import { venueMayTrade } from './store/venues.js';
import { isId, isPrintable } from '../kit/inputs.js';

/**
 * Trades from other venues, submitted by a settlement agent or a
 * broker-dealer party to them (trading's own fills arrive by feeds.ts).
 */

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
  const prior = await settlementOfVenueReference(s.db, input.venue, input.venueReference);
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
