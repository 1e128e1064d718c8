/**
 * Order entry through the gateway on PostgreSQL: `placeOrder` with every
 * pre-trade check (issuance's transfer rules, custody's reservation) and the
 * journaled match, from many accounts, half the orders resting and half
 * crossing. Prints orders/s and p50/p99, and two ratios measured in the same
 * run, alternating A B C A B C:
 *   - against pgbench's single-row INSERT rate, 8 clients, on the same server
 *     (a scratch database);
 *   - against the same gateway answering a trivial query served by one
 *     subgraph (`{ venueRules { name } }`, trading) at the same concurrency.
 *
 * The stack runs as in production: issuance, custody, trading and the
 * gateway each in its own process (settlement is not started: nothing here
 * needs it; the gateway only plans around it), on fresh databases created on
 * the server and dropped at the end.
 *
 *   npx tsx bench/place-order.ts [--pg postgres://postgres@127.0.0.1:5432/postgres]
 *     [--seconds 10] [--clients 32] [--accounts 64] [--runs 3] [--crossing 0.5]
 *
 * With BENCH_PROFILE=gateway,trading,custody,issuance (any of them) and
 * BENCH_PROFILE_DIR=DIR those processes run under `node --cpu-prof`; DIR
 * then also holds bench-profile.json (which pid is which process, when
 * placeOrder ran), and `npx tsx bench/profile-summary.ts DIR` summarises the
 * placeOrder phase of each.
 *
 * With BENCH_STATEMENTS=DIR each service counts the statements it sends
 * (bench/count-statements.ts) and the bench prints them per order, with the
 * commits per order of each service's database (pg_stat_database).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { serviceToken, signUserToken, type Role } from '../subgraphs/kit/auth.js';
import { findFreePort } from '../scripts/chain/anvil.js';
import { gqlOk } from '../scripts/graphqlClient.js';
import {
  arg, cpuDelta, cpuSeconds, drive, fmt, markProfileWindow, median, monotonicMicros, num, pct, post, prng, say, startProcess, statementCounts, stopAllProcesses, waitReady, writeProfileInfo, type Load,
} from './processes.js';

const PG_URL = arg('pg') ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SECONDS = num('seconds', 10);
const CLIENTS = num('clients', 32);
const ACCOUNTS = num('accounts', 64);
const RUNS = num('runs', 3);
const CROSSING = num('crossing', 0.5);
const MID = 10_000;

// ------------------------------------------------------------------ databases

const dbUrl = (name: string) => { const u = new URL(PG_URL); u.pathname = `/${name}`; return u.toString(); };
async function admin<T>(f: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try { return await f(c); } finally { await c.end(); }
}

const tag = randomBytes(4).toString('hex');
const DBS = ['issuance', 'custody', 'trading', 'pgbench'].map((n) => `tokenstack_bench_${tag}_${n}`);
const SERVICES = ['issuance', 'custody', 'trading'] as const;

/** Commits so far in each service's database (the statistics lag by up to a second: read after a pause). */
const commits = () => admin(async (c) => {
  await new Promise((r) => setTimeout(r, 1500));
  const rows = (await c.query('SELECT datname, xact_commit FROM pg_stat_database WHERE datname = ANY($1)', [DBS.slice(0, 3)])).rows as { datname: string; xact_commit: string }[];
  return Object.fromEntries(SERVICES.map((s, i) => [s, Number(rows.find((r) => r.datname === DBS[i])?.xact_commit ?? 0)]));
});

// ------------------------------------------------------------------ load

function pgbench(url: string, clients: number, seconds: number, script: string): number {
  const r = spawnSync('pgbench', ['-n', '-c', String(clients), '-j', String(Math.min(clients, os.cpus().length)), '-T', String(seconds), '-f', script, url], { encoding: 'utf8' });
  const m = /tps = ([\d.]+) \(without initial connection time\)/.exec(r.stdout) ?? /tps = ([\d.]+)/.exec(r.stdout);
  if (!m) throw new Error(`pgbench failed: ${r.stderr || r.stdout}`);
  return Number(m[1]);
}

// ------------------------------------------------------------------ main

