/**
 * Settled trades per second, gross (each trade settled on its own, those ready
 * together sharing a DvP transaction) against
 * netted (DvP model 2: the verified trades of a token in one transaction,
 * cash netted per party), each as a ratio to anvil's raw ERC-20 transfer rate
 * measured in the same run (one signer, explicit nonces, all fired, then
 * mined up to the last nonce), the physical limit of one transaction per
 * trade. A nonce that stands still is looked up and reported (dropped or
 * stuck) and sent once more, never waited on for minutes; a mode in which no
 * trade settles for a minute fails with the worker's last error. Per mode the
 * median time between a trade's statuses says where its time went.
 *
 * The whole stack runs in this process (the test world of test/settlement)
 * with anvil auto-mining, on PGlite (settlement on a PGlite folder, so that it
 * can be restarted in the other mode), or on the PostgreSQL server named by
 * TEST_DATABASE_URL: an external trade is submitted through the gateway,
 * verified (issuance's rules, custody's reservations, the chain), settled on
 * chain, booked at custody and attested; the clock runs from the first
 * submission to the last SETTLED. Runs alternate gross, netted, gross,
 * netted...; the medians are printed, with the DvP transactions each mode sent.
 *
 * On PostgreSQL each of the four subgraphs holds at most --pool connections
 * (DATABASE_POOL_MAX) plus one that listens; the run checks first that the
 * server has that many free (it is shared) and stops with what it found
 * instead of dying on "too many clients" halfway.
 *
 *   npx tsx bench/settlement.ts [--trades 200] [--runs 3] [--transfers 1000] [--pairs 4] [--pool 10]
 *
 * With BENCH_STATEMENTS=DIR it also counts the statements every service sends to PostgreSQL and prints them
 * per trade and mode (the bench's own polls of the settlements included); DIR/settlement-<mode>-<run>.txt lists
 * them by text, most frequent first.
 *
 * Profiled (docs/performance.md), keeping only the samples of the settlement runs (gross, netted or all):
 *   BENCH_PROFILE=gross BENCH_PROFILE_DIR=/tmp/prof node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/settlement.ts --runs 1
 *   npx tsx bench/profile-summary.ts /tmp/prof
 */
import { performance } from 'node:perf_hooks';
import { Contract, Transaction, Wallet } from 'ethers';
import pg from 'pg';
import { SettlementWorld, type Party } from '../test/settlement/support.js';
import { markProfileWindow, monotonicMicros, writeProfileInfo } from './processes.js';
import { statementsSoFar } from './count-statements.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = Number(i >= 0 ? process.argv[i + 1] : fallback);
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`--${name} must be a positive integer`);
  return v;
}
const TRADES = arg('trades', 200);
const RUNS = arg('runs', 3);
const TRANSFERS = arg('transfers', 1000);
const PAIRS = arg('pairs', 4);
const POOL = arg('pool', 10);
const VENUE = 'BENCH-VENUE';

const say = (s: string) => void process.stdout.write(s);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long the sender's mined nonce may stand still before the transaction holding it up is looked for. */
const STALL_MS = 10_000;

/**
 * Waits until every transaction of `from` up to nonce0 + raws.length - 1 is mined, watching the
 * sender's mined nonce rather than one receipt: when it stands still for STALL_MS, the transaction
 * at that nonce is looked up, reported (dropped: the node no longer knows it; stuck: known, not
 * mined) and the signed transactions from there on are sent again, once. A second stall throws.
 */
