import { OrderBook } from './index.js';
import type { BookEvent, NewOrder, Side, TimeInForce, TradeEvent } from './types.js';

type Extra = Partial<Omit<NewOrder, 'orderId' | 'ownerId' | 'side' | 'price' | 'quantity'>>;

const limit = (orderId: string, ownerId: string, side: Side, price: number, quantity: number, extra: Extra = {}): NewOrder => ({
  orderId, ownerId, side, type: 'LIMIT', price: BigInt(price), quantity: BigInt(quantity), ...extra,
});
const market = (orderId: string, ownerId: string, side: Side, quantity: number, timeInForce?: TimeInForce): NewOrder => ({
  orderId, ownerId, side, type: 'MARKET', quantity: BigInt(quantity), ...(timeInForce ? { timeInForce } : {}),
});
const trades = (ev: BookEvent[]) =>
  ev.filter((e): e is TradeEvent => e.type === 'TRADE').map((t) => [t.makerOrderId, t.takerOrderId, Number(t.price), Number(t.quantity)]);
const types = (ev: BookEvent[]) => ev.filter((e) => e.type !== 'LEVEL').map((e) => e.type);
const of = <T extends BookEvent['type']>(ev: BookEvent[], type: T) => ev.filter((e) => e.type === type) as Extract<BookEvent, { type: T }>[];
const levels = (b: OrderBook) => {
  const s = b.snapshot();
  const f = (ls: typeof s.bids) => ls.map((l) => [Number(l.price), Number(l.quantity), l.orders]);
  return { bids: f(s.bids), asks: f(s.asks) };
};
const queue = (b: OrderBook, side: Side, price: number) =>
  b.restingOrders().filter((o) => o.side === side && o.price === BigInt(price)).sort((x, y) => x.priority - y.priority).map((o) => o.orderId);
/** State that a refused request must leave untouched. */
const state = (b: OrderBook) => ({ levels: levels(b), orders: b.restingOrders() });

describe('price-time priority', () => {
  it('matches the best price first and, within a price, the oldest order first', () => {
    const b = new OrderBook();
    b.place(limit('s1', 'A', 'SELL', 101, 5));
    b.place(limit('s2', 'B', 'SELL', 100, 5));
    b.place(limit('s3', 'C', 'SELL', 100, 5));
    const ev = b.place(limit('b1', 'D', 'BUY', 101, 12));
    expect(trades(ev)).toEqual([['s2', 'b1', 100, 5], ['s3', 'b1', 100, 5], ['s1', 'b1', 101, 2]]);
    expect(levels(b)).toEqual({ bids: [], asks: [[101, 3, 1]] });
  });

  it('executes at the resting order price, not at the incoming limit', () => {
    const b = new OrderBook();
    b.place(limit('b1', 'A', 'BUY', 100, 5));
    const ev = b.place(limit('s1', 'B', 'SELL', 90, 5));
    expect(trades(ev)).toEqual([['b1', 's1', 100, 5]]);
    const t = of(ev, 'TRADE')[0];
    expect(t.takerSide).toBe('SELL');
    expect(t.makerOwnerId).toBe('A');
    expect(t.takerOwnerId).toBe('B');
  });

  it('rests an order that crosses nothing at the back of its level with a higher priority', () => {
    const b = new OrderBook();
    const r1 = of(b.place(limit('b1', 'A', 'BUY', 100, 5)), 'RESTED')[0];
    const r2 = of(b.place(limit('b2', 'B', 'BUY', 100, 5)), 'RESTED')[0];
    expect(r2.priority).toBeGreaterThan(r1.priority);
    expect(r1.priority).toBe(r1.seq);
    expect(queue(b, 'BUY', 100)).toEqual(['b1', 'b2']);
    expect(b.bestBid()).toEqual({ price: 100n, quantity: 10n, orders: 2 });
    expect(b.bestAsk()).toBeNull();
  });
});

