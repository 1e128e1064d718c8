/**
 * transferEligibility latency at 1,000 and at 100,000 holders of the same
 * token: the snapshot reads by key (token, the two parties, the sender's
 * lots, the holder counters), so the cost must not grow with the number of
 * holders. Prints p50 / p99 at each size and the ratio 100k / 1k (~1.0).
 *
 * Main measurement: secondary trades of a Reg D 506(b) token between random
 * holders (each holder: two lots, one still in its Rule 144 period; every
 * seventh with issuer controls; one in ten not accredited). A second, shorter
 * measurement asks for 506(b) primary issuances, whose snapshot also reads
 * the offering's purchaser count (one purchase per holder is recorded).
 *
 * Runs on an in-memory PGlite, then on PostgreSQL too when a server is given
 * (a fresh database is created there and dropped at the end):
 *
 *   npx tsx bench/transfer-eligibility.ts [--pg postgres://user@host:5432/postgres]
 *     [--calls 2000] [--warmup 200] [--small 1000] [--large 100000] [--primary-calls 300]
 *
 * TEST_DATABASE_URL is used as the server when --pg is not given.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { migrate, openDb, type Db } from '../subgraphs/kit/db/index.js';
import { fromRoot } from '../subgraphs/kit/paths.js';
import { defaultComplianceConfig } from '../subgraphs/issuance/domain/compliance/index.js';
import { transferEligibility } from '../subgraphs/issuance/eligibility.js';
import { mulberry32 } from '../scripts/random.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`--${name}=`));
  return eq?.slice(name.length + 3);
}
function count(name: string, fallback: number): number {
  const v = Number(arg(name) ?? fallback);
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`--${name} must be a non-negative integer`);
  return v;
}

const CALLS = count('calls', 2_000);
const WARMUP = count('warmup', 200);
const SMALL = count('small', 1_000);
const LARGE = count('large', 100_000);
const PRIMARY_CALLS = count('primary-calls', 300);
const PG_URL = arg('pg') ?? process.env.TEST_DATABASE_URL;
if (SMALL < 2 || LARGE <= SMALL) throw new Error('--small must be at least 2 and --large above it');

const TOKEN = 'tok_bench';
const ORG = 'bench-org';
const AT = new Date('2025-06-15T12:00:00Z');
const CHUNK = 20_000;

const fmtInt = (n: number): string => n.toLocaleString('en-US');
const ms = (x: number): string => `${x.toFixed(3)} ms`;
const secs = (t0: number): string => `${((performance.now() - t0) / 1000).toFixed(1)} s`;
const say = (s: string): void => void process.stdout.write(s);

interface Stats { p50: number; p99: number; mean: number; allowed: number; calls: number }

/** Deterministic pseudo-random numbers, so both databases get the same pairs. */
const rng = mulberry32;

const investorId = (i: number): string => `inv_b_${i}`;

async function createToken(db: Db): Promise<void> {
  await db.query(
    `INSERT INTO security_tokens (id, issuer_org, name, symbol, decimals, exemption, status, idempotency_key, request_hash, policy)
     VALUES ($1, $2, 'Bench shares', 'BENCH', 0, 'REG_D_506B', 'DEPLOYED', $1, 'bench', $3)`,
    [TOKEN, ORG, JSON.stringify({ blockedCountries: ['CN'], maxBalance: '1000000', minHolding: '10' })],
  );
  await db.query('INSERT INTO holder_counts (token_id) VALUES ($1)', [TOKEN]);
}

/**
 * Holders from+1..to, written in bulk: investors (credentials valid at AT;
 * every tenth not accredited), positions of 1,000, two lots each (600 past
 * Rule 144, 400 still in it), controls on every seventh, and one 506(b)
 * purchase each, at most 35 of them non-accredited (the rule itself refuses a
 * 36th, so no real offering has more; later non-accredited holders bought in
 * secondary trades). Then the counters are set from the positions, once.
 */
