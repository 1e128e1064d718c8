import { requireRole, type Caller } from '../kit/auth.js';
import type { Db } from '../kit/db/types.js';
import { badInput } from '../kit/errors.js';
import { requestHash } from '../kit/idempotency.js';
import { newId } from '../kit/ids.js';
import { appendEvent } from '../kit/outbox.js';
import { insertOrder } from './store.js';

export interface PlaceOrderInput { tokenId: string; accountId: string; side: 'BUY' | 'SELL'; price: bigint; quantity: bigint; clientOrderId: string }

/** Records a limit order as resting. (Matching and pre-trade checks are not built yet: see README.) */
export async function placeOrder(db: Db, caller: Caller, input: PlaceOrderInput) {
  requireRole(caller, 'BROKER_DEALER', 'INVESTOR');
  if (!/^[\x21-\x7e]{1,128}$/.test(input.clientOrderId)) throw badInput('INVALID_CLIENT_ORDER_ID', 'clientOrderId must be 1 to 128 printable characters');
  if (!/^tok_[0-9a-z]{26}$/.test(input.tokenId)) throw badInput('INVALID_TOKEN_ID', 'tokenId is not a token id');
  if (!/^acc_[0-9a-z]{26}$/.test(input.accountId)) throw badInput('INVALID_ACCOUNT_ID', 'accountId is not a custody account id');
  if (input.quantity <= 0n) throw badInput('INVALID_QUANTITY', 'quantity must be positive');
  if (input.price <= 0n) throw badInput('INVALID_PRICE', 'price must be positive');
  const hash = requestHash(input);
  return db.tx(async (q) => {
    const { row, created } = await insertOrder(q, {
      id: newId('ord'), org: caller.org, token_id: input.tokenId, account_id: input.accountId, side: input.side,
      price: input.price.toString(), quantity: input.quantity.toString(), client_order_id: input.clientOrderId, request_hash: hash,
    });
    if (created) await appendEvent(q, 'order.accepted', row.id, { orderId: row.id, tokenId: row.token_id, side: row.side, price: row.price, quantity: row.quantity, org: row.org });
    return row;
  });
}
