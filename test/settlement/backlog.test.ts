import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startSubgraph, subgraphConfig, type RunningSubgraph } from '../../subgraphs/kit/subgraph.js';
import type { OutboxEvent } from '../../subgraphs/kit/outbox.js';
import { trading } from '../../subgraphs/trading/index.js';
import { onSettlementStatus } from '../../subgraphs/trading/backlog.js';
import { dbLabel, onPostgres } from '../support/db.js';
import { SettlementWorld, gql, tradingPair, waitFor, type PlaceAnswer, type TradingPair } from './support.js';
import type { GraphQLResponse } from '../../scripts/graphqlClient.js';

const PLACE = `mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { accepted order { id status } rejections { code message } } }`;

/** The venue's bound on its fills not yet settled (TRADING_MAX_UNSETTLED), with settlement, trading and the chain real. */
describe(`the venue's settlement backlog bound (${dbLabel()})`, () => {
  let w: SettlementWorld;
  let p: TradingPair;
  let other: string; // a second token, sold by the same seller
  let tradingNode: RunningSubgraph | undefined; // trading after its restart
  const dir = onPostgres() ? undefined : mkdtempSync(join(tmpdir(), 'trading-backlog-'));

  const place = (who: string, tokenId: string, accountId: string, side: 'BUY' | 'SELL', quantity: string, key: string) =>
    gql<PlaceAnswer>(w.url, who, PLACE, { in: { tokenId, accountId, side, type: 'LIMIT', price: '7', quantity, clientOrderId: key } });
  const buy = (quantity: string, key: string) => place(p.buyerBd, p.tokenId, p.buyer.accountId, 'BUY', quantity, key);
  const sell = (quantity: string, key: string, tokenId = p.tokenId) => place(p.sellerBd, tokenId, p.seller.accountId, 'SELL', quantity, key);
  const tdb = () => (tradingNode ?? w.stack.subgraphs.trading).db;
  const unsettled = async () => Number((await tdb().query<{ n: string }>('SELECT count(*) AS n FROM trades WHERE token_id = $1 AND settlement_status IS NULL', [p.tokenId]))[0].n);
  const expectBacklog = (r: GraphQLResponse<PlaceAnswer>) => {
    expect(r.body.data?.placeOrder ?? null).toBeNull();
    expect(r.body.errors?.[0].extensions).toMatchObject({ code: 'TRADING.SETTLEMENT_BACKLOG', retryable: true, tokenId: p.tokenId, maxUnsettled: 3 });
  };

  beforeAll(async () => {
    w = await SettlementWorld.start({}, {
      subgraphEnv: { TRADING_MAX_UNSETTLED: '3', FEED_POLL_MS: '100' },
      ...(dir ? { databaseUrls: { trading: pathToFileURL(dir).href } } : {}), // PGlite in a folder: trading restarts on it
    });
    p = await tradingPair(w, 'BKLG', { shares: 500n, cash: 1_000_000n });
    other = (await w.token506b('BKLO')).tokenId;
    await w.issue(other, p.seller, 100n);
  }, 300_000);
  afterAll(async () => {
    await tradingNode?.stop();
    await w?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('with settlement stopped, a token at the bound refuses new orders retryably (nothing recorded), other tokens trade, a trading restart keeps the count, and settlement catching up lets the same order in', async () => {
    // A fill settled while settlement runs leaves the backlog: trading learns its final status from the feed.
    expect((await sell('10', 'bk-s0')).body.data!.placeOrder.accepted).toBe(true);
    expect((await buy('10', 'bk-b0')).body.data!.placeOrder.order!.status).toBe('FILLED');
    await waitFor('the first fill settled at trading', () => tdb().query<{ settlement_status: string | null }>('SELECT settlement_status FROM trades WHERE token_id = $1', [p.tokenId]),
      (r) => r.length === 1 && r[0].settlement_status === 'SETTLED', 120_000);

    await w.settlement.stop();
    expect((await sell('30', 'bk-s1')).body.data!.placeOrder.accepted).toBe(true);
    for (const k of ['bk-b1', 'bk-b2', 'bk-b3']) expect((await buy('10', k)).body.data!.placeOrder.order!.status).toBe('FILLED');
    expect(await unsettled()).toBe(3);

    // At the bound: buys and sells of the token are refused, and nothing is kept of them.
    expectBacklog(await buy('5', 'bk-b4'));
    expectBacklog(await sell('5', 'bk-s2'));
    expect(await tdb().query("SELECT id FROM orders WHERE client_order_id IN ('bk-b4', 'bk-s2')")).toEqual([]);
    // Another token is not held up by this one's backlog.
    expect((await sell('5', 'bk-other', other)).body.data!.placeOrder).toMatchObject({ accepted: true, order: { status: 'OPEN' } });

    // Statuses that do not end a fill's settlement, forged or malformed ones, and other venues' trades leave the count alone.
    const [first] = await tdb().query<{ id: string }>('SELECT id FROM trades WHERE token_id = $1 AND settlement_status IS NULL ORDER BY seq LIMIT 1', [p.tokenId]);
    const status = (payload: Record<string, unknown>): OutboxEvent => ({ seq: '1', topic: 'settlement.status', key: 'stl_x', payload, createdAt: new Date().toISOString() });
    await tdb().tx(async (q) => {
      for (const e of [
        { tradeId: first.id, status: 'FAILED', final: false }, { tradeId: first.id, status: 'RESERVED', final: true }, { tradeId: first.id, status: 'SETTLED', final: 'true' },
        { tradeId: `${first.id}x`, status: 'SETTLED', final: true }, { tradeId: null, status: 'SETTLED', final: true }, { tradeId: 42, status: 'SETTLED', final: true }, {},
      ]) await onSettlementStatus(q, status(e));
    });
    expect(await unsettled()).toBe(3);

    // A restart of trading reads the backlog from its trades: still refused.
    await w.stack.subgraphs.trading.stop();
    tradingNode = await startSubgraph(trading, subgraphConfig(trading, w.stack.env.trading));
    expectBacklog(await buy('5', 'bk-b4'));

    // Settlement back: it settles the three fills, trading learns it, and the very same order goes in.
    await w.startSettlement();
    await waitFor('the backlog to drain at trading', unsettled, (n) => n === 0, 180_000);
    const again = await buy('5', 'bk-b4');
    expect(again.body.errors).toBeUndefined();
    expect(again.body.data!.placeOrder).toMatchObject({ accepted: true, order: { status: 'OPEN' } });
    // A replayed final status changes nothing: the first one stays.
    const before = await tdb().query<{ id: string; settlement_status: string | null }>('SELECT id, settlement_status, settlement_final_at FROM trades WHERE token_id = $1 ORDER BY seq', [p.tokenId]);
    await tdb().tx((q) => onSettlementStatus(q, status({ tradeId: first.id, status: 'REJECTED', final: true })));
    expect(await tdb().query('SELECT id, settlement_status, settlement_final_at FROM trades WHERE token_id = $1 ORDER BY seq', [p.tokenId])).toEqual(before);
    expect(before.map((t) => t.settlement_status)).toEqual(['SETTLED', 'SETTLED', 'SETTLED', 'SETTLED']);
  }, 600_000);

  test('a replay of an order the venue took is answered, not refused, while its token is at the bound', async () => {
    await w.settlement.stop();
    // Bids of 5 (left from above), 10 and 10; a sell of 20 fills three of them.
    for (const k of ['bk-b5', 'bk-b6']) expect((await buy('10', k)).body.data!.placeOrder.accepted).toBe(true);
    expect((await sell('20', 'bk-s3')).body.data!.placeOrder.accepted).toBe(true);
    expect(await unsettled()).toBe(3);
    expectBacklog(await buy('1', 'bk-b7'));
    const replay = await buy('10', 'bk-b5');
    expect(replay.body.errors).toBeUndefined();
    expect(replay.body.data!.placeOrder).toMatchObject({ accepted: true, order: { status: 'FILLED' } });
    await w.startSettlement();
  }, 300_000);

  test('the bound is a setting: malformed values stop trading at start', async () => {
    for (const v of ['-1', 'many', '1000001']) {
      expect(() => subgraphConfig(trading, { ...w.stack.env.trading, TRADING_MAX_UNSETTLED: v })).toThrow(/TRADING_MAX_UNSETTLED must be/);
    }
    const { TRADING_MAX_UNSETTLED: _set, ...unset } = w.stack.env.trading;
    expect(subgraphConfig(trading, unset).TRADING_MAX_UNSETTLED).toBe(1000);
  });
});
