/**
 * End to end under a steady flow: crossing orders through the gateway
 * (placeOrder with every pre-trade check) at a fixed rate, each fill settled
 * delivery versus payment on chain, booked and attested. Finds the highest
 * order rate at which the settlement backlog (fills not yet SETTLED) stays
 * bounded, and prints it as a ratio to the placeOrder rate of the same stack
 * measured in the same run (crossing pairs from `--clients` concurrent
 * clients, as fast as they go), with fill-to-SETTLED p50/p99 at that rate.
 *
 * Search: the first step runs at `--start` x the placeOrder rate; each
 * bounded step doubles the rate, the first unbounded one is followed by the
 * midpoint (while steps last). Bounded: the backlog grew by less than two
 * seconds' worth of fills over the second half of the step, and the orders
 * went out on schedule. After each step the backlog drains before the next.
 *
 * The whole stack runs in this process (the test world of test/settlement:
 * anvil auto-mining, PGlite, or the PostgreSQL server of TEST_DATABASE_URL).
 *
 *   npx tsx bench/soak.ts [--seconds 120] [--steps 5] [--start 0.1] [--clients 16] [--burst 10] [--pairs 4] [--mode GROSS|NETTED]
 */
import { performance } from 'node:perf_hooks';
import { SettlementWorld, gqlOk, type Party } from '../test/settlement/support.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = Number(i >= 0 ? process.argv[i + 1] : fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`--${name} must be a positive number`);
  return v;
}
const modeArg = process.argv.indexOf('--mode');
const MODE = modeArg >= 0 ? process.argv[modeArg + 1] : 'GROSS';
if (MODE !== 'GROSS' && MODE !== 'NETTED') throw new Error('--mode is GROSS or NETTED');
const SECONDS = arg('seconds', 120);
const STEPS = arg('steps', 5);
const START = arg('start', 0.1);
const CLIENTS = arg('clients', 16);
const BURST = arg('burst', 10);
const PAIRS = arg('pairs', 4);
const STALL_MS = 60_000;

const say = (s: string) => void process.stdout.write(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.floor(s.length * p))] : NaN; };

interface Desk { w: SettlementWorld; tokenId: string; sellers: Party[]; buyers: Party[]; sellerBd: string; buyerBd: string }

let seq = 0;
/** One crossing pair: a resting sell, then a buy at its price (one fill, one trade). */
async function pair(d: Desk, i: number): Promise<void> {
  const place = (who: string, p: Party, side: 'BUY' | 'SELL') => gqlOk(d.w.url, who,
    'mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { accepted rejections { code message } } }',
    { in: { tokenId: d.tokenId, accountId: p.accountId, side, type: 'LIMIT', price: '3', quantity: '1', clientOrderId: `soak-${side}-${++seq}` } });
  const s = await place(d.sellerBd, d.sellers[i % d.sellers.length], 'SELL');
  if (!s.placeOrder.accepted) throw new Error(`sell refused: ${JSON.stringify(s.placeOrder.rejections)}`);
  const b = await place(d.buyerBd, d.buyers[(i * 3 + 1) % d.buyers.length], 'BUY');
  if (!b.placeOrder.accepted) throw new Error(`buy refused: ${JSON.stringify(b.placeOrder.rejections)}`);
}

/** Fills since `since` (trading) and how many of them settlement has SETTLED. */
async function backlog(d: Desk, since: Date): Promise<{ fills: number; settled: number; failed: number }> {
  const [{ n: fills }] = await d.w.stack.subgraphs.trading.db.query<{ n: string }>('SELECT count(*) AS n FROM trades WHERE executed_at >= $1', [since]);
  const rows = await d.w.settlement.db.query<{ status: string; n: string }>('SELECT status, count(*) AS n FROM settlements WHERE trade_time >= $1 GROUP BY status', [since]);
  const n = (st: string[]) => rows.filter((r) => st.includes(r.status)).reduce((a, r) => a + Number(r.n), 0);
  return { fills: Number(fills), settled: n(['SETTLED']), failed: n(['REJECTED', 'CANCELLED']) + Number((await d.w.settlement.db.query<{ n: string }>("SELECT count(*) AS n FROM settlements WHERE trade_time >= $1 AND status = 'FAILED' AND final", [since]))[0].n) };
}

