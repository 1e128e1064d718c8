/**
 * Fill-to-client latency and delivery rate with 1,000 graphql-ws clients
 * subscribed to `tradeExecuted` through the gateway, each with its own
 * identity by default (every client its own organisation's broker or
 * investor), against a bare graphql-ws server publishing the same events to
 * 1,000 clients, in the same run (A B A B).
 *
 * Gateway path: a fill is committed to trading's outbox (trade.executed, as
 * the matching engine writes it), trading's subscription wakes on NOTIFY and
 * pushes it to the gateway over graphql-ws, the gateway runs the rest of the
 * plan (the token's symbol from issuance) once for everyone with the same
 * subscription (kit/sharing.ts: these fields are the same for every caller,
 * so every identity shares it) and sends it to each client. Bare path: the same event
 * objects, published in-process to a graphql-ws server over graphql-js.
 * Latency is from just before the fill's commit (or the publish) to the
 * client's receipt; the clients run in a child process so that their parsing
 * does not share the servers' event loop. Deliveries/s: every delivery over
 * the time from the first publish to the last receipt.
 *
 * The default pace, a fill every 200 ms (5,000 deliveries/s), is one both
 * systems sustain on a shared 2-core machine; at the reference scenario's
 * pace (`--interval-ms 10`, 100,000 deliveries/s) both fall behind there and
 * the figures measure the backlog rather than the path.
 *
 *   npx tsx bench/fill-latency.ts [--clients 1000] [--events 150] [--interval-ms 200] [--rounds 3] [--identities 1000]
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildSchema } from 'graphql';
import { createClient } from 'graphql-ws';
import { useServer } from 'graphql-ws/use/ws';
import WebSocket, { WebSocketServer } from 'ws';
import { signUserToken } from '../subgraphs/kit/auth.js';
import { newId } from '../subgraphs/kit/ids.js';
import { appendEvents } from '../subgraphs/kit/outbox.js';
import { generateSecrets } from '../scripts/devSecrets.js';
import { gqlOk } from '../scripts/graphqlClient.js';
import { startStack } from '../scripts/stack.js';

const { values: opts } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' }, events: { type: 'string', default: '150' }, 'interval-ms': { type: 'string', default: '200' },
    rounds: { type: 'string', default: '3' }, identities: { type: 'string', default: '1000' }, role: { type: 'string' },
  },
});
const positive = (name: keyof typeof opts) => {
  const v = Number(opts[name]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
};
const CLIENTS = positive('clients');
const EVENTS = positive('events');
const INTERVAL_MS = positive('interval-ms');
const ROUNDS = positive('rounds');
const IDENTITIES = positive('identities');
const WARMUP = 20;

const SUBSCRIPTION = 'subscription($t: ID) { tradeExecuted(tokenId: $t) { cursor trade { id price quantity executedAt token { symbol } } } }';
const now = () => Date.now(); // the same clock in both processes (ms)
const say = (s: string) => void process.stdout.write(s);
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };

interface ClientsJob { url: string; tokens: string[]; variables: Record<string, unknown>; clients: number }

/** Child process: opens the clients, reports when all are subscribed, then each receipt time by cursor when told to stop. */
async function runClients(): Promise<void> {
  const job = await new Promise<ClientsJob>((r) => process.once('message', (m) => r(m as ClientsJob)));
  const arrivals = new Map<string, number[]>();
  let subscribed = 0;
  const clients: ReturnType<typeof createClient>[] = [];
  for (let i = 0; i < job.clients; i++) {
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 50)); // connect in steps: a listen backlog is not a queue of 1,000
    const client = createClient({ url: job.url, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${job.tokens[i % job.tokens.length]}` } });
    let first = true;
    client.subscribe<{ tradeExecuted: { cursor: string } }>({ query: SUBSCRIPTION, variables: job.variables }, {
      next: (v) => {
        const t = now();
        const c = v.data?.tradeExecuted.cursor;
        if (!c) return;
        if (first) { first = false; subscribed++; }
        let a = arrivals.get(c);
        if (!a) arrivals.set(c, (a = []));
        a.push(t);
      },
      error: (e) => { if (process.connected) process.send!({ kind: 'error', error: String((e as Error)?.message ?? JSON.stringify(e)) }); },
      complete: () => undefined,
    });
    clients.push(client);
  }
  process.on('message', (m: { kind: string; cursor?: string }) => {
    if (m.kind === 'count') process.send!({ kind: 'count', subscribed });
    if (m.kind === 'seen') process.send!({ kind: 'seen', n: arrivals.get(m.cursor ?? '')?.length ?? 0 });
    if (m.kind === 'report') {
      process.send!({ kind: 'report', arrivals: [...arrivals.entries()] }, () => {
        void Promise.all(clients.map((c) => c.dispose())).then(() => process.exit(0));
      });
    }
  });
  process.send!({ kind: 'opened' });
}

/** Latencies of one system: clients in a child process, `publish(i)` sends event i and returns its cursor and start time. */
async function measure(name: string, url: string, tokens: string[], variables: Record<string, unknown>, publish: (i: number) => Promise<{ cursor: string; t0: number }>) {
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--role', 'clients'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const inbox: { kind: string; [k: string]: unknown }[] = [];
  const waiters: (() => void)[] = [];
  child.on('message', (m) => { inbox.push(m as never); waiters.splice(0).forEach((w) => w()); });
  const next = async (kind: string) => {
    for (;;) {
      const i = inbox.findIndex((m) => m.kind === kind || m.kind === 'error');
      if (i >= 0) {
        const [m] = inbox.splice(i, 1);
        if (m.kind === 'error') throw new Error(`${name} client: ${String(m.error)}`);
        return m;
      }
      await new Promise<void>((r) => waiters.push(r));
    }
  };
  child.send({ url, tokens, variables, clients: CLIENTS } satisfies ClientsJob);
  await next('opened');
  // Warm-up events until every client has seen one (each is then surely subscribed).
  const starts = new Map<string, number>();
  for (let i = 0; ; i++) {
    await publish(-1 - i);
    await new Promise((r) => setTimeout(r, 50));
    child.send({ kind: 'count' });
    const { subscribed } = (await next('count')) as unknown as { subscribed: number };
    if (subscribed === CLIENTS && i >= WARMUP) break;
    if (i > 2000) throw new Error(`${name}: only ${subscribed} of ${CLIENTS} clients subscribed`);
  }
  const began = now();
  for (let i = 0; i < EVENTS; i++) {
    const at = began + i * INTERVAL_MS;
    const wait = at - now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const { cursor, t0 } = await publish(i);
    starts.set(cursor, t0);
  }
  // The last deliveries (a backlog, if the system fell behind, counts in full).
  const last = [...starts.keys()].at(-1);
  for (const end = now() + 60_000; now() < end;) {
    child.send({ kind: 'seen', cursor: last });
    if (((await next('seen')) as unknown as { n: number }).n >= CLIENTS) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 200));
  child.send({ kind: 'report' });
  const { arrivals } = (await next('report')) as unknown as { arrivals: [string, number[]][] };
  const latencies: number[] = [];
  let missing = 0;
  let lastArrival = began;
  const byCursor = new Map(arrivals);
  for (const [cursor, t0] of starts) {
    const got = byCursor.get(cursor) ?? [];
    missing += CLIENTS - got.length;
    for (const t of got) {
      latencies.push(t - t0);
      if (t > lastArrival) lastArrival = t;
    }
  }
  await new Promise((r) => child.once('exit', r));
  return { p50: pct(latencies, 0.5), p99: pct(latencies, 0.99), deliveries: latencies.length, rate: latencies.length / (Math.max(1, lastArrival - began) / 1000), missing };
}

/** The bare peer: graphql-ws over graphql-js, each subscriber fed from an in-process publisher. */
async function startBare() {
  const schema = buildSchema(`
    type SecurityToken { symbol: String! }
    type Trade { id: ID! price: String! quantity: String! executedAt: String! token: SecurityToken! }
    type TradeExecution { cursor: String! trade: Trade! }
    type Query { ok: Boolean }
    type Subscription { tradeExecuted(tokenId: ID): TradeExecution! }`);
  const subscribers = new Set<(e: unknown) => void>();
  const roots = {
    tradeExecuted: () => {
      const queue: unknown[] = [];
      let wake: (() => void) | undefined;
      const push = (e: unknown) => { queue.push({ tradeExecuted: e }); wake?.(); };
      subscribers.add(push);
      return (async function* () {
        try {
          for (;;) {
            while (queue.length) yield queue.shift();
            await new Promise<void>((r) => (wake = r));
          }
        } finally {
          subscribers.delete(push);
        }
      })();
    },
  };
  const http = createServer();
  const wss = new WebSocketServer({ server: http, path: '/graphql' });
  const server = useServer({ schema, roots: { subscription: roots } }, wss);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return {
    url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/graphql`,
    publish: (e: unknown) => { for (const s of subscribers) s(e); },
    async stop() { await server.dispose(); http.close(); },
  };
}

