/**
 * Throughput of one federated query that crosses three subgraphs in a chain
 * (settlement's settlements -> issuance's token facts -> trading's order
 * book), through three gateways serving the same supergraph over the same
 * running subgraphs, in one run:
 *   - ours: gateway/main.ts (auth, limits, rate limit off, deadlines);
 *   - @graphql-hive/gateway's runtime, defaults, the bearer forwarded;
 *   - a default @apollo/gateway on @apollo/server, the bearer forwarded.
 * Each gateway and each subgraph is its own process; the load (fixed
 * concurrency, fixed duration) comes from this one, alternating A B C per run.
 * Every request varies `depth`, and Hive's in-flight deduplication of
 * identical subgraph requests is off, so each request reaches the subgraphs.
 * Prints requests/second, p50/p99, and ours/hive and ours/apollo.
 *
 *   npx tsx bench/federated-throughput.ts [--seconds 20] [--clients 50] [--runs 3] [--settlements 20]
 */
import type { PlanNode, SubscriptionNode } from '@apollo/query-planner';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { serviceToken, signUserToken } from '../subgraphs/kit/auth.js';
import { findFreePort } from '../scripts/chain/anvil.js';
import { fromRoot } from '../subgraphs/kit/paths.js';
import { gqlOk } from '../scripts/graphqlClient.js';

const SUBGRAPHS = ['issuance', 'trading', 'settlement', 'custody'] as const;
type Subgraph = (typeof SUBGRAPHS)[number];
const PEERS = ['ours', 'hive', 'apollo'] as const;
type Peer = (typeof PEERS)[number];

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : undefined;
}
const num = (name: string, def: number) => {
  const v = Number(arg(name) ?? def);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
  return v;
};

export const QUERY = `query Federated($depth: Int!) {
  settlements { id status quantity price venueReference tradeTime history { status at }
    token { id symbol name exemption totalSupply lastPrice
      orderBook(depth: $depth) { bids { price quantity orders } asks { price quantity orders } } } } }`;

const say = (s: string) => void process.stdout.write(s);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(s.length * p))]; };

// ------------------------------------------------------------------ the two peers, when this file runs as their process

/** The supergraph with each join__graph url pointed at the running subgraphs. */
function supergraphFor(urls: Record<string, string>): string {
  return readFileSync(fromRoot('schema', 'supergraph.graphql'), 'utf8')
    .replace(/@join__graph\(name: "([^"]+)", url: "[^"]*"\)/g, (_m, name: string) => `@join__graph(name: "${name}", url: "${urls[name]}")`);
}

async function serveHive(port: number, supergraphFile: string): Promise<void> {
  const { createGatewayRuntime } = await import('@graphql-hive/gateway');
  const runtime = createGatewayRuntime({
    supergraph: supergraphFile,
    logging: false,
    propagateHeaders: { fromClientToSubgraphs: ({ request }) => ({ authorization: request.headers.get('authorization') }) },
    transportEntries: { '*.http': { options: { deduplicateInflightRequests: false } } },
  });
  await new Promise<void>((r) => createServer(runtime).listen(port, '127.0.0.1', r));
}

async function serveApollo(port: number, supergraphFile: string): Promise<void> {
  const { ApolloGateway, RemoteGraphQLDataSource } = await import('@apollo/gateway');
  const { ApolloServer } = await import('@apollo/server');
  const { startStandaloneServer } = await import('@apollo/server/standalone');
  type Ctx = { authorization?: string };
  const gateway = new ApolloGateway({
    supergraphSdl: readFileSync(supergraphFile, 'utf8'),
    buildService: ({ url }) => new RemoteGraphQLDataSource<Ctx>({
      url,
      willSendRequest({ request, context }) { if (context.authorization) request.http?.headers.set('authorization', context.authorization); },
    }),
  });
  const server = new ApolloServer<Ctx>({ gateway });
  await startStandaloneServer(server, { listen: { port, host: '127.0.0.1' }, context: async ({ req }) => ({ authorization: req.headers.authorization }) });
}

// ------------------------------------------------------------------ processes

const children: ChildProcess[] = [];
let stopping = false;
function startProcess(name: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'], cwd: fromRoot() });
  let err = '';
  child.stderr!.on('data', (d) => { err = (err + d).slice(-4000); });
  child.once('exit', (code) => { if (code && !stopping) say(`\n${name} exited with ${code}: ${err}\n`); });
  children.push(child);
  return child;
}