/** Waits until every fill since `since` is SETTLED; a backlog that stops shrinking for a minute is reported, not waited on. */
async function drain(d: Desk, since: Date): Promise<void> {
  let last = -1;
  let movedAt = performance.now();
  for (;;) {
    const b = await backlog(d, since);
    if (b.failed) throw new Error(`${b.failed} fills did not settle`);
    if (b.settled >= b.fills) return;
    if (b.settled !== last) [last, movedAt] = [b.settled, performance.now()];
    else if (performance.now() - movedAt > STALL_MS) throw new Error(`no fill settled for ${STALL_MS / 1000} s (${b.settled} of ${b.fills}); last worker error: ${d.w.services().worker.lastError ?? 'none'}`);
    await sleep(200);
  }
}

/** Fill (trade executed) to SETTLED, per trade settled since `since`. */
async function latencies(d: Desk, since: Date): Promise<number[]> {
  const rows = await d.w.settlement.db.query<{ ms: string }>(
    `SELECT extract(epoch FROM (h.at - s.trade_time)) * 1000 AS ms FROM settlements s JOIN settlement_history h ON h.settlement_id = s.id AND h.status = 'SETTLED'
     WHERE s.trade_time >= $1`, [since]);
  return rows.map((r) => Number(r.ms));
}

/** placeOrder as fast as `CLIENTS` clients go, crossing pairs: orders/s. */
async function placeRate(d: Desk): Promise<number> {
  const end = performance.now() + BURST * 1000;
  let orders = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CLIENTS }, async (_, c) => {
    for (let i = c; performance.now() < end; i += CLIENTS) {
      await pair(d, i);
      orders += 2;
    }
  }));
  return orders / ((performance.now() - t0) / 1000);
}

/** One step at `rate` orders/s for SECONDS: whether the backlog stayed bounded, and the step's fill-to-SETTLED latencies. */
async function step(d: Desk, rate: number): Promise<{ bounded: boolean; late: boolean; latencies: number[]; backlogEnd: number; growth: number }> {
  const since = new Date();
  const t0 = performance.now();
  const interval = 2000 / rate; // one pair = two orders
  const inFlight = new Set<Promise<void>>();
  const samples: { t: number; backlog: number }[] = [];
  let late = false;
  let i = 0;
  let error: unknown;
  const sampler = (async () => {
    while (performance.now() - t0 < SECONDS * 1000) {
      const b = await backlog(d, since);
      samples.push({ t: (performance.now() - t0) / 1000, backlog: b.fills - b.settled });
      await sleep(1000);
    }
  })();
  while (performance.now() - t0 < SECONDS * 1000 && !error) {
    const due = t0 + i * interval;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    else if (-wait > 2000) late = true; // more than 2 s behind schedule: the venue could not take this rate
    if (inFlight.size > 256) { late = true; await Promise.race(inFlight); }
    const p: Promise<void> = pair(d, i++).catch((e) => { error = e; }).finally(() => inFlight.delete(p));
    inFlight.add(p);
  }
  await Promise.all(inFlight);
  await sampler;
  if (error) throw error;
  const half = samples.filter((s) => s.t >= SECONDS / 2);
  const growth = half.length > 1 ? half.at(-1)!.backlog - half[0].backlog : 0;
  const backlogEnd = samples.at(-1)?.backlog ?? 0;
  await drain(d, since);
  const fillsPerSec = rate / 2;
  return { bounded: !late && growth < Math.max(3, 2 * fillsPerSec), late, latencies: await latencies(d, since), backlogEnd, growth };
}

