import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { appError } from '../../subgraphs/kit/errors.js';
import { dbLabel } from '../support/db.js';
import { SettlementWorld, gql, gqlOk, tradingPair, waitFor, type AuditCheck, type PlaceAnswer, type TradingPair } from './support.js';

interface Stopped { code: string; message: string; retryable: boolean; attempts: number; at: string }
interface BookingView { id: string; status: string; final: boolean; bookingStopped: Stopped | null; batch: { status: string } | null; auditTrail: { kind: string; actor: string }[] }

const MAX = (1n << 256n) - 1n;
const BOOKS_MAX = 10n ** 78n - 1n;

/**
 * Custody's booking of a trade the chain has settled, when it does not go
 * through: a refusal custody decided stops it at once, a failure of the moment
 * after SETTLEMENT_BOOKING_MAX_ATTEMPTS; either way the trade stays SETTLING
 * with bookingStopped, nothing more is tried, the audit log says so, and a
 * settlement agent of the operator has it booked again once the cause is put right.
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
    id status final bookingStopped { code message retryable attempts at } batch { status } auditTrail { kind actor } } }`, { id })).settlement;
  const stopped = (id: string) => waitFor(`the booking of ${id} to stop`, () => view(id), (v) => !!v.bookingStopped, 60_000);
  const retry = async (token: string, id: string) => (await gql<{ retrySettlementBooking: { status: string } }>(w.url, token, 'mutation($id: ID!) { retrySettlementBooking(id: $id) { status } }', { id })).body;
  const due = async (id: string) => (await w.services().db.query<{ next_attempt_at: Date | null }>('SELECT next_attempt_at FROM settlements WHERE id = $1', [id]))[0].next_attempt_at;
  async function booksEqualChain(): Promise<void> {
    for (const x of [p.seller, p.buyer]) {
      expect(await w.balance(x.accountId, p.tokenId)).toMatchObject({ total: String(await p.token.balanceOf(x.wallet)), reserved: '0' });
      expect(await w.balance(x.accountId, 'CASH')).toMatchObject({ total: String(await w.cash.balanceOf(x.wallet)), reserved: '0' });
    }
  }

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
});