describe('partial fills', () => {
  it('walks several levels and orders and leaves the last resting order partially filled', () => {
    const b = new OrderBook();
    b.place(limit('b1', 'A', 'BUY', 102, 3));
    b.place(limit('b2', 'B', 'BUY', 101, 4));
    b.place(limit('b3', 'C', 'BUY', 101, 6));
    b.place(limit('b4', 'D', 'BUY', 100, 10));
    const ev = b.place(limit('s1', 'E', 'SELL', 100, 10));
    expect(trades(ev)).toEqual([['b1', 's1', 102, 3], ['b2', 's1', 101, 4], ['b3', 's1', 101, 3]]);
    const last = of(ev, 'TRADE')[2];
    expect(last.makerRemaining).toBe(3n);
    expect(last.takerRemaining).toBe(0n);
    expect(b.getOrder('b3')).toMatchObject({ filled: 3n, remaining: 3n, quantity: 6n });
    expect(b.getOrder('s1')).toBeUndefined();
    expect(levels(b)).toEqual({ bids: [[101, 3, 1], [100, 10, 1]], asks: [] });
  });

  it('rests the remainder of a partially filled limit order', () => {
    const b = new OrderBook();
    b.place(limit('s1', 'A', 'SELL', 100, 4));
    const ev = b.place(limit('b1', 'B', 'BUY', 101, 10));
    expect(types(ev)).toEqual(['ACCEPTED', 'TRADE', 'RESTED']);
    expect(of(ev, 'RESTED')[0]).toMatchObject({ orderId: 'b1', price: 101n, remaining: 6n });
    expect(b.getOrder('b1')).toMatchObject({ filled: 4n, remaining: 6n, quantity: 10n });
  });
});

