import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { dbLabel } from '../support/db.js';
import { Trader, gqlOk, market, startTrading, until, type TradingHarness } from './support.js';

const ALERTS = 'query($t: ID, $k: AlertKind) { surveillanceAlerts(tokenId: $t, kind: $k) { kind orgs accountId investorId orderIds tradeIds detail token { id } } }';

/** What these tests read of an alert. */
interface Alert { kind: string; orgs: string[]; accountId: string | null; investorId: string | null; orderIds: string[]; tradeIds: string[]; detail: string; token: { id: string } }

describe(`surveillance (${dbLabel()})`, () => {
  let h: TradingHarness;
  beforeAll(async () => { h = await startTrading({ TRADING_LAYERING_ORDERS: '3', TRADING_LAYERING_WINDOW_MS: '60000' }); }, 60_000);
  afterAll(async () => h?.stop());

  test('a trade with one beneficial owner on both sides is flagged as a wash trade', async () => {
    const m = await market(h, { org: 'broker-w' });
    const investorId = h.peers.accounts.get(m.traders[0].accountId)!.investorId;
    // The same investor through another broker-dealer, opting out of self-trade prevention.
    const other = await market(h, { org: 'broker-w2', accounts: 0, tokenId: m.tokenId });
    const acc = h.peers.account('broker-w2', investorId);
    h.peers.deposit(acc.accountId, 'CASH', 1_000_000n);
    const buyer = new Trader(h, other.broker, acc.accountId, m.tokenId);
    const ask = await m.traders[0].place('SELL', 3, 100);
    const bid = await buyer.place('BUY', 3, 100, { stp: 'NONE' });
    expect(bid.order.status).toBe('FILLED');
    const alerts = await until('the wash-trade alert', async () => (await gqlOk<{ surveillanceAlerts: Alert[] }>(h.node.url, m.operator, ALERTS, { t: m.tokenId, k: 'WASH_TRADE' })).surveillanceAlerts[0]);
    expect(alerts).toMatchObject({ kind: 'WASH_TRADE', investorId, orderIds: [bid.order.id, ask.order.id], token: { id: m.tokenId } });
    expect(alerts.orgs.sort()).toEqual(['broker-w', 'broker-w2']);
    // A compliance officer of an involved organisation sees it; one of an uninvolved organisation does not.
    const co = await h.token('broker-w2', ['COMPLIANCE_OFFICER']);
    expect((await gqlOk<{ surveillanceAlerts: Alert[] }>(h.node.url, co, ALERTS, { t: m.tokenId })).surveillanceAlerts).toHaveLength(1);
    const outsider = await h.token('broker-q', ['COMPLIANCE_OFFICER']);
    expect((await gqlOk<{ surveillanceAlerts: Alert[] }>(h.node.url, outsider, ALERTS, { t: m.tokenId })).surveillanceAlerts).toEqual([]);
  });

  test('orders layered on one side and cancelled around a fill on the other side raise a layering alert', async () => {
    const m = await market(h, { org: 'broker-l', accounts: 2 });
    const [layerer, victim] = m.traders;
    const layers = [];
    for (const p of [97, 98, 99]) layers.push(await layerer.place('BUY', 10, p));
    await victim.place('BUY', 2, 100);
    await layerer.place('SELL', 2, 100); // sells into the raised bid
    for (const l of layers) await layerer.cancel(l.order.id);
    const alert = await until('the layering alert', async () => (await gqlOk<{ surveillanceAlerts: Alert[] }>(h.node.url, m.operator, ALERTS, { t: m.tokenId, k: 'LAYERING' })).surveillanceAlerts[0]);
    expect(alert).toMatchObject({ kind: 'LAYERING', orgs: ['broker-l'], accountId: layerer.accountId });
    expect(alert.orderIds.sort()).toEqual(layers.map((l) => l.order.id).sort());
    expect(JSON.parse(alert.detail)).toMatchObject({ side: 'BUY', distinctPrices: 3 });
    // Ordinary cancels without a fill on the other side raise nothing.
    const quiet = await market(h, { org: 'broker-n', accounts: 1, tokenId: m.tokenId });
    for (const p of [90, 91, 92]) await quiet.traders[0].cancel((await quiet.traders[0].place('BUY', 10, p)).order.id);
    // The monitor has read every order and trade event so far: anything they raise is there now.
    await until('surveillance to read every event', async () => (await h.node.sg.db.query<{ behind: boolean }>(
      `SELECT coalesce((SELECT position FROM feed_cursors WHERE source = 'trading:surveillance'), 0)
        < coalesce((SELECT max(seq) FROM outbox WHERE topic IN ('trade.executed', 'order.updated')), 0) AS behind`))[0].behind === false);
    expect((await gqlOk<{ surveillanceAlerts: Alert[] }>(h.node.url, m.operator, ALERTS, { t: m.tokenId, k: 'LAYERING' })).surveillanceAlerts).toHaveLength(1);
  });
});