async function grow(db: Db, from: number, to: number): Promise<void> {
  for (let lo = from + 1; lo <= to; lo += CHUNK) {
    const hi = Math.min(to, lo + CHUNK - 1);
    const p = [lo, hi];
    await db.tx(async (q) => {
      await q.query(
        `INSERT INTO investors (id, org, legal_name, type, jurisdiction, us_person, idempotency_key, request_hash,
           kyc_status, kyc_approved_at, aml_status, aml_screened_at,
           accredited, accreditation_method, accreditation_verified_at, issuer_relation, annual_income_cents, net_worth_cents)
         SELECT 'inv_b_' || g, '${ORG}', 'Holder ' || g, 'INDIVIDUAL', 'US', true, 'inv_b_' || g, 'bench',
           'APPROVED', '2025-01-10T00:00:00Z', 'CLEAR', '2025-06-01T00:00:00Z',
           g % 10 <> 0, CASE WHEN g % 10 <> 0 THEN 'THIRD_PARTY_LETTER' END, CASE WHEN g % 10 <> 0 THEN '2025-05-01T00:00:00Z'::timestamptz END,
           'NONE', 30000000, 200000000
         FROM generate_series($1::int, $2::int) g`, p);
      await q.query(
        `INSERT INTO positions (token_id, investor_id, balance) SELECT '${TOKEN}', 'inv_b_' || g, 1000 FROM generate_series($1::int, $2::int) g`, p);
      await q.query(
        `INSERT INTO lots (id, token_id, investor_id, amount, remaining, acquired_at, holding_period_start, issued_at, source)
         SELECT 'lot_b_' || g || '_' || k, '${TOKEN}', 'inv_b_' || g, a, a, d, d, d, 'ISSUANCE'
         FROM generate_series($1::int, $2::int) g,
              (VALUES (1, 600, '2024-01-01T00:00:00Z'::timestamptz), (2, 400, '2025-03-01T00:00:00Z'::timestamptz)) AS l(k, a, d)`, p);
      await q.query(
        `INSERT INTO investor_controls (token_id, investor_id, wallet_frozen, frozen_amount, liquidate_only)
         SELECT '${TOKEN}', 'inv_b_' || g, g % 49 = 0, CASE WHEN g % 14 = 0 THEN 900 ELSE 0 END, g % 21 = 0
         FROM generate_series($1::int, $2::int) g WHERE g % 7 = 0`, p);
      await q.query(
        `INSERT INTO issuances (id, token_id, investor_id, wallet, amount, price_cents, acquired_at, status, org, idempotency_key, request_hash)
         SELECT 'iss_b_' || g, '${TOKEN}', 'inv_b_' || g, '0x0', 1000, 100000, '2024-01-01T00:00:00Z', 'DONE', '${ORG}', 'iss_b_' || g, 'bench'
         FROM generate_series($1::int, $2::int) g`, p);
      await q.query(
        `INSERT INTO purchases (issuance_id, token_id, investor_id, exemption, accredited, amount_cents, at)
         SELECT 'iss_b_' || g, '${TOKEN}', 'inv_b_' || g, 'REG_D_506B', g % 10 <> 0 OR g > 350, 100000, '2024-01-01T00:00:00Z'
         FROM generate_series($1::int, $2::int) g`, p);
    });
    say(` ${fmtInt(hi)}`);
  }
  await db.query(
    `UPDATE holder_counts h SET total = c.total, non_accredited = c.non_accredited, us_persons = c.us_persons
     FROM (SELECT count(*)::int AS total, count(*) FILTER (WHERE i.accredited IS NOT TRUE)::int AS non_accredited,
                  count(*) FILTER (WHERE i.us_person)::int AS us_persons
           FROM positions p JOIN investors i ON i.id = p.investor_id WHERE p.token_id = $1 AND p.balance > 0) c
     WHERE h.token_id = $1`, [TOKEN]);
  await db.query('UPDATE security_tokens SET total_supply = (SELECT sum(balance) FROM positions WHERE token_id = $1) WHERE id = $1', [TOKEN]);
  await db.exec('ANALYZE');
}

/** One fresh investor who holds nothing, for the primary issuances. */
async function newcomer(db: Db): Promise<string> {
  const id = `inv_b_new_${randomBytes(4).toString('hex')}`;
  await db.query(
    `INSERT INTO investors (id, org, legal_name, type, jurisdiction, us_person, idempotency_key, request_hash,
       kyc_status, kyc_approved_at, aml_status, aml_screened_at, issuer_relation)
     VALUES ($1, $2, 'Newcomer', 'INDIVIDUAL', 'US', true, $1, 'bench', 'APPROVED', '2025-01-10T00:00:00Z', 'CLEAR', '2025-06-01T00:00:00Z', 'NONE')`,
    [id, ORG],
  );
  return id;
}

type Ask = () => { fromInvestorId: string | null; toInvestorId: string; amount: bigint; kind: 'SECONDARY_TRADE' | 'PRIMARY_ISSUANCE' };

