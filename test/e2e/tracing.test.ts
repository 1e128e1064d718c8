/**
 * OpenTelemetry traces through the whole stack (gateway and subgraphs on
 * loopback, anvil, spans kept by an in-memory exporter): one placeOrder is
 * one trace with spans in the gateway, trading, issuance and custody; the
 * fill's outbox event carries it on, so settlement's handling of the fill is
 * in the same trace, and so are the worker's steps that settle it on chain.
 * A client's traceparent is only linked to, a malformed
 * one is ignored, and baggage changes nothing. Log lines written inside a
 * span carry its trace id.
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { createLogger } from '../../subgraphs/kit/log.js';
import { installTracing, tracerOf, uninstallTracing } from '../../subgraphs/kit/tracing.js';
import { dbLabel } from '../support/db.js';
import { SettlementWorld, gqlOk, tradingPair, waitFor, type Party } from '../settlement/support.js';

const serviceOf = (s: ReadableSpan) => String(s.resource.attributes['service.name']);
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

describe(`one trace from the client's request to the settlement of its fill (${dbLabel()})`, () => {
  const exporter = new InMemorySpanExporter();
  let w: SettlementWorld;
  let tokenId: string;
  let seller: Party, buyer: Party;
  let sellerBd: string, buyerBd: string;

  /** POST /graphql at the gateway with extra headers (a client's traceparent, baggage). */
  /** The fields the requests below read, each answer holding those of its request. */
  type Answers = { placeOrder?: unknown; orders: { side: string }[] };
  const post = async (token: string, query: string, variables: Record<string, unknown>, headers: Record<string, string> = {}) => {
    const r = await fetch(w.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers }, body: JSON.stringify({ query, variables }) });
    return { status: r.status, body: (await r.json()) as { data?: Answers; errors?: { extensions?: { code?: string } }[] } };
  };
  const spans = () => exporter.getFinishedSpans();
  const gatewaySpanOf = (operation: string) => spans().find((s) => serviceOf(s) === 'gateway' && [`mutation ${operation}`, `query ${operation}`].includes(s.name));

  beforeAll(async () => {
    await installTracing({ exporter });
    w = await SettlementWorld.start();
    ({ tokenId, seller, buyer, sellerBd, buyerBd } = await tradingPair(w, 'TRCE', { shares: 100n, cash: 100_000n }));
  }, 300_000);
  afterAll(async () => {
    await w?.stop();
    await uninstallTracing();
  });

  const order = (p: Party, side: 'BUY' | 'SELL', key: string) => ({ in: { tokenId, accountId: p.accountId, side, type: 'LIMIT', price: '5', quantity: '10', clientOrderId: key } });
  const PLACE = (name: string) => `mutation ${name}($in: PlaceOrderInput!) { placeOrder(input: $in) { accepted order { status } } }`;

  test('placeOrder is one trace across gateway, trading, issuance and custody; settlement handles its fill in that trace', async () => {
    expect((await post(sellerBd, PLACE('TracedSell'), order(seller, 'SELL', 't-sell'))).body.data?.placeOrder).toMatchObject({ accepted: true });
    exporter.reset();
    const buy = await post(buyerBd, PLACE('TracedBuy'), order(buyer, 'BUY', 't-buy'));
    expect(buy.body.data?.placeOrder).toMatchObject({ accepted: true, order: { status: 'FILLED' } });

    const root = await waitFor('the gateway span of the buy', async () => gatewaySpanOf('TracedBuy'), (s) => s !== undefined);
    const traceId = root!.spanContext().traceId;
    expect(root!.attributes['graphql.operation.name']).toBe('TracedBuy');
    expect(parentOf(root!)).toBeUndefined(); // the edge starts the trace

    // Settlement takes the fill from trading's outbox: its span is in the same trace.
    const consumed = await waitFor('settlement to handle the fill', async () => spans().find((s) => serviceOf(s) === 'settlement' && s.name === 'process trade.executed' && s.spanContext().traceId === traceId),
      (s) => s !== undefined);
    const inTrace = spans().filter((s) => s.spanContext().traceId === traceId);
    const services = new Set(inTrace.map(serviceOf));
    for (const name of ['gateway', 'trading', 'issuance', 'custody', 'settlement']) expect([name, services.has(name)]).toEqual([name, true]);


    // trading's server span is a child of the gateway's fetch; trading's internal calls are parents of the peers' server spans.
    const tradingServer = inTrace.find((s) => serviceOf(s) === 'trading' && s.name.startsWith('mutation TracedBuy'))!; // the gateway names it TracedBuy__trading__0
    expect(inTrace.map((s) => `${serviceOf(s)}: ${s.name}`)).toContain('trading: mutation TracedBuy__trading__0');
    expect(inTrace.find((s) => s.spanContext().spanId === parentOf(tradingServer))!.name).toBe('gateway.fetch');
    for (const peer of ['custody', 'issuance']) {
      const server = inTrace.find((s) => serviceOf(s) === peer && s.name.startsWith('POST /internal/rpc/'));
      expect([peer, server !== undefined]).toEqual([peer, true]);
      const client = inTrace.find((s) => s.spanContext().spanId === parentOf(server!))!;
      expect([serviceOf(client), client.attributes['rpc.service']]).toEqual(['trading', peer]);
    }
    // The consumer's parent is the span that wrote the event, in trading.
    expect(serviceOf(inTrace.find((s) => s.spanContext().spanId === parentOf(consumed!))!)).toBe('trading');

    await waitFor('the fill to settle', () => gqlOk<{ trades: { settlement: { status: string } | null }[] }>(w.url, buyerBd, `query($t: ID!) { trades(tokenId: $t) { settlement { status reasonCode reason } } }`, { t: tokenId }),
      (d) => d.trades.length === 1 && d.trades[0].settlement?.status === 'SETTLED');
    // The settlement worker's steps on it (verification, the DvP, the booking at custody) are spans of the same trace.
    const settling = await waitFor('the worker\'s steps in the trace', async () => spans().filter((s) => s.spanContext().traceId === traceId && serviceOf(s) === 'settlement'),
      (ss) => ss.some((s) => s.attributes['rpc.method'] === 'bookSettlements'));
    expect(settling.map((s) => s.name)).toEqual(expect.arrayContaining(['settle RECEIVED', 'custody holdMany', 'custody bookSettlements']));

    // Once the work has ended, each span's parent is in the trace: nothing detached, one root.
    const whole = await waitFor('every span of the trace to end', async () => spans().filter((s) => s.spanContext().traceId === traceId), (ss) => {
      const ids = new Set(ss.map((s) => s.spanContext().spanId));
      return ss.every((s) => !parentOf(s) || ids.has(parentOf(s)!));
    });
    expect(whole.filter((s) => !parentOf(s))).toEqual([root]);
  }, 180_000);

  test('a client\'s traceparent is linked to, not continued; a malformed or oversized one is ignored; baggage decides nothing', async () => {
    const QUERY = 'query TracedOrders($t: ID!) { orders(filter: { tokenId: $t }) { id side } }';
    const plain = await post(sellerBd, QUERY, { t: tokenId });
    expect(plain.status).toBe(200);
    expect(plain.body.errors).toBeUndefined();

    const clientTrace = 'ab'.repeat(16);
    const cases: [string, Record<string, string>, 'link' | 'none'][] = [
      ['valid', { traceparent: `00-${clientTrace}-${'cd'.repeat(8)}-01` }, 'link'],
      ['malformed', { traceparent: '00-not-a-trace-01' }, 'none'],
      ['all zeros', { traceparent: `00-${'0'.repeat(32)}-${'0'.repeat(16)}-01` }, 'none'],
      ['oversized', { traceparent: `00-${clientTrace}-${'cd'.repeat(8)}-01${'-x'.repeat(3000)}`, tracestate: `k=${'v'.repeat(5000)}` }, 'none'],
      // Another organisation and a stronger role named in baggage: the bearer token alone says who calls.
      ['baggage', { baggage: 'org=beta-bd,roles=ISSUER_AGENT,caller.org=beta-bd', 'x-org': 'beta-bd' }, 'none'],
    ];
    for (const [what, headers, expected] of cases) {
      exporter.reset();
      const r = await post(sellerBd, QUERY, { t: tokenId }, headers);
      expect([what, r.status, r.body]).toEqual([what, 200, plain.body]);
      const root = await waitFor(`the gateway span (${what})`, async () => gatewaySpanOf('TracedOrders'), (s) => s !== undefined);
      expect([what, parentOf(root!)]).toEqual([what, undefined]);
      expect([what, root!.spanContext().traceId === clientTrace]).toEqual([what, false]);
      expect([what, root!.links.map((l) => l.context.traceId)]).toEqual([what, expected === 'link' ? [clientTrace] : []]);
      for (const s of spans()) expect(JSON.stringify(s.attributes)).not.toContain('ISSUER_AGENT');
    }
    // The buyer's organisation named in baggage does not show the seller its orders.
    const theirs = await post(sellerBd, 'query($t: ID!) { orders(filter: { tokenId: $t }) { id side } }', { t: tokenId }, { baggage: 'org=beta-bd' });
    expect(theirs.body.data?.orders.every((o) => o.side === 'SELL')).toBe(true);
  }, 120_000);

  test('log lines written inside a span carry its trace_id and span_id; lines outside carry none', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({ write(chunk, _e, done) { lines.push(JSON.parse(String(chunk)) as Record<string, unknown>); done(); } });
    const log = createLogger('probe', 'info', sink);
    const ids = tracerOf('probe').startActiveSpan('probe', (span) => {
      log.info('inside');
      span.end();
      return span.spanContext();
    });
    log.info('outside');
    await waitFor('both lines', async () => lines.length, (n) => n === 2);
    expect(lines[0]).toMatchObject({ msg: 'inside', trace_id: ids.traceId, span_id: ids.spanId });
    expect(lines[1].msg).toBe('outside');
    expect(lines[1]).not.toHaveProperty('trace_id');
  });
});
