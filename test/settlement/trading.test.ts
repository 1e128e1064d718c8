import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Contract, verifyTypedData } from 'ethers';
import { appendEvent } from '../../subgraphs/kit/outbox.js';
import { dbLabel } from '../support/db.js';
import { ATTESTATION_KEY, SettlementWorld, Wallet, gql, gqlOk, waitFor, type AuditCheck, type Party, type PlaceAnswer, type TypedDataJson } from './support.js';

/** A trade as these tests read it. */
interface TradeRow { id: string; quantity?: string; settlement: { id: string; status: string } | null }

/** Fills of trading's own venue, from its outbox to DvP on chain, through the gateway. */
describe(`settlement of trading's fills on anvil (${dbLabel()})`, () => {
  let w: SettlementWorld;
  let tokenId: string, token: Contract;
  let seller: Party, buyer: Party;
  let sellerBd: string, buyerBd: string;

  const place = (who: string, p: Party, side: 'BUY' | 'SELL', price: string, quantity: string, key: string) =>
    gqlOk<PlaceAnswer>(w.url, who, `mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { accepted order { id status } rejections { code message } } }`,
      { in: { tokenId, accountId: p.accountId, side, type: 'LIMIT', price, quantity, clientOrderId: key } }).then((d) => d.placeOrder);

  beforeAll(async () => {
    w = await SettlementWorld.start();
    ({ tokenId, token } = await w.token506b('FILL'));
    [seller, buyer] = [await w.party('Fill Seller', 'alpha-bd'), await w.party('Fill Buyer', 'beta-bd')];
    await w.issue(tokenId, seller, 500n);
    await w.fund(buyer, 1_000_000n);
    const operator = await w.token('ats-co', ['ATS_OPERATOR']);
    for (const org of ['alpha-bd', 'beta-bd']) await gqlOk(w.url, operator, `mutation($o: String!) { admitSubscriber(org: $o, reason: "approved subscriber") { org } }`, { o: org });
    [sellerBd, buyerBd] = [await w.token('alpha-bd', ['BROKER_DEALER']), await w.token('beta-bd', ['BROKER_DEALER'])];
  }, 300_000);
  afterAll(async () => w?.stop());

  test('sell and buy orders cross, the fill settles on chain with a valid attestation, and books move at custody and on chain', async () => {
    const chainBefore = { sec: await token.balanceOf(buyer.wallet), cash: await w.cash.balanceOf(seller.wallet) };
    const sell = await place(sellerBd, seller, 'SELL', '7', '40', 'e2e-sell-1');
    expect(sell).toMatchObject({ accepted: true, rejections: [] });
    const buy = await place(buyerBd, buyer, 'BUY', '7', '40', 'e2e-buy-1');
    expect(buy).toMatchObject({ accepted: true, order: { status: 'FILLED' } });

    const trade = await waitFor('the trade', () => gqlOk<{ trades: TradeRow[] }>(w.url, buyerBd, `query($t: ID!) { trades(tokenId: $t) { id settlement { id status } } }`, { t: tokenId }),
      (d) => d.trades.length === 1 && d.trades[0].settlement?.status === 'SETTLED');
    const s = (await w.settlementOf(trade.trades[0].settlement!.id, buyerBd))!;
    expect(s).toMatchObject({ status: 'SETTLED', cashAmount: '280', batch: { mode: 'GROSS', settlementCount: 1 } });
    expect(await token.balanceOf(buyer.wallet)).toBe(chainBefore.sec + 40n);
    expect(await w.cash.balanceOf(seller.wallet)).toBe(chainBefore.cash + 280n);
    // Custody: what the orders reserved was taken over and consumed; the books equal the chain.
    for (const [p, asset, onChain] of [[buyer, tokenId, token.balanceOf(buyer.wallet)], [seller, tokenId, token.balanceOf(seller.wallet)],
      [buyer, 'CASH', w.cash.balanceOf(buyer.wallet)], [seller, 'CASH', w.cash.balanceOf(seller.wallet)]] as const) {
      expect(await w.balance(p.accountId, asset)).toMatchObject({ total: String(await onChain), reserved: '0' });
    }
    const td = JSON.parse(s.attestation!.typedData) as TypedDataJson;
    const { EIP712Domain: _omit, ...types } = td.types;
    expect(verifyTypedData(td.domain, types, td.message, s.attestation!.signature)).toBe(new Wallet(ATTESTATION_KEY).address);
    expect(td.message).toMatchObject({ venue: 'TOKENSTACK-ATS', venueReference: trade.trades[0].id, quantity: '40', cashAmount: '280' });
    // The seller's organisation sees it too; a third organisation does not.
    expect((await gqlOk<{ settlement: { status: string } | null }>(w.url, sellerBd, `query($id: ID!) { settlement(id: $id) { status } }`, { id: s.id })).settlement?.status).toBe('SETTLED');
    expect((await gqlOk<{ settlement: { status: string } | null }>(w.url, await w.token('gamma-bd', ['BROKER_DEALER']), `query($id: ID!) { settlement(id: $id) { status } }`, { id: s.id })).settlement).toBeNull();
  });

  test('partial fills of one order each become exactly one settlement, and a replayed or malformed event settles nothing twice', async () => {
    const sell = await place(sellerBd, seller, 'SELL', '7', '30', 'e2e-sell-2');
    expect(sell).toMatchObject({ accepted: true, rejections: [] });
    expect((await place(buyerBd, buyer, 'BUY', '7', '10', 'e2e-buy-2')).order?.status).toBe('FILLED');
    expect((await place(buyerBd, buyer, 'BUY', '7', '20', 'e2e-buy-3')).order?.status).toBe('FILLED');
    const trades = await waitFor('three settled fills', () => gqlOk<{ trades: TradeRow[] }>(w.url, buyerBd, `query($t: ID!) { trades(tokenId: $t) { id quantity settlement { id status } } }`, { t: tokenId }),
      (d) => d.trades.length === 3 && d.trades.every((t) => t.settlement?.status === 'SETTLED'));
    expect(new Set(trades.trades.map((t) => t.settlement!.id)).size).toBe(3);

    // The same trade.executed once more in trading's outbox (a producer bug): still one settlement; a malformed one is refused and audited.
    const tdb = w.stack.subgraphs.trading.db;
    const [last] = await tdb.query<{ payload: Record<string, unknown> }>("SELECT payload FROM outbox WHERE topic = 'trade.executed' ORDER BY seq DESC LIMIT 1");
    await tdb.tx(async (q) => {
      await appendEvent(q, 'trade.executed', String(last.payload.tradeId), last.payload);
      await appendEvent(q, 'trade.executed', 'trd_bad', { ...last.payload, tradeId: 'trd_bad', quantity: '-1' });
    });
    await waitFor('the feed to pass both', () => w.settlement.db.query<{ n: string }>("SELECT count(*) AS n FROM audit_log WHERE kind = 'TRADE_EVENT_REFUSED'"), (r) => r[0].n === '1');
    const rows = await w.settlement.db.query<{ n: string }>('SELECT count(*) AS n FROM settlements WHERE trade_id = $1', [last.payload.tradeId]);
    expect(rows[0].n).toBe('1');
    expect((await gqlOk<{ settlements: { id: string }[] }>(w.url, w.agent, '{ settlements { id } }')).settlements).toHaveLength(3);
    const audit = await gql<AuditCheck>(w.url, w.auditor, '{ verifyAuditLog { valid breaks { seq kind } } }');
    expect(audit.body.data!.verifyAuditLog).toEqual({ valid: true, breaks: [] });
  });
});
