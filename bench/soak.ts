/**
 * End to end under a steady flow, on PostgreSQL: crossing orders through the
 * gateway (placeOrder with every pre-trade check) at a fixed rate, each fill
 * settled delivery versus payment on anvil, booked at custody and attested.
 * Finds the highest order rate at which the settlement backlog stays bounded
 * and prints it as a ratio to the placeOrder rate of the same stack measured
 * in the same run, with fill-to-SETTLED p50/p99 at that rate and where a
 * fill's time went (the median time from the fill to each status, from
 * settlement's status history).
 *
 * The stack: anvil, the four subgraphs and the gateway each in its own
 * process on its own PostgreSQL database (TEST_DATABASE_URL or --pg; fresh
 * databases, dropped at the end), as in production. The market (a deployed
 * Reg D 506(b) token, `--pairs` sellers holding it on chain and as many
 * buyers holding cash, every wallet's standing DvP allowance) is set up
 * through the same stack started in this process, which then hands its
 * databases, ports and chain over to the processes.
 *
 * A run: (1) the placeOrder rate: settlement stopped (as in
 * bench/place-order.ts, which runs without it), `--clients` clients each
 * placing a resting sell and then the buy that crosses it, as fast as they
 * are answered, for `--burst` seconds: half the orders rest and half cross,
 * the mix of bench/place-order.ts; (2) settlement started, the burst's
 * fills drained; (3) `--steps` steps of `--seconds` each, orders sent on a
 * fixed schedule (open loop) at a fraction of that rate: the first at
 * `--start` x, then up by a quarter after a bounded step and halfway back
 * to the highest bounded rate (or halved) after an unbounded one; the
 * backlog drains between steps. `--runs` runs; the medians are printed.
 *
 * Bounded, per step: sampled every second, the backlog (fills since the step
 * began that are not yet SETTLED) has a least-squares trend over the step's
 * second half that adds fewer than max(3, 5% of that half's fills) fills
 * (settlement keeps up with at least 95% of the fill rate), orders went out
 * on schedule (never more than 2 s late, never more than 256 pairs waiting
 * for an answer), every order accepted (a refusal, e.g. a peer timing out
 * under load, is counted against the step, not fatal), every fill settled,
 * and nothing stalled.
 *
 * A stall is never waited on for minutes: when the backlog stands still for
 * `--stall` seconds (default 60), the step ends and the bench reports what
 * holds it up: the stuck settlements' statuses and last errors, and for each
 * DvP transaction sent and not booked whether the node mined it, holds it in
 * its pool or no longer knows it. A backlog that still stands still after the
 * step ends stops that run with the report (the next run starts afresh).
 *
 *   TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npx tsx bench/soak.ts
 *     [--seconds 120] [--runs 3] [--steps 3] [--start 0.8] [--clients 32] [--burst 10]
 *     [--pairs 8] [--mode GROSS|NETTED] [--stall 60] [--max-unsettled 0]
 *
 * The restart variant (`--restart`): `--runs` runs of one step at a fixed
 * `--rate` orders/s (default 5: 2.5 crossing pairs a second, the steady
 * stream of issue #18) for `--seconds`; a third of the way in the settlement
 * process is killed (SIGKILL) and started again at once. Printed: the fills in
 * flight at the kill (executed before it, SETTLED after it), their
 * fill-to-SETTLED p50/p99/max and the time from the kill to the last of them
 * SETTLED, next to the lease (`--lease`, default SETTLEMENT_LEASE_MS's): the
 * restarted process takes over what the dead one held once its leases lapse.
 * With several leases (`--lease 15000,120000`) each run tries each in turn,
 * the settlement process restarted with it first: an A/B in the same period.
 *
 *   TEST_DATABASE_URL=... npx tsx bench/soak.ts --restart [--rate 5] [--seconds 90] [--runs 3] [--lease 15000[,120000]]
 *
 * `--max-unsettled N` runs the trading process with TRADING_MAX_UNSETTLED=N,
 * the venue's bound on a token's fills not yet settled (default 0, off: the
 * burst runs with settlement stopped, and a bound below its fills would cut
 * the placeOrder rate it measures). With a bound, each step reports the
 * pairs the venue refused at it (TRADING.SETTLEMENT_BACKLOG): the backlog
 * then stays under N, and the refusals are what marks the rate too high.
 *
 * With BENCH_PROFILE=settlement,trading,custody,issuance,gateway (any) and
 * BENCH_PROFILE_DIR=DIR those processes run under `node --cpu-prof`, and
 * `npx tsx bench/profile-summary.ts DIR` summarises the steps' windows.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { gqlOk, SettlementWorld, type Party } from '../test/settlement/support.js';
import { settlementSettings as SETTINGS } from '../subgraphs/settlement/settings.js';
import type { SubgraphName } from '../subgraphs/kit/subgraph.js';
import {
  arg, cpuDelta, cpuSeconds, drive, killProcess, loadAverage, markProfileWindow, median, monotonicMicros, num, pct, post, say, sleep, startProcess, stopAllProcesses, stopProcess, waitReady, writeProfileInfo,
} from './processes.js';

const MODE = arg('mode') ?? 'GROSS';
if (MODE !== 'GROSS' && MODE !== 'NETTED') throw new Error('--mode is GROSS or NETTED');
const SECONDS = num('seconds', 120);
const RUNS = num('runs', 3);
const STEPS = num('steps', 3);
const START = num('start', 0.8);
const CLIENTS = num('clients', 32);
const BURST = num('burst', 10);
const PAIRS = num('pairs', 8);
const STALL_MS = num('stall', 60) * 1000;
const RESTART = process.argv.includes('--restart');
const RATE = num('rate', 5);
/** SETTLEMENT_LEASE_MS; the restart variant takes a list (e.g. 15000,120000) and runs them in turn (an A/B in the same period). */
const LEASES = (arg('lease') ?? String(SETTINGS.SETTLEMENT_LEASE_MS.default)).split(',').map(Number);
if (LEASES.some((l) => !Number.isInteger(l) || l < 1000)) throw new Error('--lease is a list of milliseconds, each at least 1000');
const LEASE_MS = LEASES[0];
const GOAL = 0.8;
const MAX_UNSETTLED = num('max-unsettled', 0);
process.env.TEST_DATABASE_URL = arg('pg') ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const PLACE = 'mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { accepted rejections { code message } } }';
const STAGES = ['RECEIVED', 'VERIFIED', 'SETTLING', 'SETTLED'] as const;

