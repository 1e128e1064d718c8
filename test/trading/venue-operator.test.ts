import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { dbLabel } from '../support/db.js';
import { gql, gqlOk, market, quiet, startTrading, wsClient, type AuditEntry, type MarketStatus, type Order, type Subscriber, type Trade, type TradeExecution, type TradingHarness } from './support.js';

/**
 * Venue powers belong to the venue's operator organisations
 * (TRADING_OPERATOR_ORGS; here "venue"). The ATS_OPERATOR role in any other
 * organisation gives none: it reads, hears and changes nothing of another
 * organisation's trading.
 */
describe(`venue operator organisations (${dbLabel()})`, () => {
  let h: TradingHarness;
  let m: Awaited<ReturnType<typeof market>>;
  let rogue: string;
  let restingId: string;
  beforeAll(async () => {
    h = await startTrading();
    m = await market(h);
    const [s, b] = m.traders;
    restingId = (await s.place('SELL', 10, 100)).order.id;
    expect((await b.place('BUY', 4, 100)).order.status).toBe('FILLED');
    await quiet(h.node);
    rogue = await h.token('rogue-co', ['ATS_OPERATOR']);
  }, 120_000);
  afterAll(async () => h?.stop());

  const READS = `query($id: ID!, $t: ID!) { order(id: $id) { id } orders { id } orderAuditTrail(orderId: $id) { event }
    trades(tokenId: $t) { id buyAccountId sellAccountId buyerFee sellerFee } }`;
  /** READS' answer. */
  interface Reads { order: Order | null; orders: Order[]; orderAuditTrail: AuditEntry[]; trades: Trade[] }

  test("the venue operator reads every organisation's orders, audit trail and trade accounts", async () => {
    const d = await gqlOk<Reads>(h.node.url, m.operator, READS, { id: restingId, t: m.tokenId });
    expect(d.order).toEqual({ id: restingId });
    expect(d.orders.length).toBe(2);
    expect(d.orderAuditTrail.length).toBeGreaterThan(0);
    expect(d.trades[0]).toMatchObject({ buyAccountId: m.traders[1].accountId, sellAccountId: m.traders[0].accountId });
  });

  test("an ATS_OPERATOR of another organisation reads none of it: no order, no trail, no trade's accounts or fees", async () => {
    const d = await gqlOk<Reads>(h.node.url, rogue, READS, { id: restingId, t: m.tokenId });
    expect(d).toEqual({
      order: null, orders: [], orderAuditTrail: [],
      trades: [{ id: expect.any(String), buyAccountId: null, sellAccountId: null, buyerFee: null, sellerFee: null }],
    });
    const lists = await gql(h.node.url, rogue, '{ subscribers { org } }');
    expect(lists.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(lists.body.errors?.[0]?.message).toContain('TRADING_OPERATOR_ORGS');
    const alerts = await gql(h.node.url, rogue, '{ surveillanceAlerts { id } }');
    expect(alerts.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
  });

  test('an ATS_OPERATOR of another organisation hears none of their order or trade events (replayed from the start)', async () => {
    const c = wsClient(h.node, rogue);
    try {
      const refused = await new Promise<unknown>((resolve) => {
        c.subscribe({ query: 'subscription($a: ID!) { orderUpdated(accountId: $a, after: "0") { status } }', variables: { a: m.traders[0].accountId } },
          { next: (v) => resolve(v), error: (e) => resolve(e), complete: () => resolve('complete') });
      });
      expect(JSON.stringify(refused)).toContain('NOT_FOUND');
      const byAccount = await new Promise<unknown>((resolve) => {
        c.subscribe({ query: 'subscription($a: ID!) { tradeExecuted(accountId: $a, after: "0") { trade { id } } }', variables: { a: m.traders[1].accountId } },
          { next: (v) => resolve(v), error: (e) => resolve(e), complete: () => resolve('complete') });
      });
      expect(JSON.stringify(byAccount)).toContain('NOT_FOUND');
      // The public tape by token: the fill, without either side's account.
      const tape = await new Promise<{ data?: { tradeExecuted: TradeExecution } | null }>((resolve, reject) => {
        const stop = c.subscribe<{ tradeExecuted: TradeExecution }>({ query: 'subscription($t: ID!) { tradeExecuted(tokenId: $t, after: "0") { trade { quantity buyAccountId sellAccountId } } }', variables: { t: m.tokenId } },
          { next: (v) => { stop(); resolve(v); }, error: reject, complete: () => undefined });
      });
      expect(tape.data!.tradeExecuted.trade).toEqual({ quantity: '4', buyAccountId: null, sellAccountId: null });
    } finally {
      await c.dispose();
    }
  });

  test('an ATS_OPERATOR of another organisation cannot cancel their orders, halt, resume, admit or suspend; the venue operator can', async () => {
    const calls: [string, Record<string, unknown>][] = [
      ['mutation($id: ID!) { cancelOrder(orderId: $id) { status } }', { id: restingId }],
      ['mutation($t: ID!) { haltTrading(tokenId: $t, reason: "rogue") { halted } }', { t: m.tokenId }],
      ['mutation($t: ID!) { resumeTrading(tokenId: $t, reason: "rogue") { halted } }', { t: m.tokenId }],
      ['mutation { admitSubscriber(org: "rogue-co", reason: "self-admission") { status } }', {}],
      ['mutation($o: String!) { suspendSubscriber(org: $o, reason: "rogue") { status } }', { o: m.org }],
    ];
    for (const [q, v] of calls) {
      const r = await gql(h.node.url, rogue, q, v);
      expect([q, r.body.errors?.[0]?.extensions?.code]).toEqual([q, expect.stringMatching(/^(FORBIDDEN|NOT_FOUND)$/)]);
    }
    // Nothing changed: the order rests, the market trades, the subscriber is admitted, the rogue organisation is not.
    const d = await gqlOk<{ order: Order; marketStatus: MarketStatus; subscribers: Subscriber[] }>(h.node.url, m.operator, 'query($id: ID!, $t: ID!) { order(id: $id) { status } marketStatus(tokenId: $t) { halted } subscribers { org status } }', { id: restingId, t: m.tokenId });
    expect(d.order.status).toBe('PARTIALLY_FILLED');
    expect(d.marketStatus.halted).toBe(false);
    expect(d.subscribers).toEqual([{ org: m.org, status: 'ADMITTED' }]);
    // The venue's own operator still has every power.
    expect((await gqlOk<{ cancelOrder: Order }>(h.node.url, m.operator, calls[0][0], calls[0][1])).cancelOrder.status).toBe('CANCELLED');
  });
});
