import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import type { Db, Queryable } from '../../subgraphs/kit/db/types.js';
import { errorCode } from '../../subgraphs/kit/errors.js';
import { newId } from '../../subgraphs/kit/ids.js';
import type { InternalHandler } from '../../subgraphs/kit/internal.js';
import type { SubgraphRuntime } from '../../subgraphs/kit/subgraph.js';
import { ledger, runLedger } from '../../subgraphs/custody/ledger.js';
import type { LedgerOp } from '../../subgraphs/custody/domain/ledger-plan.js';
import { custodyDvpInternal, custodyInternal } from '../../subgraphs/custody/internal.js';
import type { WalletKeys } from '../../subgraphs/custody/keys.js';
import { dbLabel, onPostgres } from '../support/db.js';
import { until } from '../support/wait.js';
import { openAccount, openCustodyDb, service } from './support.js';

type Answer = { ok: true; value: Record<string, unknown> } | { ok: false; error: { code: string } & Record<string, unknown> };
const brief = (xs: Answer[]) => xs.map((x) => (x.ok ? 'ok' : x.error.code));

/**
 * Custody's list calls decide every item over rows locked once for the whole
 * list and write with one statement per kind of row: these tests hold them to
 * what one operation after the other would do (per-item outcomes, replays,
 * duplicates in one list), to the journal's arithmetic, and, on PostgreSQL, to
 * concurrent lists on the same balances in opposite orders and to a session
 * killed in the middle of a list.
 */