interface Desk {
  url: string; tokenId: string; sellers: Party[]; buyers: Party[]; sellerBd: string; buyerBd: string;
  trading: pg.Pool; settlement: pg.Pool; w: SettlementWorld;
}

let seq = 0;
/** One crossing pair: a resting sell, then a buy at its price (one fill, one trade). */
async function pair(d: Desk, i: number): Promise<void> {
  const place = async (who: string, p: Party, side: 'BUY' | 'SELL') => {
    const r = await post<{ placeOrder: { accepted: boolean; rejections: { code: string; message: string }[] } }>(d.url, who, PLACE, { in: { tokenId: d.tokenId, accountId: p.accountId, side, type: 'LIMIT', price: '3', quantity: '1', clientOrderId: `soak-${side}-${++seq}` } });
    if (!r.placeOrder.accepted) throw new Error(`${side.toLowerCase()} refused: ${JSON.stringify(r.placeOrder.rejections)}`);
  };
  await place(d.sellerBd, d.sellers[i % d.sellers.length], 'SELL');
  await place(d.buyerBd, d.buyers[(i * 3 + 1) % d.buyers.length], 'BUY');
}

/** Fills since `since` (trading's trades) and how many of them settlement has SETTLED or given up on. */
async function backlog(d: Desk, since: Date): Promise<{ fills: number; settled: number; failed: number }> {
  const [{ rows: [f] }, { rows }] = await Promise.all([
    d.trading.query<{ n: string }>('SELECT count(*) AS n FROM trades WHERE executed_at >= $1', [since]),
    d.settlement.query<{ settled: string; failed: string }>(`SELECT count(*) FILTER (WHERE status = 'SETTLED') AS settled,
      count(*) FILTER (WHERE status IN ('REJECTED', 'CANCELLED') OR (status = 'FAILED' AND final)) AS failed FROM settlements WHERE trade_time >= $1`, [since]),
  ]);
  return { fills: Number(f.n), settled: Number(rows[0].settled), failed: Number(rows[0].failed) };
}

