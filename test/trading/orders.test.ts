import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { dbLabel } from '../support/db.js';
import { until } from '../support/wait.js';
import { Trader, expectedReserved, gql, gqlOk, market, quiet, services, startTrading, type AuditEntry, type MarketStatus, type Order, type OrderBook, type OrderPayload, type Trade, type TradingHarness } from './support.js';

const BOOK = `query($t: ID!) { marketStatus(tokenId: $t) { lastPrice } _entities(representations: [{ __typename: "SecurityToken", id: $t }]) {
  ... on SecurityToken { orderBook(depth: 10) { bids { price quantity orders } asks { price quantity orders } cursor } } } }`;

describe(`order types, time in force, self-trade prevention and reservations (${dbLabel()})`, () => {
  let h: TradingHarness;
  beforeAll(async () => { h = await startTrading(); }, 60_000);
  afterAll(async () => h?.stop());

  const book = async (tokenId: string, token: string) => {
    const d = await gqlOk<{ marketStatus: MarketStatus; _entities: { orderBook: OrderBook }[] }>(h.node.url, token, BOOK, { t: tokenId });
    return { ...d._entities[0].orderBook, lastPrice: d.marketStatus.lastPrice };
  };
  /** Custody's reservations equal what open orders and unsettled fills hold, for every account given. */
  const expectReservationsMatch = async (tokenId: string, traders: Trader[]) => {
    await quiet(h.node);
    for (const t of traders) {
      expect([t.accountId, 'CASH', h.peers.reserved(t.accountId, 'CASH')]).toEqual([t.accountId, 'CASH', await expectedReserved(h.node, t.accountId, 'CASH')]);
      expect([t.accountId, 'TOKEN', h.peers.reserved(t.accountId, tokenId)]).toEqual([t.accountId, 'TOKEN', await expectedReserved(h.node, t.accountId, tokenId)]);
    }
  };

  test('a LIMIT GTC order rests; a crossing order trades at the resting price and the buyer gets the price improvement back', async () => {
    const m = await market(h);
    const [seller, buyer] = m.traders;
    const ask = await seller.place('SELL', 10, 100);
    expect(ask).toMatchObject({ accepted: true, rejections: [], order: { status: 'OPEN', remaining: '10', timeInForce: 'GTC', type: 'LIMIT' } });
    const bid = await buyer.place('BUY', 4, 105);
    expect(bid.order).toMatchObject({ status: 'FILLED', filled: '4', remaining: '0' });
    await quiet(h.node);
    // Reserved 4 x 105 at entry, 4 x 100 used by the trade, 20 released.
    expect(h.peers.reserved(buyer.accountId, 'CASH')).toBe(400n);
    expect(h.peers.reserved(seller.accountId, m.tokenId)).toBe(10n);
    expect(await book(m.tokenId, m.broker)).toMatchObject({ asks: [{ price: '100', quantity: '6', orders: 1 }], bids: [], lastPrice: '100' });
    const trades = await gqlOk<{ trades: Trade[] }>(h.node.url, m.broker, `query($t: ID!) { trades(tokenId: $t) { price quantity cashAmount aggressorSide buyOrderId sellOrderId buyAccountId sellAccountId cursor } }`, { t: m.tokenId });
    expect(trades.trades).toEqual([{ price: '100', quantity: '4', cashAmount: '400', aggressorSide: 'BUY', buyOrderId: bid.order.id, sellOrderId: ask.order.id,
      buyAccountId: buyer.accountId, sellAccountId: seller.accountId, cursor: expect.stringMatching(/^\d+$/) }]);
    await expectReservationsMatch(m.tokenId, m.traders);
  });

  test('trades are listed after a cursor, and another organisation sees the tape without the accounts', async () => {
    const m = await market(h);
    const [s, b] = m.traders;
    await s.place('SELL', 3, 50);
    for (let i = 0; i < 3; i++) await b.place('BUY', 1, 50);
    const q = `query($t: ID!, $a: String) { trades(tokenId: $t, after: $a) { id cursor buyAccountId sellAccountId } }`;
    const all = (await gqlOk<{ trades: Trade[] }>(h.node.url, m.broker, q, { t: m.tokenId })).trades;
    expect(all).toHaveLength(3);
    const rest = (await gqlOk<{ trades: Trade[] }>(h.node.url, m.broker, q, { t: m.tokenId, a: all[0].cursor })).trades;
    expect(rest.map((t) => t.id)).toEqual(all.slice(1).map((t) => t.id));
    const stranger = await h.token('broker-z', ['BROKER_DEALER']);
    const seen = (await gqlOk<{ trades: Trade[] }>(h.node.url, stranger, q, { t: m.tokenId })).trades;
    expect(seen.map((t) => [t.buyAccountId, t.sellAccountId])).toEqual([[null, null], [null, null], [null, null]]);
  });

  test('price-time priority: better prices first, then the older order at the same price', async () => {
    const m = await market(h, { accounts: 4 });
    const [a, b, c, buyer] = m.traders;
    const first = await a.place('SELL', 5, 101);
    const second = await b.place('SELL', 5, 101);
    const better = await c.place('SELL', 5, 100);
    await buyer.place('BUY', 8, 101);
    const orders = await gqlOk<{ orders: Order[] }>(h.node.url, m.broker, `query($t: ID!) { orders(filter: { tokenId: $t, side: SELL }) { id filled remaining status } }`, { t: m.tokenId });
    const byId = Object.fromEntries(orders.orders.map((o) => [o.id, o]));
    expect(byId[better.order.id]).toMatchObject({ filled: '5', status: 'FILLED' });
    expect(byId[first.order.id]).toMatchObject({ filled: '3', remaining: '2', status: 'PARTIALLY_FILLED' });
    expect(byId[second.order.id]).toMatchObject({ filled: '0', remaining: '5', status: 'OPEN' });
    await expectReservationsMatch(m.tokenId, m.traders);
  });

  test('IOC trades what it can at once and cancels the rest; FOK trades all or is refused', async () => {
    const m = await market(h);
    const [s, b] = m.traders;
    await s.place('SELL', 5, 200);
    const ioc = await b.place('BUY', 8, 200, { timeInForce: 'IOC' });
    expect(ioc.order).toMatchObject({ status: 'CANCELLED', filled: '5', remaining: '0', cancelReason: 'IOC_REMAINDER' });
    await s.place('SELL', 5, 201);
    const fokTooBig = await b.place('BUY', 6, 201, { timeInForce: 'FOK' });
    expect(fokTooBig).toMatchObject({ accepted: false, order: { status: 'REJECTED', filled: '0' }, rejections: [{ code: 'TRADING.FOK_NOT_FILLABLE' }] });
    const fok = await b.place('BUY', 5, 201, { timeInForce: 'FOK' });
    expect(fok.order).toMatchObject({ status: 'FILLED', filled: '5' });
    await expectReservationsMatch(m.tokenId, m.traders);
  });

  test('a MARKET order sweeps the other side up to its protection price; with nothing to trade it is refused', async () => {
    const m = await market(h, { accounts: 3 });
    const [s1, s2, b] = m.traders;
    const none = await b.place('BUY', 1, null);
    expect(none).toMatchObject({ accepted: false, rejections: [expect.objectContaining({ code: 'TRADING.NO_LIQUIDITY' })], order: { status: 'REJECTED' } });
    await s1.place('SELL', 2, 1000);
    await s2.place('SELL', 2, 1010);
    const mkt = await b.place('BUY', 3, null);
    // No trade yet: the collar is 10% around the best offer (1000): up to 1100.
    expect(mkt.order).toMatchObject({ type: 'MARKET', timeInForce: 'IOC', price: null, protectionPrice: '1100', status: 'FILLED', filled: '3' });
    const sellAll = await s1.place('SELL', 5, null, { timeInForce: 'FOK' });
    expect(sellAll.rejections[0].code).toBe('TRADING.NO_LIQUIDITY');
    await expectReservationsMatch(m.tokenId, m.traders);
    expect(h.peers.reserved(b.accountId, 'CASH')).toBe(2n * 1000n + 1010n);
  });

  test('a MARKET FOK trades its whole quantity at once or is refused, leaving the book as it was', async () => {
    const m = await market(h, { accounts: 3 });
    const [s1, s2, b] = m.traders;
    await s1.place('SELL', 2, 500);
    await s2.place('SELL', 1, 505);
    const levels = async () => { const { bids, asks, lastPrice } = await book(m.tokenId, m.broker); return { bids, asks, lastPrice }; };
    const before = await levels();
    const tooBig = await b.place('BUY', 4, null, { timeInForce: 'FOK' });
    expect(tooBig).toMatchObject({ accepted: false, order: { type: 'MARKET', status: 'REJECTED', filled: '0' }, rejections: [{ code: 'TRADING.FOK_NOT_FILLABLE' }] });
    expect(await levels()).toEqual(before);
    const all = await b.place('BUY', 3, null, { timeInForce: 'FOK' });
    expect(all.order).toMatchObject({ type: 'MARKET', timeInForce: 'FOK', status: 'FILLED', filled: '3', remaining: '0' });
    expect(await book(m.tokenId, m.broker)).toMatchObject({ asks: [], lastPrice: '505' });
    await expectReservationsMatch(m.tokenId, m.traders);
  });

  test('a post-only order that would trade on arrival is refused and reserves nothing', async () => {
    const m = await market(h);
    const [s, b] = m.traders;
    await s.place('SELL', 5, 300);
    const before = h.peers.reserved(b.accountId, 'CASH');
    const po = await b.place('BUY', 1, 300, { postOnly: true });
    expect(po).toMatchObject({ accepted: false, rejections: [{ code: 'TRADING.POST_ONLY_WOULD_CROSS' }] });
    const ok = await b.place('BUY', 1, 299, { postOnly: true });
    expect(ok.order.status).toBe('OPEN');
    await quiet(h.node);
    expect(h.peers.reserved(b.accountId, 'CASH')).toBe(before + 299n);
  });

  test('a DAY order rests until its session ends, then expires and its reservation is released', async () => {
    const m = await market(h);
    const [, b] = m.traders;
    const day = await b.place('BUY', 2, 40, { timeInForce: 'DAY' });
    const gtc = await b.place('BUY', 2, 39);
    expect(day.order).toMatchObject({ status: 'OPEN', timeInForce: 'DAY' });
    const s = services(h.node);
    s.now = () => new Date(Date.now() + 86_400_000); // the next trading day
    try {
      const after = async () => (await gqlOk<{ order: Order }>(h.node.url, m.broker, 'query($id: ID!) { order(id: $id) { status remaining } }', { id: day.order.id })).order;
      await until('the day order expired', async () => (await after()).status === 'EXPIRED');
      expect(await after()).toEqual({ status: 'EXPIRED', remaining: '0' });
      expect((await gqlOk<{ order: Order }>(h.node.url, m.broker, 'query($id: ID!) { order(id: $id) { status } }', { id: gtc.order.id })).order.status).toBe('OPEN');
    } finally {
      s.now = () => new Date();
    }
    await expectReservationsMatch(m.tokenId, m.traders);
    expect(h.peers.reserved(b.accountId, 'CASH')).toBe(2n * 39n);
  });

  test('self-trade prevention: CANCEL_NEWEST keeps the resting order, CANCEL_OLDEST cancels it, DECREMENT shrinks both', async () => {
    const m = await market(h);
    // Two accounts of one beneficial owner (self-trade prevention compares investors, not accounts).
    const same = h.peers.account(m.org, h.peers.accounts.get(m.traders[0].accountId)!.investorId);
    h.peers.deposit(same.accountId, 'CASH', 1_000_000n);
    const seller = m.traders[0];
    const buyer = new Trader(h, m.broker, same.accountId, m.tokenId);

    const rest1 = await seller.place('SELL', 5, 10);
    const newest = await buyer.place('BUY', 3, 10);
    expect(newest.order).toMatchObject({ status: 'CANCELLED', cancelReason: 'SELF_TRADE', filled: '0' });
    expect((await gqlOk<{ order: Order }>(h.node.url, m.broker, 'query($id: ID!) { order(id: $id) { status remaining } }', { id: rest1.order.id })).order).toEqual({ status: 'OPEN', remaining: '5' });

    const oldest = await buyer.place('BUY', 3, 10, { stp: 'CANCEL_OLDEST' });
    expect(oldest.order).toMatchObject({ status: 'OPEN', remaining: '3' });
    expect((await gqlOk<{ order: Order }>(h.node.url, m.broker, 'query($id: ID!) { order(id: $id) { status cancelReason } }', { id: rest1.order.id })).order).toEqual({ status: 'CANCELLED', cancelReason: 'SELF_TRADE' });

    const dec = await seller.place('SELL', 2, 10, { stp: 'DECREMENT' });
    expect(dec.order).toMatchObject({ status: 'CANCELLED', filled: '0', remaining: '0', quantity: '2', cancelReason: 'SELF_TRADE' });
    expect((await gqlOk<{ order: Order }>(h.node.url, m.broker, 'query($id: ID!) { order(id: $id) { status remaining quantity } }', { id: oldest.order.id })).order).toEqual({ status: 'OPEN', remaining: '1', quantity: '3' });
    expect((await gqlOk<{ trades: Trade[] }>(h.node.url, m.broker, `query($t: ID!) { trades(tokenId: $t) { id } }`, { t: m.tokenId })).trades).toEqual([]);
    await expectReservationsMatch(m.tokenId, [seller, buyer]);
  });

  test('replace: a smaller size keeps time priority, a new price loses it, a larger buy reserves the difference first', async () => {
    const m = await market(h, { accounts: 3 });
    const [a, b, buyer] = m.traders;
    const first = await a.place('SELL', 10, 50);
    const second = await b.place('SELL', 10, 50);
    const REPLACE = `mutation($id: ID!, $p: BigInt, $q: BigInt) { replaceOrder(orderId: $id, price: $p, quantity: $q) { accepted rejections { code } order { status price quantity remaining } } }`;
    const shrink = (await gqlOk<{ replaceOrder: OrderPayload }>(h.node.url, m.broker, REPLACE, { id: first.order.id, q: '6' })).replaceOrder;
    expect(shrink).toMatchObject({ accepted: true, order: { quantity: '6', remaining: '6', price: '50' } });
    await buyer.place('BUY', 4, 50);
    const read = async (id: string) => (await gqlOk<{ order: Order }>(h.node.url, m.broker, 'query($id: ID!) { order(id: $id) { filled remaining price } }', { id })).order;
    expect(await read(first.order.id)).toMatchObject({ filled: '4', remaining: '2' }); // still first in line
    // Move away and back: now behind the second order.
    await gqlOk(h.node.url, m.broker, REPLACE, { id: first.order.id, p: '51' });
    await gqlOk(h.node.url, m.broker, REPLACE, { id: first.order.id, p: '50' });
    await buyer.place('BUY', 3, 50);
    expect(await read(second.order.id)).toMatchObject({ filled: '3', remaining: '7' });
    expect(await read(first.order.id)).toMatchObject({ filled: '4', remaining: '2' });
    // A resting buy raised in price and size holds more cash.
    const bid = await buyer.place('BUY', 2, 46);
    expect(bid.order.status).toBe('OPEN');
    const grow = (await gqlOk<{ replaceOrder: OrderPayload }>(h.node.url, m.broker, REPLACE, { id: bid.order.id, p: '48', q: '5' })).replaceOrder;
    expect(grow).toMatchObject({ accepted: true, order: { price: '48', quantity: '5', remaining: '5' } });
    await quiet(h.node);
    expect(h.peers.reserved(buyer.accountId, 'CASH')).toBe(7n * 50n + 5n * 48n);
    // Outside the price band (10% around the last price 50): refused, the order unchanged.
    const far = (await gqlOk<{ replaceOrder: OrderPayload }>(h.node.url, m.broker, REPLACE, { id: bid.order.id, p: '40' })).replaceOrder;
    expect(far).toMatchObject({ accepted: false, rejections: [{ code: 'TRADING.PRICE_OUTSIDE_BAND' }], order: { price: '48' } });
    await expectReservationsMatch(m.tokenId, m.traders);
    // Beyond the account's cash: refused, the order unchanged.
    const tooBig = (await gqlOk<{ replaceOrder: OrderPayload }>(h.node.url, m.broker, REPLACE, { id: bid.order.id, q: '1000000000' })).replaceOrder;
    expect(tooBig).toMatchObject({ accepted: false, rejections: [{ code: 'CUSTODY.INSUFFICIENT_AVAILABLE' }], order: { quantity: '5' } });
    await expectReservationsMatch(m.tokenId, m.traders);
  });

  test('cancel releases the open quantity; cancelling a filled order is a typed error', async () => {
    const m = await market(h);
    const [s, b] = m.traders;
    const bid = await b.place('BUY', 5, 20);
    const c = await b.cancel(bid.order.id);
    expect(c.body.data!.cancelOrder).toMatchObject({ status: 'CANCELLED', remaining: '0', cancelReason: 'USER' });
    await s.place('SELL', 1, 21);
    const filled = await b.place('BUY', 1, 21);
    const again = await b.cancel(filled.order.id);
    expect(again.body.errors?.[0].extensions?.code).toBe('TRADING.ORDER_NOT_OPEN');
    const stranger = await h.token('broker-z', ['BROKER_DEALER']);
    const r = await gql(h.node.url, stranger, 'mutation($id: ID!) { cancelOrder(orderId: $id) { id } }', { id: bid.order.id });
    expect(r.body.errors?.[0].extensions?.code).toBe('NOT_FOUND');
    await expectReservationsMatch(m.tokenId, m.traders);
  });

  test('every order event is in an append-only audit trail with its time', async () => {
    const m = await market(h);
    const [s, b] = m.traders;
    const ask = await s.place('SELL', 5, 70);
    await b.place('BUY', 2, 70);
    await s.cancel(ask.order.id);
    const trail = (await gqlOk<{ orderAuditTrail: AuditEntry[] }>(h.node.url, m.broker, 'query($id: ID!) { orderAuditTrail(orderId: $id) { event at actor detail } }', { id: ask.order.id })).orderAuditTrail;
    expect(trail.map((e) => e.event)).toEqual(['RECEIVED', 'COMPLIANCE_CHECKED', 'ACCEPTED', 'RESTED', 'FILL', 'CANCELLED']);
    const times = trail.map((e) => new Date(e.at).getTime());
    expect([...times].sort((x, y) => x - y)).toEqual(times);
    expect(JSON.parse(trail[4].detail)).toMatchObject({ price: '70', quantity: '2', role: 'MAKER' });
    await expect(h.node.sg.db.query('DELETE FROM order_audit')).rejects.toThrow(/append-only/);
    await expect(h.node.sg.db.query('UPDATE book_events SET type = $1', ['X'])).rejects.toThrow(/append-only/);
  });

  test('random order flow keeps custody reservations equal to open quantities plus unsettled fills', async () => {
    const m = await market(h, { accounts: 4, cash: 10_000_000n, tokens: 100_000n });
    let seed = 7;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed % n; };
    const open: { t: Trader; id: string }[] = [];
    for (let i = 0; i < 60; i++) {
      const t = m.traders[rnd(4)];
      const k = rnd(10);
      if (k < 2 && open.length) {
        const [o] = open.splice(rnd(open.length), 1);
        await o.t.cancel(o.id);
      } else {
        const side = rnd(2) ? 'BUY' : 'SELL';
        const tif = ['GTC', 'GTC', 'DAY', 'IOC'][rnd(4)];
        const r = await t.place(side, 1 + rnd(9), 95 + rnd(11), { timeInForce: tif, stp: ['CANCEL_NEWEST', 'DECREMENT', 'CANCEL_OLDEST'][rnd(3)] });
        if (r.order.status === 'OPEN' || r.order.status === 'PARTIALLY_FILLED') open.push({ t, id: r.order.id });
      }
    }
    await expectReservationsMatch(m.tokenId, m.traders);
    const snap = services(h.node).venue.writer(m.tokenId)!.snapshot();
    const b = await book(m.tokenId, m.broker);
    expect(b.bids.map((l) => [l.price, l.quantity, l.orders])).toEqual(snap.bids.map((l) => [String(l.price), String(l.quantity), l.orders]).slice(0, 10));
    expect(b.asks.map((l) => [l.price, l.quantity, l.orders])).toEqual(snap.asks.map((l) => [String(l.price), String(l.quantity), l.orders]).slice(0, 10));
  });
});