async function main() {
  say(`fill-to-client latency: ${CLIENTS} graphql-ws clients, ${EVENTS} fills ${INTERVAL_MS} ms apart, ${IDENTITIES} caller identit${IDENTITIES === 1 ? 'y' : 'ies'}, ${ROUNDS} rounds (bare, gateway, ...)\n`);
  say('starting the stack (four subgraphs on in-memory PGlite, the gateway)... ');
  const secrets = generateSecrets();
  // Everything runs in this one process here: settlement turning each bench fill into a settlement (which it would
  // reject) would share the gateway's event loop, which it never does in a deployment (its own process).
  const stack = await startStack({ secrets, ports: { gateway: 0, issuance: 0, trading: 0, settlement: 0, custody: 0 }, chain: 'none', logLevel: 'silent', subgraphEnv: { SETTLEMENT_CONSUME_TRADES: 'false', TRADING_MAX_UNSETTLED: '0' } }); // nothing settles: no backlog bound
  const sign = (org: string, roles: Parameters<typeof signUserToken>[1]['roles']) => signUserToken({ secret: secrets.jwtSecret, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject: `${org}-user`, org, roles, ttl: 3 * 3600 });
  const tokenId = (await gqlOk<{ createSecurityToken: { id: string } }>(stack.gateway.url, await sign('acme', ['ISSUER_AGENT']), `mutation { createSecurityToken(input: { idempotencyKey: "bench", name: "Acme Preferred", symbol: "ACMEP", decimals: 0, exemption: REG_D_506C }) { id } }`)).createSecurityToken.id as string;
  // Every identity its own organisation, brokers and investors alternating.
  const tokens = await Promise.all(Array.from({ length: IDENTITIES }, (_, i) => signUserToken({ secret: secrets.jwtSecret, issuer: 'tokenstack', audience: 'tokenstack-api' }, i % 2
    ? { subject: `investor-${i}`, org: `org-${i}`, roles: ['INVESTOR'], investorId: newId('inv'), ttl: 3 * 3600 }
    : { subject: `broker-${i}`, org: `org-${i}`, roles: ['BROKER_DEALER'], ttl: 3 * 3600 })));
  say('ready\n');
  const bare = await startBare();
  const trading = stack.subgraphs.trading.db;
  const fillOf = (i: number) => ({ tradeId: newId('trd'), tokenId, price: '100', quantity: String(1 + (Math.abs(i) % 50)), executedAt: new Date().toISOString() });
  // The whole trade.executed payload (trading's stream reads it with the topic's parser), as the matching engine writes it.
  let bookSeq = 0;
  const payloadOf = (f: ReturnType<typeof fillOf>) => ({
    ...f, cashAmount: String(100n * BigInt(f.quantity)), cashAsset: 'CASH', aggressorSide: 'BUY', buyOrderId: newId('ord'), sellOrderId: newId('ord'),
    buyAccountId: newId('acc'), sellAccountId: newId('acc'), buyInvestorId: null, sellInvestorId: null, buyOrg: 'org-0', sellOrg: 'org-1',
    buyerFee: '0', sellerFee: '0', reservations: { buy: [], sell: [] }, bookSeq: ++bookSeq,
  });

  const systems = {
    bare: () => measure('bare', bare.url, tokens, { t: tokenId }, async (i) => {
      const f = fillOf(i);
      const t0 = now();
      const cursor = String(i);
      bare.publish({ cursor, trade: { id: f.tradeId, price: f.price, quantity: f.quantity, executedAt: f.executedAt, token: { symbol: 'ACMEP' } } });
      return { cursor, t0 };
    }),
    gateway: () => measure('gateway', stack.gateway.url.replace(/^http/, 'ws'), tokens, { t: tokenId }, async (i) => {
      const f = fillOf(i);
      const t0 = now();
      const [cursor] = await trading.tx((q) => appendEvents(q, [{ topic: 'trade.executed', key: f.tradeId, payload: payloadOf(f) }]));
      return { cursor, t0 };
    }),
  };
  const results: Record<string, { p50: number; p99: number; rate: number }[]> = { bare: [], gateway: [] };
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const name of ['bare', 'gateway'] as const) {
        say(`round ${r + 1}, ${name}: `);
        const m = await systems[name]();
        results[name].push(m);
        say(`p50 ${m.p50.toFixed(1)} ms, p99 ${m.p99.toFixed(1)} ms, ${m.deliveries.toLocaleString('en-US')} deliveries, ${Math.round(m.rate).toLocaleString('en-US')}/s${m.missing ? `, ${m.missing} missing` : ''}\n`);
      }
    }
  } finally {
    await bare.stop();
    await stack.stop();
  }
  const med = (name: string, k: 'p50' | 'p99' | 'rate') => pct(results[name].map((x) => x[k]), 0.5);
  const rate = (name: string) => Math.round(med(name, 'rate')).toLocaleString('en-US');
  say(`\nmedian of ${ROUNDS} rounds (${IDENTITIES} identities):\n`);
  say(`  bare graphql-ws server:  ${rate('bare')} deliveries/s  p50 ${med('bare', 'p50').toFixed(1)} ms  p99 ${med('bare', 'p99').toFixed(1)} ms\n`);
  say(`  through the gateway:     ${rate('gateway')} deliveries/s  p50 ${med('gateway', 'p50').toFixed(1)} ms  p99 ${med('gateway', 'p99').toFixed(1)} ms\n`);
  say(`  ratio gateway / bare:    deliveries/s ${(med('gateway', 'rate') / med('bare', 'rate')).toFixed(2)}x  p50 ${(med('gateway', 'p50') / med('bare', 'p50')).toFixed(2)}x  p99 ${(med('gateway', 'p99') / med('bare', 'p99')).toFixed(2)}x (goal: at least 0.5x, p99 at most 2x)\n`);
}

if (opts.role === 'clients') await runClients();
else await main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