/** What holds the backlog up: unsettled fills by status (with a last error), and each DvP transaction sent and not booked as the node sees it. */
async function stallReport(d: Desk, since: Date): Promise<string> {
  const { rows: st } = await d.settlement.query<{ status: string; n: string; err: string | null }>(
    `SELECT status, count(*) AS n, max(last_error) AS err FROM settlements WHERE trade_time >= $1 AND status <> 'SETTLED' GROUP BY status`, [since]);
  const { rows: batches } = await d.settlement.query<{ id: string; status: string; tx_hash: string | null; last_error: string | null }>(
    `SELECT id, status, tx_hash, last_error FROM dvp_batches WHERE status IN ('PREPARED', 'SUBMITTED') ORDER BY created_at LIMIT 5`);
  const txs = await Promise.all(batches.map(async (b) => {
    if (!b.tx_hash) return `batch ${b.id} ${b.status}, no transaction yet${b.last_error ? ` (${b.last_error.slice(0, 120)})` : ''}`;
    const [receipt, tx] = await Promise.all([d.w.provider.getTransactionReceipt(b.tx_hash), d.w.provider.getTransaction(b.tx_hash)]);
    const where = receipt ? `mined in block ${receipt.blockNumber} (status ${receipt.status}), not yet booked` : tx ? `in the node's pool, not mined (nonce ${tx.nonce})` : 'unknown to the node (dropped)';
    return `batch ${b.id} tx ${b.tx_hash}: ${where}`;
  }));
  return [`unsettled: ${st.map((r) => `${r.n} ${r.status}${r.err ? ` (${r.err.slice(0, 120)})` : ''}`).join(', ') || 'none'}`, ...txs].join('; ');
}

class Stalled extends Error {}

/** Waits until every fill since `since` is SETTLED; a backlog that stands still for STALL_MS throws with the report. */
async function drain(d: Desk, since: Date): Promise<void> {
  let last = -1;
  let movedAt = performance.now();
  for (;;) {
    const b = await backlog(d, since);
    if (b.failed) throw new Error(`${b.failed} fills did not settle: ${await stallReport(d, since)}`);
    if (b.settled >= b.fills) return;
    if (b.settled !== last) [last, movedAt] = [b.settled, performance.now()];
    else if (performance.now() - movedAt > STALL_MS) throw new Stalled(`no fill settled for ${STALL_MS / 1000} s (${b.settled} of ${b.fills}): ${await stallReport(d, since)}`);
    await sleep(250);
  }
}

/** Per fill since `since`: the time from the fill to each status it reached (first time), in ms. */
async function timelines(d: Desk, since: Date): Promise<Map<string, number>[]> {
  const { rows } = await d.settlement.query<{ id: string; status: string; ms: string }>(
    `SELECT s.id, h.status, min(extract(epoch FROM (h.at - s.trade_time)) * 1000) AS ms
     FROM settlements s JOIN settlement_history h ON h.settlement_id = s.id WHERE s.trade_time >= $1 GROUP BY s.id, h.status`, [since]);
  const per = new Map<string, Map<string, number>>();
  for (const r of rows) {
    if (!per.has(r.id)) per.set(r.id, new Map());
    per.get(r.id)!.set(r.status, Number(r.ms));
  }
  return [...per.values()];
}

const settledLatencies = (t: Map<string, number>[]) => t.filter((m) => m.has('SETTLED')).map((m) => m.get('SETTLED')!);
/** The median time from the fill to each status. */
const stageLine = (t: Map<string, number>[]) =>
  STAGES.map((s) => { const xs = t.filter((m) => m.has(s)).map((m) => m.get(s)!); return `${s.toLowerCase()} ${xs.length ? median(xs).toFixed(0) : '-'}`; }).join(', ');

/** placeOrder as fast as CLIENTS clients are answered, crossing pairs: orders/s. */
async function placeRate(d: Desk): Promise<{ rate: number; p99: number }> {
  // drive() counts a refused pair as an error (and shows the first ones); only completed pairs count.
  const load = await drive(CLIENTS, BURST, async (c, i) => { await pair(d, c + i * CLIENTS); return 'ok'; });
  return { rate: (2 * load.ok) / load.seconds, p99: pct(load.latencies, 0.99) };
}

