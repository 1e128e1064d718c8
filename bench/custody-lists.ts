/**
 * Custody's list calls against the same work done one call at a time, in one run.
 *
 *   holds:    settlement's holdMany of N items (half adoptions of trading reservations,
 *             half new reservations, over 10 accounts) vs N single calls
 *             (adoptReservation / reserve), one after the other
 *   bookings: bookSettlements of N bookings (each consumes a hold and credits another
 *             account) vs N single bookSettlement calls
 *
 * Both sides call custody's internal handlers in process (no HTTP), so the ratio is
 * what the database work of a list costs against the same items each in its own
 * transaction: list time / (N x one call's time). 1.0 means a list saves nothing;
 * a list that costs a few round trips whatever its length is far below 1/N x 10.
 * On the PostgreSQL server when one answers (a scratch database), else PGlite.
 * Runs alternate list, single, list, single; medians are printed.
 *
 *   npx tsx bench/custody-lists.ts [--pg URL] [--items 50] [--runs 3]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import type { Caller } from '../subgraphs/kit/auth.js';
import type { Db, Queryable } from '../subgraphs/kit/db/types.js';
import type { InternalHandler } from '../subgraphs/kit/internal.js';
import type { SubgraphRuntime } from '../subgraphs/kit/subgraph.js';
import { ledger } from '../subgraphs/custody/ledger.js';
import { custodyDvpInternal, custodyInternal } from '../subgraphs/custody/internal.js';
import type { WalletKeys } from '../subgraphs/custody/keys.js';
import { fundedAccount, scratchCustodyDb } from './custody-db.js';

const { values: args } = parseArgs({
  options: {
    pg: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432/postgres' },
    items: { type: 'string', default: '50' },
    runs: { type: 'string', default: '3' },
  },
});
const N = Number(args.items);
const RUNS = Number(args.runs);
const say = (s: string) => process.stdout.write(s);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const settlement: Caller = { kind: 'service', subject: 'settlement', org: 'tokenstack', roles: [], token: 'bench' };

/** The database with every statement counted (BEGIN and COMMIT included): the round trips a call makes. */
function counted(db: Db): { db: Db; statements: () => number } {
  let n = 0;
  const wrap = (q: Queryable): Queryable => ({
    query: (sql, params) => { n++; return q.query(sql, params); },
    exec: (sql) => { n++; return q.exec(sql); },
  });
  return {
    statements: () => n,
    db: { ...db, ...wrap(db), tx: (fn, o) => { n += 2; return db.tx((q) => fn(wrap(q)), o); } },
  };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t) / 1e6;
}

/** Every answer of a list must be a success: a bench that times refusals measures nothing. */
function allOk(r: unknown): void {
  const bad = (r as { results: { ok: boolean; error?: unknown }[] }).results.find((x) => !x.ok);
  if (bad) throw new Error(`a list item was refused: ${JSON.stringify(bad.error)}`);
}

async function main(): Promise<void> {
  const scratch = await scratchCustodyDb(args.pg!, 'lists');
  const { label, drop } = scratch;
  const { db, statements } = counted(scratch.db);
  try {
    say(`custody list bench: ${os.cpus().length} cores, Node ${process.version}, ${label}, ${N} items per list, ${RUNS} runs, load average ${os.loadavg()[0].toFixed(1)}\n`);
    const accounts: string[] = [];
    for (let i = 0; i < 10; i++) accounts.push(await fundedAccount(db));
    const rt = { db, config: { CHAIN_RPC_URL: 'http://127.0.0.1:9' } } as unknown as SubgraphRuntime;
    const dvp: Record<string, InternalHandler> = custodyDvpInternal(rt, {} as WalletKeys);
    const rpc: Record<string, InternalHandler> = custodyInternal(db);

    let seq = 0;
    /** N holds (half adoptions of fresh trading reservations), and the bookings that settle them. */
    async function work() {
      const tag = `${++seq}`;
      const holds = [];
      for (let i = 0; i < N; i++) {
        const accountId = accounts[i % accounts.length];
        if (i % 2 === 0) {
          const tradingKey = `ord-${tag}-${i}`;
          await ledger.reserve(db, 'trading', { accountId, asset: 'CASH', amount: 100n, idempotencyKey: tradingKey, reason: 'order' });
          holds.push({ kind: 'ADOPT', fromService: 'trading', reservationKey: tradingKey, amount: '60', idempotencyKey: `h-${tag}-${i}`, reason: 'settlement' });
        } else {
          holds.push({ kind: 'RESERVE', accountId, asset: 'CASH', amount: '60', idempotencyKey: `h-${tag}-${i}`, reason: 'settlement' });
        }
      }
      const bookings = holds.map((h, i) => ({
        idempotencyKey: `bk-${tag}-${i}`, reason: 'settlement',
        consume: [{ reservationKey: h.idempotencyKey, amount: '60' }],
        credit: [{ accountId: accounts[(i + 3) % accounts.length], asset: 'CASH', amount: '60' }],
      }));
      return { holds, bookings };
    }

    const times = { holdList: [] as number[], holdOne: [] as number[], bookList: [] as number[], bookOne: [] as number[] };
    const stmts = { holdList: 0, holdOne: 0, bookList: 0, bookOne: 0 };
    const count = async (k: keyof typeof stmts, fn: () => Promise<unknown>) => {
      const before = statements();
      const ms = await timed(fn);
      stmts[k] = statements() - before;
      times[k].push(ms);
    };
    const warm = await work();
    allOk(await dvp.holdMany({ holds: warm.holds }, settlement));
    allOk(await dvp.bookSettlements({ bookings: warm.bookings }, settlement));
    for (let r = 0; r < RUNS; r++) {
      const a = await work();
      await count('holdList', async () => allOk(await dvp.holdMany({ holds: a.holds }, settlement)));
      await count('bookList', async () => allOk(await dvp.bookSettlements({ bookings: a.bookings }, settlement)));
      const b = await work();
      await count('holdOne', async () => {
        for (const h of b.holds) {
          if (h.kind === 'ADOPT') await dvp.adoptReservation(h, settlement);
          else await rpc.reserve(h, settlement);
        }
      });
      await count('bookOne', async () => { for (const bk of b.bookings) await dvp.bookSettlement(bk, settlement); });
      say(`  run ${r + 1}: holds list ${times.holdList[r].toFixed(0)} ms vs ${N} calls ${times.holdOne[r].toFixed(0)} ms; `
        + `bookings list ${times.bookList[r].toFixed(0)} ms vs ${N} calls ${times.bookOne[r].toFixed(0)} ms\n`);
    }
    const line = (what: string, list: number, one: number, sList: number, sOne: number) =>
      say(`${what}: list of ${N} ${list.toFixed(0)} ms (${(list / N).toFixed(2)} ms/item, ${sList} statements) vs ${N} single calls ${one.toFixed(0)} ms `
        + `(${(one / N).toFixed(2)} ms/item, ${sOne} statements): ratio ${(list / one).toFixed(3)}x\n`);
    say('\n');
    line('holdMany       ', median(times.holdList), median(times.holdOne), stmts.holdList, stmts.holdOne);
    line('bookSettlements', median(times.bookList), median(times.bookOne), stmts.bookList, stmts.bookOne);
    say(`load average at the end ${os.loadavg()[0].toFixed(1)}\n`);
  } finally {
    await drop();
  }
}

await main();