describe('time in force', () => {
  it('IOC trades what it can and cancels the remainder', () => {
    const b = new OrderBook();
    b.place(limit('s1', 'A', 'SELL', 100, 4));
    const ev = b.place(limit('b1', 'B', 'BUY', 100, 10, { timeInForce: 'IOC' }));
    expect(trades(ev)).toEqual([['s1', 'b1', 100, 4]]);
    expect(of(ev, 'CANCELLED')[0]).toMatchObject({ orderId: 'b1', cancelledQuantity: 6n, reason: 'IOC_REMAINDER' });
    expect(b.orderCount).toBe(0);
  });

  it('IOC that crosses nothing is accepted then cancelled and never rests', () => {
    const b = new OrderBook();
    const ev = b.place(limit('b1', 'B', 'BUY', 100, 10, { timeInForce: 'IOC' }));
    expect(types(ev)).toEqual(['ACCEPTED', 'CANCELLED']);
    expect(b.orderCount).toBe(0);
  });

  it('FOK that can be filled entirely trades at once across levels', () => {
    const b = new OrderBook();
    b.place(limit('s1', 'A', 'SELL', 100, 4));
    b.place(limit('s2', 'A', 'SELL', 101, 4));
    const ev = b.place(limit('b1', 'B', 'BUY', 101, 8, { timeInForce: 'FOK' }));
    expect(trades(ev)).toEqual([['s1', 'b1', 100, 4], ['s2', 'b1', 101, 4]]);
    expect(b.orderCount).toBe(0);
  });

  it('FOK that cannot be filled entirely is rejected and changes nothing', () => {
    const b = new OrderBook();
    b.place(limit('s1', 'A', 'SELL', 100, 4));
    b.place(limit('s2', 'A', 'SELL', 101, 4));
    b.place(limit('s3', 'A', 'SELL', 102, 100));
    const before = state(b);
    const seq = b.lastEventSeq;
    const ev = b.place(limit('b1', 'B', 'BUY', 101, 9, { timeInForce: 'FOK' }));
    expect(ev).toEqual([{ type: 'REJECTED', seq: seq + 1, request: 'PLACE', orderId: 'b1', reasons: ['FOK_NOT_FILLABLE'] }]);
    expect(state(b)).toEqual(before);
  });

  it('FOK does not count its owner\'s own resting orders unless they would be cancelled (CANCEL_OLDEST)', () => {
    const b = new OrderBook();
    b.place(limit('s1', 'A', 'SELL', 100, 5));
    b.place(limit('s2', 'B', 'SELL', 100, 5));
    const before = state(b);
    expect(types(b.place(limit('b1', 'A', 'BUY', 100, 6, { timeInForce: 'FOK', stp: 'CANCEL_NEWEST' })))).toEqual(['REJECTED']);
    expect(types(b.place(limit('b2', 'A', 'BUY', 100, 6, { timeInForce: 'FOK', stp: 'DECREMENT' })))).toEqual(['REJECTED']);
    expect(types(b.place(limit('b3', 'A', 'BUY', 100, 6, { timeInForce: 'FOK', stp: 'CANCEL_OLDEST' })))).toEqual(['REJECTED']);
    expect(state(b)).toEqual(before);
    const ev = b.place(limit('b4', 'A', 'BUY', 100, 5, { timeInForce: 'FOK', stp: 'CANCEL_OLDEST' }));
    expect(types(ev)).toEqual(['ACCEPTED', 'SELF_TRADE_PREVENTED', 'CANCELLED', 'TRADE']);
    expect(trades(ev)).toEqual([['s2', 'b4', 100, 5]]);
  });

  it('MARKET sweeps the other side at any price', () => {
    const b = new OrderBook();
    b.place(limit('b1', 'A', 'BUY', 100, 5));
    b.place(limit('b2', 'A', 'BUY', 50, 5));
    const ev = b.place(market('m1', 'B', 'SELL', 7));
    expect(trades(ev)).toEqual([['b1', 'm1', 100, 5], ['b2', 'm1', 50, 2]]);
    expect(of(ev, 'ACCEPTED')[0]).toMatchObject({ orderType: 'MARKET', timeInForce: 'IOC', price: null });
  });

  it('MARKET with no liquidity is rejected with NO_LIQUIDITY and never rests', () => {
    const b = new OrderBook();
    b.place(limit('b1', 'A', 'BUY', 100, 5));
    const ev = b.place(market('m1', 'B', 'BUY', 7));
    expect(ev).toEqual([expect.objectContaining({ type: 'REJECTED', orderId: 'm1', reasons: ['NO_LIQUIDITY'] })]);
    expect(b.orderCount).toBe(1);
  });

  it('MARKET cancels whatever the other side could not fill with NO_LIQUIDITY', () => {
    const b = new OrderBook();
    b.place(limit('s1', 'A', 'SELL', 100, 5));
    const ev = b.place(market('m1', 'B', 'BUY', 7));
    expect(trades(ev)).toEqual([['s1', 'm1', 100, 5]]);
    expect(of(ev, 'CANCELLED')[0]).toMatchObject({ orderId: 'm1', cancelledQuantity: 2n, reason: 'NO_LIQUIDITY', price: null });
    expect(b.orderCount).toBe(0);
  });

  it('MARKET FOK is rejected when the book cannot fill all of it', () => {
    const b = new OrderBook();
    b.place(limit('s1', 'A', 'SELL', 100, 5));
    expect(types(b.place(market('m1', 'B', 'BUY', 6, 'FOK')))).toEqual(['REJECTED']);
    expect(trades(b.place(market('m2', 'B', 'BUY', 5, 'FOK')))).toEqual([['s1', 'm2', 100, 5]]);
  });

  it('MARKET accepts only IOC or FOK and no price', () => {
    const b = new OrderBook();
    const ev = b.place({ orderId: 'm1', ownerId: 'A', side: 'BUY', type: 'MARKET', quantity: 1n, price: 5n, timeInForce: 'GTC' });
    expect(of(ev, 'REJECTED')[0].reasons).toEqual(['INVALID_TIME_IN_FORCE', 'PRICE_NOT_ALLOWED']);
  });

  it('DAY orders rest until expireDay sweeps them while GTC orders stay', () => {
    const b = new OrderBook();
    b.place(limit('d1', 'A', 'BUY', 100, 5, { timeInForce: 'DAY' }));
    b.place(limit('g1', 'A', 'BUY', 100, 5));
    b.place(limit('d2', 'B', 'SELL', 105, 3, { timeInForce: 'DAY' }));
    const ev = b.expireDay();
    expect(of(ev, 'EXPIRED').map((e) => [e.orderId, Number(e.expiredQuantity)])).toEqual([['d1', 5], ['d2', 3]]);
    expect(b.restingOrders().map((o) => o.orderId)).toEqual(['g1']);
    expect(levels(b)).toEqual({ bids: [[100, 5, 1]], asks: [] });
  });

  it('expireDay(before) expires only the DAY orders placed before that time', () => {
    const b = new OrderBook();
    b.place(limit('d1', 'A', 'BUY', 100, 5, { timeInForce: 'DAY', placedAt: 1000 }));
    b.place(limit('d2', 'A', 'BUY', 100, 5, { timeInForce: 'DAY', placedAt: 2000 }));
    expect(of(b.expireDay(1500), 'EXPIRED').map((e) => e.orderId)).toEqual(['d1']);
    expect(b.getOrder('d2')).toBeDefined();
  });

  it('a DAY order that was filled is not expired', () => {
    const b = new OrderBook();
    b.place(limit('d1', 'A', 'BUY', 100, 5, { timeInForce: 'DAY' }));
    b.place(limit('s1', 'B', 'SELL', 100, 5));
    expect(b.expireDay()).toEqual([]);
  });
});

