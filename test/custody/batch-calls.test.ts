import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Db } from '../../subgraphs/kit/db/types.js';
import type { InternalHandler } from '../../subgraphs/kit/internal.js';
import type { SubgraphRuntime } from '../../subgraphs/kit/subgraph.js';
import { ledger } from '../../subgraphs/custody/ledger.js';
import { custodyDvpInternal } from '../../subgraphs/custody/internal.js';
import { dbLabel } from '../support/db.js';
import type { WalletKeys } from '../../subgraphs/custody/keys.js';
import { MAX_BATCH } from '../../subgraphs/kit/contracts/calls.js';
import { openAccount, openCustodyDb, service, user } from './support.js';

const code = (p: Promise<unknown>) => p.then(() => 'no error', (e: { extensions?: { code?: string } }) => e.extensions?.code ?? String(e));

describe(`custody's list calls: many holds or bookings in one transaction (${dbLabel()})`, () => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let rpc: Record<string, InternalHandler>;
  let a: string, b: string;
  const S = service('settlement');
  const outboxCount = async (topic: string) => Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM outbox WHERE topic = $1', [topic]))[0].n);

  beforeAll(async () => {
    ({ db, cleanup } = await openCustodyDb());
    [a, b] = [await openAccount(db, 'acme'), await openAccount(db, 'acme')];
    await ledger.credit(db, 'settlement', { accountId: a, asset: 'CASH', amount: 100n, idempotencyKey: 'dep-a', reason: 'deposit' });
    await ledger.credit(db, 'settlement', { accountId: b, asset: 'CASH', amount: 100n, idempotencyKey: 'dep-b', reason: 'deposit' });
    // The DvP handlers need only the database for these calls (no chain is touched, no key signs).
    rpc = custodyDvpInternal({ db, config: { CHAIN_RPC_URL: 'http://127.0.0.1:9' } } as unknown as SubgraphRuntime, {} as WalletKeys);
  }, 60_000);
  afterAll(async () => cleanup?.());

  test('a hold that cannot be made is answered with its typed error and leaves nothing; the others commit with their events', async () => {
    await ledger.reserve(db, 'trading', { accountId: b, asset: 'CASH', amount: 30n, idempotencyKey: 'ord-b', reason: 'order' });
    const eventsBefore = await outboxCount('balance.reserved');
    const holds = [
      { kind: 'RESERVE', accountId: a, asset: 'CASH', amount: '40', idempotencyKey: 'h-1', reason: 'stl 1' },
      { kind: 'RESERVE', accountId: a, asset: 'CASH', amount: '70', idempotencyKey: 'h-2', reason: 'stl 2' }, // 60 left: refused
      { kind: 'ADOPT', fromService: 'trading', reservationKey: 'ord-b', amount: '20', idempotencyKey: 'h-3', reason: 'stl 3' },
      { kind: 'ADOPT', fromService: 'trading', reservationKey: 'ord-b', amount: '20', idempotencyKey: 'h-4', reason: 'stl 4' }, // 10 left: refused
    ];
    const { results: answers } = (await rpc.holdMany({ holds }, S)) as { results: ({ ok: true; value: { reservation: { amount: string } } } | { ok: false; error: { code: string } })[] };
    expect(answers.map((x) => (x.ok ? x.value.reservation.amount : x.error.code)))
      .toEqual(['40', 'CUSTODY.INSUFFICIENT_AVAILABLE', '20', 'CUSTODY.EXCEEDS_RESERVATION']);
    expect(await ledger.balance(db, a, 'CASH')).toMatchObject({ total: '100', reserved: '40' });
    // The refused adoption released nothing of trading's reservation: 10 still held there, 20 under settlement's key.
    expect(await ledger.reservation(db, 'trading', { reservationKey: 'ord-b' })).toMatchObject({ remaining: '10' });
    expect(await ledger.balance(db, b, 'CASH')).toMatchObject({ total: '100', reserved: '30' });
    expect(await outboxCount('balance.reserved')).toBe(eventsBefore + 2);

    // A replay answers the same and holds nothing more.
    const again = (await rpc.holdMany({ holds }, S)) as { results: typeof answers };
    expect(again.results).toEqual(answers);
    expect(await ledger.balance(db, a, 'CASH')).toMatchObject({ reserved: '40' });
    expect(await outboxCount('balance.reserved')).toBe(eventsBefore + 2);
  });

  test('bookings: one that consumes more than is held fails alone; the others consume and credit in the same transaction', async () => {
    const bookings = [
      { idempotencyKey: 'bk-1', reason: 'stl 1', consume: [{ reservationKey: 'h-1', amount: '40' }], credit: [{ accountId: b, asset: 'CASH', amount: '40' }] },
      { idempotencyKey: 'bk-3', reason: 'stl 3', consume: [{ reservationKey: 'h-3', amount: '25' }], credit: [{ accountId: a, asset: 'CASH', amount: '25' }] },
    ];
    const { results: answers } = (await rpc.bookSettlements({ bookings }, S)) as { results: ({ ok: true } | { ok: false; error: { code: string } })[] };
    expect(answers.map((x) => (x.ok ? 'booked' : x.error.code))).toEqual(['booked', 'CUSTODY.EXCEEDS_RESERVATION']);
    expect(await ledger.balance(db, a, 'CASH')).toMatchObject({ total: '60', reserved: '0' });
    expect(await ledger.balance(db, b, 'CASH')).toMatchObject({ total: '140', reserved: '30' });
    // Replayed: the same answers, nothing moves twice.
    expect((await rpc.bookSettlements({ bookings }, S) as { results: unknown[] }).results).toEqual(answers);
    expect(await ledger.balance(db, b, 'CASH')).toMatchObject({ total: '140' });
  });

  test('malformed lists, lists over the limit, another service\'s adoption and a user credential are refused whole, and nothing moves', async () => {
    const before = [await ledger.balance(db, a, 'CASH'), await ledger.balance(db, b, 'CASH')];
    const ok = { kind: 'RESERVE', accountId: a, asset: 'CASH', amount: '1', idempotencyKey: 'm-1', reason: 'x' };
    const cases: [string, Record<string, unknown>, string][] = [
      ['holdMany', {}, 'INPUT.INVALID_REQUEST'],
      ['holdMany', { holds: [] }, 'INPUT.INVALID_REQUEST'],
      ['holdMany', { holds: 'x' }, 'INPUT.INVALID_REQUEST'],
      ['holdMany', { holds: Array.from({ length: MAX_BATCH + 1 }, (_, i) => ({ ...ok, idempotencyKey: `m-${i}` })) }, 'INPUT.INVALID_REQUEST'],
      ['holdMany', { holds: [ok, { ...ok, kind: 'STEAL' }] }, 'INPUT.INVALID_REQUEST'],
      ['holdMany', { holds: [ok, { ...ok, amount: '-1' }] }, 'INPUT.INVALID_AMOUNT'],
      ['holdMany', { holds: [ok, { ...ok, asset: 'usd' }] }, 'INPUT.INVALID_ASSET'],
      ['holdMany', { holds: [ok, { kind: 'ADOPT', fromService: 'custody', reservationKey: 'x', amount: '1', idempotencyKey: 'm-2', reason: 'x' }] }, 'FORBIDDEN'],
      ['bookSettlements', { bookings: [{ idempotencyKey: 'm-3', reason: 'x', consume: [], credit: [] }] }, 'INPUT.INVALID_BOOKING'],
      ['bookSettlements', { bookings: null }, 'INPUT.INVALID_REQUEST'],
    ];
    for (const [method, body, expected] of cases) expect([method, await code(rpc[method](body, S))]).toEqual([method, expected]);
    expect(await code(rpc.holdMany({ holds: [ok] }, user('acme', 'eve', ['CUSTODIAN'])))).toBe('FORBIDDEN');
    expect([await ledger.balance(db, a, 'CASH'), await ledger.balance(db, b, 'CASH')]).toEqual(before);
  });
});
