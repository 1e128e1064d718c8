import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { newId } from '../../subgraphs/kit/ids.js';
import { dbLabel } from '../support/db.js';
import { PLACE, gql, gqlOk, market, quiet, services, startTrading, type AuditEntry, type OrderPayload, type TradingHarness } from './support.js';

describe(`pre-trade checks and bad input (${dbLabel()})`, () => {
  let h: TradingHarness;
  beforeAll(async () => { h = await startTrading({ TRADING_TICK_SIZE: '5', TRADING_LOT_SIZE: '10', TRADING_PRICE_BAND_BPS: '500' }); }, 60_000);
  afterAll(async () => h?.stop());

  const counts = async () => {
    const [r] = await h.node.sg.db.query<{ open: string; trades: string }>(
      "SELECT (SELECT count(*) FROM orders WHERE status IN ('OPEN','PARTIALLY_FILLED')) AS open, (SELECT count(*) FROM trades) AS trades");
    return r;
  };
  const place = (token: string, input: Record<string, unknown>) => gql<{ placeOrder: OrderPayload }>(h.node.url, token, PLACE, { in: { clientOrderId: newId('evt'), ...input } });

  test('a refused order comes back with every reason at once, is recorded REJECTED, and changes no book or reservation', async () => {
    const m = await market(h);
    const [s, b] = m.traders;
    await s.place('SELL', 10, 100);
    await b.place('BUY', 10, 100); // last price 100, band 95..105
    const stranger = await h.token('not-admitted', ['BROKER_DEALER']);
    const { accountId } = h.peers.account('not-admitted');
    h.peers.deposit(accountId, 'CASH', 10n);
    h.peers.receiverFails.set(h.peers.accounts.get(accountId)!.investorId, [
      { code: 'KYC_VALID_RECEIVER', passed: false, message: 'KYC expired', regulation: '31 CFR 1010.230' },
      { code: 'REG_S_DISTRIBUTION_COMPLIANCE_PERIOD', passed: false, message: 'no US persons yet', regulation: '17 CFR 230.903', blockingUntil: '2027-01-01T00:00:00.000Z' },
    ]);
    const before = await counts();
    const r = await place(stranger, { tokenId: m.tokenId, accountId, side: 'BUY', price: '113', quantity: '15' });
    const p = r.body.data!.placeOrder;
    expect(p.accepted).toBe(false);
    expect(p.order.status).toBe('REJECTED');
    expect(p.rejections.map((x) => x.code).sort()).toEqual([
      'COMPLIANCE.KYC_VALID_RECEIVER', 'COMPLIANCE.REG_S_DISTRIBUTION_COMPLIANCE_PERIOD', 'CUSTODY.INSUFFICIENT_AVAILABLE',
      'TRADING.PRICE_OFF_TICK', 'TRADING.PRICE_OUTSIDE_BAND', 'TRADING.QUANTITY_OFF_LOT', 'TRADING.SUBSCRIBER_NOT_ADMITTED',
    ]);
    expect(p.rejections.find((x) => x.code === 'COMPLIANCE.REG_S_DISTRIBUTION_COMPLIANCE_PERIOD')).toMatchObject({ regulation: '17 CFR 230.903', blockingUntil: '2027-01-01T00:00:00.000Z' });
    expect(await counts()).toEqual(before);
    await quiet(h.node);
    expect(h.peers.reserved(accountId, 'CASH')).toBe(0n);
    expect(h.peers.calls.some((c) => c.method === 'reserve' && c.body.accountId === accountId)).toBe(false);
  });

  test('an unknown token, an unknown account and another organisation\'s account are refused with reasons', async () => {
    const m = await market(h);
    const [t] = m.traders;
    const unknownToken = await place(m.broker, { tokenId: newId('tok'), accountId: t.accountId, side: 'SELL', price: '100', quantity: '10' });
    expect(unknownToken.body.data!.placeOrder.rejections.map((x) => x.code)).toContain('TRADING.UNKNOWN_TOKEN');
    const unknownAccount = await place(m.broker, { tokenId: m.tokenId, accountId: newId('acc'), side: 'SELL', price: '100', quantity: '10' });
    expect(unknownAccount.body.data!.placeOrder.rejections.map((x) => x.code)).toEqual(['TRADING.UNKNOWN_ACCOUNT']);
    const other = await market(h, { org: 'broker-b', tokenId: m.tokenId });
    const theirs = await place(m.broker, { tokenId: m.tokenId, accountId: other.traders[0].accountId, side: 'SELL', price: '100', quantity: '10' });
    expect(theirs.body.data!.placeOrder).toMatchObject({ accepted: false, rejections: [{ code: 'TRADING.ACCOUNT_NOT_YOURS' }] });
    // An investor trades its own account only.
    const mine = h.peers.accounts.get(t.accountId)!;
    const investor = await h.token(m.org, ['INVESTOR'], mine.investorId);
    const own = await place(investor, { tokenId: m.tokenId, accountId: t.accountId, side: 'SELL', price: '100', quantity: '10' });
    expect(own.body.data!.placeOrder.accepted).toBe(true);
    const sibling = await place(investor, { tokenId: m.tokenId, accountId: m.traders[1].accountId, side: 'SELL', price: '100', quantity: '10' });
    expect(sibling.body.data!.placeOrder.rejections.map((x) => x.code)).toEqual(['TRADING.ACCOUNT_NOT_YOURS']);
    await quiet(h.node);
    expect(h.peers.reserved(other.traders[0].accountId, m.tokenId)).toBe(0n);
  });

  const malformed: [string, string, Record<string, unknown>][] = [
    ['a zero quantity', 'INPUT.INVALID_QUANTITY', { quantity: '0', price: '100' }],
    ['a negative quantity', 'INPUT.INVALID_QUANTITY', { quantity: '-10', price: '100' }],
    ['a negative price', 'INPUT.INVALID_PRICE', { quantity: '10', price: '-5' }],
    ['a limit order without a price', 'INPUT.PRICE_REQUIRED', { quantity: '10' }],
    ['a market order with a price', 'INPUT.PRICE_NOT_ALLOWED', { quantity: '10', price: '100', type: 'MARKET' }],
    ['a market order resting GTC', 'INPUT.INVALID_TIME_IN_FORCE', { quantity: '10', type: 'MARKET', timeInForce: 'GTC' }],
    ['a post-only IOC', 'INPUT.POST_ONLY_NOT_ALLOWED', { quantity: '10', price: '100', timeInForce: 'IOC', postOnly: true }],
    ['a malformed token id', 'INPUT.INVALID_TOKEN_ID', { quantity: '10', price: '100', tokenId: 'tok_nope' }],
    ['a price beyond the engine\'s range', 'INPUT.INVALID_PRICE', { quantity: '10', price: '9007199254740992' }],
  ];
  test.each(malformed)('%s is a typed error (%s) and records nothing', async (_label, code, input) => {
    const m = await market(h);
    const before = await h.node.sg.db.query<{ n: string }>('SELECT count(*) AS n FROM orders');
    const r = await place(m.broker, { tokenId: m.tokenId, accountId: m.traders[0].accountId, side: 'SELL', ...input });
    expect(r.status).not.toBe(500);
    expect(r.body.errors?.[0].extensions?.code).toBe(code);
    expect(await h.node.sg.db.query<{ n: string }>('SELECT count(*) AS n FROM orders')).toEqual(before);
  });

  test('a clientOrderId returns the same order on retry and refuses different content', async () => {
    const m = await market(h);
    const input = { tokenId: m.tokenId, accountId: m.traders[0].accountId, side: 'SELL', price: '100', quantity: '10', clientOrderId: 'dup-1' };
    const first = (await gqlOk<{ placeOrder: OrderPayload }>(h.node.url, m.broker, PLACE, { in: input })).placeOrder;
    const again = (await gqlOk<{ placeOrder: OrderPayload }>(h.node.url, m.broker, PLACE, { in: input })).placeOrder;
    expect(again.order.id).toBe(first.order.id);
    const clash = await gql(h.node.url, m.broker, PLACE, { in: { ...input, quantity: '20' } });
    expect(clash.body.errors?.[0].extensions?.code).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    // The same key in another organisation is another order.
    const other = await market(h, { org: 'broker-c', tokenId: m.tokenId });
    const theirs = (await gqlOk<{ placeOrder: OrderPayload }>(h.node.url, other.broker, PLACE, { in: { ...input, accountId: other.traders[0].accountId } })).placeOrder;
    expect(theirs.order.id).not.toBe(first.order.id);
    await quiet(h.node);
    expect(h.peers.reserved(m.traders[0].accountId, m.tokenId)).toBe(10n);
    // A refused order answers the same on retry too.
    const refused = { ...input, clientOrderId: 'dup-2', price: '101' };
    const r1 = (await gqlOk<{ placeOrder: OrderPayload }>(h.node.url, m.broker, PLACE, { in: refused })).placeOrder;
    const r2 = (await gqlOk<{ placeOrder: OrderPayload }>(h.node.url, m.broker, PLACE, { in: refused })).placeOrder;
    expect([r1.accepted, r2.accepted, r2.order.id, r2.rejections]).toEqual([false, false, r1.order.id, r1.rejections]);
    // Arriving together (one intake statement): one content of a clientOrderId wins, every copy of it is that one order,
    // reserved once, and the other content is refused whichever came first.
    const burst = { ...input, clientOrderId: 'dup-3', quantity: '20' };
    const answers = await Promise.all([...Array.from({ length: 5 }, () => gql<{ placeOrder: OrderPayload }>(h.node.url, m.broker, PLACE, { in: burst })),
      gql<{ placeOrder: OrderPayload }>(h.node.url, m.broker, PLACE, { in: { ...burst, quantity: '30' } }), gql<{ placeOrder: OrderPayload }>(h.node.url, m.broker, PLACE, { in: { ...burst, clientOrderId: 'dup-4' } })]);
    const same = answers.slice(0, 6);
    const won = same.filter((a) => a.body.data?.placeOrder);
    const refusedCodes = same.filter((a) => !a.body.data?.placeOrder).map((a) => a.body.errors?.[0].extensions?.code);
    expect(new Set(won.map((a) => a.body.data!.placeOrder.order.id)).size).toBe(1);
    expect([won.length + refusedCodes.length, new Set(refusedCodes)]).toEqual([6, new Set(['INPUT.IDEMPOTENCY_KEY_REUSED'])]);
    expect([1, 5]).toContain(won.length);
    expect(answers[6].body.data?.placeOrder.order.id).not.toBe(won[0].body.data!.placeOrder.order.id);
    await quiet(h.node);
    expect(h.peers.reserved(m.traders[0].accountId, m.tokenId)).toBe(10n + (won.length === 5 ? 20n : 30n) + 20n);
  });

  test('outside trading hours the venue is closed', async () => {
    const m = await market(h);
    const s = services(h.node);
    const real = s.rules.hours;
    s.rules.hours = { ...real, days: [1, 2, 3, 4, 5], open: 9 * 60 + 30, close: 16 * 60, timeZone: 'America/New_York', text: 'Mon-Fri 09:30-16:00 America/New_York' };
    s.now = () => new Date('2026-06-06T15:00:00Z'); // a Saturday
    try {
      const r = await m.traders[0].place('SELL', 10, 100);
      expect(r.rejections.map((x) => x.code)).toEqual(['TRADING.MARKET_CLOSED']);
      const rules = await gqlOk<{ venueRules: unknown }>(h.node.url, m.broker, '{ venueRules { open tradingHours { text open close days timeZone } defaults { tickSize lotSize priceBandBps } } }');
      expect(rules.venueRules).toEqual({ open: false, tradingHours: { text: 'Mon-Fri 09:30-16:00 America/New_York', open: '09:30', close: '16:00', days: [1, 2, 3, 4, 5], timeZone: 'America/New_York' },
        defaults: { tickSize: '5', lotSize: '10', priceBandBps: 500 } });
    } finally {
      s.rules.hours = real;
      s.now = () => new Date();
    }
  });

  test('when custody cannot be reached the order is refused, and a reservation it might have made is released later', async () => {
    const m = await market(h);
    h.peers.down.add('reserve');
    try {
      const r = await m.traders[0].place('SELL', 10, 100);
      expect(r).toMatchObject({ accepted: false, rejections: [{ code: 'DOWNSTREAM.FAILED' }] });
      const [op] = await h.node.sg.db.query<{ reservation_key: string; amount: string | null; status: string }>('SELECT * FROM reservation_ops WHERE order_id = $1', [r.order.id]);
      expect(op).toMatchObject({ reservation_key: r.order.id, amount: null });
    } finally {
      h.peers.down.delete('reserve');
    }
    await quiet(h.node);
    expect(h.peers.reserved(m.traders[0].accountId, m.tokenId)).toBe(0n);
  });

  const trailOf = async (token: string, orderId: string) =>
    (await gqlOk<{ orderAuditTrail: AuditEntry[] }>(h.node.url, token, 'query($id: ID!) { orderAuditTrail(orderId: $id) { event detail } }', { id: orderId })).orderAuditTrail;
  const eligibilityAsked = (investorId: string) => h.peers.calls.filter((c) => c.method === 'transferEligibility' && (c.body.fromInvestorId === investorId || c.body.toInvestorId === investorId)).map((c) => c.body);

  test('a sell asks issuance about the seller alone, and lots in their holding period, a lock-up and frozen tokens refuse it with every reason and their end dates', async () => {
    const m = await market(h);
    const [t] = m.traders;
    const seller = h.peers.accounts.get(t.accountId)!.investorId;
    h.peers.senderFails.set(seller, [
      { code: 'RULE_144_HOLDING_PERIOD', passed: false, message: 'only 0 of 10 tokens have completed the holding period', regulation: '17 CFR 230.144(d)', blockingUntil: '2027-03-01T00:00:00.000Z' },
      { code: 'ISSUER_LOCKUP', passed: false, message: 'lock-up until 2026-12-31', regulation: 'issuer policy', blockingUntil: '2026-12-31T00:00:00.000Z' },
      { code: 'FREE_BALANCE_SENDER', passed: false, message: 'the issuer froze 995 of 1,000', regulation: 'ERC-3643 issuer control' },
    ]);
    const before = await counts();
    const r = await t.place('SELL', 10, 100);
    expect(r).toMatchObject({ accepted: false, order: { status: 'REJECTED' } });
    expect(r.rejections).toEqual([
      { code: 'COMPLIANCE.RULE_144_HOLDING_PERIOD', message: 'only 0 of 10 tokens have completed the holding period', regulation: '17 CFR 230.144(d)', blockingUntil: '2027-03-01T00:00:00.000Z' },
      { code: 'COMPLIANCE.ISSUER_LOCKUP', message: 'lock-up until 2026-12-31', regulation: 'issuer policy', blockingUntil: '2026-12-31T00:00:00.000Z' },
      { code: 'COMPLIANCE.FREE_BALANCE_SENDER', message: 'the issuer froze 995 of 1,000', regulation: 'ERC-3643 issuer control', blockingUntil: null },
    ]);
    expect(eligibilityAsked(seller)).toEqual([{ tokenId: m.tokenId, fromInvestorId: seller, toInvestorId: null, amount: '10', kind: 'SECONDARY_TRADE', at: expect.any(String) }]);
    expect(await counts()).toEqual(before);
    await quiet(h.node);
    expect(h.peers.calls.some((c) => c.method === 'reserve' && c.body.accountId === t.accountId)).toBe(false);
    // The audit trail keeps what issuance decided and what it left to settlement (the buyer's rules).
    const checked = JSON.parse((await trailOf(m.broker, r.order.id)).find((e) => e.event === 'COMPLIANCE_CHECKED')!.detail);
    expect(checked).toEqual({ rules: ['KYC_VALID_SENDER', 'RULE_144_HOLDING_PERIOD', 'ISSUER_LOCKUP', 'FREE_BALANCE_SENDER'], notEvaluated: ['KYC_VALID_RECEIVER', 'RECEIVER_NOT_LIQUIDATE_ONLY'] });
    // Once the lots are free the same seller sells, and its tokens are reserved.
    h.peers.senderFails.delete(seller);
    expect((await t.place('SELL', 10, 100)).order.status).toBe('OPEN');
    await quiet(h.node);
    expect(h.peers.reserved(t.accountId, m.tokenId)).toBe(10n);
  });

  test('a buy asks issuance about the buyer alone, as the receiver of a secondary trade', async () => {
    const m = await market(h);
    const [, b] = m.traders;
    const buyer = h.peers.accounts.get(b.accountId)!.investorId;
    const r = await b.place('BUY', 10, 100);
    expect(r.order.status).toBe('OPEN');
    expect(eligibilityAsked(buyer)).toEqual([{ tokenId: m.tokenId, fromInvestorId: null, toInvestorId: buyer, amount: '10', kind: 'SECONDARY_TRADE', at: expect.any(String) }]);
    const checked = JSON.parse((await trailOf(m.broker, r.order.id)).find((e) => e.event === 'COMPLIANCE_CHECKED')!.detail);
    expect(checked.notEvaluated).toContain('RULE_144_HOLDING_PERIOD');
  });

  test('when issuance cannot answer, the order is refused (fail closed) and nothing is reserved', async () => {
    const m = await market(h);
    const [s, b] = m.traders;
    h.peers.down.add('transferEligibility');
    try {
      for (const r of [await s.place('SELL', 10, 100), await b.place('BUY', 10, 100)]) {
        expect(r).toMatchObject({ accepted: false, order: { status: 'REJECTED' }, rejections: [{ code: 'DOWNSTREAM.UNAVAILABLE', message: expect.stringContaining('issuance') }] });
      }
    } finally {
      h.peers.down.delete('transferEligibility');
    }
    await quiet(h.node);
    expect([h.peers.reserved(s.accountId, m.tokenId), h.peers.reserved(b.accountId, 'CASH')]).toEqual([0n, 0n]);
  });

  test('only broker-dealers and investors place orders; only the operator admits, halts and reads every alert', async () => {
    const m = await market(h);
    const custodian = await h.token(m.org, ['CUSTODIAN']);
    const r = await place(custodian, { tokenId: m.tokenId, accountId: m.traders[0].accountId, side: 'SELL', price: '100', quantity: '10' });
    expect(r.body.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    for (const q of ['mutation { admitSubscriber(org: "x", reason: "y") { org } }', `mutation { haltTrading(tokenId: "${m.tokenId}", reason: "y") { halted } }`, '{ subscribers { org } }']) {
      expect((await gql(h.node.url, m.broker, q)).body.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    }
  });
});