describe('post-only', () => {
  it('rejects a post-only order that would cross instead of repricing it, leaving the book unchanged', () => {
    const b = new OrderBook();
    b.place(limit('s1', 'A', 'SELL', 100, 5));
    const before = state(b);
    const ev = b.place(limit('b1', 'B', 'BUY', 100, 5, { postOnly: true }));
    expect(ev).toEqual([expect.objectContaining({ type: 'REJECTED', reasons: ['POST_ONLY_WOULD_CROSS'] })]);
    expect(state(b)).toEqual(before);
  });

  it('rests a post-only order that does not cross', () => {
    const b = new OrderBook();
    b.place(limit('s1', 'A', 'SELL', 100, 5));
    expect(types(b.place(limit('b1', 'B', 'BUY', 99, 5, { postOnly: true })))).toEqual(['ACCEPTED', 'RESTED']);
  });

  it('refuses post-only on MARKET, IOC and FOK orders', () => {
    const b = new OrderBook();
    expect(of(b.place({ ...market('m', 'A', 'BUY', 1), postOnly: true }), 'REJECTED')[0].reasons).toContain('POST_ONLY_NOT_ALLOWED');
    expect(of(b.place(limit('i', 'A', 'BUY', 1, 1, { postOnly: true, timeInForce: 'IOC' })), 'REJECTED')[0].reasons).toEqual(['POST_ONLY_NOT_ALLOWED']);
    expect(of(b.place(limit('f', 'A', 'BUY', 1, 1, { postOnly: true, timeInForce: 'FOK' })), 'REJECTED')[0].reasons).toEqual(['POST_ONLY_NOT_ALLOWED']);
  });
});

