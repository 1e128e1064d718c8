import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Wallet } from 'ethers';
import type { Db } from '../../subgraphs/kit/db/types.js';
import { broadcastOnce, TransferError, type BroadcastDeps, type TransferSender } from '../../subgraphs/custody/broadcaster.js';
import { chainTransferSender } from '../../subgraphs/custody/chain-sender.js';
import { ledger } from '../../subgraphs/custody/ledger.js';
import { reconcile } from '../../subgraphs/custody/reconciliation.js';
import * as w from '../../subgraphs/custody/withdrawals.js';
import { addWithdrawalDestination, requestWithdrawal } from '../../subgraphs/custody/withdrawals.js';
import { dbLabel } from '../support/db.js';
import { ChainWorld } from './chain-support.js';
import { KEYS, count, openAccount, openCustodyDb, testEnv, testPolicy, user, walletOf } from './support.js';

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

describe(`one balance on chain under concurrency (anvil, indexer, ${dbLabel()})`, () => {
  let c: ChainWorld;
  beforeAll(async () => { c = await ChainWorld.start(); }, 120_000);
  afterAll(async () => c?.stop());

  test('100 concurrent reservations and withdrawals never take the books below zero or above the chain; a refused broadcast fails with its reservation released; restarts lose nothing', async () => {
    const custodian = user('acme', 'alice', ['CUSTODIAN']);
    const to = new Wallet('0x' + '0e'.repeat(32)).address;
    const env = testEnv(c.db, { defaults: testPolicy({ approvalsRequired: 1, destinationDelaySeconds: 0, maxPerWithdrawal: 1_000n, maxPerWindow: 1_000_000n }), clock: { now: () => new Date() } as never });
    const acc = await openAccount(c.db, 'acme');
    const wallet = await walletOf(c.db, acc);
    await w.addWithdrawalDestination(env, custodian, { accountId: acc, address: to, label: 'treasury' });
    await c.fundGas(wallet);
    await c.mint(wallet, 1_000n);
    await c.mine();
    await c.indexer().syncOnce();
    const booksAndChain = async () => {
      const [b] = await c.db.query<{ total: string; reserved: string; on_chain: string }>(`SELECT total, reserved, on_chain FROM balances WHERE account_id = $1 AND asset = 'CASH'`, [acc]);
      return { total: BigInt(b.total), reserved: BigInt(b.reserved), onChain: BigInt(b.on_chain), wallet: (await c.cash.balanceOf(wallet)) as bigint };
    };
    const withinChain = async () => {
      const x = await booksAndChain();
      // A withdrawal on chain but not yet confirmed to the broadcaster is still in the books (reserved): the one allowed gap.
      const [f] = await c.db.query<{ n: string | null }>(`SELECT sum(amount) AS n FROM withdrawals WHERE account_id = $1 AND status = 'BROADCASTING'`, [acc]);
      expect(x.total - BigInt(f.n ?? 0)).toBeLessThanOrEqual(x.onChain);
      expect(x.total - x.reserved).toBeLessThanOrEqual(x.onChain);
      expect(x.onChain).toBe(x.wallet);
      await invariantsHold(c.db);
    };
    expect(await booksAndChain()).toMatchObject({ total: 1_000n, onChain: 1_000n });

    const request = (key: string) => w.requestWithdrawal(env, custodian, { accountId: acc, asset: 'CASH', amount: 30n, toAddress: to, idempotencyKey: key });
    // Two withdrawals first (the burst below may well be won by the faster reservations), then the burst:
    // half reservations (orders), half withdrawal requests, all at once on the one balance.
    const early = [(await request('chain-w-a')).withdrawal!.id, (await request('chain-w-b')).withdrawal!.id];
    const results = await Promise.allSettled(Array.from({ length: 100 }, (_, i) => (i % 2 === 0
      ? ledger.reserve(c.db, 'trading', { accountId: acc, asset: 'CASH', amount: 30n, idempotencyKey: `chain-ord-${i}`, reason: 'order' }).then(() => 'reserved')
      : request(`chain-w-${i}`).then((r) => {
        if (!r.withdrawal) throw Object.assign(new Error(r.refusals[0].code), { extensions: { code: r.refusals[0].code } });
        return r.withdrawal.id;
      }))));
    const ok = results.filter((r): r is PromiseFulfilledResult<string> => r.status === 'fulfilled').map((r) => r.value);
    expect(ok).toHaveLength(31); // floor((1000 - 60) / 30)
    expect(new Set(results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => errorCode(r.reason)))).toEqual(new Set(['CUSTODY.INSUFFICIENT_AVAILABLE']));
    await withinChain();
    const withdrawals = [...early, ...ok.filter((x) => x !== 'reserved')];
    for (const id of withdrawals) await w.approveWithdrawal(env, user('acme', 'bob', ['CUSTODIAN']), id);

    // The node refuses every transfer of the first withdrawal; the process dies after handing over the second one.
    const real = chainTransferSender({ provider: c.bank.provider, chainId: c.bank.chainId, gasLimit: 150_000, confirmations: 1 });
    const signedFor = new Map<string, string>();
    let died = false;
    const sender: TransferSender = {
      ...real,
      async sign(t, key) {
        const s = await real.sign(t, key);
        signedFor.set(s.txHash, t.withdrawalId);
        return s;
      },
      async broadcast(s) {
        if (signedFor.get(s.txHash) === withdrawals[0]) throw new TransferError('rejected by the node', false);
        await real.broadcast(s);
        if (signedFor.get(s.txHash) === withdrawals[1] && !died) {
          died = true;
          throw new TransferError('process died after the send', true);
        }
      },
    };
    const deps = (): BroadcastDeps => ({ db: c.db, now: () => new Date(), sender, signerOf: (q, address) => KEYS.signer(q, address), settings: { maxAttempts: 2, retryMs: 0, rebroadcastMs: 0, pollMs: 0 } });
    const open = () => c.db.query<{ id: string }>(`SELECT id FROM withdrawals WHERE account_id = $1 AND status NOT IN ('COMPLETED','FAILED')`, [acc]);
    for (let round = 0; round < 200 && (await open()).length; round++) {
      await broadcastOnce(deps()); // a new broadcaster and a new indexer each round: every round is a restart
      await c.mine();
      await c.indexer().syncOnce();
      await withinChain();
    }
    expect(await open()).toEqual([]);
    const statuses = await c.db.query<{ id: string; status: string; reserved_left: string }>(
      `SELECT w.id, w.status, r.amount - r.released - r.consumed AS reserved_left FROM withdrawals w JOIN reservations r ON r.id = w.reservation_id WHERE w.account_id = $1`, [acc]);
    expect(statuses.find((s) => s.id === withdrawals[0])).toMatchObject({ status: 'FAILED', reserved_left: '0' });
    expect(new Set(statuses.filter((s) => s.id !== withdrawals[0]).map((s) => s.status))).toEqual(new Set(['COMPLETED']));
    expect(statuses).toHaveLength(withdrawals.length);

    const sent = BigInt(withdrawals.length - 1) * 30n;
    expect(await c.cash.balanceOf(to)).toBe(sent);
    const end = await booksAndChain();
    expect(end).toEqual({ total: 1_000n - sent, reserved: BigInt(ok.length + 2 - withdrawals.length) * 30n, onChain: 1_000n - sent, wallet: 1_000n - sent });
    expect((await reconcile(c.db, { org: null, asOf: null })).lines.filter((l) => l.difference !== 0n)).toEqual([]);
    expect(await count(c.db, 'SELECT count(*) AS n FROM deposits WHERE account_id = $1', [acc])).toBe(1);
  });
});
