/**
 * Subscriptions shared across identities give each client exactly what its
 * own per-identity upstream and execution would: the stack's gateway shares
 * (GATEWAY_SUBSCRIPTION_SHARING=callers), a second gateway on the same
 * subgraphs never does (identity), and every client of several
 * organisations, investors and roles gets the same events, fields, nulls and
 * errors from both. Fills name acme's investor as buyer and globex's as
 * seller, so that who sees which side, which settlement and which cap table
 * really differs between the clients.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parse } from 'graphql';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { Role } from '../../subgraphs/kit/auth.js';
import { loadConfig } from '../../subgraphs/kit/config.js';
import { newId } from '../../subgraphs/kit/ids.js';
import { appendEvents } from '../../subgraphs/kit/outbox.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { CALLER_INDEPENDENT_FIELDS, SHARED_STREAMS } from '../../subgraphs/kit/sharing.js';
import { startGateway, type RunningGateway } from '../../gateway/server.js';
import { gatewaySettings } from '../../gateway/settings.js';
import { SubscriptionPlanner } from '../../gateway/subscriptions/planner.js';
import { sharedAcrossCallers } from '../../gateway/subscriptions/sharing.js';
import { dbLabel } from '../support/db.js';
import { gqlOk, startTestStack, type TestStack } from '../support/stack.js';
import { sleep, until } from '../support/wait.js';

/** One answer of the subscriptions below: each carries the field of its own subscription. */
interface Received {
  data: {
    tradeExecuted?: { cursor: string; trade: { id: string; quantity: string; buyerFee?: string; token: { symbol: string; capTable?: unknown }; settlement: unknown } };
    orderBookChanged?: { cursor: string };
  };
  errors?: unknown[];
}

/** One graphql-ws client with one subscription, recording what arrives. */
class Subscriber {
  readonly events: Received[] = [];
  error?: unknown;
  private readonly client: Client;
  private stop?: () => void;