describe('self-trade prevention', () => {
  it('CANCEL_NEWEST cancels the incoming remainder and keeps the resting order and earlier trades', () => {
    const b = new OrderBook({ stp: 'CANCEL_NEWEST' });
    b.place(limit('s1', 'B', 'SELL', 100, 3));
    b.place(limit('s2', 'A', 'SELL', 100, 5));
    b.place(limit('s3', 'C', 'SELL', 100, 5));
    const ev = b.place(limit('b1', 'A', 'BUY', 100, 10));
    expect(types(ev)).toEqual(['ACCEPTED', 'TRADE', 'SELF_TRADE_PREVENTED', 'CANCELLED']);
    expect(trades(ev)).toEqual([['s1', 'b1', 100, 3]]);
    expect(of(ev, 'SELF_TRADE_PREVENTED')[0]).toMatchObject({ mode: 'CANCEL_NEWEST', takerOrderId: 'b1', makerOrderId: 's2', ownerId: 'A', quantity: 0n });
    expect(of(ev, 'CANCELLED')[0]).toMatchObject({ orderId: 'b1', cancelledQuantity: 7n, reason: 'SELF_TRADE' });
    expect(queue(b, 'SELL', 100)).toEqual(['s2', 's3']);
  });

  it('CANCEL_OLDEST cancels the resting own order and keeps matching', () => {
    const b = new OrderBook({ stp: 'CANCEL_OLDEST' });
    b.place(limit('s1', 'A', 'SELL', 100, 5));
    b.place(limit('s2', 'C', 'SELL', 100, 5));
    const ev = b.place(limit('b1', 'A', 'BUY', 100, 8));
    expect(types(ev)).toEqual(['ACCEPTED', 'SELF_TRADE_PREVENTED', 'CANCELLED', 'TRADE', 'RESTED']);
    expect(of(ev, 'CANCELLED')[0]).toMatchObject({ orderId: 's1', cancelledQuantity: 5n, reason: 'SELF_TRADE' });
    expect(trades(ev)).toEqual([['s2', 'b1', 100, 5]]);
    expect(b.getOrder('b1')?.remaining).toBe(3n);
  });

  it('DECREMENT reduces both orders by the overlap without a trade', () => {
    const b = new OrderBook({ stp: 'DECREMENT' });
    b.place(limit('s1', 'A', 'SELL', 100, 10));
    const ev = b.place(limit('b1', 'A', 'BUY', 100, 4));
    expect(types(ev)).toEqual(['ACCEPTED', 'SELF_TRADE_PREVENTED']);
    expect(of(ev, 'SELF_TRADE_PREVENTED')[0]).toMatchObject({ mode: 'DECREMENT', quantity: 4n, takerRemaining: 0n, makerRemaining: 6n });
    expect(b.getOrder('s1')).toMatchObject({ remaining: 6n, filled: 0n, quantity: 6n });
    expect(b.getOrder('b1')).toBeUndefined();
    expect(levels(b)).toEqual({ bids: [], asks: [[100, 6, 1]] });
  });

  it('DECREMENT removes a resting order reduced to zero and goes on matching the rest', () => {
    const b = new OrderBook({ stp: 'DECREMENT' });
    b.place(limit('s1', 'A', 'SELL', 100, 3));
    b.place(limit('s2', 'C', 'SELL', 100, 2));
    const ev = b.place(limit('b1', 'A', 'BUY', 100, 10));
    expect(types(ev)).toEqual(['ACCEPTED', 'SELF_TRADE_PREVENTED', 'TRADE', 'RESTED']);
    expect(b.getOrder('s1')).toBeUndefined();
    expect(b.getOrder('b1')).toMatchObject({ remaining: 5n, filled: 2n, quantity: 7n });
  });

  it('uses the book default when the order gives no mode, and the order mode when it does', () => {
    const b = new OrderBook({ stp: 'CANCEL_OLDEST' });
    b.place(limit('s1', 'A', 'SELL', 100, 5));
    expect(types(b.place(limit('b1', 'A', 'BUY', 100, 5, { stp: 'CANCEL_NEWEST' })))).toEqual(['ACCEPTED', 'SELF_TRADE_PREVENTED', 'CANCELLED']);
    expect(b.getOrder('s1')).toBeDefined();
    const ev = b.place(limit('b2', 'A', 'BUY', 100, 5));
    expect(of(ev, 'CANCELLED')[0].orderId).toBe('s1');
  });

  it('NONE lets the same owner trade with itself', () => {
    const b = new OrderBook({ stp: 'NONE' });
    b.place(limit('s1', 'A', 'SELL', 100, 5));
    expect(trades(b.place(limit('b1', 'A', 'BUY', 100, 5)))).toEqual([['s1', 'b1', 100, 5]]);
  });

  it('applies to MARKET orders too', () => {
    const b = new OrderBook();
    b.place(limit('s1', 'A', 'SELL', 100, 5));
    const ev = b.place(market('m1', 'A', 'BUY', 5));
    expect(of(ev, 'CANCELLED')[0]).toMatchObject({ orderId: 'm1', reason: 'SELF_TRADE', price: null });
  });
});