async function measure(db: Db, ask: Ask, warmup: number, calls: number, label: string): Promise<Stats> {
  const one = async () => {
    const a = ask();
    const t0 = performance.now();
    const e = await transferEligibility(db, defaultComplianceConfig, { tokenId: TOKEN, at: AT, ...a });
    return { t: performance.now() - t0, allowed: e.allowed };
  };
  for (let i = 0; i < warmup; i++) await one();
  const times: number[] = [];
  let allowed = 0;
  const step = Math.max(1, Math.floor(calls / 4));
  for (let i = 0; i < calls; i++) {
    const r = await one();
    times.push(r.t);
    if (r.allowed) allowed++;
    if ((i + 1) % step === 0) say(` ${label} ${i + 1}/${calls}`);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
  return { p50: at(0.5), p99: at(0.99), mean: times.reduce((s, t) => s + t, 0) / times.length, allowed, calls };
}

function secondaryTrades(holders: number, seed: number): Ask {
  const r = rng(seed);
  return () => {
    const a = 1 + Math.floor(r() * holders);
    let b = 1 + Math.floor(r() * (holders - 1));
    if (b >= a) b++;
    // 50..849: some above the 600 that are past Rule 144, some leaving less than the minimum holding.
    return { fromInvestorId: investorId(a), toInvestorId: investorId(b), amount: BigInt(50 + Math.floor(r() * 800)), kind: 'SECONDARY_TRADE' };
  };
}

const primaryIssuances = (to: string): Ask => () => ({ fromInvestorId: null, toInvestorId: to, amount: 100n, kind: 'PRIMARY_ISSUANCE' });

interface Row { db: string; size: number; trade: Stats; primary?: Stats }

async function run(label: string, db: Db): Promise<Row[]> {
  const rows: Row[] = [];
  const t0 = performance.now();
  say(`\n[${label}] migrating…`);
  await migrate(db, [
    { scope: 'kit', dir: fromRoot('subgraphs', 'kit', 'migrations') },
    { scope: 'issuance', dir: fromRoot('subgraphs', 'issuance', 'migrations') },
  ]);
  await createToken(db);
  const buyer = await newcomer(db);
  let holders = 0;
  for (const size of [SMALL, LARGE]) {
    const tg = performance.now();
    say(`\n[${label}] loading holders up to ${fmtInt(size)}:`);
    await grow(db, holders, size);
    holders = size;
    say(` (${secs(tg)})\n[${label}] ${fmtInt(size)} holders: secondary trades, ${WARMUP} warm-up + ${CALLS} timed:`);
    const trade = await measure(db, secondaryTrades(size, 42), WARMUP, CALLS, 'trade');
    let primary: Stats | undefined;
    if (PRIMARY_CALLS > 0) {
      say(`\n[${label}] ${fmtInt(size)} holders: 506(b) primary issuances, ${Math.min(WARMUP, 20)} warm-up + ${PRIMARY_CALLS} timed:`);
      primary = await measure(db, primaryIssuances(buyer), Math.min(WARMUP, 20), PRIMARY_CALLS, 'primary');
    }
    rows.push({ db: label, size, trade, primary });
  }
  say(`\n[${label}] done in ${secs(t0)}\n`);
  return rows;
}

async function withPostgres<T>(adminUrl: string, fn: (db: Db) => Promise<T>): Promise<T> {
  const name = `tokenstack_bench_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const db = await openDb(u.toString());
  try {
    return await fn(db);
  } finally {
    await db.close();
    const d = new pg.Client({ connectionString: adminUrl });
    await d.connect();
    await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await d.end();
  }
}

function report(rows: Row[]): void {
  console.log(`\ntransferEligibility latency, ${os.cpus().length} CPUs, Node ${process.version}; ${CALLS} timed calls per size (after ${WARMUP} warm-up)`);
  console.log('database     holders    kind                 p50          p99          mean         allowed');
  const line = (r: Row, kind: string, s: Stats) =>
    console.log(`${r.db.padEnd(12)} ${fmtInt(r.size).padStart(7)}    ${kind.padEnd(20)} ${ms(s.p50).padEnd(12)} ${ms(s.p99).padEnd(12)} ${ms(s.mean).padEnd(12)} ${((100 * s.allowed) / s.calls).toFixed(0)}%`);
  for (const r of rows) {
    line(r, 'secondary trade', r.trade);
    if (r.primary) line(r, '506(b) primary', r.primary);
  }
  console.log('');
  for (const dbName of [...new Set(rows.map((r) => r.db))]) {
    const [small, large] = rows.filter((r) => r.db === dbName);
    const ratio = (a: number, b: number) => (b / a).toFixed(2);
    console.log(`${dbName}: ratio ${fmtInt(large.size)} / ${fmtInt(small.size)} holders, secondary trade: p50 ${ratio(small.trade.p50, large.trade.p50)}  p99 ${ratio(small.trade.p99, large.trade.p99)}  mean ${ratio(small.trade.mean, large.trade.mean)}   (~1.0 expected)`);
    if (small.primary && large.primary) {
      console.log(`${dbName}: ratio ${fmtInt(large.size)} / ${fmtInt(small.size)} holders, 506(b) primary issuance: p50 ${ratio(small.primary.p50, large.primary.p50)}  p99 ${ratio(small.primary.p99, large.primary.p99)}  mean ${ratio(small.primary.mean, large.primary.mean)}   (~1.0 expected; the snapshot counts the offering's purchasers)`);
    }
  }
}

const rows: Row[] = [];
const started = performance.now();
const lite = await openDb('memory://');
try {
  rows.push(...(await run('PGlite', lite)));
} finally {
  await lite.close();
}
if (PG_URL) rows.push(...(await withPostgres(PG_URL, (db) => run('PostgreSQL', db))));
else say('\n(PostgreSQL skipped: pass --pg URL or set TEST_DATABASE_URL)\n');
report(rows);
console.log(`\ntotal ${secs(started)}`);