async function waitForNonce(w: SettlementWorld, from: string, nonce0: number, raws: string[], hashes: string[]): Promise<string[]> {
  const notes: string[] = [];
  let mined = nonce0;
  let movedAt = performance.now();
  let resent = false;
  while (mined < nonce0 + raws.length) {
    await sleep(10);
    const now = await w.provider.getTransactionCount(from, 'latest');
    if (now > mined) {
      mined = now;
      movedAt = performance.now();
      continue;
    }
    if (performance.now() - movedAt < STALL_MS) continue;
    const i = mined - nonce0;
    const known = await w.provider.getTransaction(hashes[i]);
    const what = `nonce ${mined} (${hashes[i]}) ${known ? 'stuck in the pool' : 'dropped by the node'}; ${mined - nonce0} of ${raws.length} mined`;
    if (resent) throw new Error(`ERC-20 reference: ${what}, again after sending it once more`);
    notes.push(what);
    say(`\n  ERC-20 reference: ${what}; sending nonces ${mined}.. again\n`);
    for (const r of raws.slice(i)) await w.provider.broadcastTransaction(r).catch(() => undefined); // "already known" is fine
    resent = true;
    movedAt = performance.now();
  }
  return notes;
}

/** Raw ERC-20 transfers: signed locally with explicit nonces, all sent, then mined up to the last nonce. */
async function erc20Rate(w: SettlementWorld, n: number): Promise<{ rate: number; notes: string[] }> {
  const from = Wallet.createRandom().connect(w.provider);
  await w.bank.send({ to: from.address, value: 10n ** 19n });
  await w.bank.send(w.cash.mint(from.address, BigInt(n)));
  const cash = w.cash.connect(from) as Contract;
  const [fee, nonce0] = await Promise.all([w.provider.getFeeData(), w.provider.getTransactionCount(from.address, 'pending')]);
  const maxFee = fee.maxFeePerGas! * 4n;
  const to = Wallet.createRandom().address;
  const raws: string[] = [];
  for (let i = 0; i < n; i++) {
    const tx = await cash.transfer.populateTransaction(to, 1n);
    raws.push(await from.signTransaction({ ...tx, nonce: nonce0 + i, gasLimit: 60_000n, chainId: w.bank.chainId, maxFeePerGas: maxFee, maxPriorityFeePerGas: fee.maxPriorityFeePerGas, type: 2 }));
  }
  const hashes = raws.map((r) => Transaction.from(r).hash!);
  const t0 = performance.now();
  // Fired in nonce order, a window at a time (a node may drop a sender's transactions that arrive too far ahead of its nonce).
  for (let i = 0; i < raws.length; i += 50) {
    await Promise.all(raws.slice(i, i + 50).map((r) => w.provider.broadcastTransaction(r)));
  }
  const notes = await waitForNonce(w, from.address, nonce0, raws, hashes);
  const secs = (performance.now() - t0) / 1000;
  if ((await w.cash.balanceOf(to)) !== BigInt(n)) throw new Error('not every transfer landed');
  return { rate: n / secs, notes };
}

async function settledCount(w: SettlementWorld, since: Date): Promise<{ settled: number; other: number }> {
  const rows = await w.settlement.db.query<{ status: string; n: string }>('SELECT status, count(*) AS n FROM settlements WHERE created_at >= $1 GROUP BY status', [since]);
  const settled = Number(rows.find((r) => r.status === 'SETTLED')?.n ?? 0);
  const failed = rows.filter((r) => r.status === 'FAILED' || r.status === 'REJECTED' || r.status === 'CANCELLED').reduce((n, r) => n + Number(r.n), 0);
  return { settled, other: failed };
}

/** Where a trade's time went: the median time from one status to the next over the run's trades (from the status history). */
async function stageMedians(w: SettlementWorld, since: Date): Promise<string> {
  const rows = await w.settlement.db.query<{ settlement_id: string; status: string; at: Date }>(
    'SELECT h.settlement_id, h.status, h.at FROM settlement_history h JOIN settlements s ON s.id = h.settlement_id WHERE s.created_at >= $1 ORDER BY h.settlement_id, h.seq', [since]);
  const per = new Map<string, Map<string, number>>();
  for (const r of rows) {
    const m = per.get(r.settlement_id) ?? new Map<string, number>();
    if (!m.has(r.status)) m.set(r.status, new Date(r.at).getTime());
    per.set(r.settlement_id, m);
  }
  const order = ['RECEIVED', 'VERIFIED', 'SETTLING', 'SETTLED'];
  return order.slice(1).map((to, i) => {
    const gaps = [...per.values()].filter((m) => m.has(order[i]) && m.has(to)).map((m) => m.get(to)! - m.get(order[i])!);
    return `${order[i].toLowerCase()}->${to.toLowerCase()} ${gaps.length ? median(gaps) : '-'} ms`;
  }).join(', ');
}