describe(`custody's list calls, set-based (${dbLabel()})`, () => {
  let db: Db;
  let url: string;
  let cleanup: () => Promise<void>;
  let rpc: Record<string, InternalHandler>;
  let dvp: Record<string, InternalHandler>;
  const T = service('trading');
  const S = service('settlement');

  const funded = async (amount: bigint, asset = 'CASH') => {
    const a = await openAccount(db, 'acme');
    await ledger.credit(db, 'settlement', { accountId: a, asset, amount, idempotencyKey: `dep-${a}-${asset}`, reason: 'deposit' });
    return a;
  };
  /** Every balance equals the sum of its journal, and no balance is overdrawn. */
  const journalAddsUp = async () => {
    const bad = await db.query(
      `SELECT b.account_id, b.asset FROM balances b
       LEFT JOIN (SELECT account_id, asset, sum(total_delta) AS t, sum(reserved_delta) AS r FROM ledger_entries GROUP BY 1, 2) e USING (account_id, asset)
       WHERE b.total <> coalesce(e.t, 0) OR b.reserved <> coalesce(e.r, 0) OR b.reserved > b.total OR b.reserved < 0`);
    expect(bad).toEqual([]);
    const open = await db.query(
      `SELECT b.account_id FROM balances b
       LEFT JOIN (SELECT account_id, asset, sum(amount - released - consumed) AS held FROM reservations GROUP BY 1, 2) r USING (account_id, asset)
       WHERE b.reserved <> coalesce(r.held, 0)`);
    expect(open).toEqual([]);
  };

  beforeAll(async () => {
    ({ db, url, cleanup } = await openCustodyDb() as { db: Db; url: string; cleanup(): Promise<void> });
    rpc = custodyInternal(db);
    dvp = custodyDvpInternal({ db, config: { CHAIN_RPC_URL: 'http://127.0.0.1:9' } } as unknown as SubgraphRuntime, {} as WalletKeys);
  }, 60_000);
  afterAll(async () => cleanup?.());

  test('duplicates in one list answer as one call after the other would: a replay, a key reused for other content, a refusal repeated', async () => {
    const a = await funded(100n);
    const item = (k: string, amount: string) => ({ accountId: a, asset: 'CASH', amount, idempotencyKey: k, reason: `order ${k}` });
    const { results } = await rpc.reserveMany({ items: [
      item('d1', '40'), item('d1', '40'), // the same twice: one reservation, the same answer
      item('d1', '41'), // the key with other content
      item('d2', '70'), item('d2', '70'), // short (60 left), twice: refused twice, no claim kept
      item('d3', '60'), // the last 60
    ] }, T) as { results: Answer[] };
    expect(brief(results)).toEqual(['ok', 'ok', 'INPUT.IDEMPOTENCY_KEY_REUSED', 'CUSTODY.INSUFFICIENT_AVAILABLE', 'CUSTODY.INSUFFICIENT_AVAILABLE', 'ok']);
    expect(results[1]).toEqual(results[0]);
    expect(await ledger.balance(db, a, 'CASH')).toMatchObject({ total: '100', reserved: '100' });
    const keys = (await db.query<{ k: string }>("SELECT idempotency_key AS k FROM ledger_operations WHERE service = 'trading' AND idempotency_key IN ('d1', 'd2', 'd3') ORDER BY 1")).map((r) => r.k);
    expect(keys).toEqual(['d1', 'd3']);
    // A refused key kept no claim: it is free for any content once funds are released.
    await ledger.release(db, 'trading', { ref: { reservationKey: 'd3' } });
    expect(brief((await rpc.reserveMany({ items: [item('d2', '60')] }, T) as { results: Answer[] }).results)).toEqual(['ok']);
    await journalAddsUp();
  });

  test('amounts stay exact integers through a list: 78-digit balances and reservations, nothing rounded', async () => {
    const a = await openAccount(db, 'acme');
    const big = 10n ** 77n + 1n;
    await ledger.credit(db, 'settlement', { accountId: a, asset: 'CASH', amount: big, idempotencyKey: `big-${a}`, reason: 'deposit' });
    const { results } = await dvp.holdMany({ holds: [
      { kind: 'RESERVE', accountId: a, asset: 'CASH', amount: (10n ** 77n).toString(), idempotencyKey: `big1-${a}`, reason: 'stl' },
      { kind: 'RESERVE', accountId: a, asset: 'CASH', amount: '2', idempotencyKey: `big2-${a}`, reason: 'stl' }, // 1 left
      { kind: 'RESERVE', accountId: a, asset: 'CASH', amount: '1', idempotencyKey: `big3-${a}`, reason: 'stl' },
    ] }, S) as { results: Answer[] };
    expect(brief(results)).toEqual(['ok', 'CUSTODY.INSUFFICIENT_AVAILABLE', 'ok']);
    expect(results[1]).toMatchObject({ error: { available: '1', requested: '2' } });
    expect(await ledger.balance(db, a, 'CASH')).toEqual({ accountId: a, asset: 'CASH', total: big.toString(), reserved: big.toString(), available: '0' });
    await journalAddsUp();
  });

  test('a list of holds and adoptions mixing good and bad items: each bad one its own typed error, nothing of it kept; journal, reservations and events add up', async () => {
    const [a, b] = [await funded(100n), await funded(100n)];
    await ledger.reserve(db, 'trading', { accountId: b, asset: 'CASH', amount: 50n, idempotencyKey: `ord-${b}`, reason: 'order' });
    const events = async () => Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM outbox WHERE topic LIKE 'balance.%'"))[0].n);
    const before = await events();
    const holds = [
      { kind: 'ADOPT', fromService: 'trading', reservationKey: `ord-${b}`, amount: '20', idempotencyKey: `x1-${b}`, reason: 'stl' },
      { kind: 'RESERVE', accountId: newId('acc'), asset: 'CASH', amount: '1', idempotencyKey: `x2-${a}`, reason: 'stl' }, // unknown account
      { kind: 'ADOPT', fromService: 'trading', reservationKey: 'no-such-order', amount: '1', idempotencyKey: `x3-${a}`, reason: 'stl' }, // unknown reservation
      { kind: 'RESERVE', accountId: a, asset: newId('tok').slice(0, 30), amount: '1', idempotencyKey: `x4-${a}`, reason: 'stl' }, // unknown asset
      { kind: 'ADOPT', fromService: 'trading', reservationKey: `ord-${b}`, amount: '31', idempotencyKey: `x5-${b}`, reason: 'stl' }, // 30 left
      { kind: 'ADOPT', fromService: 'trading', reservationKey: `ord-${b}`, amount: '30', idempotencyKey: `x6-${b}`, reason: 'stl' }, // the rest
      { kind: 'RESERVE', accountId: a, asset: 'CASH', amount: '100', idempotencyKey: `x7-${a}`, reason: 'stl' },
      { kind: 'RESERVE', accountId: a, asset: 'CASH', amount: '1', idempotencyKey: `x8-${a}`, reason: 'stl' }, // short
    ];
    const { results } = await dvp.holdMany({ holds }, S) as { results: Answer[] };
    expect(brief(results)).toEqual(['ok', 'CUSTODY.UNKNOWN_ACCOUNT', 'CUSTODY.UNKNOWN_RESERVATION', 'CUSTODY.UNKNOWN_ASSET', 'CUSTODY.EXCEEDS_RESERVATION', 'ok', 'ok', 'CUSTODY.INSUFFICIENT_AVAILABLE']);
    expect(await ledger.reservation(db, 'trading', { reservationKey: `ord-${b}` })).toMatchObject({ remaining: '0', released: '50', status: 'CLOSED' });
    expect(await ledger.balance(db, b, 'CASH')).toMatchObject({ total: '100', reserved: '50' });
    expect(await ledger.balance(db, a, 'CASH')).toMatchObject({ total: '100', reserved: '100' });
    // Two adoptions (a release and a reservation each) and one reservation: five events, nothing for the refused.
    expect(await events()).toBe(before + 5);
    // Replayed whole: the stored answers for what was held, a refusal again for the rest (decided anew), nothing moves.
    const again = (await dvp.holdMany({ holds }, S) as { results: Answer[] }).results;
    expect(brief(again)).toEqual(brief(results));
    expect(again.filter((x) => x.ok)).toEqual(results.filter((x) => x.ok));
    expect(await events()).toBe(before + 5);
    await journalAddsUp();
  });

  test('bookings: a first credit opens a balance; a refused booking leaves neither its consumption nor an opened balance behind', async () => {
    const [a, b] = [await funded(100n), await funded(100n)];
    const tok = newId('tok');
    await ledger.registerAsset(db, tok, null);
    await dvp.holdMany({ holds: [
      { kind: 'RESERVE', accountId: a, asset: 'CASH', amount: '60', idempotencyKey: `h-${a}`, reason: 'stl' },
      { kind: 'RESERVE', accountId: b, asset: 'CASH', amount: '60', idempotencyKey: `h-${b}`, reason: 'stl' },
    ] }, S);
    const bookings = [
      { idempotencyKey: `bk-${a}`, reason: 'stl a', consume: [{ reservationKey: `h-${a}`, amount: '60' }], credit: [{ accountId: a, asset: tok, amount: '5' }] },
      // b's booking credits an unknown account: refused whole, so b's reservation is not consumed and no balance is opened.
      { idempotencyKey: `bk-${b}`, reason: 'stl b', consume: [{ reservationKey: `h-${b}`, amount: '60' }], credit: [{ accountId: b, asset: tok, amount: '5' }, { accountId: newId('acc'), asset: tok, amount: '5' }] },
      // The same booking as the first, twice in the list: a replay.
      { idempotencyKey: `bk-${a}`, reason: 'stl a', consume: [{ reservationKey: `h-${a}`, amount: '60' }], credit: [{ accountId: a, asset: tok, amount: '5' }] },
    ];
    const { results } = await dvp.bookSettlements({ bookings }, S) as { results: Answer[] };
    expect(brief(results)).toEqual(['ok', 'CUSTODY.UNKNOWN_ACCOUNT', 'ok']);
    expect(results[2]).toEqual(results[0]);
    expect(results[0]).toMatchObject({ value: { consumed: [{ balance: { total: '40', reserved: '0' } }], credited: [{ balance: { asset: tok, total: '5' } }] } });
    expect(await ledger.balance(db, a, tok)).toMatchObject({ total: '5' });
    expect(await ledger.balance(db, b, 'CASH')).toMatchObject({ total: '100', reserved: '60' });
    expect(await db.query('SELECT 1 FROM balances WHERE account_id = $1 AND asset = $2', [b, tok])).toEqual([]);
    await journalAddsUp();
  });

  const onServer = onPostgres() ? test : test.skip;

  /** Runs a list in a transaction of its own session, with no retry: a deadlock would be thrown, not hidden. */
  async function onOwnSession<T>(fn: (q: Queryable) => Promise<T>): Promise<T> {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query('BEGIN');
      const out = await fn({ query: async (sql, params) => (await c.query(sql, params as unknown[])).rows, exec: async (sql) => { await c.query(sql); } });
      await c.query('COMMIT');
      return out;
    } finally {
      await c.end();
    }
  }

  onServer('two lists at once on the same balances in opposite orders: no deadlock, no overdraft, each item decided once', async () => {
    const accounts = await Promise.all(Array.from({ length: 6 }, () => funded(1_000n)));
    for (const acc of accounts) await ledger.reserve(db, 'trading', { accountId: acc, asset: 'CASH', amount: 600n, idempotencyKey: `o-${acc}`, reason: 'order' });
    let ok = 0;
    for (let round = 0; round < 12; round++) {
      // One list adopts from trading's reservations and reserves (holdMany's shape), the other consumes and credits (bookings), on the
      // same balances, one in the accounts' order and the other in reverse; 40 of each balance's 400 free are asked per item.
      const holds: LedgerOp[][] = accounts.map((acc, i) => (i % 2
        ? [{ kind: 'RESERVE', service: 'settlement', accountId: acc, asset: 'CASH', amount: 40n, key: `r${round}-${acc}`, reason: 'stl' }]
        : [{ kind: 'RELEASE', service: 'trading', ref: { reservationKey: `o-${acc}` }, amount: 40n, key: `adopted-by:settlement:a${round}-${acc}` },
          { kind: 'RESERVE_LIKE', service: 'settlement', like: { service: 'trading', ref: { reservationKey: `o-${acc}` } }, amount: 40n, key: `a${round}-${acc}`, reason: 'stl' }]));
      const books: LedgerOp[][] = [...accounts].reverse().map((acc, i) => [
        { kind: 'CONSUME', service: 'trading', ref: { reservationKey: `o-${acc}` }, amount: 5n, key: `c${round}-${acc}` },
        { kind: 'CREDIT', service: 'settlement', accountId: accounts[i], asset: 'CASH', amount: 5n, key: `k${round}-${acc}`, reason: 'stl' },
      ]);
      const [x, y] = await Promise.all([onOwnSession((q) => runLedger(q, holds)), onOwnSession((q) => runLedger(q, books))]);
      ok += [...x, ...y].filter((o) => o.ok).length;
    }
    expect(ok).toBeGreaterThan(0);
    await journalAddsUp();
    for (const acc of accounts) {
      const b = await ledger.balance(db, acc, 'CASH');
      expect(BigInt(b.available)).toBeGreaterThanOrEqual(0n);
    }
  });

  onServer('a session killed in the middle of a list leaves nothing of it; the list replayed then books each item once', async () => {
    const accounts = await Promise.all(Array.from({ length: 4 }, () => funded(100n)));
    const holds = accounts.map((acc) => ({ kind: 'RESERVE', accountId: acc, asset: 'CASH', amount: '30', idempotencyKey: `kill-${acc}`, reason: 'stl' }));
    const items: LedgerOp[][] = holds.map((h) => [{ kind: 'RESERVE', service: 'settlement', accountId: h.accountId, asset: 'CASH', amount: 30n, key: h.idempotencyKey, reason: 'stl' }]);
    const snapshot = async () => (await db.query<Record<string, string>>(
      `SELECT (SELECT count(*) FROM ledger_operations WHERE idempotency_key LIKE 'kill-%') AS claims,
              (SELECT count(*) FROM reservations WHERE account_id = ANY($1::text[])) AS reservations,
              (SELECT sum(reserved) FROM balances WHERE account_id = ANY($1::text[])) AS reserved,
              (SELECT count(*) FROM ledger_entries WHERE account_id = ANY($1::text[])) AS entries,
              (SELECT count(*) FROM outbox WHERE topic = 'balance.reserved' AND key = ANY($1::text[])) AS events`, [accounts]))[0];
    const before = await snapshot();
    // Another session holds the last balance: the list claims its keys, then waits on that row; its session is killed there.
    const blocker = new pg.Client({ connectionString: url });
    await blocker.connect();
    await blocker.query('BEGIN');
    await blocker.query('SELECT 1 FROM balances WHERE account_id = $1 FOR UPDATE', [[...accounts].sort().at(-1)]);
    const outcome = db.tx((q) => runLedger(q, items)).then(() => 'committed', (e: unknown) => errorCode(e) ?? String(e));
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await until('the list waits on the held balance', async () =>
        (await admin.query("SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO balances%' AND pid <> pg_backend_pid()")).rowCount);
      await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO balances%' AND pid <> pg_backend_pid()");
      expect(await outcome).toBe('DATABASE.UNAVAILABLE');
    } finally {
      await blocker.query('ROLLBACK');
      await blocker.end();
      await admin.end();
    }
    expect(await snapshot()).toEqual(before);
    const { results } = await dvp.holdMany({ holds }, S) as { results: Answer[] };
    expect(brief(results)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect((await dvp.holdMany({ holds }, S) as { results: Answer[] }).results).toEqual(results);
    expect(await snapshot()).toEqual({ claims: '4', reservations: '4', reserved: '120', entries: String(Number(before.entries) + 4), events: '4' });
    await journalAddsUp();
  });
});
