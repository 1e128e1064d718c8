/**
 * Reservations per second at custody under contention, as a ratio to uncontended.
 *
 *   contended:   W workers reserve, each in a loop, on ONE balance (every reservation
 *                queues on the same row lock: the price of "never above available")
 *   uncontended: W workers, each on its own account's balance
 *
 * Each reservation is the real ledger operation (idempotency claim, conditional
 * UPDATE, reservation row, journal entry, outbox event, in one transaction).
 * On the PostgreSQL server when one answers at 127.0.0.1:5432 (a scratch
 * database, dropped at the end), else on PGlite in memory. Runs alternate
 * A B A B; medians are printed. Both sides also queue on the outbox's sequence
 * lock (every ledger operation appends an event), so the ratio is what the
 * one balance row adds on top of that.
 *
 *   npx tsx bench/reservations.ts [--pg URL] [--workers 10] [--seconds 5] [--runs 3]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { Db } from '../subgraphs/kit/db/types.js';
import { ledger } from '../subgraphs/custody/ledger.js';
import { fundedAccount, scratchCustodyDb } from './custody-db.js';

const { values: args } = parseArgs({
  options: {
    pg: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    workers: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '5' },
    runs: { type: 'string', default: '3' },
  },
});
const WORKERS = Number(args.workers);
const SECONDS = Number(args.seconds);
const RUNS = Number(args.runs);
const say = (s: string) => process.stdout.write(s);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

let seq = 0;
/** Reservations per second of WORKERS loops, worker w on accountOf(w). */
async function rate(db: Db, accountOf: (w: number) => string): Promise<number> {
  const end = Date.now() + SECONDS * 1000;
  let done = 0;
  const start = Date.now();
  await Promise.all(Array.from({ length: WORKERS }, async (_, w) => {
    while (Date.now() < end) {
      await ledger.reserve(db, 'bench', { accountId: accountOf(w), asset: 'CASH', amount: 1n, idempotencyKey: `r-${++seq}`, reason: 'bench' });
      done++;
    }
  }));
  return done / ((Date.now() - start) / 1000);
}

async function main(): Promise<void> {
  const { db, label, drop } = await scratchCustodyDb(args.pg!, 'res');
  try {
    say(`reservations bench: ${os.cpus().length} cores, Node ${process.version}, ${label}, ${WORKERS} workers, ${SECONDS}s x ${RUNS} runs (A B A B)\n`);
    const shared = await fundedAccount(db);
    const own: string[] = [];
    for (let w = 0; w < WORKERS; w++) own.push(await fundedAccount(db));
    await rate(db, (w) => own[w]); // warm-up
    const contended: number[] = [];
    const uncontended: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      contended.push(await rate(db, () => shared));
      uncontended.push(await rate(db, (w) => own[w]));
      say(`  run ${r + 1}: contended ${contended[r].toFixed(0)}/s, uncontended ${uncontended[r].toFixed(0)}/s\n`);
    }
    const c = median(contended);
    const u = median(uncontended);
    say(`\ncontended (one balance):     ${c.toFixed(0)} reservations/s (median)\n`);
    say(`uncontended (own balances):  ${u.toFixed(0)} reservations/s (median)\n`);
    say(`ratio contended / uncontended: ${(c / u).toFixed(2)}x\n`);
  } finally {
    await drop();
  }
}

await main();
