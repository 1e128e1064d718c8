import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { appError } from '../../subgraphs/kit/errors.js';
import { dbLabel, onPostgres } from '../support/db.js';
import { SettlementWorld, gql, gqlOk, tradingPair, waitFor, type AuditCheck, type PlaceAnswer, type TradingPair } from './support.js';

interface Stopped { step: string; code: string; message: string; retryable: boolean; attempts: number; at: string }
interface BookingView { id: string; status: string; final: boolean; bookingStopped: Stopped | null; batch: { status: string } | null; auditTrail: { kind: string; actor: string }[] }

const MAX = (1n << 256n) - 1n;
const BOOKS_MAX = 10n ** 78n - 1n;

/**
 * Custody's booking of a trade the chain has settled, when it does not go
 * through: a refusal custody decided stops it at once, a failure of the moment
 * after SETTLEMENT_BOOKING_MAX_ATTEMPTS; either way the trade stays SETTLING
 * with bookingStopped, nothing more is tried, the audit log says so, and a
 * settlement agent of the operator has it booked again once the cause is put right.
 * The final commit after the booking goes the same way: refused by the database
 * every time, it is retried with a doubling pause and stops; its session killed
 * (PostgreSQL), it is retried and SETTLED once.
 */
describe(`a booking that cannot go through after the chain settled (${dbLabel()}, anvil)`, () => {
  let w: SettlementWorld;
  let p: TradingPair;
  let seen = 0; // settlements of the token so far

  beforeAll(async () => {
    w = await SettlementWorld.start({ SETTLEMENT_BOOKING_MAX_ATTEMPTS: '2' });
    p = await tradingPair(w, 'BOOK', { shares: 1_000n, cash: 1_000_000n });
  }, 300_000);
  afterAll(async () => w?.stop());

  const trade = async (quantity: string, key: string): Promise<string> => {
    const place = (who: string, accountId: string, side: 'BUY' | 'SELL') => gqlOk<PlaceAnswer>(w.url, who,
      'mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { accepted rejections { code message } } }',
      { in: { tokenId: p.tokenId, accountId, side, type: 'LIMIT', price: '3', quantity, clientOrderId: `${key}-${side}` } }).then((d) => d.placeOrder);
    expect(await place(p.sellerBd, p.seller.accountId, 'SELL')).toMatchObject({ accepted: true });
    expect(await place(p.buyerBd, p.buyer.accountId, 'BUY')).toMatchObject({ accepted: true });
    const rows = await waitFor(`the settlement of ${key}`, async () => (await gqlOk<{ settlements: { id: string }[] }>(w.url, w.agent,
      'query($t: ID!) { settlements(tokenId: $t) { id } }', { t: p.tokenId })).settlements, (r) => r.length > seen);
    seen = rows.length;
    return rows.at(-1)!.id;
  };
  const view = async (id: string) => (await gqlOk<{ settlement: BookingView }>(w.url, w.agent, `query($id: ID!) { settlement(id: $id) {
    id status final bookingStopped { step code message retryable attempts at } batch { status } auditTrail { kind actor } } }`, { id })).settlement;
  const stopped = (id: string) => waitFor(`the booking of ${id} to stop`, () => view(id), (v) => !!v.bookingStopped, 60_000);
  const retry = async (token: string, id: string) => (await gql<{ retrySettlementBooking: { status: string } }>(w.url, token, 'mutation($id: ID!) { retrySettlementBooking(id: $id) { status } }', { id })).body;
  const due = async (id: string) => (await w.services().db.query<{ next_attempt_at: Date | null }>('SELECT next_attempt_at FROM settlements WHERE id = $1', [id]))[0].next_attempt_at;
  async function booksEqualChain(): Promise<void> {
    for (const x of [p.seller, p.buyer]) {
      expect(await w.balance(x.accountId, p.tokenId)).toMatchObject({ total: String(await p.token.balanceOf(x.wallet)), reserved: '0' });
      expect(await w.balance(x.accountId, 'CASH')).toMatchObject({ total: String(await w.cash.balanceOf(x.wallet)), reserved: '0' });
    }
  }

  /**
   * A trigger on the settlement database: it logs each attempt at finishing a trade (its count, and the pause before the
   * next, from the row as written), and makes the commit that marks a trade SETTLED fail (REFUSE) or wait for the test's
   * advisory lock (WAIT, so that its session can be killed mid-commit). Returns how to drop it.
   */
  async function watchFinishing(commit: 'REFUSE' | 'WAIT'): Promise<() => Promise<void>> {
    const db = w.services().db;
    await db.query('CREATE TABLE IF NOT EXISTS finish_log (id text NOT NULL, attempts int NOT NULL, pause_ms numeric)');
    await db.query(`CREATE OR REPLACE FUNCTION finish_watch() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.booking_attempts > OLD.booking_attempts THEN
          INSERT INTO finish_log VALUES (NEW.id, NEW.booking_attempts, extract(epoch FROM NEW.next_attempt_at - now()) * 1000);
        END IF;
        IF NEW.status = 'SETTLED' AND OLD.status = 'SETTLING' THEN
          ${commit === 'REFUSE' ? "RAISE EXCEPTION 'the final commit refused by the database';" : 'PERFORM pg_advisory_xact_lock(4242);'}
        END IF;
        RETURN NEW;
      END $$`);
    await db.query('CREATE TRIGGER finish_watch BEFORE UPDATE ON settlements FOR EACH ROW EXECUTE FUNCTION finish_watch()');
    return async () => { await db.query('DROP TRIGGER finish_watch ON settlements'); };
  }
  const finishLog = (id: string) => w.services().db.query<{ attempts: number; pause_ms: string | null }>('SELECT attempts, pause_ms FROM finish_log WHERE id = $1 ORDER BY attempts', [id]);
  const settledOnce = async (id: string) => {
    const v = await w.waitStatus(id, ['SETTLED']);
    expect((await view(id)).auditTrail.filter((e) => e.kind === 'STATUS.SETTLED')).toHaveLength(1);
    await booksEqualChain();
    return v;
  };

  /** Counts custody bookings asked for (custody answers as it would). */
  function countBookings(): { n: number; restore(): void } {
    const s = w.services();
    const book = s.peers.book;
    const c = { n: 0, restore: () => { s.peers.book = book; } };
    s.peers.book = (r) => {
      c.n++;
      return book(r);
    };
    return c;
  }

  test('custody refuses the booking (the buyer\'s credit would overflow its books): it stops at once, visible, and is booked once the books are put right', async () => {
    // The buyer's books at custody just below the largest balance they hold: the trade's credit of 5 cannot be recorded.
    const before = BigInt((await w.balance(p.buyer.accountId, p.tokenId)).total);
    const inflate = [...Array.from({ length: 8 }, () => MAX), BOOKS_MAX - 4n - before - 8n * MAX];
    for (const [i, amount] of inflate.entries()) {
      await w.rpc('custody', 'credit', { accountId: p.buyer.accountId, asset: p.tokenId, amount: amount.toString(), idempotencyKey: `inflate-${i}`, reason: 'books near their limit' });
    }
    const calls = countBookings();
    try {
      const id = await trade('5', 'ovf');
      const v = await stopped(id);
      expect(v).toMatchObject({ status: 'SETTLING', final: false, batch: { status: 'SETTLED' }, bookingStopped: { code: 'CUSTODY.BALANCE_OVERFLOW', retryable: false, attempts: 1 } });
      expect(v.auditTrail.filter((e) => e.kind === 'BOOKING.STOPPED')).toEqual([{ kind: 'BOOKING.STOPPED', actor: 'settlement' }]);
      // Nothing more is due: custody was asked once, and the worker leaves the trade alone.
      expect(await due(id)).toBeNull();
      expect(calls.n).toBe(1);
      const metrics = await (await fetch(w.settlement.url.replace(/\/graphql$/, '/metrics'))).text();
        expect(metrics).toMatch(/^tokenstack_settlement_bookings_stopped(\{[^}]*\})? 1$/m);

      // Hostile: another organisation's agent, an auditor, a settlement that did not stop.
      expect((await retry(await w.token('alpha-bd', ['SETTLEMENT_AGENT']), id)).errors?.[0].extensions?.code).toBe('FORBIDDEN');
      expect((await retry(w.auditor, id)).errors?.[0].extensions?.code).toBe('FORBIDDEN');
      expect((await retry(w.agent, 'stl_nosuch')).errors?.[0].extensions?.code).toBe('NOT_FOUND');

      // The operator puts the books right (the inflation taken back) and has it booked again: SETTLED, booked once.
      for (const [i, amount] of inflate.entries()) {
        await w.rpc('custody', 'debit', { accountId: p.buyer.accountId, asset: p.tokenId, amount: amount.toString(), idempotencyKey: `deflate-${i}`, reason: 'books put right' });
      }
      expect((await retry(w.agent, id)).data?.retrySettlementBooking.status).toBe('SETTLING');
      const done = await waitFor(`${id} SETTLED`, () => view(id), (x) => x.status === 'SETTLED');
      expect(done.bookingStopped).toBeNull();
      expect(done.auditTrail.map((e) => e.kind)).toEqual(expect.arrayContaining(['BOOKING.STOPPED', 'BOOKING.RETRIED', 'STATUS.SETTLED']));
      expect(calls.n).toBe(2);
      expect((await retry(w.agent, id)).errors?.[0].extensions?.code).toBe('SETTLEMENT.BOOKING_NOT_STOPPED');
      await booksEqualChain();
    } finally {
      calls.restore();
    }
  }, 240_000);

  test('custody unavailable for every attempt: the booking stops after SETTLEMENT_BOOKING_MAX_ATTEMPTS, then is booked once when asked again', async () => {
    const s = w.services();
    const book = s.peers.book;
    let asked = 0;
    s.peers.book = async () => {
      asked++;
      throw appError('DOWNSTREAM.UNAVAILABLE', 'custody: the booking could not be recorded; nothing was booked', { retryable: true, details: { service: 'custody', cause: 'CUSTODY.BOOKING_FAILED' } });
    };
    let id = '';
    try {
      id = await trade('4', 'down');
      const v = await stopped(id);
      expect(v).toMatchObject({ status: 'SETTLING', batch: { status: 'SETTLED' }, bookingStopped: { code: 'CUSTODY.BOOKING_FAILED', retryable: true, attempts: 2 } });
      expect(asked).toBe(2);
      expect(await due(id)).toBeNull();
    } finally {
      s.peers.book = book;
    }
    expect((await retry(w.agent, id)).data?.retrySettlementBooking.status).toBe('SETTLING');
    await w.waitStatus(id, ['SETTLED']);
    await booksEqualChain();
    const audit = (await gqlOk<AuditCheck>(w.url, w.auditor, '{ verifyAuditLog { valid breaks { seq kind detail } } }')).verifyAuditLog;
    expect(audit).toEqual({ valid: true, breaks: [] });
  }, 240_000);

  test('the final commit refused by the database every attempt: retried with a doubling pause, stopped at COMMIT after SETTLEMENT_BOOKING_MAX_ATTEMPTS, visible; asked again, SETTLED once', async () => {
    const config = w.services().config as { SETTLEMENT_BOOKING_MAX_ATTEMPTS: number };
    const max = config.SETTLEMENT_BOOKING_MAX_ATTEMPTS;
    config.SETTLEMENT_BOOKING_MAX_ATTEMPTS = 4;
    const drop = await watchFinishing('REFUSE');
    let id = '';
    try {
      id = await trade('3', 'refused');
      const v = await stopped(id);
      expect(v).toMatchObject({ status: 'SETTLING', final: false, batch: { status: 'SETTLED' }, bookingStopped: { step: 'COMMIT', code: 'SETTLEMENT.COMMIT_FAILED', retryable: true, attempts: 4 } });
      expect(v.bookingStopped!.message).toContain('the final commit refused by the database');
      expect(v.auditTrail.filter((e) => e.kind === 'BOOKING.STOPPED')).toEqual([{ kind: 'BOOKING.STOPPED', actor: 'settlement' }]);
      // Paused SETTLEMENT_RETRY_MS (300), doubling, up to SETTLEMENT_RETRY_MAX_MS (1000); nothing due after the last.
      // A pause is measured from the database's clock when the row was written, so a loaded machine shortens it by the
      // write's delay: each pause is positive, at most its setting, and longer than the one before.
      const log = await finishLog(id);
      expect(log.map((l) => l.attempts)).toEqual([1, 2, 3, 4]);
      const pauses = log.slice(0, 3).map((l) => Number(l.pause_ms));
      expect(pauses.map((p, i) => p > 0 && p <= [300, 600, 1000][i] + 50)).toEqual([true, true, true]);
      expect(pauses[0] < pauses[1] && pauses[1] < pauses[2]).toBe(true);
      expect(log[3].pause_ms).toBeNull();
      expect(await due(id)).toBeNull();
      const metrics = await (await fetch(w.settlement.url.replace(/\/graphql$/, '/metrics'))).text();
      expect(metrics).toMatch(/^tokenstack_settlement_bookings_stopped(\{[^}]*\})? 1$/m);
    } finally {
      await drop();
      config.SETTLEMENT_BOOKING_MAX_ATTEMPTS = max;
    }
    // The database takes the commit again: asked once more, the trade is SETTLED once over books that follow the chain.
    expect((await retry(w.agent, id)).data?.retrySettlementBooking.status).toBe('SETTLING');
    expect((await settledOnce(id)).attestation).not.toBeNull();
    expect((await view(id)).bookingStopped).toBeNull();
    expect((await retry(w.agent, id)).errors?.[0].extensions?.code).toBe('SETTLEMENT.BOOKING_NOT_STOPPED');
  }, 240_000);

  (onPostgres() ? test : test.skip)('the session of the final commit killed (PostgreSQL): the commit is retried after its pause and the trade SETTLED once', async () => {
    const holder = new pg.Client({ connectionString: w.dbUrl });
    await holder.connect();
    await holder.query('SELECT pg_advisory_lock(4242)');
    const drop = await watchFinishing('WAIT');
    try {
      const id = await trade('2', 'killed');
      const waiting = await waitFor('the final commit waiting', async () => (await holder.query<{ pid: number }>("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND NOT granted")).rows, (r) => r.length === 1);
      expect((await holder.query('SELECT pg_terminate_backend($1) AS killed', [waiting[0].pid])).rows[0].killed).toBe(true);
      const [first] = await waitFor('the killed attempt recorded', () => finishLog(id), (r) => r.length > 0);
      expect(first.attempts).toBe(1);
      expect(Number(first.pause_ms)).toBeGreaterThan(0); // a pause before the next attempt (shortened by a loaded machine's delay)
      expect((await view(id)).status).toBe('SETTLING');
      await holder.query('SELECT pg_advisory_unlock(4242)');
      await settledOnce(id);
    } finally {
      await drop();
      await holder.end();
    }
  }, 240_000);
});
