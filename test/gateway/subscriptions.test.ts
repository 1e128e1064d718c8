/**
 * Subscriptions through the gateway, on the whole stack on loopback with the
 * unchanged graphql-ws client. The stack's own gateway serves the plain
 * cases; a second gateway on the same subgraphs, reaching trading through a
 * TCP proxy the test can cut, with a small client queue and a supergraph
 * file of its own, serves sharing, slow consumers, reconnects and reloads.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from '@jest/globals';
import { appendFileSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { loadConfig } from '../../subgraphs/kit/config.js';
import { newId } from '../../subgraphs/kit/ids.js';
import { appendEvents } from '../../subgraphs/kit/outbox.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { startGateway, type RunningGateway } from '../../gateway/server.js';
import { gatewaySettings } from '../../gateway/settings.js';
import { dbLabel } from '../support/db.js';
import { gqlOk, startTestStack, type TestStack } from '../support/stack.js';
import { until } from '../support/wait.js';

/** A TCP proxy in front of a subgraph: counts WebSocket upgrades, and can cut every connection and refuse new ones. */
class CuttableProxy {
  upgrades = 0;
  refusing = false;
  /** Connections refused while refusing. */
  refused = 0;
  private readonly sockets = new Set<Socket>();
  private server!: Server;
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<this> {
    this.server = createServer((client) => {
      if (this.refusing) {
        this.refused++;
        return client.destroy();
      }
      const upstream = connect(this.targetPort, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => undefined);
      }
      client.once('data', (first) => { if (/^GET [^\r\n]*\r\n[\s\S]*upgrade: websocket/i.test(first.toString('latin1'))) this.upgrades++; });
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  cut(): void {
    for (const s of this.sockets) s.destroy();
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise((r) => this.server.close(r));
  }
}

/** One answer of a subscription: the tests read data only from answers that carry it. */
interface Received<D> { data: D; errors?: unknown[] }
/** A refusal as graphql-ws hands it to error(). */
type Refusal = { message: string; extensions?: Record<string, unknown> }[];
type Trades = { tradeExecuted: { cursor: string; trade: { id: string; quantity: string; price: string; buyAccountId?: string | null } } };
type Book = { orderBookChanged: { tokenId: string; changes: unknown[] } };
type Statuses = { settlementStatusChanged: { status: string; final: boolean; settlement: unknown } };

/** True when every upstream subscription the gateways hold is live at its subgraph (set once the stack runs). */
let upstreamsLive: () => boolean = () => false;

/** The library's own WebSocket, handed out so that a test can stop reading from it like a slow client. */
function keptWebSocket(keep: (ws: WebSocket) => void) {
  return class extends WebSocket {
    constructor(address: string, protocols?: string | string[]) {
      super(address, protocols);
      keep(this);
    }
  };
}

/** One graphql-ws subscription, recording what arrives. */
class Subscriber<D = unknown> {
  readonly events: Received<D>[] = [];
  error?: unknown;
  completed = false;
  closed?: { code: number; reason: string };
  socket?: WebSocket;
  readonly client: Client;
  private stop?: () => void;

  constructor(url: string, token: string | undefined, private readonly query: string, private readonly variables: Record<string, unknown> = {}) {
    this.client = createClient({
      url: url.replace(/^http/, 'ws'), webSocketImpl: keptWebSocket((ws) => { this.socket = ws; }), retryAttempts: 0, lazy: true,
      connectionParams: token ? { authorization: `Bearer ${token}` } : {},
      on: { closed: (e) => { const c = e as { code: number; reason: string }; this.closed = { code: c.code, reason: String(c.reason) }; } },
    });
  }

  start(): this {
    this.stop = this.client.subscribe({ query: this.query, variables: this.variables }, {
      next: (v) => { this.events.push(v as Received<D>); },
      error: (e) => { this.error = e; },
      complete: () => { this.completed = true; },
    });
    return this;
  }

  /** Waits until the subscription is live at the subgraph (graphql-ws says nothing when it is; the subgraph's count does). */
  async ready(gateway: RunningGateway, clients: number): Promise<this> {
    await until('the subscription to reach the gateway', () => gateway.subscriptions.stats().clients >= clients || this.error);
    await until('the upstream subscriptions to be live at the subgraphs', () => upstreamsLive() || this.error);
    return this;
  }

  async take(n: number, ms = 20_000): Promise<Received<D>[]> {
    await until(`${n} events (got ${this.events.length}${this.error ? `, error ${JSON.stringify(this.error)}` : ''})`, () => this.events.length >= n || this.error, ms);
    if (this.events.length < n) throw new Error(`subscription failed: ${JSON.stringify((this.error as { message?: string } | undefined)?.message ?? this.error)}`);
    return this.events.slice(0, n);
  }

  async failure(ms = 20_000): Promise<Refusal> {
    return until('the subscription to fail', () => this.error as Refusal | undefined, ms);
  }

  async dispose(): Promise<void> {
    this.stop?.();
    await this.client.dispose();
  }
}

const QUEUE = 50; // the second gateway's client queue and feed backlog
// The second gateway pings rarely: a client that stops reading for longer than the ping interval is dropped without a reason (1006).

const TRADES = `subscription($t: ID) { tradeExecuted(tokenId: $t) { cursor trade { id quantity price
  token { symbol capTable { holderCount } } settlement { status } } } }`;
const BOOK = 'subscription($t: ID!) { orderBookChanged(tokenId: $t) { cursor tokenId changes { side price quantity } } }';

describe(`subscriptions through the gateway (${dbLabel()})`, () => {
  let stack: TestStack;
  let edge: RunningGateway; // the second gateway, reaching trading through the proxy
  let proxy: CuttableProxy;
  let dir: string;
  let supergraphFile: string;
  let url: string; // the stack's gateway
  let broker: string, stranger: string;
  let tokenId: string, sellerAccount: string, buyerAccount: string;

  /**
   * A fill of `quantity` as the matching engine records it: trade.executed and
   * book.changed in trading's outbox, in one transaction. (The venue's
   * pre-trade checks need holdings indexed from a chain, which this test does
   * not run; the gateway sees exactly what a matched order produces.)
   */
  let resting = 10_000;
  let bookSeq = 0;
  const fill = async (quantity: number): Promise<string> => {
    const tradeId = newId('trd');
    const cash = String(quantity * 100);
    resting -= quantity;
    await stack.subgraphs.trading.db.tx((q) => appendEvents(q, [
      { topic: 'trade.executed', key: tradeId, payload: {
        tradeId, tokenId, price: '100', quantity: String(quantity), cashAmount: cash, cashAsset: 'CASH', buyOrderId: newId('ord'), sellOrderId: newId('ord'),
        buyAccountId: buyerAccount, sellAccountId: sellerAccount, buyInvestorId: null, sellInvestorId: null, buyOrg: 'acme', sellOrg: 'acme',
        buyerFee: '0', sellerFee: '0', aggressorSide: 'BUY', bookSeq: ++bookSeq, executedAt: new Date().toISOString(),
        reservations: { buy: [{ key: `${tradeId}-b`, asset: 'CASH', amount: cash }], sell: [{ key: `${tradeId}-s`, asset: tokenId, amount: String(quantity) }] } } },
      { topic: 'book.changed', key: tokenId, payload: { tokenId, bookSeq, levels: [{ side: 'SELL', price: '100', quantity: String(resting), orders: 1 }] } },
    ]));
    return tradeId;
  };

  beforeAll(async () => {
    stack = await startTestStack();
    url = stack.gateway.url;
    const issuer = await stack.token('acme', ['ISSUER_AGENT']);
    const custodian = await stack.token('acme', ['CUSTODIAN']);
    broker = await stack.token('acme', ['BROKER_DEALER', 'ISSUER_AGENT']);
    stranger = await stack.token('globex', ['BROKER_DEALER']);
    tokenId = (await gqlOk<{ createSecurityToken: { id: string } }>(url, issuer, `mutation { createSecurityToken(input: { idempotencyKey: "sub-t", name: "Acme Preferred", symbol: "ACMEP", decimals: 0, exemption: REG_D_506C }) { id } }`)).createSecurityToken.id;
    const accounts: string[] = [];
    for (const name of ['Sam Seller', 'Bea Buyer']) {
      const key = name.replace(/\W/g, '-');
      const inv = (await gqlOk<{ registerInvestor: { id: string } }>(url, issuer, `mutation($n: String!, $k: String!) { registerInvestor(input: { idempotencyKey: $k, legalName: $n, type: INDIVIDUAL, jurisdiction: "US", usPerson: true }) { id } }`, { n: name, k: key })).registerInvestor.id;
      accounts.push((await gqlOk<{ openCustodyAccount: { id: string } }>(url, custodian, `mutation($i: ID!, $k: String!) { openCustodyAccount(input: { idempotencyKey: $k, investorId: $i, kind: SEGREGATED }) { id } }`, { i: inv, k: `acc-${key}` })).openCustodyAccount.id);
    }
    [sellerAccount, buyerAccount] = accounts;

    proxy = await new CuttableProxy(stack.subgraphs.trading.port).start();
    dir = mkdtempSync(join(tmpdir(), 'gateway-subscriptions-'));
    supergraphFile = join(dir, 'supergraph.graphql');
    copyFileSync(fromRoot('schema', 'supergraph.graphql'), supergraphFile);
    edge = await startGateway(loadConfig(gatewaySettings, {
      PORT: '0', AUTH_JWT_SECRET: stack.secrets.jwtSecret, SUPERGRAPH_PATH: supergraphFile, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      ISSUANCE_URL: stack.subgraphs.issuance.url, TRADING_URL: `http://127.0.0.1:${proxy.port}/graphql`,
      SETTLEMENT_URL: stack.subgraphs.settlement.url, CUSTODY_URL: stack.subgraphs.custody.url,
      GATEWAY_SUBSCRIPTION_QUEUE: String(QUEUE), GATEWAY_WS_KEEPALIVE_MS: '600000', GATEWAY_SUBSCRIPTION_RETRY_MS: '50', GATEWAY_SUBSCRIPTION_RETRY_MAX_MS: '200', GATEWAY_SUBSCRIPTION_RETRY_ATTEMPTS: '100', RATE_LIMIT_PER_MINUTE: '40', MAX_DEPTH: '6',
    }));
    upstreamsLive = () => stack.subgraphs.trading.runtime.outbox.following + stack.subgraphs.settlement.runtime.outbox.following
      === stack.gateway.subscriptions.stats().upstreams + edge.subscriptions.stats().upstreams;
  }, 180_000);

  // Every test closes what it opened: the counts ready() compares start from nothing.
  afterEach(async () => {
    await until('every subscription to be closed at the gateways and the subgraphs', () => upstreamsLive()
      && stack.gateway.subscriptions.stats().upstreams + edge.subscriptions.stats().upstreams === 0);
  });

  afterAll(async () => {
    await edge?.stop();
    await proxy?.stop();
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('a fill reaches a gateway subscriber with the token and its cap table from issuance, and its settlement from settlement', async () => {
    const s = new Subscriber<Trades>(url, broker, TRADES, { t: tokenId }).start();
    try {
      await s.ready(stack.gateway, 1);
      await fill(3);
      const [e] = await s.take(1);
      expect(e.errors).toBeUndefined();
      expect(e.data.tradeExecuted).toMatchObject({ cursor: expect.stringMatching(/^\d+$/), trade: { quantity: '3', price: '100', token: { symbol: 'ACMEP', capTable: { holderCount: expect.any(Number) } } } });
      // Settlement takes the fill in a moment later: once it has, a replay from the start carries its status too.
      await until('the settlement of the fill', async () => (await stack.subgraphs.settlement.db.query<{ status: string }>('SELECT status FROM settlements'))[0]?.status === 'REJECTED');
      const replay = new Subscriber<{ tradeExecuted: { trade: unknown } }>(url, broker, `subscription($t: ID, $after: String) { tradeExecuted(tokenId: $t, after: $after) { trade { id token { symbol } settlement { status } } } }`, { t: tokenId, after: '0' }).start();
      try {
        const [r] = await replay.take(1);
        expect(r.data.tradeExecuted.trade).toEqual({ id: e.data.tradeExecuted.trade.id, token: { symbol: 'ACMEP' }, settlement: { status: 'REJECTED' } });
      } finally {
        await replay.dispose();
      }
    } finally {
      await s.dispose();
    }
  });

  test('settlementStatusChanged reaches a gateway subscriber with fields of the settlement and of the token', async () => {
    const s = new Subscriber<Statuses>(url, broker, `subscription { settlementStatusChanged(after: "0") { cursor status final settlement { quantity token { symbol } } } }`).start();
    try {
      const events = await s.take(2);
      expect(events.map((e) => [e.data.settlementStatusChanged.status, e.data.settlementStatusChanged.final])).toEqual([['RECEIVED', false], ['REJECTED', true]]);
      expect(events[1].data.settlementStatusChanged.settlement).toEqual({ quantity: '3', token: { symbol: 'ACMEP' } });
    } finally {
      await s.dispose();
    }
  });

  test('a connection without a valid bearer is refused with the reason, and another organisation gets nothing of acme\'s accounts', async () => {
    for (const [token, reason] of [[undefined, 'MISSING'], [`${broker}x`, 'BAD_SIGNATURE']] as const) {
      const s = new Subscriber<Book>(url, token, BOOK, { t: tokenId }).start();
      await until('the connection to close', () => s.closed);
      expect(s.closed).toEqual({ code: 4403, reason: expect.stringContaining(`UNAUTHENTICATED ${reason}`) });
      await s.dispose();
    }
    for (const [query, variables] of [['subscription($a: ID!) { orderUpdated(accountId: $a) { status } }', { a: buyerAccount }],
      ['subscription($a: ID) { tradeExecuted(accountId: $a) { trade { id } } }', { a: buyerAccount }]] as const) {
      const s = new Subscriber(url, stranger, query, variables).start();
      try {
        const err = await s.failure();
        expect(err[0].extensions).toMatchObject({ code: 'NOT_FOUND', serviceName: 'trading' });
        expect(s.events).toEqual([]);
      } finally {
        await s.dispose();
      }
    }
    // The owner's organisation is served on the same subscription.
    const mine = new Subscriber<Trades>(url, broker, 'subscription($a: ID) { tradeExecuted(accountId: $a, after: "0") { trade { quantity } } }', { a: buyerAccount }).start();
    try {
      expect((await mine.take(1))[0].data.tradeExecuted.trade.quantity).toBe('3');
    } finally {
      await mine.dispose();
    }
  });

  test('subscriptions pass the same operation limits and organisation rate limit as HTTP requests', async () => {
    const deep = new Subscriber(edge.url, broker, `subscription($t: ID) { tradeExecuted(tokenId: $t) { trade { token { capTable { holders { investor { custodyAccounts { id } } } } } } } }`, { t: tokenId }).start();
    try {
      expect((await deep.failure())[0].extensions).toMatchObject({ code: 'LIMIT.DEPTH_EXCEEDED', limit: 6 });
    } finally {
      await deep.dispose();
    }
    // One connection, 45 subscribes: the organisation's bucket holds 40.
    const spammer = createClient({ url: edge.url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${await stack.token('spam-co', ['BROKER_DEALER'])}` } });
    const refused: string[] = [];
    const stops = Array.from({ length: 45 }, () => spammer.subscribe({ query: BOOK, variables: { t: tokenId } }, {
      next: () => undefined, complete: () => undefined, error: (e) => { refused.push((e as { extensions: { code: string } }[])[0]?.extensions?.code); },
    }));
    try {
      // Every subscribe decided: refused, or held by the gateway.
      await until('every subscribe to be refused or held', () => refused.length >= 3 && refused.length + edge.subscriptions.stats().clients === 45);
      expect(refused.length).toBeLessThanOrEqual(5);
      expect(new Set(refused)).toEqual(new Set(['RATE_LIMITED']));
      expect(edge.subscriptions.stats().clients).toBe(45 - refused.length);
    } finally {
      stops.forEach((stop) => stop());
      await spammer.dispose();
    }
    await until('the subscriptions to be released', () => edge.subscriptions.stats().clients === 0);
  });

  test('identical subscriptions share one upstream subscription: public market data across organisations, anything scoped only within one identity', async () => {
    const before = proxy.upgrades;
    const a = new Subscriber<Book>(edge.url, broker, BOOK, { t: tokenId }).start();
    const b = new Subscriber<Book>(edge.url, broker, BOOK, { t: tokenId }).start();
    try {
      await a.ready(edge, 2);
      expect(edge.subscriptions.stats()).toMatchObject({ upstreams: 1, clients: 2 });
      expect(proxy.upgrades - before).toBe(1);
      await fill(2);
      const [ea, eb] = [await a.take(1), await b.take(1)];
      expect(ea).toEqual(eb);
      expect(ea[0].data.orderBookChanged.changes).toEqual([{ side: 'SELL', price: '100', quantity: expect.any(String) }]);
      // The book is the same for everyone (kit/sharing.ts): another organisation joins the same upstream and execution.
      const other = new Subscriber<Book>(edge.url, await stack.token('globex', ['BROKER_DEALER']), BOOK, { t: tokenId }).start();
      // Each side's account depends on who asks: per identity.
      const scoped = 'subscription($t: ID) { tradeExecuted(tokenId: $t) { trade { buyAccountId } } }';
      const mine = new Subscriber<Trades>(edge.url, broker, scoped, { t: tokenId }).start();
      const theirs = new Subscriber<Trades>(edge.url, await stack.token('globex', ['BROKER_DEALER']), scoped, { t: tokenId }).start();
      try {
        await other.ready(edge, 5);
        expect(edge.subscriptions.stats()).toMatchObject({ upstreams: 3, feeds: 3, clients: 5 });
        expect(proxy.upgrades - before).toBe(3);
      } finally {
        for (const s of [other, mine, theirs]) await s.dispose();
      }
    } finally {
      await a.dispose();
      await b.dispose();
    }
    await until('the upstreams to close when nobody listens', () => edge.subscriptions.stats().upstreams === 0);
  });

  test('a client that stops reading is closed as a slow consumer with the reason, while a reader on the same stream gets every event', async () => {
    const book = newId('tok'); // a book of its own, fed straight into trading's outbox with large events
    const fast = new Subscriber<Book>(edge.url, broker, BOOK, { t: book }).start();
    const slow = new Subscriber<Book>(edge.url, broker, BOOK, { t: book }).start();
    try {
      await fast.ready(edge, 2);
      slow.socket!.pause(); // stops reading: the kernel buffers fill, then the gateway's queue
      // Large events, at the pace of the reader: never more in flight than its queue holds, however loaded the machine.
      // (Dumped at once, the reader in this busy test process would be as slow as the one that stopped.)
      const levels = Array.from({ length: 400 }, (_, i) => ({ side: 'SELL', price: String(10_000 + i), quantity: '12345', orders: 3 }));
      let total = 0;
      while (edge.subscriptions.stats().clients === 2 && total < 4_000) {
        const first = total;
        await stack.subgraphs.trading.db.tx((q) => appendEvents(q, Array.from({ length: QUEUE }, (_, j) => ({ topic: 'book.changed', key: book, payload: { tokenId: book, bookSeq: first + j + 1, levels } }))));
        total += QUEUE;
        await fast.take(total, 60_000);
      }
      expect(edge.subscriptions.stats().clients).toBe(1); // the slow client was dropped by the gateway
      // It reads again: what reached its socket before the gateway gave up, then the reason.
      slow.socket!.resume();
      await until('the slow client to see the close', () => slow.closed, 30_000);
      expect(slow.closed).toEqual({ code: 4420, reason: expect.stringContaining('SUBSCRIPTION.SLOW_CONSUMER') });
      expect(slow.events.length).toBeLessThan(total);
      const got = await fast.take(total, 60_000);
      expect(got.map((e) => e.data.orderBookChanged.changes.length)).toEqual(Array(total).fill(400));
    } finally {
      slow.socket?.resume();
      await fast.dispose();
      await slow.dispose();
    }
  }, 120_000);

  test('when the connection to the subgraph drops, the gateway resumes after the last cursor: nothing lost, nothing twice', async () => {
    const s = new Subscriber<Trades>(edge.url, broker, TRADES, { t: tokenId }).start();
    try {
      await s.ready(edge, 1);
      const upgrades = proxy.upgrades;
      await fill(1);
      await s.take(1);
      proxy.refusing = true;
      proxy.cut();
      await fill(2); // placed through the stack's gateway, straight to trading
      await fill(3);
      const refusedBefore = proxy.refused;
      await until('the gateway to retry against the refusing subgraph', () => proxy.refused >= refusedBefore + 2);
      proxy.refusing = false;
      await until('the gateway to reconnect', () => proxy.upgrades > upgrades);
      await fill(4);
      await fill(5); // the last one: anything repeated would arrive before it
      const events = await s.take(5);
      expect(events.at(-1)!.data.tradeExecuted.trade.quantity).toBe('5');
      expect(s.events).toHaveLength(5);
      expect(events.map((e) => e.data.tradeExecuted.trade.quantity)).toEqual(['1', '2', '3', '4', '5']);
      expect(new Set(events.map((e) => e.data.tradeExecuted.trade.id)).size).toBe(5);
      const cursors = events.map((e) => BigInt(e.data.tradeExecuted.cursor));
      expect(cursors.every((c, i) => i === 0 || c > cursors[i - 1])).toBe(true);
      expect(s.error).toBeUndefined();
    } finally {
      proxy.refusing = false;
      await s.dispose();
    }
  }, 90_000);

  test('a supergraph reload ends active subscriptions with SUPERGRAPH_RELOADED, and new ones run on the new supergraph', async () => {
    const s = new Subscriber<Book>(edge.url, broker, BOOK, { t: tokenId }).start();
    try {
      await s.ready(edge, 1);
      appendFileSync(supergraphFile, '\n# reloaded by a test\n');
      const err = await s.failure(15_000);
      expect(err[0]).toMatchObject({ message: expect.stringContaining('subscribe again'), extensions: { code: 'SUBSCRIPTION.SUPERGRAPH_RELOADED', retryable: true } });
    } finally {
      await s.dispose();
    }
    const again = new Subscriber<Book>(edge.url, broker, BOOK, { t: tokenId }).start();
    try {
      await again.ready(edge, 1);
      await fill(1);
      expect((await again.take(1))[0].data.orderBookChanged.tokenId).toBe(tokenId);
    } finally {
      await again.dispose();
    }
  }, 60_000);
});