describe('cancel', () => {
  it('removes an order from the middle of a level and keeps the others in priority order', () => {
    const b = new OrderBook();
    for (const id of ['a', 'b', 'c']) b.place(limit(id, id, 'BUY', 100, 5));
    const ev = b.cancel('b');
    expect(of(ev, 'CANCELLED')[0]).toMatchObject({ orderId: 'b', cancelledQuantity: 5n, reason: 'USER', price: 100n });
    expect(of(ev, 'LEVEL')).toEqual([expect.objectContaining({ side: 'BUY', price: 100n, quantity: 10n, orders: 2 })]);
    expect(queue(b, 'BUY', 100)).toEqual(['a', 'c']);
    expect(trades(b.place(limit('s', 'Z', 'SELL', 100, 10)))).toEqual([['a', 's', 100, 5], ['c', 's', 100, 5]]);
  });

  it('rejects an unknown or already filled order with UNKNOWN_ORDER', () => {
    const b = new OrderBook();
    b.place(limit('a', 'A', 'BUY', 100, 5));
    b.place(limit('s', 'B', 'SELL', 100, 5));
    expect(b.cancel('a')).toEqual([expect.objectContaining({ type: 'REJECTED', request: 'CANCEL', reasons: ['UNKNOWN_ORDER'] })]);
    expect(of(b.cancel('nope'), 'REJECTED')[0].reasons).toEqual(['UNKNOWN_ORDER']);
  });

  it('removes the level with its last order, and the next level becomes best', () => {
    const b = new OrderBook();
    b.place(limit('a', 'A', 'SELL', 100, 5));
    b.place(limit('b', 'A', 'SELL', 101, 5));
    const ev = b.cancel('a');
    expect(of(ev, 'LEVEL')).toEqual([expect.objectContaining({ price: 100n, quantity: 0n, orders: 0 })]);
    expect(b.bestAsk()?.price).toBe(101n);
    expect(b.levelCount).toBe(1);
  });

  it('cancelAll cancels one owner\'s orders with the operator reason', () => {
    const b = new OrderBook();
    b.place(limit('a', 'A', 'SELL', 100, 5));
    b.place(limit('b', 'B', 'SELL', 100, 5));
    b.place(limit('c', 'A', 'BUY', 90, 5));
    const ev = b.cancelAll({ ownerId: 'A' }, 'OPERATOR');
    expect(of(ev, 'CANCELLED').map((e) => [e.orderId, e.reason])).toEqual([['a', 'OPERATOR'], ['c', 'OPERATOR']]);
    expect(b.restingOrders().map((o) => o.orderId)).toEqual(['b']);
  });
});

describe('replace', () => {
  const three = () => {
    const b = new OrderBook();
    for (const id of ['a', 'b', 'c']) b.place(limit(id, id, 'BUY', 100, 10));
    return b;
  };

  it('keeps time priority when only the size shrinks', () => {
    const b = three();
    const ev = b.replace('a', { quantity: 4n });
    expect(of(ev, 'REPLACED')[0]).toMatchObject({ priorityKept: true, oldQuantity: 10n, quantity: 4n, remaining: 4n });
    expect(types(ev)).toEqual(['REPLACED']);
    expect(queue(b, 'BUY', 100)).toEqual(['a', 'b', 'c']);
    expect(b.bestBid()).toEqual({ price: 100n, quantity: 24n, orders: 3 });
  });

  it('loses time priority when the size grows', () => {
    const b = three();
    const ev = b.replace('a', { quantity: 11n });
    expect(types(ev)).toEqual(['REPLACED', 'RESTED']);
    expect(of(ev, 'REPLACED')[0]).toMatchObject({ priorityKept: false, priority: null });
    expect(queue(b, 'BUY', 100)).toEqual(['b', 'c', 'a']);
    expect(b.bestBid()).toEqual({ price: 100n, quantity: 31n, orders: 3 });
  });

  it('loses time priority when the price changes, even back to the same level', () => {
    const b = three();
    b.replace('a', { price: 99n });
    b.replace('a', { price: 100n });
    expect(queue(b, 'BUY', 100)).toEqual(['b', 'c', 'a']);
    expect(levels(b).bids).toEqual([[100, 30, 3]]);
  });

  it('trades when the new price crosses and rests what is left with a new priority', () => {
    const b = new OrderBook();
    b.place(limit('s1', 'S', 'SELL', 105, 4));
    b.place(limit('a', 'A', 'BUY', 100, 10));
    const ev = b.replace('a', { price: 105n });
    expect(types(ev)).toEqual(['REPLACED', 'TRADE', 'RESTED']);
    expect(trades(ev)).toEqual([['s1', 'a', 105, 4]]);
    expect(b.getOrder('a')).toMatchObject({ price: 105n, remaining: 6n, filled: 4n });
  });

  it('counts the new quantity including the filled part, and cancels at or below the filled quantity', () => {
    const b = new OrderBook();
    b.place(limit('a', 'A', 'BUY', 100, 10));
    b.place(limit('s1', 'S', 'SELL', 100, 4));
    expect(of(b.replace('a', { quantity: 8n }), 'REPLACED')[0]).toMatchObject({ filled: 4n, remaining: 4n, quantity: 8n, priorityKept: true });
    const ev = b.replace('a', { quantity: 4n });
    expect(types(ev)).toEqual(['CANCELLED']);
    expect(of(ev, 'CANCELLED')[0]).toMatchObject({ orderId: 'a', reason: 'REPLACED_TO_FILLED', cancelledQuantity: 4n });
    expect(b.orderCount).toBe(0);
  });

  it('rejects a post-only order moved to a crossing price and leaves it unchanged', () => {
    const b = new OrderBook();
    b.place(limit('s1', 'S', 'SELL', 105, 4));
    b.place(limit('a', 'A', 'BUY', 100, 10, { postOnly: true }));
    const before = state(b);
    expect(of(b.replace('a', { price: 105n }), 'REJECTED')[0].reasons).toEqual(['POST_ONLY_WOULD_CROSS']);
    expect(state(b)).toEqual(before);
  });

  it('rejects an empty or invalid request with every reason', () => {
    const b = three();
    expect(of(b.replace('a', {}), 'REJECTED')[0].reasons).toEqual(['NOTHING_TO_REPLACE']);
    expect(of(b.replace('x', { price: 0n, quantity: -1n }), 'REJECTED')[0].reasons).toEqual(['UNKNOWN_ORDER', 'INVALID_PRICE', 'INVALID_QUANTITY']);
  });
});

