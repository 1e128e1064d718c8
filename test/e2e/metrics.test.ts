/**
 * Every process serves Prometheus metrics on GET /metrics: after a trade
 * matched by trading and settled on anvil, the figures of the gateway and of
 * each subgraph have moved. /metrics behind METRICS_TOKEN refuses anyone
 * without it, and is off in production without one.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startHttpServer } from '../../subgraphs/kit/http.js';
import { createMetrics } from '../../subgraphs/kit/metrics.js';
import { dbLabel, onPostgres } from '../support/db.js';
import { SettlementWorld, gql, gqlOk, tradingPair, waitFor, type Party, type PlaceAnswer } from '../settlement/support.js';

type Samples = Map<string, number>;

/** Parses the text format into "name{a="x",b="y"}" -> value (labels sorted, the service label left out). */
function parse(text: string): Samples {
  const out: Samples = new Map();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels = (m[2] ?? '').split(/,(?=\w+=")/).filter((l) => l && !l.startsWith('service=')).sort().join(',');
    out.set(labels ? `${m[1]}{${labels}}` : m[1], Number(m[3]));
  }
  return out;
}

async function scrape(url: string): Promise<Samples> {
  const r = await fetch(url.replace(/\/graphql$/, '/metrics'));
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
  return parse(await r.text());
}

/** The sum of a metric's samples whose labels include all of `labels`. */
function sum(s: Samples, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const [key, v] of s) {
    const [n, rest = ''] = key.split('{');
    if (n !== name) continue;
    if (Object.entries(labels).every(([k, val]) => rest.includes(`${k}="${val}"`))) total += v;
  }
  return total;
}