async function main() {
  if (spawnSync('pgbench', ['--version']).status !== 0) throw new Error('pgbench is not installed (apt-get install postgresql-client)');
  say(`place-order bench: ${os.cpus().length} cores, Node ${process.version}, ${SECONDS}s x ${RUNS} runs, ${CLIENTS} clients, ${ACCOUNTS} accounts, ${Math.round(CROSSING * 100)}% crossing\n`);
  say(`server: ${(await admin((c) => c.query('SHOW server_version'))).rows[0].server_version} at ${new URL(PG_URL).host}\n`);
  await admin(async (c) => { for (const d of DBS) await c.query(`CREATE DATABASE ${d}`); });

  const secrets = { jwt: randomBytes(32).toString('base64url'), service: randomBytes(32).toString('base64url'), kek: '0x' + randomBytes(32).toString('hex') };
  const ports = { issuance: await findFreePort(), trading: await findFreePort(), custody: await findFreePort(), settlement: await findFreePort(), gateway: await findFreePort() };
  const base = (n: keyof typeof ports) => `http://127.0.0.1:${ports[n]}`;
  const common = {
    AUTH_JWT_SECRET: secrets.jwt, SERVICE_SECRET: secrets.service, LOG_LEVEL: 'error', NODE_ENV: 'production',
    ISSUANCE_URL: base('issuance'), TRADING_URL: base('trading'), CUSTODY_URL: base('custody'), SETTLEMENT_URL: base('settlement'),
    CHAIN_RPC_URL: 'http://127.0.0.1:9', // nothing here needs a chain
    TRADING_OPERATOR_ORGS: 'venue',
  };
  say('starting issuance, custody, trading and the gateway as separate processes... ');
  startProcess('issuance', 'subgraphs/issuance/main.ts', { ...common, PORT: String(ports.issuance), DATABASE_URL: dbUrl(DBS[0]), CHAIN_POLL_MS: '60000' });
  startProcess('custody', 'subgraphs/custody/main.ts', { ...common, PORT: String(ports.custody), DATABASE_URL: dbUrl(DBS[1]), CUSTODY_KEK: secrets.kek });
  // No settlement here, so no fill ever settles: the venue's backlog bound would refuse the token's orders after the first thousand fills.
  startProcess('trading', 'subgraphs/trading/main.ts', { ...common, PORT: String(ports.trading), DATABASE_URL: dbUrl(DBS[2]), TRADING_MAX_UNSETTLED: '0' });
  for (const n of ['issuance', 'custody', 'trading'] as const) await waitReady(`${base(n)}/readyz`, n);
  startProcess('gateway', 'gateway/main.ts', {
    ...common, PORT: String(ports.gateway), ISSUANCE_URL: `${base('issuance')}/graphql`, TRADING_URL: `${base('trading')}/graphql`,
    CUSTODY_URL: `${base('custody')}/graphql`, SETTLEMENT_URL: `${base('settlement')}/graphql`, RATE_LIMIT_PER_MINUTE: '0',
  });
  await waitReady(`${base('gateway')}/healthz`, 'gateway').catch(() => undefined); // 503 while settlement is (deliberately) absent
  const url = `${base('gateway')}/graphql`;
  for (let i = 0; ; i++) {
    try { await post(url, 'x', '{ __typename }'); break; } catch (e) { if (/HTTP 401/.test((e as Error).message)) break; if (i > 100) throw e; await new Promise((r) => setTimeout(r, 200)); }
  }
  say('ready\n');

  // ---- the market: a token, investors the rules admit, funded accounts, an admitted broker-dealer
  const token = (org: string, roles: Role[]) => signUserToken({ secret: secrets.jwt, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject: `${org}-bench`, org, roles, ttl: 6 * 3600 });
  const issuer = await token('issuer-co', ['ISSUER_AGENT']);
  const broker = await token('broker-bench', ['BROKER_DEALER']);
  const operator = await token('venue', ['ATS_OPERATOR']);
  const svc = await serviceToken({ serviceSecret: secrets.service, issuer: 'tokenstack' }, 'bench');
  const custody = async (method: string, body: object) => {
    const r = await fetch(`${base('custody')}/internal/rpc/${method}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${svc}` }, body: JSON.stringify(body) });
    if (r.status !== 200) throw new Error(`custody ${method}: ${await r.text()}`);
  };
  say(`setting up ${ACCOUNTS} investors and accounts... `);
  const tokenId = (await gqlOk<{ createSecurityToken: { id: string } }>(url, issuer, 'mutation { createSecurityToken(input: { idempotencyKey: "bench", name: "Bench Co", symbol: "BNCH", decimals: 0, exemption: REG_D_506C }) { id } }')).createSecurityToken.id as string;
  await custody('registerAsset', { asset: 'CASH' });
  await custody('registerAsset', { asset: tokenId });
  await gqlOk(url, operator, 'mutation { admitSubscriber(org: "broker-bench", reason: "bench") { status } }');
  const now = new Date().toISOString();
  const accounts: string[] = [];
  for (let i = 0; i < ACCOUNTS; i++) {
    const inv = (await gqlOk<{ registerInvestor: { id: string } }>(url, issuer, `mutation($k: String!) { registerInvestor(input: { idempotencyKey: $k, legalName: $k, type: INDIVIDUAL, jurisdiction: "US", usPerson: true }) { id } }`, { k: `inv-${i}` })).registerInvestor.id;
    await gqlOk(url, issuer, `mutation($i: ID!, $at: DateTime!) { recordKyc(investorId: $i, status: APPROVED, approvedAt: $at, reason: "verified") { id }
      recordAmlScreening(investorId: $i, status: CLEAR, screenedAt: $at, reason: "verified") { id }
      recordAccreditation(investorId: $i, accredited: true, method: THIRD_PARTY_LETTER, verifiedAt: $at, reason: "verified") { id } }`, { i: inv, at: now });
    const acc = (await gqlOk<{ openCustodyAccount: { id: string } }>(url, broker, 'mutation($i: ID!, $k: String!) { openCustodyAccount(input: { idempotencyKey: $k, investorId: $i, kind: SEGREGATED }) { id } }', { i: inv, k: `acc-${i}` })).openCustodyAccount.id;
    await custody('credit', { accountId: acc, asset: 'CASH', amount: '1000000000000000', idempotencyKey: `cash-${i}`, reason: 'bench deposit' });
    await custody('credit', { accountId: acc, asset: tokenId, amount: '1000000000', idempotencyKey: `tok-${i}`, reason: 'bench deposit' });
    accounts.push(acc);
  }
  // Sells are checked against the seller's lots at issuance: record the holdings the indexer would have
  // (no chain here to mint on), bought two years ago so that Rule 144 no longer holds them.
  const books = new pg.Client({ connectionString: dbUrl(DBS[0]) });
  await books.connect();
  try {
    await books.query(`INSERT INTO lots (id, token_id, investor_id, amount, remaining, acquired_at, holding_period_start, issued_at, source)
      SELECT 'lot_bench_' || id, $1, id, 1000000000, 1000000000, now() - interval '2 years', now() - interval '2 years', now() - interval '2 years', 'ISSUANCE' FROM investors`, [tokenId]);
    await books.query('INSERT INTO positions (token_id, investor_id, balance, counted_accredited, counted_us) SELECT $1, id, 1000000000, true, true FROM investors', [tokenId]);
    await books.query(`INSERT INTO holder_counts (token_id, total, us_persons) SELECT $1, count(*), count(*) FROM investors
      ON CONFLICT (token_id) DO UPDATE SET total = EXCLUDED.total, us_persons = EXCLUDED.us_persons`, [tokenId]);
    await books.query('UPDATE security_tokens SET total_supply = (SELECT sum(balance) FROM positions WHERE token_id = $1) WHERE id = $1', [tokenId]);
  } finally {
    await books.end();
  }
  say('done\n');

  const PLACE = 'mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { accepted rejections { code } order { id status } } }';
  type Placed = { placeOrder: { accepted: boolean } };
  let seq = 0;
  const order = (rnd: () => number, accountId: string) => {
    const crossing = rnd() < CROSSING;
    const buy = rnd() < 0.5;
    const off = crossing ? -Math.floor(rnd() * 4) : 1 + Math.floor(rnd() * 40);
    return { tokenId, accountId, side: buy ? 'BUY' : 'SELL', price: String(buy ? MID - off : MID + off), quantity: String(1 + Math.floor(rnd() * 10)), clientOrderId: `b-${tag}-${++seq}` };
  };
  // A first trade sets the last price (the price band's reference) and a few levels give crossing orders something to meet.
  const seedRnd = prng(7);
  await post(url, broker, PLACE, { in: { tokenId, accountId: accounts[0], side: 'SELL', price: String(MID), quantity: '1', clientOrderId: `seed-${tag}-a` } });
  await post(url, broker, PLACE, { in: { tokenId, accountId: accounts[1], side: 'BUY', price: String(MID), quantity: '1', clientOrderId: `seed-${tag}-b` } });
  for (let i = 0; i < 200; i++) await post(url, broker, PLACE, { in: { ...order(seedRnd, accounts[i % ACCOUNTS]), price: String(i % 2 ? MID + 1 + (i % 30) : MID - 1 - (i % 30)), side: i % 2 ? 'SELL' : 'BUY' } });

  const script = join(mkdtempSync(join(os.tmpdir(), 'pgbench-')), 'insert.sql');
  writeFileSync(script, 'INSERT INTO bench_insert (v) VALUES (1);\n');
  await admin(async () => undefined);
  const scratch = new pg.Client({ connectionString: dbUrl(DBS[3]) });
  await scratch.connect();
  await scratch.query('CREATE TABLE bench_insert (id bigserial PRIMARY KEY, v int NOT NULL, at timestamptz NOT NULL DEFAULT now())');
  await scratch.end();

  // Warm-up of both gateway paths.
  const warmRnd = prng(1);
  await drive(CLIENTS, 2, async (w) => ((await post<Placed>(url, broker, PLACE, { in: order(warmRnd, accounts[w % ACCOUNTS]) })).placeOrder.accepted ? 'ok' : 'refused'));
  await drive(CLIENTS, 1, async () => { await post(url, broker, '{ venueRules { name } }'); return 'ok'; });

  const results: { pgbench: number; orders: Load; trivial: Load; cpu: Record<string, number>; statements: Record<string, Record<string, number>>; commits: Record<string, number> }[] = [];
  for (let r = 0; r < RUNS; r++) {
    say(`run ${r + 1}/${RUNS}: pgbench... `);
    const tps = pgbench(dbUrl(DBS[3]), 8, SECONDS, script);
    say(`${fmt(tps)} tps; placeOrder... `);
    const rnds = Array.from({ length: CLIENTS }, (_, w) => prng(42 + 1000 * r + w));
    const [st0, co0] = [await statementCounts(), await commits()];
    const cpu0 = cpuSeconds(tag);
    const from = monotonicMicros();
    const orders = await drive(CLIENTS, SECONDS, async (w) => ((await post<Placed>(url, broker, PLACE, { in: order(rnds[w], accounts[(w * 7 + seq) % ACCOUNTS]) })).placeOrder.accepted ? 'ok' : 'refused'));
    const cpu = cpuDelta(cpu0, cpuSeconds(tag));
    markProfileWindow(from, monotonicMicros());
    const [st1, co1] = [await statementCounts(), await commits()];
    const statements = Object.fromEntries(Object.entries(st1).map(([p, m]) => [p, Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v - (st0[p]?.[k] ?? 0)]).filter(([, v]) => (v as number) > 0))]));
    const commitsRun = Object.fromEntries(SERVICES.map((s) => [s, co1[s] - co0[s]]));
    say(`${fmt((orders.ok + orders.refused) / orders.seconds)}/s; trivial query... `);
    const trivial = await drive(CLIENTS, SECONDS, async () => { await post(url, broker, '{ venueRules { name } }'); return 'ok'; });
    say(`${fmt(trivial.ok / trivial.seconds)}/s\n`);
    results.push({ pgbench: tps, orders, trivial, cpu, statements, commits: commitsRun });
  }

  const [stats] = await admin(async () => {
    const c = new pg.Client({ connectionString: dbUrl(DBS[2]) });
    await c.connect();
    try {
      return (await c.query(`SELECT (SELECT count(*) FROM orders WHERE status IN ('OPEN','PARTIALLY_FILLED')) AS resting, (SELECT count(*) FROM trades) AS trades,
        (SELECT count(*) FROM orders WHERE status = 'REJECTED') AS rejected, (SELECT count(*) FROM orders) AS orders`)).rows;
    } finally { await c.end(); }
  });
  const rate = (l: Load) => (l.ok + l.refused) / l.seconds;
  const oRates = results.map((x) => rate(x.orders));
  const tRates = results.map((x) => rate(x.trivial));
  const pRates = results.map((x) => x.pgbench);
  const p50 = median(results.map((x) => pct(x.orders.latencies, 0.5)));
  const p99 = median(results.map((x) => pct(x.orders.latencies, 0.99)));
  const tp50 = median(results.map((x) => pct(x.trivial.latencies, 0.5)));
  const tp99 = median(results.map((x) => pct(x.trivial.latencies, 0.99)));
  const refused = results.reduce((s, x) => s + x.orders.refused, 0);
  const errors = results.reduce((s, x) => s + x.orders.errors + x.trivial.errors, 0);
  say(`\nmedians of ${RUNS} runs (${CLIENTS} concurrent clients, ${SECONDS}s each):\n`);
  say(`  placeOrder via gateway   ${fmt(median(oRates)).padStart(8)} orders/s   p50 ${p50.toFixed(1)} ms   p99 ${p99.toFixed(1)} ms   (runs: ${oRates.map(fmt).join(', ')})\n`);
  say(`  trivial query via gateway ${fmt(median(tRates)).padStart(7)} req/s      p50 ${tp50.toFixed(1)} ms   p99 ${tp99.toFixed(1)} ms   (runs: ${tRates.map(fmt).join(', ')})\n`);
  say(`  pgbench 1-row INSERT, 8 clients ${fmt(median(pRates)).padStart(6)} tps   (runs: ${pRates.map(fmt).join(', ')})\n`);
  say(`  ratio placeOrder / pgbench insert:   ${(median(oRates) / median(pRates)).toFixed(3)}\n`);
  say(`  ratio placeOrder / trivial query:    ${(median(oRates) / median(tRates)).toFixed(3)}\n`);
  const perOrder = Object.keys(results[0].cpu).map((k) => `${k} ${median(results.map((x) => (x.cpu[k] * 1000) / (x.orders.ok + x.orders.refused))).toFixed(2)}`);
  say(`  CPU ms per order (median): ${perOrder.join(', ')}; the machine has ${os.cpus().length} cores, load average ${os.loadavg()[0].toFixed(1)}\n`);
  const n0 = results[0].orders.ok + results[0].orders.refused;
  say(`  commits per order (run 1, pg_stat_database): ${SERVICES.map((s) => `${s} ${(results[0].commits[s] / n0).toFixed(2)}`).join(', ')}\n`);
  for (const [p, m] of Object.entries(results[0].statements)) {
    const list = Object.entries(m).sort((a, b) => b[1] - a[1]);
    say(`  ${p}: ${(list.reduce((t, [, v]) => t + v, 0) / n0).toFixed(2)} statements per order (run 1); the most sent:\n`);
    for (const [k, v] of list.slice(0, 12)) say(`    ${(v / n0).toFixed(3).padStart(7)}  ${k}\n`);
  }
  say(`  book at the end: ${stats.orders} orders, ${stats.resting} resting, ${stats.trades} trades, ${stats.rejected} rejected; refused in runs ${refused}, transport errors ${errors}\n`);
  rmSync(script, { force: true });
  writeProfileInfo();
}

async function cleanup() {
  await stopAllProcesses();
  await admin(async (c) => { for (const d of DBS) await c.query(`DROP DATABASE IF EXISTS ${d} WITH (FORCE)`); }).catch((e) => say(`cleanup: ${(e as Error).message}\n`));
}

main().then(cleanup, async (e) => {
  say(`\nbench failed: ${(e as Error).stack ?? e}\n`);
  await cleanup();
  process.exitCode = 1;
});