/** Statements sent since `before`, per trade, with the list by text written to BENCH_STATEMENTS (null when not counting). */
function statementsPerTrade(before: Map<string, number>, name: string): number | null {
  const dir = process.env.BENCH_STATEMENTS;
  if (!dir) return null;
  mkdirSync(dir, { recursive: true });
  const rows = [...statementsSoFar()].map(([text, n]) => [text, n - (before.get(text) ?? 0)] as const).filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]);
  writeFileSync(join(dir, `settlement-${name}.txt`), rows.map(([text, n]) => `${(n / TRADES).toFixed(2).padStart(7)}  ${text}`).join('\n') + '\n');
  return rows.reduce((sum, [, n]) => sum + n, 0) / TRADES;
}

let refSeq = 0;
let runSeq = 0;
async function run(w: SettlementWorld, mode: 'GROSS' | 'NETTED', tokenId: string, sellers: Party[], buyers: Party[]): Promise<{ rate: number; txs: number; submitted: number; stages: string; cpuMs: number; statements: number | null }> {
  await w.settlement.stop();
  await w.startSettlement({ SETTLEMENT_MODE: mode });
  const since = new Date();
  const statements0 = statementsSoFar();
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const window0 = monotonicMicros();
  const submit = async (i: number) => {
    const r = await w.submit(w.agent, {
      venue: VENUE, venueReference: `b-${++refSeq}`, tokenId, sellerAccountId: sellers[i % sellers.length].accountId, buyerAccountId: buyers[(i * 7 + 3) % buyers.length].accountId,
      quantity: '1', price: '1.25', tradeTime: new Date().toISOString(),
    });
    if (r.body.errors) throw new Error(JSON.stringify(r.body.errors));
  };
  for (let i = 0; i < TRADES; i += 20) await Promise.all(Array.from({ length: Math.min(20, TRADES - i) }, (_, k) => submit(i + k)));
  const submitted = (performance.now() - t0) / 1000;
  let last = -1;
  let movedAt = performance.now();
  for (;;) {
    const c = await settledCount(w, since);
    if (c.other > 0) throw new Error(`${c.other} trades did not settle`);
    if (c.settled >= TRADES) break;
    if (c.settled !== last) [last, movedAt] = [c.settled, performance.now()];
    else if (performance.now() - movedAt > STALL_MS * 6) throw new Error(`${mode}: no trade settled for ${(STALL_MS * 6) / 1000} s (${c.settled} of ${TRADES}); last worker error: ${w.services().worker.lastError ?? 'none'}`);
    await sleep(20);
  }
  const secs = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu0);
  const statements = statementsPerTrade(statements0, `${mode.toLowerCase()}-${++runSeq}`);
  if (process.env.BENCH_PROFILE === 'all' || process.env.BENCH_PROFILE?.toUpperCase() === mode) markProfileWindow(window0, monotonicMicros());
  const stages = await stageMedians(w, since);
  // Gross batches of trades ready together share a transaction: count transactions, not batches.
  const [{ n: txs }] = await w.settlement.db.query<{ n: string }>("SELECT count(DISTINCT tx_hash) AS n FROM dvp_batches WHERE status = 'SETTLED' AND created_at >= $1", [since]);
  // CPU time of this process (every service and the bench) per trade: what a loaded machine's scheduling does not change much.
  return { rate: TRADES / secs, txs: Number(txs), submitted, stages, cpuMs: (used.user + used.system) / 1000 / TRADES, statements };
}