/** The least-squares slope of y over t. */
function slope(pts: { t: number; y: number }[]): number {
  if (pts.length < 2) return 0;
  const mt = pts.reduce((a, p) => a + p.t, 0) / pts.length;
  const my = pts.reduce((a, p) => a + p.y, 0) / pts.length;
  const num_ = pts.reduce((a, p) => a + (p.t - mt) * (p.y - my), 0);
  const den = pts.reduce((a, p) => a + (p.t - mt) ** 2, 0);
  return den ? num_ / den : 0;
}

/** Fills executed before `at` and SETTLED after it (in flight at a kill): each one's fill-to-SETTLED and the SETTLED time after `at`, in ms. */
async function inFlightAt(d: Desk, since: Date, at: Date): Promise<{ latency: number; afterKill: number }[]> {
  const { rows } = await d.settlement.query<{ latency: string; after_kill: string }>(
    `SELECT extract(epoch FROM (h.at - s.trade_time)) * 1000 AS latency, extract(epoch FROM (h.at - $2::timestamptz)) * 1000 AS after_kill
     FROM settlements s JOIN settlement_history h ON h.settlement_id = s.id AND h.status = 'SETTLED'
     WHERE s.trade_time >= $1 AND s.trade_time < $2 AND h.at > $2`, [since, at]);
  return rows.map((r) => ({ latency: Number(r.latency), afterKill: Number(r.after_kill) }));
}

interface StepResult { bounded: boolean; why: string; timelines: Map<string, number>[]; growth: number; backlogEnd: number; fills: number; cpu: Record<string, number> }

