import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Db } from '../../subgraphs/kit/db/types.js';
import { ledger } from '../../subgraphs/custody/ledger.js';
import { addWithdrawalDestination, requestWithdrawal } from '../../subgraphs/custody/withdrawals.js';
import { dbLabel } from '../support/db.js';
import { openAccount, openCustodyDb, testEnv, testPolicy, user } from './support.js';

const errorCode = (e: unknown) => (e as { extensions?: { code?: string } }).extensions?.code ?? String(e);

async function invariantsHold(db: Db): Promise<void> {
  // Books never negative, reserved never above total, reserved = what open reservations still hold.
  const rows = await db.query<{ account_id: string; total: string; reserved: string; held: string | null }>(`
    SELECT b.account_id, b.total, b.reserved,
      (SELECT sum(r.amount - r.released - r.consumed) FROM reservations r WHERE r.account_id = b.account_id AND r.asset = b.asset) AS held
    FROM balances b`);
  for (const r of rows) {
    expect(BigInt(r.total)).toBeGreaterThanOrEqual(0n);
    expect(BigInt(r.reserved)).toBeLessThanOrEqual(BigInt(r.total));
    expect(BigInt(r.held ?? 0)).toBe(BigInt(r.reserved));
  }
}

describe(`concurrent requests against one balance (${dbLabel()})`, () => {
  let db: Db;
  let cleanup: () => Promise<void>;

  beforeAll(async () => ({ db, cleanup } = await openCustodyDb()), 60_000);
  afterAll(async () => cleanup?.());

  test('100 concurrent reservations never overdraw: exactly floor(total / amount) succeed, the rest are CUSTODY.INSUFFICIENT_AVAILABLE', async () => {
    const acc = await openAccount(db, 'acme');
    await ledger.credit(db, 'settlement', { accountId: acc, asset: 'CASH', amount: 1_000n, idempotencyKey: `dep-${acc}`, reason: 'deposit' });
    const results = await Promise.allSettled(Array.from({ length: 100 }, (_, i) =>
      ledger.reserve(db, 'trading', { accountId: acc, asset: 'CASH', amount: 30n, idempotencyKey: `ord-${i}`, reason: `order ${i}` })));
    const ok = results.filter((r) => r.status === 'fulfilled');
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(ok).toHaveLength(33);
    expect(new Set(refused.map((r) => errorCode(r.reason)))).toEqual(new Set(['CUSTODY.INSUFFICIENT_AVAILABLE']));
    expect(await ledger.balance(db, acc, 'CASH')).toEqual({ accountId: acc, asset: 'CASH', total: '1000', reserved: '990', available: '10' });
    await invariantsHold(db);
  });

  test('50 concurrent replays of one reservation reserve once and all return the same result', async () => {
    const acc = await openAccount(db, 'acme');
    await ledger.credit(db, 'settlement', { accountId: acc, asset: 'CASH', amount: 100n, idempotencyKey: `dep-${acc}`, reason: 'deposit' });
    const results = await Promise.all(Array.from({ length: 50 }, () =>
      ledger.reserve(db, 'trading', { accountId: acc, asset: 'CASH', amount: 7n, idempotencyKey: `same-${acc}`, reason: 'order' })));
    expect(new Set(results.map((r) => r.reservation.reservationId)).size).toBe(1);
    expect((await ledger.balance(db, acc, 'CASH')).reserved).toBe('7');
    await invariantsHold(db);
  });

  test('concurrent reserves, releases and consumes on one balance keep every invariant', async () => {
    const acc = await openAccount(db, 'acme');
    await ledger.credit(db, 'settlement', { accountId: acc, asset: 'CASH', amount: 500n, idempotencyKey: `dep-${acc}`, reason: 'deposit' });
    await Promise.allSettled(Array.from({ length: 60 }, async (_, i) => {
      const r = await ledger.reserve(db, 'trading', { accountId: acc, asset: 'CASH', amount: 20n, idempotencyKey: `mix-${i}`, reason: 'order' });
      const ref = { reservationId: r.reservation.reservationId };
      if (i % 3 === 0) await ledger.release(db, 'trading', { ref });
      if (i % 3 === 1) await ledger.consume(db, 'settlement', { ref, amount: 20n, idempotencyKey: `stl-${i}` });
    }));
    await invariantsHold(db);
    const [j] = await db.query<{ t: string; r: string }>('SELECT sum(total_delta) AS t, sum(reserved_delta) AS r FROM ledger_entries WHERE account_id = $1', [acc]);
    const b = await ledger.balance(db, acc, 'CASH');
    expect([j.t, j.r]).toEqual([b.total, b.reserved]);
  });

  describe('100 concurrent withdrawal requests', () => {
    const custodian = user('acme', 'alice', ['CUSTODIAN']);
    const to = '0x000000000000000000000000000000000000bEEF';

    async function setUp(total: bigint, maxPerWindow: bigint) {
      const env = testEnv(db, { defaults: testPolicy({ destinationDelaySeconds: 0, maxPerWithdrawal: 100n, maxPerWindow }) });
      await ledger.registerAsset(db, 'CASH', '0x' + 'ca'.repeat(20));
      const acc = await openAccount(db, 'acme');
      await ledger.credit(db, 'settlement', { accountId: acc, asset: 'CASH', amount: total, idempotencyKey: `dep-${acc}`, reason: 'deposit' });
      await addWithdrawalDestination(env, custodian, { accountId: acc, address: to, label: 'treasury' });
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) =>
        requestWithdrawal(env, custodian, { accountId: acc, asset: 'CASH', amount: 30n, toAddress: to, idempotencyKey: `w-${acc}-${i}` })));
      return { acc, results };
    }

    test('never exceed the velocity limit: floor(limit / amount) are accepted, the rest refused with the reason', async () => {
      const { acc, results } = await setUp(2_000n, 700n);
      expect(results.filter((r) => r.withdrawal)).toHaveLength(23);
      const refused = results.filter((r) => !r.withdrawal);
      expect(new Set(refused.flatMap((r) => r.refusals.map((x) => x.code)))).toEqual(new Set(['CUSTODY.VELOCITY_LIMIT_EXCEEDED']));
      expect((await ledger.balance(db, acc, 'CASH')).reserved).toBe('690');
      await invariantsHold(db);
    });

    test('never overdraw: floor(balance / amount) are accepted, the rest refused with CUSTODY.INSUFFICIENT_AVAILABLE', async () => {
      const { acc, results } = await setUp(500n, 100_000n);
      expect(results.filter((r) => r.withdrawal)).toHaveLength(16);
      const refused = results.filter((r) => !r.withdrawal);
      expect(new Set(refused.flatMap((r) => r.refusals.map((x) => x.code)))).toEqual(new Set(['CUSTODY.INSUFFICIENT_AVAILABLE']));
      expect(await ledger.balance(db, acc, 'CASH')).toMatchObject({ total: '500', reserved: '480', available: '20' });
      await invariantsHold(db);
    });
  });
});