async function main() {
  say(`soak bench: ${SECONDS} s per step, up to ${STEPS} steps, ${MODE} settlement, placeOrder rate from ${CLIENTS} clients for ${BURST} s\n`);
  say('starting the stack on anvil ... ');
  const w = await SettlementWorld.start({
    SETTLEMENT_MODE: MODE, SETTLEMENT_POLL_MS: '50', SETTLEMENT_NETTING_INTERVAL_MS: '250', SETTLEMENT_LEASE_MS: '60000',
    SETTLEMENT_CHAIN_TIMEOUT_MS: '30000', SETTLEMENT_CONSENT_TTL_SECONDS: '600', SETTLEMENT_MAX_ATTEMPTS: '5',
  });
  try {
    say('ok\nsetting up a token, parties, holdings and cash ... ');
    const { tokenId } = await w.token506b('SOAK');
    const sellers: Party[] = [];
    const buyers: Party[] = [];
    for (let i = 0; i < PAIRS; i++) {
      sellers.push(await w.party(`Soak Seller ${i}`, 'alpha-bd'));
      buyers.push(await w.party(`Soak Buyer ${i}`, 'beta-bd'));
    }
    for (const s of sellers) await w.issue(tokenId, s, 1_000_000n);
    for (const b of buyers) await w.fund(b, 10n ** 15n);
    const operator = await w.token('ats-co', ['ATS_OPERATOR']);
    for (const org of ['alpha-bd', 'beta-bd']) await gqlOk(w.url, operator, 'mutation($o: String!) { admitSubscriber(org: $o, reason: "approved") { org } }', { o: org });
    const d: Desk = { w, tokenId, sellers, buyers, sellerBd: await w.token('alpha-bd', ['BROKER_DEALER']), buyerBd: await w.token('beta-bd', ['BROKER_DEALER']) };
    say('ok\nwarm-up (standing allowances, JIT) ... ');
    const warm = new Date();
    for (let i = 0; i < PAIRS * 2; i++) await pair(d, i);
    await drain(d, warm);
    say('ok\n');

    const burst = new Date();
    const place = await placeRate(d);
    say(`placeOrder: ${place.toFixed(1)} orders/s (crossing pairs, ${CLIENTS} clients); draining its fills ... `);
    await drain(d, burst);
    say('ok\n');

    let lo = 0; // highest bounded rate so far
    let hi = Infinity; // lowest unbounded rate so far
    let best: { rate: number; latencies: number[] } | null = null;
    let rate = START * place;
    for (let s = 1; s <= STEPS; s++) {
      const r = await step(d, rate);
      say(`step ${s}: ${rate.toFixed(1)} orders/s (${(rate / place).toFixed(2)}x): backlog ${r.bounded ? 'bounded' : 'GROWING'} (grew ${r.growth} over the second half, ${r.backlogEnd} at the end${r.late ? '; orders fell behind schedule' : ''}), fill->SETTLED p50 ${pct(r.latencies, 0.5).toFixed(0)} ms p99 ${pct(r.latencies, 0.99).toFixed(0)} ms\n`);
      if (r.bounded) {
        lo = rate;
        best = { rate, latencies: r.latencies };
      } else hi = rate;
      rate = hi === Infinity ? rate * 2 : (lo + hi) / 2;
      if (lo === 0 && hi !== Infinity) rate = hi / 2;
    }
    say('\n');
    if (!best) {
      say(`no bounded rate found down to ${(hi / place).toFixed(3)}x the placeOrder rate\n`);
      return;
    }
    say(`highest bounded rate      ${best.rate.toFixed(1).padStart(8)} orders/s   ${(best.rate / place).toFixed(2)}x the placeOrder rate (${place.toFixed(1)} orders/s)\n`);
    say(`fill -> SETTLED there     p50 ${pct(best.latencies, 0.5).toFixed(0)} ms, p99 ${pct(best.latencies, 0.99).toFixed(0)} ms (${best.latencies.length} fills)\n`);
  } finally {
    await w.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
