import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { serviceToken } from '../../subgraphs/kit/auth.js';
import { addPeriod, defaultComplianceConfig } from '../../subgraphs/issuance/domain/compliance/index.js';
import { tradingServices } from '../../subgraphs/trading/index.js';
import { dbLabel } from '../support/db.js';
import { gqlOk, startTestStack, type TestStack } from '../support/stack.js';
import { IssuerDesk, monthsAgo } from '../issuance/flow.js';
import { PLACE, until, type MarketStatus, type OrderBook, type OrderPayload, type Trade } from './support.js';

/**
 * The whole stack through the gateway, on anvil: the issuer creates, deploys
 * and issues the token; custody opens the investors' accounts and holds their
 * balances; trading asks issuance whether each buyer may receive and each
 * seller may deliver, reserves at custody, matches, and halts by itself when
 * the issuer pauses the token.
 */
/** What these tests read of a custody balance and of issuance's eligibility answer. */
interface Balance { asset: string; total: string; reserved: string; available: string }
interface Eligibility { allowed: boolean; missingParty: string | null; notEvaluated: string[]; results: { code: string; passed: boolean; blockingUntil: string | null }[] }

describe(`trading through the gateway with issuance and custody (${dbLabel()}, anvil)`, () => {
  let stack: TestStack, desk: IssuerDesk, url: string;
  let tokenId: string, broker: string, operator: string;
  const acc: Record<string, string> = {};
  const inv: Record<string, { id: string }> = {};
  const youngLotAcquired = monthsAgo(3);

  async function rpc(method: string, body: Record<string, unknown>) {
    const base = stack.subgraphs.custody.url.replace(/\/graphql$/, '');
    const r = await fetch(`${base}/internal/rpc/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await serviceToken({ serviceSecret: stack.secrets.serviceSecret, issuer: 'tokenstack' }, 'test-funding')}` },
      body: JSON.stringify(body),
    });
    if (r.status !== 200) throw new Error(`custody ${method}: ${r.status} ${await r.text()}`);
    return ((await r.json()) as { result: unknown }).result;
  }
  const peers = () => tradingServices(stack.subgraphs.trading.runtime)!.peers;
  const place = (input: Record<string, unknown>) => gqlOk<{ placeOrder: OrderPayload }>(url, broker, PLACE, { in: { tokenId, ...input } }).then((d) => d.placeOrder);
  const balance = async (accountId: string, asset: string) =>
    (await gqlOk<{ custodyAccount: { balances: Balance[] } }>(url, broker, 'query($id: ID!) { custodyAccount(id: $id) { balances { asset total reserved available } } }', { id: accountId }))
      .custodyAccount.balances.find((b) => b.asset === asset);

  beforeAll(async () => {
    // Token facts cached for longer than the file runs: an order after the issuer unpauses must not read the pause it cached.
    stack = await startTestStack({ chain: 'anvil', subgraphEnv: { TRADING_PEER_CACHE_MS: '600000' } });
    url = stack.gateway.url;
    desk = await IssuerDesk.open(stack);
    tokenId = await desk.createToken('TRDX', 'REG_D_506C');
    expect((await desk.deploy(tokenId)).status).toBe('DEPLOYED');
    inv.seller = await desk.onboard('Seasoned Seller', { accredited: true });
    inv.buyer = await desk.onboard('Accredited Buyer', { accredited: true });
    inv.unverified = await desk.onboard('Unverified Buyer', { accredited: true, kyc: false });
    inv.young = await desk.onboard('Recent Purchaser', { accredited: true });
    await desk.settled();
    expect((await desk.issue(tokenId, inv.seller.id, '1000', monthsAgo(13))).status).toBe('DONE');
    expect((await desk.issue(tokenId, inv.young.id, '200', youngLotAcquired)).status).toBe('DONE');
    await desk.settled();

    broker = await stack.token('broker-a', ['BROKER_DEALER']);
    operator = await stack.token('ats-co', ['ATS_OPERATOR']);
    for (const who of ['seller', 'buyer', 'unverified', 'young']) {
      acc[who] = (await gqlOk<{ openCustodyAccount: { id: string } }>(url, broker, 'mutation($i: ID!, $k: String!) { openCustodyAccount(input: { idempotencyKey: $k, investorId: $i, kind: SEGREGATED }) { id } }',
        { i: inv[who].id, k: `acc-${who}` })).openCustodyAccount.id;
    }
    await rpc('registerAsset', { asset: 'CASH' });
    await rpc('registerAsset', { asset: tokenId });
    await rpc('credit', { accountId: acc.seller, asset: tokenId, amount: '1000', idempotencyKey: 'fund-seller', reason: 'issued' });
    await rpc('credit', { accountId: acc.young, asset: tokenId, amount: '200', idempotencyKey: 'fund-young', reason: 'issued' });
    for (const who of ['buyer', 'unverified']) await rpc('credit', { accountId: acc[who], asset: 'CASH', amount: '100000', idempotencyKey: `fund-${who}`, reason: 'deposit' });
    await gqlOk(url, operator, 'mutation { admitSubscriber(org: "broker-a", reason: "FINRA member, onboarding complete") { status } }');
  }, 300_000);

  afterAll(async () => stack?.stop());

  test('a sell rests with its tokens reserved at custody and a buy fills against it at the resting price', async () => {
    const ask = await place({ accountId: acc.seller, side: 'SELL', price: '50', quantity: '100', clientOrderId: 's1' });
    expect(ask).toMatchObject({ accepted: true, order: { status: 'OPEN', investorId: inv.seller.id } });
    expect(await balance(acc.seller, tokenId)).toMatchObject({ total: '1000', reserved: '100', available: '900' });
    const bid = await place({ accountId: acc.buyer, side: 'BUY', price: '52', quantity: '40', clientOrderId: 'b1' });
    expect(bid).toMatchObject({ accepted: true, order: { status: 'FILLED', filled: '40' } });
    const d = await gqlOk<{ securityToken: { symbol: string; lastPrice: string | null; orderBook: OrderBook }; trades: Trade[] }>(url, broker, `query($t: ID!) { securityToken(id: $t) { symbol lastPrice orderBook { asks { price quantity } } } trades(tokenId: $t) { price quantity buyAccountId sellAccountId } }`, { t: tokenId });
    expect(d.securityToken).toEqual({ symbol: 'TRDX', lastPrice: '50', orderBook: { asks: [{ price: '50', quantity: '60' }] } });
    expect(d.trades).toEqual([{ price: '50', quantity: '40', buyAccountId: acc.buyer, sellAccountId: acc.seller }]);
    // The fill is an outbox event settlement consumes, with the reservations it draws on.
    const [e] = await stack.subgraphs.trading.db.query<{ payload: unknown }>("SELECT payload FROM outbox WHERE topic = 'trade.executed' ORDER BY seq DESC LIMIT 1");
    expect(e.payload).toMatchObject({
      tokenId, price: '50', quantity: '40', cashAmount: '2000', cashAsset: 'CASH', buyOrderId: bid.order.id, sellOrderId: ask.order.id,
      buyAccountId: acc.buyer, sellAccountId: acc.seller, buyInvestorId: inv.buyer.id, sellInvestorId: inv.seller.id, buyOrg: 'broker-a', sellOrg: 'broker-a',
      reservations: { buy: [{ key: bid.order.id, asset: 'CASH', amount: '2000' }], sell: [{ key: ask.order.id, asset: tokenId, amount: '40' }] },
    });
  });

  test('a buyer whose KYC is not approved is refused with the issuer\'s rule and its regulation, and nothing is reserved', async () => {
    const r = await place({ accountId: acc.unverified, side: 'BUY', price: '50', quantity: '10', clientOrderId: 'u1' });
    expect(r.accepted).toBe(false);
    expect(r.rejections).toContainEqual(expect.objectContaining({ code: 'COMPLIANCE.KYC_VALID_RECEIVER', regulation: expect.any(String) }));
    expect(await balance(acc.unverified, 'CASH')).toMatchObject({ reserved: '0', available: '100000' });
  });

  test('a sell of lots still in their Rule 144 holding period is refused at order entry with the date they mature, and nothing is reserved', async () => {
    const r = await place({ accountId: acc.young, side: 'SELL', price: '50', quantity: '100', clientOrderId: 'y1' });
    const matures = addPeriod(youngLotAcquired, defaultComplianceConfig.rule144.nonReportingIssuerHoldingPeriod).toISOString();
    expect(r).toMatchObject({ accepted: false, order: { status: 'REJECTED' } });
    expect(r.rejections).toEqual([{ code: 'COMPLIANCE.RULE_144_HOLDING_PERIOD', message: expect.stringContaining('holding period'), regulation: '17 CFR 230.144(d)', blockingUntil: matures }]);
    expect(await balance(acc.young, tokenId)).toMatchObject({ total: '200', reserved: '0', available: '200' });
    // Issuance's public answer to the same one-sided question: the seller's rules decided, the buyer's left undecided.
    const e = (await desk.run<{ transferEligibility: Eligibility }>(`query($t: ID!, $f: ID!) { transferEligibility(tokenId: $t, from: $f, amount: "100") {
      allowed missingParty notEvaluated results { code passed blockingUntil } } }`, { t: tokenId, f: inv.young.id })).transferEligibility;
    expect(e).toMatchObject({ allowed: false, missingParty: 'RECEIVER', notEvaluated: expect.arrayContaining(['KYC_VALID_RECEIVER']) });
    expect(e.results.filter((x) => !x.passed)).toEqual([{ code: 'RULE_144_HOLDING_PERIOD', passed: false, blockingUntil: matures }]);
  });

  test('pausing the token at issuance halts its market; unpausing resumes it', async () => {
    await desk.run('mutation($t: ID!) { pauseToken(tokenId: $t, reason: "corporate action") { paused } }', { t: tokenId });
    await until('the halt', async () => (await gqlOk<{ marketStatus: MarketStatus }>(url, broker, 'query($t: ID!) { marketStatus(tokenId: $t) { issuerPaused } }', { t: tokenId })).marketStatus.issuerPaused, 30_000);
    const r = await place({ accountId: acc.buyer, side: 'BUY', price: '50', quantity: '5', clientOrderId: 'b2' });
    expect(r.rejections.map((x) => x.code)).toContain('TRADING.MARKET_HALTED');
    // The facts trading caches of the token were dropped when the pause came through the feed: they say paused now.
    expect(await peers().token(tokenId)).toMatchObject({ paused: true });
    await desk.run('mutation($t: ID!) { unpauseToken(tokenId: $t, reason: "done") { paused } }', { t: tokenId });
    await until('the resume', async () => !(await gqlOk<{ marketStatus: MarketStatus }>(url, broker, 'query($t: ID!) { marketStatus(tokenId: $t) { halted } }', { t: tokenId })).marketStatus.halted, 30_000);
    expect(await peers().token(tokenId)).toMatchObject({ paused: false });
    const ok = await place({ accountId: acc.buyer, side: 'BUY', price: '50', quantity: '5', clientOrderId: 'b3' });
    expect(ok.order.status).toBe('FILLED');
  });
});