describe(`Prometheus metrics of every process (${dbLabel()})`, () => {
  let w: SettlementWorld;
  let tokenId: string;
  let seller: Party, buyer: Party;
  let sellerBd: string, buyerBd: string;
  const urls = () => ({ gateway: w.url, issuance: w.stack.subgraphs.issuance.url, trading: w.stack.subgraphs.trading.url, settlement: w.settlement.url, custody: w.stack.subgraphs.custody.url });

  beforeAll(async () => {
    w = await SettlementWorld.start();
    ({ tokenId, seller, buyer, sellerBd, buyerBd } = await tradingPair(w, 'METR', { shares: 100n, cash: 100_000n }));
  }, 300_000);
  afterAll(async () => w?.stop());

  test('after a trade the figures moved: operations and subgraph fetches at the gateway, orders and fills, internal calls, feed lag, DvP transactions and their gas, errors by code', async () => {
    const before = Object.fromEntries(await Promise.all(Object.entries(urls()).map(async ([k, u]) => [k, await scrape(u)] as const)));
    const place = (who: string, p: Party, side: 'BUY' | 'SELL', key: string) => gqlOk<PlaceAnswer>(w.url, who, `mutation PlaceOrder($in: PlaceOrderInput!) { placeOrder(input: $in) { accepted order { status } } }`,
      { in: { tokenId, accountId: p.accountId, side, type: 'LIMIT', price: '5', quantity: '10', clientOrderId: key } }).then((d) => d.placeOrder);
    expect(await place(sellerBd, seller, 'SELL', 'm-sell')).toMatchObject({ accepted: true });
    expect(await place(buyerBd, buyer, 'BUY', 'm-buy')).toMatchObject({ accepted: true, order: { status: 'FILLED' } });
    const settled = await waitFor('the fill to settle', () => gqlOk<{ trades: { settlement: { status: string; batch: unknown } | null }[] }>(w.url, buyerBd, `query($t: ID!) { trades(tokenId: $t) { settlement { status reasonCode reason batch { mode gasUsed effectiveGasPrice } } } }`, { t: tokenId }),
      (d) => d.trades.length === 1 && d.trades[0].settlement?.status === 'SETTLED');
    // The DvP transaction's gas is stored with its batch, from the receipt.
    const batch = settled.trades[0].settlement!.batch as { mode: string; gasUsed: string; effectiveGasPrice: string };
    expect(BigInt(batch.gasUsed)).toBeGreaterThan(21_000n);
    expect(BigInt(batch.effectiveGasPrice)).toBeGreaterThan(0n);
    // A client's mistake, counted by its code.
    const bad = await gql(w.url, buyerBd, 'mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { accepted } }', { in: { tokenId, accountId: buyer.accountId, side: 'BUY', type: 'LIMIT', price: '5', quantity: 1.5, clientOrderId: 'm-bad' } });
    const code = bad.body.errors?.[0]?.extensions?.code as string;
    expect(code).toMatch(/^INPUT\./);

    // Settlement's consumer of trading's feed has applied the fill: its lag is back to nothing.
    const after = Object.fromEntries(await Promise.all(Object.entries(urls()).map(async ([k, u]) => [k, await scrape(u)] as const)));
    const moved = (p: string, name: string, labels: Record<string, string> = {}) => sum(after[p], name, labels) - sum(before[p], name, labels);

    expect(moved('gateway', 'tokenstack_graphql_requests_total', { operation: 'PlaceOrder', type: 'mutation' })).toBe(2);
    expect(moved('gateway', 'tokenstack_graphql_request_duration_seconds_count', { operation: 'PlaceOrder' })).toBe(2);
    expect(moved('gateway', 'tokenstack_subgraph_fetches_total', { subgraph: 'trading', outcome: '200' })).toBeGreaterThanOrEqual(2);
    expect(moved('gateway', 'tokenstack_graphql_errors_total', { code })).toBe(1);
    expect(moved('trading', 'tokenstack_graphql_requests_total', { type: 'mutation' })).toBeGreaterThanOrEqual(2);
    expect(moved('trading', 'tokenstack_trading_trades')).toBe(1);
    expect(sum(after.trading, 'tokenstack_trading_orders', { status: 'FILLED' })).toBeGreaterThanOrEqual(2);
    expect(moved('trading', 'tokenstack_internal_calls_total', { peer: 'custody', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(moved('trading', 'tokenstack_outbox_head_seq')).toBeGreaterThan(0);
    expect(moved('settlement', 'tokenstack_settlement_dvp_transactions', { status: 'SETTLED' })).toBe(1);
    expect(moved('settlement', 'tokenstack_settlement_dvp_gas_used_count', { mode: batch.mode })).toBe(1);
    expect(moved('settlement', 'tokenstack_settlement_dvp_gas_used_sum', { mode: batch.mode })).toBe(Number(batch.gasUsed));
    expect(moved('settlement', 'tokenstack_settlement_dvp_fees_wei_total', { mode: batch.mode })).toBe(Number(BigInt(batch.gasUsed) * BigInt(batch.effectiveGasPrice)));
    expect(sum(after.settlement, 'tokenstack_settlement_backlog')).toBe(0);
    const lagKeys = [...after.settlement.keys()].filter((k) => k.startsWith('tokenstack_feed_consumer_lag_events{'));
    expect(lagKeys.length).toBeGreaterThan(0);
    expect(sum(after.settlement, 'tokenstack_feed_consumer_lag_events')).toBe(0);
    expect(after.custody.has('tokenstack_custody_chain_indexer_lag_blocks')).toBe(true);
    expect(after.custody.get('tokenstack_custody_chain_indexer_lag_blocks')).toBeGreaterThanOrEqual(0);
    expect(sum(after.custody, 'tokenstack_custody_reconciliation_breaks', { status: 'OPEN' })).toBe(0);
    // On PostgreSQL each process shows its pool.
    if (onPostgres()) expect(sum(after.trading, 'tokenstack_db_pool_connections', { state: 'total' })).toBeGreaterThan(0);
    // The process's own figures.
    for (const s of Object.values(after)) expect(s.has('tokenstack_process_cpu_seconds_total')).toBe(true);
  }, 180_000);

  test('behind METRICS_TOKEN /metrics answers only with that token; in production without one it is off', async () => {
    const m = createMetrics('probe');
    m.requests.inc({ operation: 'X', type: 'query' });
    for (const [o, cases] of [
      [{ token: 'metrics-secret-123', production: true }, [[undefined, 401], ['Bearer wrong', 401], ['Bearer metrics-secret-1234', 401], ['Bearer metrics-secret-123', 200]]],
      [{ production: true }, [[undefined, 404], ['Bearer x', 404]]],
      [{ production: false }, [[undefined, 200]]],
    ] as const) {
      const server = await startHttpServer({ port: 0, routes: { 'GET /metrics': m.route(o) } });
      try {
        for (const [authorization, status] of cases) {
          const r = await fetch(`${server.url}/metrics`, { headers: authorization ? { authorization } : {} });
          expect([authorization, r.status]).toEqual([authorization, status]);
          const text = await r.text();
          if (status === 200) expect(text).toContain('tokenstack_graphql_requests_total{operation="X",type="query",service="probe"} 1');
          else expect(text).not.toContain('tokenstack_');
        }
      } finally {
        await server.close();
      }
    }
  });
});