/** Connections this run opens at most: each subgraph's pool and its listener, the bench's own queries and database set-up, a margin. */
const CONNECTIONS = 4 * (POOL + 1) + 5;
/** What must stay free for others on the shared server after this run took its share. */
const HEADROOM = 20;

/** PostgreSQL has room for this run, or the run stops now, saying what it found. */
async function checkConnections(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  try {
    await c.connect();
    const { rows: [r] } = await c.query<{ max: number; used: number; reserved: number }>(
      "SELECT current_setting('max_connections')::int AS max, (SELECT count(*)::int FROM pg_stat_activity) AS used, current_setting('superuser_reserved_connections')::int AS reserved");
    const free = r.max - r.reserved - r.used;
    if (free < CONNECTIONS + HEADROOM) {
      throw new Error(`PostgreSQL has ${free} of ${r.max} connections free (${r.used} in use, ${r.reserved} reserved); this run needs up to ${CONNECTIONS} (--pool ${POOL}: 4 subgraphs x ${POOL + 1}, plus 5) and leaves ${HEADROOM} for others. Wait for other work to finish, or run with a smaller --pool.`);
    }
  } catch (e) {
    throw tooManyClients(e) ?? e;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** PostgreSQL's "too many clients" (53300) as a sentence that says what to do. */
function tooManyClients(e: unknown): Error | null {
  const code = (e as { code?: string })?.code;
  if (code !== '53300' && !/too many clients/i.test(String((e as Error)?.message))) return null;
  return new Error(`PostgreSQL refused a connection: too many clients (the server is shared). This run needs up to ${CONNECTIONS} connections (--pool ${POOL}); wait for other work to finish, or run with a smaller --pool.`, { cause: e });
}

/** SETTLEMENT_* settings in the bench's environment override its own (e.g. SETTLEMENT_GROSS_GATHER_MS=0 for an A/B). */
const settlementSettingsOfEnv = (): Record<string, string> =>
  Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('SETTLEMENT_') && e[1] !== undefined));

