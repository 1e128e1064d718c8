import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { dbLabel } from '../support/db.js';
import { collect, gql, gqlOk, market, startTrading, until, wsClient, type OrderBook, type PriceLevel, type TradeExecution, type TradingHarness } from './support.js';

const TRADES = `subscription($t: ID, $a: ID, $after: String) { tradeExecuted(tokenId: $t, accountId: $a, after: $after) {
  cursor trade { id price quantity buyAccountId sellAccountId aggressorSide } } }`;
const BOOK = `subscription($t: ID!, $after: String) { orderBookChanged(tokenId: $t, after: $after) { cursor tokenId bookSeq changes { side price quantity orders } } }`;
const ORDERS = `subscription($a: ID!, $after: String) { orderUpdated(accountId: $a, after: $after) { cursor status filled remaining events order { id status } } }`;

/** The events of these subscriptions as the tests read them. */
interface TradeEvent { tradeExecuted: TradeExecution }
interface BookEvent { orderBookChanged: { changes: (PriceLevel & { side: string })[] } }
interface OrderEvent { orderUpdated: { status: string; filled: string; remaining: string; events: string[]; order: { id: string; status: string } } }

describe(`subscriptions resumable from a cursor (${dbLabel()})`, () => {
  let h: TradingHarness;
  beforeAll(async () => { h = await startTrading(); }, 60_000);
  afterAll(async () => h?.stop());

  test('tradeExecuted resumed after the last cursor a client saw delivers every later fill once, in order', async () => {
    const m = await market(h, { accounts: 3 });
    const [s, b, c] = m.traders;
    const client = wsClient(h.node, m.broker);
    try {
      const following = h.node.sg.runtime.outbox.following;
      const live = collect<TradeEvent>(client, TRADES, { t: m.tokenId }, 2);
      await until('the subscription to be live (it starts at the current end)', async () => h.node.sg.runtime.outbox.following > following);
      await s.place('SELL', 10, 100);
      await b.place('BUY', 2, 100);
      await c.place('BUY', 3, 100);
      const first = await live;
      expect(first.map((e) => e.tradeExecuted.trade.quantity)).toEqual(['2', '3']);
      // The client drops; fills happen meanwhile; it resumes after the first event's cursor.
      await b.place('BUY', 1, 100);
      await c.place('BUY', 4, 100);
      const resumed = await collect<TradeEvent>(client, TRADES, { t: m.tokenId, after: first[0].tradeExecuted.cursor }, 3);
      expect(resumed.map((e) => e.tradeExecuted.trade.quantity)).toEqual(['3', '1', '4']);
      expect(resumed[0].tradeExecuted.trade.id).toBe(first[1].tradeExecuted.trade.id);
      const cursors = resumed.map((e) => BigInt(e.tradeExecuted.cursor));
      expect([...cursors].sort((x, y) => (x < y ? -1 : 1))).toEqual(cursors);
      // By account: only that account's fills.
      const mine = await collect<TradeEvent>(client, TRADES, { a: c.accountId, after: '0' }, 2);
      expect(mine.map((e) => [e.tradeExecuted.trade.quantity, e.tradeExecuted.trade.buyAccountId])).toEqual([['3', c.accountId], ['4', c.accountId]]);
    } finally {
      await client.dispose();
    }
  });

  test('orderBookChanged applies on top of an orderBook snapshot taken at its cursor', async () => {
    const m = await market(h);
    const [s, b] = m.traders;
    await s.place('SELL', 5, 110);
    const snap = (await gqlOk<{ _entities: { orderBook: OrderBook }[] }>(h.node.url, m.broker, `query($t: ID!) { _entities(representations: [{ __typename: "SecurityToken", id: $t }]) { ... on SecurityToken { orderBook { asks { price quantity } cursor } } } }`, { t: m.tokenId }))._entities[0].orderBook;
    expect(snap.asks).toEqual([{ price: '110', quantity: '5' }]);
    await s.place('SELL', 2, 111);
    await b.place('BUY', 5, 110);
    const client = wsClient(h.node, m.broker);
    try {
      const changes = await collect<BookEvent>(client, BOOK, { t: m.tokenId, after: snap.cursor }, 2);
      expect(changes.map((c) => c.orderBookChanged.changes)).toEqual([
        [{ side: 'SELL', price: '111', quantity: '2', orders: 1 }],
        [{ side: 'SELL', price: '110', quantity: '0', orders: 0 }],
      ]);
    } finally {
      await client.dispose();
    }
  });

  test('orderUpdated follows one account of the caller\'s organisation; another organisation cannot subscribe to it', async () => {
    const m = await market(h);
    const [s, b] = m.traders;
    const client = wsClient(h.node, m.broker);
    try {
      const ask = await s.place('SELL', 5, 120);
      await b.place('BUY', 2, 120);
      await s.cancel(ask.order.id);
      const ups = await collect<OrderEvent>(client, ORDERS, { a: s.accountId, after: '0' }, 3);
      expect(ups.map((u) => [u.orderUpdated.status, u.orderUpdated.filled, u.orderUpdated.remaining])).toEqual([['OPEN', '0', '5'], ['PARTIALLY_FILLED', '2', '3'], ['CANCELLED', '2', '0']]);
      expect(ups[0].orderUpdated.events).toEqual(['ACCEPTED', 'RESTED']);
      expect(ups[2].orderUpdated.order).toEqual({ id: ask.order.id, status: 'CANCELLED' });
    } finally {
      await client.dispose();
    }
    const stranger = wsClient(h.node, await h.token('broker-x', ['BROKER_DEALER']));
    try {
      await expect(collect(stranger, ORDERS, { a: s.accountId, after: '0' }, 1, 3000)).rejects.toThrow(/NOT_FOUND|not found/);
      await expect(collect(stranger, TRADES, { a: s.accountId }, 1, 3000)).rejects.toThrow(/not found/);
    } finally {
      await stranger.dispose();
    }
  });

  test('a subscription needs a token or an account, and a cursor must be one', async () => {
    const m = await market(h);
    const client = wsClient(h.node, m.broker);
    try {
      await expect(collect(client, TRADES, {}, 1, 3000)).rejects.toThrow(/TOKEN_OR_ACCOUNT_REQUIRED|give a tokenId/);
      await expect(collect(client, TRADES, { t: m.tokenId, after: 'yesterday' }, 1, 3000)).rejects.toThrow(/cursor/);
    } finally {
      await client.dispose();
    }
    // Queries still answer plainly over HTTP.
    expect((await gql(h.node.url, m.broker, 'query($t: ID!) { trades(tokenId: $t, after: "x") { id } }', { t: m.tokenId })).body.errors?.[0].extensions?.code).toBe('INPUT.INVALID_CURSOR');
  });
});