describe('validation', () => {
  it('rejects an order with several bad fields with every reason and changes nothing', () => {
    const b = new OrderBook();
    const ev = b.place({ orderId: '', ownerId: '', side: 'UP' as Side, type: 'LIMIT', quantity: 0n, price: -3n, stp: 'X' as never });
    expect(of(ev, 'REJECTED')[0].reasons).toEqual(['INVALID_ORDER_ID', 'INVALID_OWNER', 'INVALID_SIDE', 'INVALID_QUANTITY', 'INVALID_PRICE', 'INVALID_STP_MODE']);
    expect(b.orderCount).toBe(0);
  });

  it('rejects a limit order without a price, and prices beyond 2^53-1 ticks', () => {
    const b = new OrderBook();
    expect(of(b.place({ orderId: 'a', ownerId: 'A', side: 'BUY', type: 'LIMIT', quantity: 1n }), 'REJECTED')[0].reasons).toEqual(['PRICE_REQUIRED']);
    expect(of(b.place(limit('b', 'A', 'BUY', 1, 1, { price: 2n ** 53n } as Extra)), 'REJECTED')[0].reasons).toEqual(['INVALID_PRICE']);
  });

  it('rejects the id of an order that is still live', () => {
    const b = new OrderBook();
    b.place(limit('a', 'A', 'BUY', 100, 5));
    expect(of(b.place(limit('a', 'A', 'BUY', 100, 5)), 'REJECTED')[0].reasons).toEqual(['DUPLICATE_ORDER_ID']);
  });
});

describe('events and snapshots', () => {
  it('numbers events with a per-book sequence that increases by one across calls', () => {
    const b = new OrderBook();
    const all = [
      ...b.place(limit('a', 'A', 'SELL', 100, 5)),
      ...b.place(limit('b', 'B', 'BUY', 101, 8)),
      ...b.cancel('zz'),
      ...b.cancel('b'),
    ];
    expect(all.map((e) => e.seq)).toEqual(all.map((_, i) => i + 1));
    expect(b.lastEventSeq).toBe(all.length);
  });

  it('reports each changed level once per call with its aggregate after the call', () => {
    const b = new OrderBook();
    b.place(limit('s1', 'A', 'SELL', 100, 5));
    b.place(limit('s2', 'A', 'SELL', 101, 5));
    const ev = b.place(limit('b1', 'B', 'BUY', 101, 7));
    expect(of(ev, 'LEVEL').map((l) => [l.side, Number(l.price), Number(l.quantity), l.orders])).toEqual([
      ['SELL', 100, 0, 0],
      ['SELL', 101, 3, 1],
    ]);
    expect(new OrderBook({ levelEvents: false }).place(limit('x', 'A', 'BUY', 1, 1)).map((e) => e.type)).toEqual(['ACCEPTED', 'RESTED']);
  });

  it('snapshots aggregated levels best first, cut to the depth', () => {
    const b = new OrderBook({ instrumentId: 'tok_x' });
    for (const [i, p] of [99, 98, 97].entries()) b.place(limit(`b${i}`, 'A', 'BUY', p, 1 + i));
    b.place(limit('b9', 'C', 'BUY', 99, 10));
    for (const [i, p] of [103, 101, 102].entries()) b.place(limit(`s${i}`, 'B', 'SELL', p, 1));
    const s = b.snapshot(2);
    expect(s.instrumentId).toBe('tok_x');
    expect(s.bids).toEqual([{ price: 99n, quantity: 11n, orders: 2 }, { price: 98n, quantity: 2n, orders: 1 }]);
    expect(s.asks.map((l) => l.price)).toEqual([101n, 102n]);
    expect(s.lastEventSeq).toBe(b.lastEventSeq);
  });
});