describe(`self-trade prevention from the venue's configuration (${dbLabel()})`, () => {
  let h: TradingHarness;
  beforeAll(async () => { h = await startTrading({ TRADING_STP_MODE: 'CANCEL_OLDEST' }); }, 60_000);
  afterAll(async () => h?.stop());

  test('an order that names no mode gets the venue\'s configured one, which venueRules publishes', async () => {
    const m = await market(h);
    const same = h.peers.account(m.org, h.peers.accounts.get(m.traders[0].accountId)!.investorId);
    h.peers.deposit(same.accountId, 'CASH', 1_000_000n);
    const resting = await m.traders[0].place('SELL', 5, 10);
    const incoming = await new Trader(h, m.broker, same.accountId, m.tokenId).place('BUY', 3, 10);
    expect(incoming.order).toMatchObject({ status: 'OPEN', remaining: '3', filled: '0' });
    expect((await gqlOk<{ order: Order }>(h.node.url, m.broker, 'query($id: ID!) { order(id: $id) { status cancelReason } }', { id: resting.order.id })).order).toEqual({ status: 'CANCELLED', cancelReason: 'SELF_TRADE' });
    expect((await gqlOk<{ venueRules: { defaultStpMode: string } }>(h.node.url, m.broker, '{ venueRules { defaultStpMode } }')).venueRules.defaultStpMode).toBe('CANCEL_OLDEST');
    await quiet(h.node);
    expect(h.peers.reserved(m.traders[0].accountId, m.tokenId)).toBe(0n);
  });
});
