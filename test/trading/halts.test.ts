import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { dbLabel } from '../support/db.js';
import { newId } from '../../subgraphs/kit/ids.js';
import { insertPendingOrders } from '../../subgraphs/trading/store/orders.js';
import { entryFactsMany, setSplit } from '../../subgraphs/trading/store/venue.js';
import { gql, gqlOk, market, quiet, startTrading, until, type MarketStatus, type Order, type OrderPayload, type Subscriber, type TradingHarness } from './support.js';

const STATUS = 'query($t: ID!) { marketStatus(tokenId: $t) { halted operatorHalt haltReason issuerPaused } }';

describe(`halts and subscribers (${dbLabel()})`, () => {
  let h: TradingHarness;
  beforeAll(async () => { h = await startTrading(); }, 60_000);
  afterAll(async () => h?.stop());

  const status = async (tokenId: string, token: string) => (await gqlOk<{ marketStatus: MarketStatus }>(h.node.url, token, STATUS, { t: tokenId })).marketStatus;

  test('an operator halt refuses new orders and replaces, keeps resting orders cancellable, and resume lifts it', async () => {
    const m = await market(h);
    const [s, b] = m.traders;
    const resting = await s.place('SELL', 5, 100);
    const halted = await gqlOk<{ haltTrading: MarketStatus }>(h.node.url, m.operator, 'mutation($t: ID!) { haltTrading(tokenId: $t, reason: "news pending") { halted operatorHalt haltReason } }', { t: m.tokenId });
    expect(halted.haltTrading).toEqual({ halted: true, operatorHalt: true, haltReason: 'news pending' });
    const refused = await b.place('BUY', 5, 100);
    expect(refused).toMatchObject({ accepted: false, rejections: [{ code: 'TRADING.MARKET_HALTED', message: expect.stringContaining('news pending') }] });
    const rep = await gqlOk<{ replaceOrder: OrderPayload }>(h.node.url, m.broker, 'mutation($id: ID!) { replaceOrder(orderId: $id, price: "101") { accepted rejections { code } } }', { id: resting.order.id });
    expect(rep.replaceOrder).toEqual({ accepted: false, rejections: [{ code: 'TRADING.MARKET_HALTED' }] });
    await gqlOk(h.node.url, m.operator, 'mutation($t: ID!) { resumeTrading(tokenId: $t, reason: "news out") { halted } }', { t: m.tokenId });
    expect((await b.place('BUY', 2, 100)).order.status).toBe('FILLED');
    await gqlOk(h.node.url, m.operator, 'mutation($t: ID!) { haltTrading(tokenId: $t, reason: "again") { halted } }', { t: m.tokenId });
    expect((await s.cancel(resting.order.id)).body.data!.cancelOrder.status).toBe('CANCELLED');
    await quiet(h.node);
    expect(h.peers.reserved(s.accountId, m.tokenId)).toBe(2n);
  });

  test('when the issuer pauses the token trading halts by itself, and resumes when the issuer unpauses', async () => {
    const m = await market(h);
    const [s, b] = m.traders;
    await s.place('SELL', 5, 100);
    h.peers.pause(m.tokenId, true);
    await until('the halt', async () => (await status(m.tokenId, m.broker)).issuerPaused);
    expect(await status(m.tokenId, m.broker)).toEqual({ halted: true, operatorHalt: false, haltReason: null, issuerPaused: true });
    h.peers.tokens.get(m.tokenId)!.paused = false; // so the refusal below comes from the venue's own halt
    expect((await b.place('BUY', 1, 100)).rejections).toEqual([expect.objectContaining({ code: 'TRADING.MARKET_HALTED', message: expect.stringContaining('issuer paused') })]);
    // An operator halt set meanwhile outlives the issuer's unpause.
    await gqlOk(h.node.url, m.operator, 'mutation($t: ID!) { haltTrading(tokenId: $t, reason: "review") { halted } }', { t: m.tokenId });
    h.peers.pause(m.tokenId, false);
    await until('the unpause', async () => !(await status(m.tokenId, m.broker)).issuerPaused);
    expect((await status(m.tokenId, m.broker)).halted).toBe(true);
    await gqlOk(h.node.url, m.operator, 'mutation($t: ID!) { resumeTrading(tokenId: $t, reason: "done") { halted } }', { t: m.tokenId });
    expect((await b.place('BUY', 1, 100)).order.status).toBe('FILLED');
    const events = await h.node.sg.db.query<{ topic: string; payload: { source: string } }>("SELECT topic, payload FROM outbox WHERE topic IN ('trading.halted','trading.resumed') AND key = $1 ORDER BY seq", [m.tokenId]);
    expect(events.map((e) => `${e.topic}:${e.payload.source}`)).toEqual(['trading.halted:ISSUER', 'trading.halted:OPERATOR', 'trading.resumed:ISSUER', 'trading.resumed:OPERATOR']);
  });

  test('a suspended subscriber can no longer trade and its resting orders are cancelled', async () => {
    const m = await market(h, { org: 'broker-susp' });
    const [s] = m.traders;
    const o1 = await s.place('SELL', 3, 100);
    const o2 = await s.place('SELL', 4, 101);
    const sub = await gqlOk<{ suspendSubscriber: Subscriber }>(h.node.url, m.operator, 'mutation { suspendSubscriber(org: "broker-susp", reason: "net capital deficiency") { org status reason } }');
    expect(sub.suspendSubscriber).toEqual({ org: 'broker-susp', status: 'SUSPENDED', reason: 'net capital deficiency' });
    for (const id of [o1.order.id, o2.order.id]) {
      expect((await gqlOk<{ order: Order }>(h.node.url, m.broker, 'query($id: ID!) { order(id: $id) { status cancelReason } }', { id })).order).toEqual({ status: 'CANCELLED', cancelReason: 'OPERATOR' });
    }
    // Placed together with an admitted firm's orders (their venue facts read in one statement), each keeps its own answer.
    const other = await market(h, { org: 'broker-ok', tokenId: m.tokenId });
    const [r, ...theirs] = await Promise.all([s.place('SELL', 1, 100), ...other.traders.map((t, i) => t.place('BUY', 1, 90 + i))]);
    expect(r.rejections).toEqual([expect.objectContaining({ code: 'TRADING.SUBSCRIBER_NOT_ADMITTED', message: expect.stringContaining('net capital deficiency') })]);
    expect(theirs.map((t) => [t.accepted, t.rejections])).toEqual(other.traders.map(() => [true, []]));
    await quiet(h.node);
    expect(h.peers.reserved(s.accountId, m.tokenId)).toBe(0n);
    const list = await gqlOk<{ subscribers: Subscriber[] }>(h.node.url, m.operator, '{ subscribers { org status } }');
    expect(list.subscribers).toContainEqual({ org: 'broker-susp', status: 'SUSPENDED' });
  });

  test('a new order gets the venue facts its checks read from its intake statement, the same as a read of their own', async () => {
    const halted = await market(h, { org: 'broker-facts' });
    await gqlOk(h.node.url, halted.operator, 'mutation($t: ID!) { haltTrading(tokenId: $t, reason: "facts test") { halted } }', { t: halted.tokenId });
    const split = await market(h, { org: 'broker-facts' });
    await setSplit(h.node.sg.db, split.tokenId, 'spl_facts', true);
    await market(h, { org: 'broker-gone' });
    await gqlOk(h.node.url, halted.operator, 'mutation { suspendSubscriber(org: "broker-gone", reason: "facts test") { status } }');
    const keys = [
      { tokenId: halted.tokenId, org: 'broker-facts' }, { tokenId: split.tokenId, org: 'broker-gone' },
      { tokenId: h.peers.token(), org: 'broker-never-admitted' }, // no book row, no subscriber row
    ];
    const items = keys.map((k, i) => ({ actor: 'facts-test', row: {
      id: newId('ord'), org: k.org, token_id: k.tokenId, account_id: 'acc_facts', investor_id: null, side: 'BUY' as const, type: 'LIMIT' as const,
      time_in_force: 'GTC', price: '100', protection_price: null, quantity: '1', post_only: false, stp: 'CANCEL_NEWEST', client_order_id: `facts-${i}`, request_hash: `h${i}`,
    } }));
    const claimed = await insertPendingOrders(h.node.sg.db, items);
    const read = await entryFactsMany(h.node.sg.db, keys);
    expect(claimed.map((c) => (c instanceof Error || !c.created ? c : c.facts))).toEqual(read);
    expect(read.map((f) => [f.halted, f.split_id, f.sub_status])).toEqual([[true, null, 'ADMITTED'], [false, 'spl_facts', 'SUSPENDED'], [null, null, null]]);
    // A replay is answered with the earlier order and no facts: its checks were the first request's.
    expect((await insertPendingOrders(h.node.sg.db, items)).map((c) => (c instanceof Error ? c : { created: c.created, facts: 'facts' in c }))).toEqual(keys.map(() => ({ created: false, facts: false })));
    await h.node.sg.db.query("UPDATE orders SET status = 'REJECTED', remaining = 0 WHERE client_order_id LIKE 'facts-%'");
    await h.node.sg.db.query("DELETE FROM reservation_intents WHERE order_id IN (SELECT id FROM orders WHERE client_order_id LIKE 'facts-%')");
  });

  test('a halt needs a reason and a real token id', async () => {
    const m = await market(h);
    const r = await gql(h.node.url, m.operator, 'mutation($t: ID!) { haltTrading(tokenId: $t, reason: " ") { halted } }', { t: m.tokenId });
    expect(r.body.errors?.[0].extensions?.code).toBe('INPUT.INVALID_REASON');
    const r2 = await gql(h.node.url, m.operator, 'mutation { haltTrading(tokenId: "AAPL", reason: "x") { halted } }');
    expect(r2.body.errors?.[0].extensions?.code).toBe('INPUT.INVALID_TOKEN_ID');
  });
});