describe('restore', () => {
  const busy = () => {
    const b = new OrderBook({ stp: 'CANCEL_OLDEST' });
    b.place(limit('b1', 'A', 'BUY', 100, 10));
    b.place(limit('b2', 'B', 'BUY', 100, 10, { timeInForce: 'DAY', placedAt: 5 }));
    b.place(limit('b3', 'C', 'BUY', 99, 10, { postOnly: true }));
    b.place(limit('s1', 'D', 'SELL', 102, 10, { stp: 'DECREMENT' }));
    b.place(limit('s2', 'E', 'SELL', 101, 10));
    b.place(limit('x', 'F', 'SELL', 100, 3)); // partly fills b1
    b.replace('b1', { quantity: 20n }); // b1 to the back of 100
    return b;
  };

  it('rebuilds the same levels, priorities and order state from the resting orders', () => {
    const a = busy();
    const r = OrderBook.fromRestingOrders(a.restingOrders(), { lastEventSeq: a.lastEventSeq }, { stp: 'CANCEL_OLDEST' });
    expect(r.snapshot()).toEqual(a.snapshot());
    expect(r.restingOrders()).toEqual(a.restingOrders());
    expect(queue(r, 'BUY', 100)).toEqual(['b2', 'b1']);
  });

  it('matches the next orders exactly as the original book does', () => {
    const a = busy();
    const r = new OrderBook({ stp: 'CANCEL_OLDEST' });
    r.restore([...a.restingOrders()].reverse(), { lastEventSeq: a.lastEventSeq });
    const next: ((b: OrderBook) => BookEvent[])[] = [
      (b) => b.place(limit('t1', 'A', 'SELL', 99, 25)),
      (b) => b.place(limit('t2', 'D', 'BUY', 102, 30)),
      (b) => b.replace('b3', { price: 98n }),
      (b) => b.expireDay(),
      (b) => b.place(market('t3', 'Z', 'SELL', 100)),
    ];
    for (const step of next) expect(step(r)).toEqual(step(a));
    expect(r.restingOrders()).toEqual(a.restingOrders());
  });

  it('refuses a crossed book, duplicate ids, duplicate priorities and a book that is not empty', () => {
    const base = { ownerId: 'A', remaining: 1n, timeInForce: 'GTC' as const };
    expect(() => new OrderBook().restore([{ ...base, orderId: 'a', side: 'BUY', price: 100n, priority: 1 }, { ...base, orderId: 'b', side: 'SELL', price: 100n, priority: 2 }])).toThrow(/crossed/);
    expect(() => new OrderBook().restore([{ ...base, orderId: 'a', side: 'BUY', price: 100n, priority: 1 }, { ...base, orderId: 'a', side: 'BUY', price: 99n, priority: 2 }])).toThrow(/duplicate orderId/);
    expect(() => new OrderBook().restore([{ ...base, orderId: 'a', side: 'BUY', price: 100n, priority: 1 }, { ...base, orderId: 'b', side: 'BUY', price: 99n, priority: 1 }])).toThrow(/duplicate priority/);
    const used = new OrderBook();
    used.place(limit('a', 'A', 'BUY', 1, 1));
    expect(() => used.restore([])).toThrow(/empty/);
  });

  it('continues the event sequence after the highest priority or the given last seq', () => {
    const r = new OrderBook();
    r.restore([{ orderId: 'a', ownerId: 'A', side: 'BUY', price: 100n, remaining: 1n, timeInForce: 'GTC', priority: 40 }], { lastEventSeq: 10 });
    expect(r.lastEventSeq).toBe(40);
    expect(r.cancel('a')[0].seq).toBe(41);
  });
});