  constructor(url: string, token: string, query: string, variables: Record<string, unknown>) {
    this.client = createClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${token}` } });
    this.stop = this.client.subscribe({ query, variables }, { next: (v) => { this.events.push(v as Received); }, error: (e) => { this.error = e; }, complete: () => undefined });
  }

  async take(n: number): Promise<Received[]> {
    await until(`${n} events (got ${this.events.length}${this.error ? `, error ${JSON.stringify(this.error)}` : ''})`, () => this.events.length >= n || this.error);
    return this.events.slice(0, n);
  }

  async dispose(): Promise<void> {
    this.stop?.();
    await this.client.dispose();
  }
}

const PUBLIC = `subscription($t: ID) { tradeExecuted(tokenId: $t) { cursor trade { __typename id price quantity cashAmount aggressorSide
  buyOrderId sellOrderId executedAt token { id name symbol decimals exemption status paused lastPrice } } } }`;
const SCOPED = `subscription($t: ID) { tradeExecuted(tokenId: $t) { cursor trade { id quantity buyAccountId sellAccountId buyerFee sellerFee
  token { symbol capTable { holderCount } } } } }`;
/** With each caller's view of the fill's settlement, compared on a replay once settlement is done (its status moves meanwhile). */
const SETTLED = `subscription($t: ID, $after: String) { tradeExecuted(tokenId: $t, after: $after) { cursor trade { id buyAccountId settlement { status quantity } } } }`;
const BOOK = 'subscription($t: ID!) { orderBookChanged(tokenId: $t) { cursor tokenId bookSeq changes { side price quantity orders } } }';

describe(`subscriptions shared across identities (${dbLabel()})`, () => {
  let stack: TestStack;
  let own: RunningGateway; // never shares across identities
  let tokenId: string;
  let acmeInvestor: string, globexInvestor: string, acmeAccount: string, globexAccount: string;
  const callers: Record<string, string> = {};
  let bookSeq = 0;
  let fills = 0;

  /** A fill as the matching engine records it: acme's investor buys from globex's. */
  const fill = async (quantity: number) => {
    const tradeId = newId('trd');
    const cash = String(quantity * 100);
    fills++;
    const cursors = await stack.subgraphs.trading.db.tx((q) => appendEvents(q, [
      { topic: 'trade.executed', key: tradeId, payload: {
        tradeId, tokenId, price: '100', quantity: String(quantity), cashAmount: cash, cashAsset: 'CASH', buyOrderId: newId('ord'), sellOrderId: newId('ord'),
        buyAccountId: acmeAccount, sellAccountId: globexAccount, buyInvestorId: acmeInvestor, sellInvestorId: globexInvestor, buyOrg: 'acme', sellOrg: 'globex',
        buyerFee: '3', sellerFee: '4', aggressorSide: 'BUY', bookSeq: ++bookSeq, executedAt: new Date().toISOString(),
        reservations: { buy: [{ key: `${tradeId}-b`, asset: 'CASH', amount: cash }], sell: [{ key: `${tradeId}-s`, asset: tokenId, amount: String(quantity) }] } } },
      { topic: 'book.changed', key: tokenId, payload: { tokenId, bookSeq, levels: [{ side: 'SELL', price: '100', quantity: String(1000 - bookSeq), orders: 1 }] } },
    ]));
    return BigInt(cursors.at(-1)!);
  };

  beforeAll(async () => {
    stack = await startTestStack();
    const url = stack.gateway.url;
    const acmeIssuer = await stack.token('acme', ['ISSUER_AGENT']);
    tokenId = (await gqlOk<{ createSecurityToken: { id: string } }>(url, acmeIssuer, `mutation { createSecurityToken(input: { idempotencyKey: "share-t", name: "Acme Preferred", symbol: "ACMEP", decimals: 0, exemption: REG_D_506C }) { id } }`)).createSecurityToken.id;
    const onboard = async (org: string, name: string) => {
      const issuer = await stack.token(org, ['ISSUER_AGENT']);
      const custodian = await stack.token(org, ['CUSTODIAN']);
      const key = name.replace(/\W/g, '-');
      const inv = (await gqlOk<{ registerInvestor: { id: string } }>(url, issuer, `mutation($n: String!, $k: String!) { registerInvestor(input: { idempotencyKey: $k, legalName: $n, type: INDIVIDUAL, jurisdiction: "US", usPerson: true }) { id } }`, { n: name, k: key })).registerInvestor.id as string;
      const acc = (await gqlOk<{ openCustodyAccount: { id: string } }>(url, custodian, `mutation($i: ID!, $k: String!) { openCustodyAccount(input: { idempotencyKey: $k, investorId: $i, kind: SEGREGATED }) { id } }`, { i: inv, k: `acc-${key}` })).openCustodyAccount.id as string;
      return [inv, acc];
    };
    [acmeInvestor, acmeAccount] = await onboard('acme', 'Bea Buyer');
    [globexInvestor, globexAccount] = await onboard('globex', 'Sam Seller');
    const roles: [string, string, Role[], string?][] = [
      ['acme broker', 'acme', ['BROKER_DEALER']],
      ['acme issuer and broker', 'acme', ['ISSUER_AGENT', 'BROKER_DEALER']],
      ['acme auditor', 'acme', ['AUDITOR']],
      ['acme investor (the buyer)', 'acme', ['INVESTOR'], acmeInvestor],
      ['acme investor (another)', 'acme', ['INVESTOR'], newId('inv')],
      ['globex broker', 'globex', ['BROKER_DEALER']],
      ['globex investor (the seller)', 'globex', ['INVESTOR'], globexInvestor],
      ['initech compliance officer', 'initech', ['COMPLIANCE_OFFICER']],
      ['venue operator', 'venue', ['ATS_OPERATOR']],
      ['venue settlement agent', 'venue', ['SETTLEMENT_AGENT']],
    ];
    for (const [name, org, r, investorId] of roles) callers[name] = await stack.token(org, r, investorId ? { investorId } : {});
    own = await startGateway(loadConfig(gatewaySettings, {
      PORT: '0', AUTH_JWT_SECRET: stack.secrets.jwtSecret, SUPERGRAPH_PATH: fromRoot('schema', 'supergraph.graphql'), LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      ISSUANCE_URL: stack.subgraphs.issuance.url, TRADING_URL: stack.subgraphs.trading.url, SETTLEMENT_URL: stack.subgraphs.settlement.url, CUSTODY_URL: stack.subgraphs.custody.url,
      GATEWAY_SUBSCRIPTION_SHARING: 'identity', RATE_LIMIT_PER_MINUTE: '0', SUBGRAPH_TIMEOUT_MS: '60000', // the stack's gateway's deadline: a loaded machine is not a downed subgraph
    }));
  }, 180_000);

  afterAll(async () => {
    await own?.stop();
    await stack?.stop();
  });

  /**
   * Each caller subscribes on both gateways. Live: fills go out until every
   * subscription has one (graphql-ws says nothing once the subgraph has the
   * subscription), then `events` more, and each caller's two streams must
   * hold the same `events` events. Replay (after: "0"): the first `events`.
   */
  async function compare(query: string, variables: Record<string, unknown>, events: number, opts: { live: boolean }) {
    const subs = Object.entries(callers).map(([name, token]) => ({
      name, shared: new Subscriber(stack.gateway.url, token, query, variables), own: new Subscriber(own.url, token, query, variables),
    }));
    let from = -1n;
    try {
      if (opts.live) {
        await until('every subscription to reach both gateways', () => stack.gateway.subscriptions.stats().clients >= subs.length && own.subscriptions.stats().clients >= subs.length, 30_000);
        // Another warm-up only when one has had its time: each adds work to every per-identity stream.
        const everyone = () => subs.every((s) => s.shared.events.length >= 1 && s.own.events.length >= 1);
        await until('every client to see a warm-up fill', async () => {
          from = await fill(1);
          const since = Date.now();
          const failedOne = () => subs.find((s) => s.shared.error || s.own.error);
          await until('the warm-up fill, or time for another', () => everyone() || failedOne() || Date.now() - since > 5_000, 10_000);
          const failed = failedOne();
          if (failed) throw new Error(`${failed.name}: ${JSON.stringify(failed.shared.error ?? failed.own.error)}`);
          return everyone();
        }, 90_000);
        for (let i = 0; i < events; i++) await fill(2 + i);
      }
      // Events after the last warm-up fill (all of a replay).
      const after = (x: Subscriber) => x.events.filter((e) => BigInt((Object.values(e.data ?? {})[0] as { cursor?: string } | undefined)?.cursor ?? -1) > from);
      const seen: Record<string, Received[]> = {};
      for (const s of subs) {
        await until(`${events} events for ${s.name} on both gateways`, () => (after(s.shared).length >= events && after(s.own).length >= events) || s.shared.error || s.own.error, 90_000);
        await sleep(100); // nothing more may follow
        const [mine, theirs] = [after(s.shared), after(s.own)];
        expect({ caller: s.name, events: mine, error: s.shared.error }).toEqual({ caller: s.name, events: theirs, error: s.own.error });
        expect(mine).toHaveLength(events);
        seen[s.name] = mine;
      }
      return { seen, stats: { shared: stack.gateway.subscriptions.stats(), own: own.subscriptions.stats() } };
    } finally {
      for (const s of subs) await Promise.all([s.shared.dispose(), s.own.dispose()]);
      await until('the gateways to release every upstream', () => stack.gateway.subscriptions.stats().upstreams === 0 && own.subscriptions.stats().upstreams === 0);
    }
  }

  test('a public fill stream runs once for ten identities of five organisations, and each client gets what its own execution sends', async () => {
    const { seen, stats } = await compare(PUBLIC, { t: tokenId }, 3, { live: true });
    expect(stats.shared).toMatchObject({ upstreams: 1, feeds: 1, clients: 10 });
    expect(stats.own).toMatchObject({ upstreams: 10, feeds: 10, clients: 10 });
    const first = seen['acme broker'];
    expect(first.map((e) => e.data.tradeExecuted!.trade.quantity)).toEqual(['2', '3', '4']);
    expect(first[0].data.tradeExecuted!.trade.token).toMatchObject({ symbol: 'ACMEP', name: 'Acme Preferred', decimals: 0 });
    for (const events of Object.values(seen)) expect(events).toEqual(first);
  }, 240_000);

  test('the order book stream is shared across organisations and equals per-identity execution', async () => {
    const { seen, stats } = await compare(BOOK, { t: tokenId }, 2, { live: true });
    expect(stats.shared).toMatchObject({ upstreams: 1, clients: 10 });
    expect(seen['globex broker'].at(-1)!.data.orderBookChanged).toMatchObject({ tokenId, changes: [{ side: 'SELL', price: '100', orders: 1 }] });
  }, 240_000);

  test('each side\'s account and fee, the settlement (settlement subgraph) and the cap table (issuance) stay per identity and equal per-identity execution', async () => {
    const { seen, stats } = await compare(SCOPED, { t: tokenId }, 2, { live: true });
    expect(stats.shared.upstreams).toBe(10);
    const last = (name: string) => seen[name].at(-1)!.data.tradeExecuted!.trade;
    // Who sees what really differs, so that the comparison above is not between equal nulls.
    expect(last('acme broker')).toMatchObject({ buyAccountId: acmeAccount, sellAccountId: null, buyerFee: '3', sellerFee: null });
    expect(last('acme investor (the buyer)')).toMatchObject({ buyAccountId: acmeAccount, sellAccountId: null });
    expect(last('acme investor (another)')).toMatchObject({ buyAccountId: null, sellAccountId: null, buyerFee: null });
    expect(last('globex investor (the seller)')).toMatchObject({ buyAccountId: null, sellAccountId: globexAccount, sellerFee: '4' });
    expect(last('initech compliance officer')).toMatchObject({ buyAccountId: null, sellAccountId: null });
    expect(last('acme issuer and broker').token.capTable).not.toBeNull();
    expect(last('globex broker').token.capTable).toBeNull();

    // Once settlement has taken every fill, a replay from the start carries each caller's settlement view too.
    const total = fills;
    await until('settlement to finish every fill', async () => {
      const rows = await stack.subgraphs.settlement.db.query<{ status: string }>('SELECT status FROM settlements');
      return rows.length >= total && rows.every((r) => ['REJECTED', 'SETTLED', 'CANCELLED'].includes(r.status));
    }, 90_000);
    const replay = await compare(SETTLED, { t: tokenId, after: '0' }, total, { live: false });
    expect(replay.stats.shared.upstreams).toBe(10);
    const views = new Set(Object.values(replay.seen).map((e) => JSON.stringify(e.map((x) => x.data.tradeExecuted!.trade.settlement))));
    expect(views.size).toBeGreaterThan(1);
  }, 300_000);

  test('hostile: a scoped field smuggled into a public stream by alias, fragment, directive or an unused operation keeps it per identity', async () => {
    const smuggled = [
      `subscription($t: ID) { tradeExecuted(tokenId: $t) { trade { id: buyAccountId quantity } } }`,
      `subscription($t: ID) { tradeExecuted(tokenId: $t) { trade { ...F } } } fragment F on Trade { quantity buyerFee }`,
      `subscription($t: ID, $x: Boolean = false) { tradeExecuted(tokenId: $t) { trade { quantity sellAccountId @include(if: $x) } } }`,
      `subscription($t: ID) { tradeExecuted(tokenId: $t) { trade { quantity ... on Trade { settlement { status } } } } }`,
    ];
    for (const q of smuggled) {
      const strangers = [callers['globex broker'], callers['initech compliance officer']].map((token) => new Subscriber(stack.gateway.url, token, q, { t: tokenId }));
      const buyer = new Subscriber(stack.gateway.url, callers['acme broker'], q, { t: tokenId });
      try {
        await until('the three subscriptions', () => stack.gateway.subscriptions.stats().clients >= 3);
        expect(stack.gateway.subscriptions.stats().upstreams).toBe(3);
        await until('every client to see a fill', async () => {
          await fill(5);
          await sleep(200);
          return [...strangers, buyer].every((x) => x.events.length > 0);
        });
        const [mine] = await buyer.take(1);
        for (const x of strangers) {
          const theirs = await x.take(1);
          expect(JSON.stringify(x.events)).not.toContain(acmeAccount);
          expect(JSON.stringify(x.events)).not.toContain('"3"'); // acme's fee
          expect(theirs[0].data.tradeExecuted!.trade.quantity).toBe('5');
        }
        if (q.includes('buyAccountId')) expect(mine.data.tradeExecuted!.trade.id).toBe(acmeAccount);
        if (q.includes('buyerFee')) expect(mine.data.tradeExecuted!.trade.buyerFee).toBe('3');
      } finally {
        for (const s of [...strangers, buyer]) await s.dispose();
      }
      await until('the upstreams to close', () => stack.gateway.subscriptions.stats().upstreams === 0);
    }
  }, 180_000);

  test('hostile: a client whose bearer expires cannot fail a shared stream for the others (it runs with the freshest bearer)', async () => {
    const long = new Subscriber(stack.gateway.url, callers['globex broker'], PUBLIC, { t: tokenId });
    const brief = await stack.token('hooli', ['BROKER_DEALER'], { ttl: 4 });
    const expires = Date.now() + 4_000;
    const short = new Subscriber(stack.gateway.url, brief, PUBLIC, { t: tokenId });
    try {
      await until('both clients on one feed', () => stack.gateway.subscriptions.stats().clients >= 2);
      expect(stack.gateway.subscriptions.stats()).toMatchObject({ upstreams: 1, feeds: 1 });
      await until('the short bearer to expire', () => Date.now() > expires + 1_500, 15_000);
      const seen = long.events.length;
      await until('a fill after the expiry', async () => {
        await fill(6);
        await sleep(200);
        return long.events.length > seen;
      });
      const last = long.events.at(-1)!;
      expect(last.errors).toBeUndefined();
      expect(last.data.tradeExecuted!.trade.token.symbol).toBe('ACMEP');
    } finally {
      await long.dispose();
      await short.dispose();
    }
  }, 60_000);

  test('hostile: another organisation\'s account on a fill stream is refused with NOT_FOUND on both gateways, and a shared stream of public fields does not let it in', async () => {
    for (const url of [stack.gateway.url, own.url]) {
      const s = new Subscriber(url, callers['globex broker'], 'subscription($t: ID, $a: ID) { tradeExecuted(tokenId: $t, accountId: $a) { trade { id } } }', { t: tokenId, a: acmeAccount });
      try {
        await until('the refusal', () => s.error);
        expect((s.error as { extensions: { code: string } }[])[0].extensions.code).toBe('NOT_FOUND');
        expect(s.events).toEqual([]);
      } finally {
        await s.dispose();
      }
    }
  }, 60_000);
});

describe('which subscriptions are the same for every caller (kit/sharing.ts)', () => {
  const planner = new SubscriptionPlanner(readFileSync(fromRoot('schema', 'supergraph.graphql'), 'utf8'));
  const shared = (q: string, op?: string) => sharedAcrossCallers(planner.schema, parse(q), op);

  test('public market data of a token is shared', () => {
    expect(shared(PUBLIC)).toBe(true);
    expect(shared(BOOK)).toBe(true);
    expect(shared('subscription { __typename tradeExecuted(tokenId: "tok_1", after: "5") { __typename cursor } }')).toBe(true);
  });

  test('anything naming an account, a fee, a settlement, a cap table, an order stream or an unlisted field is per identity', () => {
    for (const q of [
      SCOPED,
      'subscription { tradeExecuted(tokenId: "t", accountId: "a") { cursor } }',
      'subscription { tradeExecuted(accountId: "a") { cursor } }',
      'subscription { orderUpdated(accountId: "a") { status } }',
      'subscription { settlementStatusChanged { status } }',
      'subscription { tradeExecuted(tokenId: "t") { trade { sellerFee } } }',
      'subscription { tradeExecuted(tokenId: "t") { trade { token { capTable { holderCount } } } } }',
      'subscription { tradeExecuted(tokenId: "t") { trade { token { issuerOrg } } } }',
      'subscription { tradeExecuted(tokenId: "t") { trade { alias: sellAccountId } } }',
      'subscription A { tradeExecuted(tokenId: "t") { cursor } } subscription B { tradeExecuted(tokenId: "t") { trade { buyAccountId } } }',
      'subscription { tradeExecuted(tokenId: "t") { cursor } } fragment Unused on Trade { buyerFee }',
    ]) expect({ q, shared: shared(q, q.includes('subscription A') ? 'A' : undefined) }).toEqual({ q, shared: false });
  });

  test('every listed stream and field exists in the supergraph (a renamed field cannot stay listed by mistake)', () => {
    const fields = planner.schema.getSubscriptionType()!.getFields();
    for (const [stream, args] of Object.entries(SHARED_STREAMS)) {
      expect(fields[stream]).toBeDefined();
      for (const a of args) expect(fields[stream].args.map((x) => x.name)).toContain(a);
    }
    for (const [type, names] of Object.entries(CALLER_INDEPENDENT_FIELDS)) {
      const t = planner.schema.getType(type) as { getFields?: () => Record<string, unknown> } | undefined;
      expect(t?.getFields).toBeDefined();
      for (const n of names) expect({ type, field: n, exists: n in t!.getFields!() }).toEqual({ type, field: n, exists: true });
    }
  });
});
