import { requireRole, type Caller } from '../kit/auth.js';
import type { Db } from '../kit/db/types.js';
import { badInput } from '../kit/errors.js';
import { requestHash } from '../kit/idempotency.js';
import { newId } from '../kit/ids.js';
import { appendEvent } from '../kit/outbox.js';
import { appendHistory, insertSettlement } from './store.js';

export interface ExternalTradeInput {
  venue: string; venueReference: string; tokenId: string; buyerAccountId: string; sellerAccountId: string;
  quantity: bigint; price: string; tradeTime: Date;
}

/** Records a trade from another venue as RECEIVED. (Verification and DvP are not built yet: see README.) */
export async function submitExternalTrade(db: Db, caller: Caller, input: ExternalTradeInput) {
  requireRole(caller, 'SETTLEMENT_AGENT', 'BROKER_DEALER');
  if (!/^[\x21-\x7e]{1,64}$/.test(input.venue)) throw badInput('INVALID_VENUE', 'venue must be 1 to 64 printable characters');
  if (!/^[\x21-\x7e]{1,128}$/.test(input.venueReference)) throw badInput('INVALID_VENUE_REFERENCE', 'venueReference must be 1 to 128 printable characters');
  if (!/^tok_[0-9a-z]{26}$/.test(input.tokenId)) throw badInput('INVALID_TOKEN_ID', 'tokenId is not a token id');
  if (input.buyerAccountId === input.sellerAccountId) throw badInput('SAME_PARTIES', 'buyer and seller accounts must differ');
  if (input.quantity <= 0n) throw badInput('INVALID_QUANTITY', 'quantity must be positive');
  if (!(Number(input.price) > 0)) throw badInput('INVALID_PRICE', 'price must be positive');
  const hash = requestHash(input);
  return db.tx(async (q) => {
    const { row, created } = await insertSettlement(q, {
      id: newId('stl'), org: caller.org, token_id: input.tokenId, quantity: input.quantity.toString(), price: input.price,
      buyer_account_id: input.buyerAccountId, seller_account_id: input.sellerAccountId, venue: input.venue,
      venue_reference: input.venueReference, trade_time: input.tradeTime, request_hash: hash,
    });
    if (created) {
      await appendHistory(q, row.id, 'RECEIVED', null);
      await appendEvent(q, 'settlement.status', row.id, { settlementId: row.id, status: 'RECEIVED', org: row.org });
    }
    return row;
  });
}