/** One step at `rate` orders/s for SECONDS; `midway` runs once a third of the way in (the restart variant's kill). */
async function step(d: Desk, rate: number, midway?: () => Promise<void>): Promise<StepResult> {
  const since = new Date();
  const t0 = performance.now();
  const from = monotonicMicros();
  const cpu0 = cpuSeconds();
  const interval = 2000 / rate; // one pair = two orders
  const inFlight = new Set<Promise<void>>();
  const samples: { t: number; y: number }[] = [];
  let late = '';
  let stalled = '';
  let error: unknown;
  const refused = { n: 0, last: '', backlog: 0 };
  const running = () => performance.now() - t0 < SECONDS * 1000 && !error && !stalled;
  const sampler = (async () => {
    let last = -1;
    let movedAt = performance.now();
    while (running()) {
      const b = await backlog(d, since);
      samples.push({ t: (performance.now() - t0) / 1000, y: b.fills - b.settled });
      if (b.failed) error = new Error(`${b.failed} fills did not settle: ${await stallReport(d, since)}`);
      if (b.settled !== last || b.fills === b.settled) [last, movedAt] = [b.settled, performance.now()];
      else if (performance.now() - movedAt > STALL_MS) stalled = `no fill settled for ${STALL_MS / 1000} s: ${await stallReport(d, since)}`;
      await sleep(1000);
    }
  })();
  const crash = midway && (async () => {
    await sleep((SECONDS * 1000) / 3);
    await midway();
  })();
  for (let i = 0; running(); i++) {
    const wait = t0 + i * interval - performance.now();
    if (wait > 0) await sleep(wait);
    else if (-wait > 2000 && !late) late = `orders fell ${(-wait / 1000).toFixed(1)} s behind schedule`;
    if (inFlight.size >= 256) {
      late ||= '256 pairs waiting for an answer';
      await Promise.race(inFlight);
    }
    // A refused order (e.g. a peer timing out under load) is counted against the step, not fatal.
    const p: Promise<void> = pair(d, i).catch((e) => {
      refused.n++;
      refused.last = (e as Error).message.slice(0, 200);
      if ((e as Error).message.includes('"TRADING.SETTLEMENT_BACKLOG"')) refused.backlog++;
    }).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await Promise.all(inFlight);
  await crash;
  await sampler;
  markProfileWindow(from, monotonicMicros());
  if (error) throw error;
  const half = samples.filter((s) => s.t >= SECONDS / 2);
  const growth = slope(half) * (SECONDS / 2);
  const fills = (await backlog(d, since)).fills;
  const allowed = Math.max(3, 0.05 * (rate / 2) * (SECONDS / 2));
  const backlogEnd = samples.at(-1)?.y ?? 0;
  await drain(d, since); // a backlog that cannot drain stops the bench (Stalled)
  const cpu = cpuDelta(cpu0, cpuSeconds()); // the step and its drain: every fill of the step settled
  const why = stalled || late || (refused.n ? `${refused.n} pairs refused (${refused.backlog} at the venue's backlog bound of ${MAX_UNSETTLED}; last: ${refused.last})` : '') || (growth >= allowed ? `the backlog grew by ${growth.toFixed(0)} fills over the second half (allowed: under ${allowed.toFixed(0)})` : '');
  return { bounded: !why, why, timelines: await timelines(d, since), growth, backlogEnd, fills, cpu };
}

interface RunResult { place: number; placeP99: number; ratio: number; best?: StepResult & { rate: number } }

async function run(d: Desk, r: number, startSettlement: () => Promise<void>): Promise<RunResult> {
  await stopProcess('settlement');
  const burst = new Date();
  const place = await placeRate(d);
  say(`run ${r}: placeOrder ${place.rate.toFixed(1)} orders/s (p99 ${place.p99.toFixed(0)} ms per pair, ${CLIENTS} clients, settlement stopped); settling its fills ... `);
  const t0 = performance.now();
  await startSettlement();
  await drain(d, burst);
  say(`${((performance.now() - t0) / 1000).toFixed(0)} s\n`);
  let lo = 0; // highest bounded ratio so far
  let hi = Infinity; // lowest unbounded ratio so far
  let best: RunResult['best'];
  let ratio = START;
  for (let s = 1; s <= STEPS; s++) {
    const rate = ratio * place.rate;
    const res = await step(d, rate);
    const lat = settledLatencies(res.timelines);
    say(`  step ${s}: ${rate.toFixed(1)} orders/s (${ratio.toFixed(2)}x), ${res.fills} fills: ${res.bounded ? 'bounded' : `NOT bounded: ${res.why}`}; backlog trend ${res.growth >= 0 ? '+' : ''}${res.growth.toFixed(1)} over the second half, ${res.backlogEnd} at the end; fill->SETTLED p50 ${pct(lat, 0.5).toFixed(0)} ms p99 ${pct(lat, 0.99).toFixed(0)} ms; median ms from the fill to ${stageLine(res.timelines)}; CPU ms per fill (its two orders and its settlement; postgres: the whole server): ${Object.entries(res.cpu).map(([k, v]) => `${k} ${((v * 1000) / Math.max(1, res.fills)).toFixed(1)}`).join(', ')}; load ${loadAverage()}\n`);
    if (res.bounded) {
      lo = ratio;
      best = { ...res, rate };
    } else hi = ratio;
    ratio = hi === Infinity ? ratio * 1.25 : lo === 0 ? hi / 2 : (lo + hi) / 2;
  }
  return { place: place.rate, placeP99: place.p99, ratio: lo, best };
}

/** The restart variant: one step at RATE with the settlement process killed and restarted a third of the way in. */
async function restartRun(d: Desk, r: number, lease: number, startSettlement: (lease: number) => Promise<void>): Promise<{ latencies: number[]; lastAfterKill: number; restartMs: number }> {
  await stopProcess('settlement');
  await startSettlement(lease);
  const since = new Date();
  let killedAt = new Date();
  let restartMs = 0;
  const res = await step(d, RATE, async () => {
    killedAt = new Date();
    await killProcess('settlement');
    const t = performance.now();
    await startSettlement(lease);
    restartMs = performance.now() - t;
  });
  const hit = await inFlightAt(d, since, killedAt);
  const latencies = hit.map((h) => h.latency);
  const lastAfterKill = Math.max(0, ...hit.map((h) => h.afterKill));
  const all = settledLatencies(res.timelines);
  say(`  run ${r}, lease ${lease / 1000} s: ${RATE} orders/s for ${SECONDS} s, ${res.fills} fills, settlement killed at ${(SECONDS / 3).toFixed(0)} s and ready again in ${(restartMs / 1000).toFixed(1)} s: `
    + `${hit.length} fills in flight at the kill, fill->SETTLED p50 ${pct(latencies, 0.5).toFixed(0)} ms p99 ${pct(latencies, 0.99).toFixed(0)} ms max ${Math.max(0, ...latencies).toFixed(0)} ms, the last SETTLED ${(lastAfterKill / 1000).toFixed(1)} s after the kill; `
    + `all fills of the run p50 ${pct(all, 0.5).toFixed(0)} ms p99 ${pct(all, 0.99).toFixed(0)} ms; load ${loadAverage()}\n`);
  return { latencies, lastAfterKill, restartMs };
}

async function main() {
  say(RESTART
    ? `soak bench, restart variant: ${os.cpus().length} cores, Node ${process.version}, ${MODE} settlement, SETTLEMENT_LEASE_MS ${LEASES.join(' and ')}, ${RUNS} runs of ${SECONDS} s at ${RATE} orders/s, load ${loadAverage()}\n`
    : `soak bench: ${os.cpus().length} cores, Node ${process.version}, ${MODE} settlement, ${RUNS} runs of ${STEPS} steps of ${SECONDS} s, placeOrder rate from ${CLIENTS} clients for ${BURST} s, venue backlog bound ${MAX_UNSETTLED || 'off'}, load ${loadAverage()}\n`);
  say(`setting up the market on anvil and PostgreSQL (${new URL(process.env.TEST_DATABASE_URL!).host}) ... `);
  const settlementSettings = { SETTLEMENT_MODE: MODE, SETTLEMENT_LEASE_MS: String(LEASE_MS), SETTLEMENT_CHAIN_TIMEOUT_MS: '30000', SETTLEMENT_CONSENT_TTL_SECONDS: '600', SETTLEMENT_MAX_ATTEMPTS: '5' };
  const w = await SettlementWorld.start({ ...settlementSettings, SETTLEMENT_POLL_MS: '1000', SETTLEMENT_NETTING_INTERVAL_MS: '5000', SETTLEMENT_RETRY_MS: '2000', SETTLEMENT_RETRY_MAX_MS: '30000' });
  const pools: pg.Pool[] = [];
  try {
    const { tokenId } = await w.token506b('SOAK');
    const sellers: Party[] = [];
    const buyers: Party[] = [];
    for (let i = 0; i < PAIRS; i++) {
      sellers.push(await w.party(`Soak Seller ${i}`, 'alpha-bd'));
      buyers.push(await w.party(`Soak Buyer ${i}`, 'beta-bd'));
    }
    for (const s of sellers) await w.issue(tokenId, s, 10_000_000n);
    for (const b of buyers) await w.fund(b, 10n ** 15n);
    const operator = await w.token('ats-co', ['ATS_OPERATOR']);
    for (const org of ['alpha-bd', 'beta-bd']) await gqlOk(w.url, operator, 'mutation($o: String!) { admitSubscriber(org: $o, reason: "approved") { org } }', { o: org });
    const env = w.stack.env;
    const d: Desk = {
      url: w.url, tokenId, sellers, buyers, sellerBd: await w.token('alpha-bd', ['BROKER_DEALER']), buyerBd: await w.token('beta-bd', ['BROKER_DEALER']), w,
      trading: new pg.Pool({ connectionString: env.trading.DATABASE_URL, max: 2 }), settlement: new pg.Pool({ connectionString: w.dbUrl, max: 2 }),
    };
    pools.push(d.trading, d.settlement);
    // Every wallet's standing allowance to the DvP contract, before anything is measured.
    const warm = new Date();
    for (let i = 0; i < PAIRS * PAIRS; i++) await pair(d, i);
    await drain(d, warm);
    say('ok\nhanding the stack over to one process per subgraph and the gateway ... ');

    // The same databases, ports, keys and chain, each part in its own process.
    await w.stack.gateway.stop();
    await w.settlement.stop();
    for (const n of ['issuance', 'custody', 'trading'] as const) await w.stack.subgraphs[n].stop();
    const ready = (n: SubgraphName) => `${w.stack.subgraphs[n].url.replace(/\/graphql$/, '')}/readyz`;
    for (const n of ['issuance', 'custody', 'trading'] as const) {
      const c = startProcess(n, `subgraphs/${n}/main.ts`, n === 'trading' ? { ...env[n], TRADING_MAX_UNSETTLED: String(MAX_UNSETTLED) } : env[n]);
      await waitReady(ready(n), n, c);
    }
    const startSettlement = async (lease = LEASE_MS) => {
      const c = startProcess('settlement', 'subgraphs/settlement/main.ts', w.settlementEnv({ ...settlementSettings, SETTLEMENT_LEASE_MS: String(lease) }));
      await waitReady(ready('settlement'), 'settlement', c);
    };
    await startSettlement();
    const gw = startProcess('gateway', 'gateway/main.ts', { ...env.gateway, PORT: String(w.stack.gateway.port), RATE_LIMIT_PER_MINUTE: '0' });
    await waitReady(w.url.replace(/\/graphql$/, '/healthz'), 'gateway', gw);
    // Warm-up of the new processes (JIT, connection pools).
    const warm2 = new Date();
    await drive(CLIENTS, 3, async (c, i) => { await pair(d, c + i * CLIENTS); return 'ok'; });
    await drain(d, warm2);
    say('ok\n');

    if (RESTART) {
      const by = new Map<number, Awaited<ReturnType<typeof restartRun>>[]>(LEASES.map((l) => [l, []]));
      for (let r = 1; r <= RUNS; r++) for (const l of LEASES) by.get(l)!.push(await restartRun(d, r, l, startSettlement));
      say(`\nmedians of ${RUNS} runs (${MODE}, ${RATE} orders/s, killed a third of the way into ${SECONDS} s):\n`);
      for (const [l, rr] of by) {
        const p50s = rr.map((x) => pct(x.latencies, 0.5));
        const p99s = rr.map((x) => pct(x.latencies, 0.99));
        say(`  lease ${String(l / 1000).padStart(4)} s: fills in flight at the kill reach SETTLED p50 ${median(p50s).toFixed(0)} ms, p99 ${median(p99s).toFixed(0)} ms `
          + `(runs p50/p99: ${rr.map((_, i) => `${p50s[i].toFixed(0)}/${p99s[i].toFixed(0)}`).join(', ')}); the last ${(median(rr.map((x) => x.lastAfterKill)) / 1000).toFixed(1)} s after the kill; `
          + `restart to ready ${(median(rr.map((x) => x.restartMs)) / 1000).toFixed(1)} s\n`);
      }
      say(`  load average at the end ${loadAverage()} (${os.cpus().length} cores)\n`);
      return;
    }
    const runs: RunResult[] = [];
    for (let r = 1; r <= RUNS; r++) {
      try {
        runs.push(await run(d, r, startSettlement));
      } catch (e) {
        if (!(e instanceof Stalled)) throw e;
        say(`\nrun ${r} stopped, the backlog does not drain: ${e.message}\n`);
      }
    }
    if (!runs.length) return;
    const sorted = [...runs].sort((a, b) => a.ratio - b.ratio);
    const mid = sorted[Math.floor(sorted.length / 2)];
    say(`\nmedians of ${runs.length} runs (${MODE}, ${SECONDS} s steps):\n`);
    say(`  placeOrder rate (settlement stopped)   ${median(runs.map((x) => x.place)).toFixed(1).padStart(7)} orders/s   (runs: ${runs.map((x) => x.place.toFixed(1)).join(', ')})\n`);
    say(`  highest bounded rate                   ${mid.ratio.toFixed(2)}x the placeOrder rate of its run   (runs: ${runs.map((x) => `${x.ratio.toFixed(2)}x`).join(', ')}); goal ${GOAL}x: ${mid.ratio >= GOAL ? 'met' : 'NOT met'}\n`);
    if (mid.best) {
      const lat = settledLatencies(mid.best.timelines);
      say(`  fill -> SETTLED at that rate           p50 ${pct(lat, 0.5).toFixed(0)} ms, p99 ${pct(lat, 0.99).toFixed(0)} ms (${mid.best.rate.toFixed(1)} orders/s, ${lat.length} fills)\n`);
      say(`  median ms from the fill to             ${stageLine(mid.best.timelines)}\n`);
    } else say(`  no step of the median run was bounded (lowest tried ${(START / 2 ** (STEPS - 1)).toFixed(3)}x)\n`);
    say(`  load average at the end ${loadAverage()} (${os.cpus().length} cores)\n`);
  } finally {
    writeProfileInfo();
    await stopAllProcesses();
    await Promise.all(pools.map((p) => p.end()));
    await w.stop();
  }
}

main().catch((e) => {
  say(`\nbench failed: ${(e as Error).stack ?? e}\n`);
  process.exitCode = 1;
});