/** Until the endpoint answers a GraphQL request (any status but a refused connection). */
async function waitAnswering(url: string, what: string): Promise<void> {
  const end = Date.now() + 90_000;
  for (;;) {
    try {
      await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' });
      return;
    } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`${what} did not start at ${url}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

// ------------------------------------------------------------------ load

interface Load { ok: number; errors: number; seconds: number; latencies: number[] }

async function post(url: string, token: string, depth: number): Promise<{ settlements: unknown[] }> {
  const r = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ query: QUERY, variables: { depth } }) });
  const body = (await r.json()) as { data?: { settlements: unknown[] }; errors?: unknown[] };
  if (r.status !== 200 || body.errors || !body.data) throw new Error(`HTTP ${r.status} ${JSON.stringify(body.errors)?.slice(0, 300)}`);
  return body.data;
}

async function drive(url: string, token: string, clients: number, seconds: number, expected: number): Promise<Load> {
  const latencies: number[] = [];
  let ok = 0; let errors = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(Array.from({ length: clients }, async (_, w) => {
    for (let i = 0; performance.now() < end; i++) {
      const s = performance.now();
      try {
        const d = await post(url, token, 1 + ((w + i) % 10));
        if (d.settlements.length !== expected) throw new Error(`${d.settlements.length} settlements, expected ${expected}`);
        ok++;
        latencies.push(performance.now() - s);
      } catch (e) {
        errors++;
        if (errors <= 3) say(`\n  request failed: ${(e as Error).message.slice(0, 300)}\n`);
      }
    }
  }));
  return { ok, errors, seconds: (performance.now() - t0) / 1000, latencies };
}

/** The query plan's fetches as Sequence/Parallel of subgraph names (shows that it really crosses three). */
async function planOf(sdl: string): Promise<string> {
  const { Supergraph, operationFromDocument } = await import('@apollo/federation-internals');
  const { QueryPlanner } = await import('@apollo/query-planner');
  const { parse } = await import('graphql');
  const supergraph = Supergraph.build(sdl);
  const plan = new QueryPlanner(supergraph).buildQueryPlan(operationFromDocument(supergraph.schema, parse(QUERY)));
  const walk = (n: PlanNode | SubscriptionNode | undefined): string => {
    if (n?.kind === 'Fetch') return n.serviceName;
    if (n?.kind === 'Flatten') return walk(n.node);
    // The measured query plans only fetches, flattens, sequences and parallels.
    if (n?.kind !== 'Sequence' && n?.kind !== 'Parallel') throw new Error(`query plan node ${n?.kind} not expected`);
    const inner = n.nodes.map(walk);
    return n.kind === 'Sequence' ? inner.join(' -> ') : `(${inner.join(' | ')})`;
  };
  return walk(plan.node);
}

// ------------------------------------------------------------------ main

async function main() {
  const SECONDS = num('seconds', 20);
  const CLIENTS = num('clients', 50);
  const RUNS = num('runs', 3);
  const SETTLEMENTS = num('settlements', 20);
  say(`federated-throughput: ${os.cpus().length} cores (shared), Node ${process.version}, ${CLIENTS} concurrent clients, ${SECONDS}s x ${RUNS} runs per gateway\n`);

  const secrets = { jwt: randomBytes(32).toString('base64url'), service: randomBytes(32).toString('base64url'), kek: '0x' + randomBytes(32).toString('hex') };
  const ports = Object.fromEntries(await Promise.all([...SUBGRAPHS, ...PEERS].map(async (n) => [n, await findFreePort()] as const))) as Record<Subgraph | Peer, number>;
  const base = (n: Subgraph) => `http://127.0.0.1:${ports[n]}`;
  const graphUrls = Object.fromEntries(SUBGRAPHS.map((n) => [n, `${base(n)}/graphql`]));
  const dir = mkdtempSync(join(os.tmpdir(), 'federated-bench-'));
  const supergraphFile = join(dir, 'supergraph.graphql');
  writeFileSync(supergraphFile, supergraphFor(graphUrls));
  say(`query plan: ${await planOf(readFileSync(supergraphFile, 'utf8'))}\n`);

  const common = {
    AUTH_JWT_SECRET: secrets.jwt, SERVICE_SECRET: secrets.service, LOG_LEVEL: 'error', NODE_ENV: 'production', DATABASE_URL: 'memory://',
    ISSUANCE_URL: base('issuance'), TRADING_URL: base('trading'), CUSTODY_URL: base('custody'), SETTLEMENT_URL: base('settlement'),
    CHAIN_RPC_URL: 'http://127.0.0.1:9', // the query needs no chain; settlements of undeployed tokens are rejected and kept
  };
  say('starting the four subgraphs and three gateways as separate processes... ');
  for (const n of SUBGRAPHS) startProcess(n, [fromRoot('subgraphs', n, 'main.ts')], { ...common, PORT: String(ports[n]), CUSTODY_KEK: secrets.kek, CHAIN_POLL_MS: '60000', SETTLEMENT_OPERATOR_ORGS: 'broker-bench', TRADING_OPERATOR_ORGS: 'venue' });
  for (const n of SUBGRAPHS) await waitAnswering(graphUrls[n], n);
  startProcess('ours', [fromRoot('gateway', 'main.ts')], {
    ...common, PORT: String(ports.ours), RATE_LIMIT_PER_MINUTE: '0',
    ISSUANCE_URL: graphUrls.issuance, TRADING_URL: graphUrls.trading, CUSTODY_URL: graphUrls.custody, SETTLEMENT_URL: graphUrls.settlement,
  });
  for (const p of ['hive', 'apollo'] as const) startProcess(p, [fromRoot('bench', 'federated-throughput.ts'), '--serve', p, '--port', String(ports[p]), '--supergraph', supergraphFile], { NODE_ENV: 'production' });
  const gateways: Record<Peer, string> = { ours: `http://127.0.0.1:${ports.ours}/graphql`, hive: `http://127.0.0.1:${ports.hive}/graphql`, apollo: `http://127.0.0.1:${ports.apollo}/graphql` };
  for (const p of PEERS) await waitAnswering(gateways[p], p);
  say('ready\n');

  // ---- data: tokens with resting orders on both sides, investors with accounts, settlements of trades from another venue
  const token = (org: string, roles: Parameters<typeof signUserToken>[1]['roles']) =>
    signUserToken({ secret: secrets.jwt, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject: `${org}-bench`, org, roles, ttl: 6 * 3600 });
  const issuer = await token('issuer-co', ['ISSUER_AGENT']);
  const desk = await token('broker-bench', ['BROKER_DEALER', 'CUSTODIAN', 'SETTLEMENT_AGENT']);
  const operator = await token('venue', ['ATS_OPERATOR']);
  const svc = await serviceToken({ serviceSecret: secrets.service, issuer: 'tokenstack' }, 'bench');
  const custody = async (method: string, body: object) => {
    const r = await fetch(`${base('custody')}/internal/rpc/${method}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${svc}` }, body: JSON.stringify(body) });
    if (r.status !== 200) throw new Error(`custody ${method}: ${await r.text()}`);
  };
  const run = <D>(t: string, q: string, v?: Record<string, unknown>) => gqlOk<D>(gateways.ours, t, q, v);
  say(`setting up 4 tokens, 4 investors and ${SETTLEMENTS} settlements... `);
  await run<{ admitSubscriber: { status: string } }>(operator, 'mutation { admitSubscriber(org: "broker-bench", reason: "bench") { status } }');
  await custody('registerAsset', { asset: 'CASH' });
  const now = new Date().toISOString();
  const accounts: string[] = [];
  for (let i = 0; i < 4; i++) {
    const inv = (await run<{ registerInvestor: { id: string } }>(issuer, `mutation($k: String!) { registerInvestor(input: { idempotencyKey: $k, legalName: $k, type: INDIVIDUAL, jurisdiction: "US", usPerson: true }) { id } }`, { k: `bench-investor-${i}` })).registerInvestor.id;
    await run(issuer, `mutation($i: ID!, $at: DateTime!) { recordKyc(investorId: $i, status: APPROVED, approvedAt: $at, reason: "verified") { id }
      recordAmlScreening(investorId: $i, status: CLEAR, screenedAt: $at, reason: "verified") { id }
      recordAccreditation(investorId: $i, accredited: true, method: THIRD_PARTY_LETTER, verifiedAt: $at, reason: "verified") { id } }`, { i: inv, at: now });
    const acc = (await run<{ openCustodyAccount: { id: string } }>(desk, 'mutation($i: ID!, $k: String!) { openCustodyAccount(input: { idempotencyKey: $k, investorId: $i, kind: SEGREGATED }) { id } }', { i: inv, k: `acc-${i}` })).openCustodyAccount.id;
    await custody('credit', { accountId: acc, asset: 'CASH', amount: '1000000000000', idempotencyKey: `cash-${i}`, reason: 'bench deposit' });
    accounts.push(acc);
  }
  const tokens: string[] = [];
  for (let t = 0; t < 4; t++) {
    const tokenId = (await run<{ createSecurityToken: { id: string } }>(issuer, `mutation($k: String!) { createSecurityToken(input: { idempotencyKey: $k, name: $k, symbol: $k, decimals: 0, exemption: REG_D_506C }) { id } }`, { k: `BNCH${t}` })).createSecurityToken.id as string;
    await custody('registerAsset', { asset: tokenId });
    for (const [i, acc] of accounts.entries()) await custody('credit', { accountId: acc, asset: tokenId, amount: '1000000', idempotencyKey: `tok-${t}-${i}`, reason: 'bench deposit' });
    await run<{ authorizeVenueToken: { authorized: boolean } }>(desk, 'mutation($t: ID!) { authorizeVenueToken(venue: "OTHER-ATS", tokenId: $t, authorized: true) { authorized } }', { t: tokenId });
    // Bids only: a sell needs holdings that issuance indexes from a chain, and this bench runs none.
    for (let l = 0; l < 10; l++) {
      const placed = await run<{ placeOrder: { accepted: boolean; rejections: { code: string }[] } }>(desk, 'mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { accepted rejections { code } } }',
        { in: { tokenId, accountId: accounts[l % 4], side: 'BUY', price: String(1000 - l), quantity: String(1 + l), clientOrderId: `bid-${t}-${l}` } });
      if (!placed.placeOrder.accepted) throw new Error(`resting order refused: ${JSON.stringify(placed.placeOrder.rejections)}`);
    }
    tokens.push(tokenId);
  }
  for (let s = 0; s < SETTLEMENTS; s++) {
    await run<{ submitExternalTrade: { id: string } }>(desk, 'mutation($in: SubmitExternalTradeInput!) { submitExternalTrade(input: $in) { id } }', { in: {
      venue: 'OTHER-ATS', venueReference: `bench-${s}`, tokenId: tokens[s % 4], buyerAccountId: accounts[s % 4], sellerAccountId: accounts[(s + 1) % 4],
      quantity: String(1 + s), price: '1000', tradeTime: new Date(Date.now() - 60_000).toISOString() } });
  }
  // Settlement verifies each trade in the background (rejected: the tokens are not on chain); measure once it is quiet.
  for (let i = 0; ; i++) {
    const { settlements } = await run<{ settlements: { status: string }[] }>(desk, '{ settlements { status } }');
    if (settlements.every((x) => x.status === 'REJECTED')) break;
    if (i > 600) throw new Error('settlements did not reach a final status');
    await new Promise((r) => setTimeout(r, 100));
  }
  // The three gateways answer the same data.
  const answers = await Promise.all(PEERS.map((p) => post(gateways[p], desk, 5)));
  for (const p of PEERS) if (JSON.stringify(answers[PEERS.indexOf(p)]) !== JSON.stringify(answers[0])) throw new Error(`${p} answers other data than ours`);
  say(`done (one answer is ${fmt(JSON.stringify(answers[0]).length)} bytes)\n`);

  for (const p of PEERS) await drive(gateways[p], desk, CLIENTS, 3, SETTLEMENTS); // warm-up
  const results: Record<Peer, Load[]> = { ours: [], hive: [], apollo: [] };
  for (let r = 0; r < RUNS; r++) {
    say(`run ${r + 1}/${RUNS}:`);
    for (const p of PEERS) {
      const l = await drive(gateways[p], desk, CLIENTS, SECONDS, SETTLEMENTS);
      results[p].push(l);
      say(` ${p} ${fmt(l.ok / l.seconds)}/s${l.errors ? ` (${l.errors} errors)` : ''};`);
    }
    say('\n');
  }

  const rate = (p: Peer) => median(results[p].map((l) => l.ok / l.seconds));
  say(`\nmedians of ${RUNS} runs (${CLIENTS} concurrent clients, ${SECONDS}s each, the same subgraph processes):\n`);
  const names: Record<Peer, string> = { ours: 'ours (gateway/main.ts)', hive: '@graphql-hive/gateway', apollo: '@apollo/gateway default' };
  for (const p of PEERS) {
    say(`  ${names[p].padEnd(26)} ${fmt(rate(p)).padStart(6)} req/s   p50 ${median(results[p].map((l) => pct(l.latencies, 0.5))).toFixed(1)} ms   p99 ${median(results[p].map((l) => pct(l.latencies, 0.99))).toFixed(1)} ms   (runs: ${results[p].map((l) => fmt(l.ok / l.seconds)).join(', ')})\n`);
  }
  say(`  ratio ours / hive:    ${(rate('ours') / rate('hive')).toFixed(2)}\n`);
  say(`  ratio ours / apollo:  ${(rate('ours') / rate('apollo')).toFixed(2)}\n`);
  say(`  load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores\n`);
  rmSync(dir, { recursive: true, force: true });
}

async function cleanup() {
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode !== null ? Promise.resolve() : new Promise((r) => { c.once('exit', r); setTimeout(() => { c.kill('SIGKILL'); r(null); }, 10_000); }))));
}

const serve = arg('serve');
if (serve) {
  const port = num('port', 1);
  const file = arg('supergraph') ?? fromRoot('schema', 'supergraph.graphql');
  await (serve === 'hive' ? serveHive(port, file) : serveApollo(port, file));
} else {
  main().then(cleanup, async (e) => {
    say(`\nbench failed: ${(e as Error).stack ?? e}\n`);
    await cleanup();
    process.exitCode = 1;
  });
}