async function main() {
  const overrides = Object.entries(settlementSettingsOfEnv()).map(([k, v]) => `${k}=${v}`).join(' ');
  say(`settlement bench: ${TRADES} trades per run, ${RUNS} runs per mode, ${PAIRS} sellers and ${PAIRS} buyers, ERC-20 reference ${TRANSFERS} transfers${overrides ? `; ${overrides}` : ''}\n`);
  if (process.env.TEST_DATABASE_URL) await checkConnections(process.env.TEST_DATABASE_URL);
  say('starting the stack on anvil ... ');
  const pool = { DATABASE_POOL_MAX: String(POOL) };
  const w = await SettlementWorld.start({
    SETTLEMENT_POLL_MS: '50', SETTLEMENT_NETTING_INTERVAL_MS: '250', SETTLEMENT_LEASE_MS: '60000',
    SETTLEMENT_CHAIN_TIMEOUT_MS: '30000', SETTLEMENT_CONSENT_TTL_SECONDS: '600', SETTLEMENT_MAX_ATTEMPTS: '5', ...pool, ...settlementSettingsOfEnv(),
  }, { subgraphEnv: pool });
  try {
    say('ok\nsetting up a token, parties, holdings and cash ... ');
    const { tokenId } = await w.token506b('BNCH');
    const sellers: Party[] = [];
    const buyers: Party[] = [];
    for (let i = 0; i < PAIRS; i++) {
      sellers.push(await w.party(`Bench Seller ${i}`, 'alpha-bd'));
      buyers.push(await w.party(`Bench Buyer ${i}`, 'beta-bd'));
    }
    const perSeller = BigInt(Math.ceil((TRADES * RUNS * 2 + PAIRS) / PAIRS) + 10);
    for (const s of sellers) await w.issue(tokenId, s, perSeller);
    for (const b of buyers) await w.fund(b, 10n ** 15n);
    await w.authorizeVenue(VENUE, tokenId);
    say('ok\n');

    // Warm-up: every wallet's one-time allowance to the DvP contract, and the JIT.
    say('warm-up (standing allowances) ... ');
    await runWarmup(w, tokenId, sellers, buyers);
    say('ok\n');

    const erc: number[] = [];
    const gross: number[] = [];
    const netted: number[] = [];
    let nettedTxs = 0;
    const grossTxs: number[] = [];
    const grossCpu: number[] = [];
    const nettedCpu: number[] = [];
    for (let r = 1; r <= RUNS; r++) {
      const ref = await erc20Rate(w, TRANSFERS);
      erc.push(ref.rate);
      say(`run ${r}: ERC-20 ${ref.rate.toFixed(0)} tx/s${ref.notes.length ? ` (after ${ref.notes.length} re-send)` : ''}`);
      const g = await run(w, 'GROSS', tokenId, sellers, buyers);
      gross.push(g.rate);
      grossCpu.push(g.cpuMs);
      grossTxs.push(g.txs);
      say(`, gross ${g.rate.toFixed(1)} trades/s (${g.txs} txs, ${(TRADES / g.txs).toFixed(1)} trades per tx; CPU ${g.cpuMs.toFixed(0)} ms per trade;${g.statements === null ? '' : ` ${g.statements.toFixed(1)} statements per trade;`} all submitted after ${g.submitted.toFixed(1)} s; p50 ${g.stages})`);
      const n = await run(w, 'NETTED', tokenId, sellers, buyers);
      netted.push(n.rate);
      nettedCpu.push(n.cpuMs);
      nettedTxs = n.txs;
      say(`, netted ${n.rate.toFixed(1)} trades/s (${n.txs} txs; CPU ${n.cpuMs.toFixed(0)} ms per trade;${n.statements === null ? '' : ` ${n.statements.toFixed(1)} statements per trade;`} all submitted after ${n.submitted.toFixed(1)} s; p50 ${n.stages})\n`);
    }
    const e = median(erc), g = median(gross), n = median(netted);
    say(`\nmedians over ${RUNS} runs (${TRADES} trades each; netted used ${nettedTxs} transactions for ${TRADES} trades):\n`);
    say(`  anvil raw ERC-20 transfers   ${e.toFixed(0).padStart(8)} tx/s\n`);
    say(`  gross settlement             ${g.toFixed(1).padStart(8)} trades/s   ${(g / e).toFixed(3)}x the ERC-20 rate   (${(TRADES / median(grossTxs)).toFixed(1)} trades per DvP transaction; CPU ${median(grossCpu).toFixed(0)} ms per trade)\n`);
    say(`  netted settlement            ${n.toFixed(1).padStart(8)} trades/s   ${(n / e).toFixed(3)}x the ERC-20 rate   (CPU ${median(nettedCpu).toFixed(0)} ms per trade)\n`);
    say(`  netted / gross               ${(n / g).toFixed(2)}x\n`);
  } finally {
    writeProfileInfo();
    await w.stop();
  }
}

async function runWarmup(w: SettlementWorld, tokenId: string, sellers: Party[], buyers: Party[]) {
  const since = new Date();
  let n = 0;
  for (const s of sellers) {
    for (const b of buyers) {
      const r = await w.submit(w.agent, { venue: VENUE, venueReference: `warm-${++refSeq}`, tokenId, sellerAccountId: s.accountId, buyerAccountId: b.accountId, quantity: '1', price: '1', tradeTime: new Date().toISOString() });
      if (r.body.errors) throw new Error(JSON.stringify(r.body.errors));
      n++;
    }
  }
  for (;;) {
    const c = await settledCount(w, since);
    if (c.other) throw new Error('warm-up trades did not settle');
    if (c.settled >= n) return;
    await sleep(50);
  }
}

main().catch((e) => {
  console.error(tooManyClients(e) ?? e);
  process.exit(1);
});
