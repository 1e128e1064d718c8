import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Db } from '../../subgraphs/kit/db/types.js';
import { newId } from '../../subgraphs/kit/ids.js';
import { ledger } from '../../subgraphs/custody/ledger.js';
import { custodyInternal } from '../../subgraphs/custody/internal.js';
import { dbLabel } from '../support/db.js';
import { count, openAccount, openCustodyDb, service, user } from './support.js';

const code = (p: Promise<unknown>) => p.then(() => 'no error', (e: { extensions?: { code?: string } }) => e.extensions?.code ?? String(e));
const balance = async (db: Db, accountId: string, asset = 'CASH') => ledger.balance(db, accountId, asset);

describe(`the balances ledger (${dbLabel()})`, () => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let acc: string;
  const T = 'trading';

  beforeAll(async () => {
    ({ db, cleanup } = await openCustodyDb());
    acc = await openAccount(db, 'acme');
    await ledger.credit(db, 'settlement', { accountId: acc, asset: 'CASH', amount: 1_000n, idempotencyKey: 'dep-1', reason: 'deposit' });
  }, 60_000);
  afterAll(async () => cleanup?.());

  test('credit, reserve, partial release and consume keep available = total - reserved and journal every change', async () => {
    const r = await ledger.reserve(db, T, { accountId: acc, asset: 'CASH', amount: 300n, idempotencyKey: 'ord-1', reason: 'order ord-1' });
    expect(r.balance).toEqual({ accountId: acc, asset: 'CASH', total: '1000', reserved: '300', available: '700' });
    expect(r.reservation).toMatchObject({ amount: '300', remaining: '300', status: 'OPEN' });

    await ledger.release(db, T, { ref: { reservationId: r.reservation.reservationId }, amount: 100n, idempotencyKey: 'ord-1-cancel-part' });
    const c = await ledger.consume(db, 'settlement', { ref: { reservationId: r.reservation.reservationId }, amount: 150n, idempotencyKey: 'stl-1' });
    expect(c.balance).toEqual({ accountId: acc, asset: 'CASH', total: '850', reserved: '50', available: '800' });
    const rest = await ledger.release(db, T, { ref: { reservationKey: 'ord-1' } });
    expect(rest.reservation).toMatchObject({ released: '150', consumed: '150', remaining: '0', status: 'CLOSED' });
    expect(await balance(db, acc)).toEqual({ accountId: acc, asset: 'CASH', total: '850', reserved: '0', available: '850' });

    // The journal adds up to the balance, entry by entry.
    const [sums] = await db.query<{ t: string; r: string }>(
      'SELECT sum(total_delta) AS t, sum(reserved_delta) AS r FROM ledger_entries WHERE account_id = $1 AND asset = $2', [acc, 'CASH']);
    expect(sums).toEqual({ t: '850', r: '0' });
    const kinds = (await db.query<{ kind: string }>('SELECT kind FROM ledger_entries WHERE account_id = $1 ORDER BY seq', [acc])).map((e) => e.kind);
    expect(kinds).toEqual(['CREDIT', 'RESERVE', 'RELEASE', 'CONSUME', 'RELEASE']);
    const topics = (await db.query<{ topic: string }>("SELECT topic FROM outbox WHERE topic LIKE 'balance.%' ORDER BY seq")).map((e) => e.topic);
    expect(topics).toEqual(['balance.credited', 'balance.reserved', 'balance.released', 'balance.consumed', 'balance.released']);
  });

  test('the database itself refuses a negative total, a negative reservation or reserved above total', async () => {
    const before = await balance(db, acc);
    for (const sql of [
      'UPDATE balances SET total = -1 WHERE account_id = $1',
      'UPDATE balances SET reserved = -1 WHERE account_id = $1',
      'UPDATE balances SET reserved = total + 1 WHERE account_id = $1',
    ]) {
      await expect(db.query(sql, [acc])).rejects.toMatchObject({ code: '23514' });
    }
    expect(await balance(db, acc)).toEqual(before);
  });

  test('the journal is append-only: updates and deletes are refused', async () => {
    await expect(db.query('UPDATE ledger_entries SET reason = $1', ['x'])).rejects.toThrow(/append-only/);
    await expect(db.query('DELETE FROM ledger_entries')).rejects.toThrow(/append-only/);
  });

  test('a reservation beyond available is CUSTODY.INSUFFICIENT_AVAILABLE with the figures, and moves nothing', async () => {
    const before = await balance(db, acc);
    const e = await ledger.reserve(db, T, { accountId: acc, asset: 'CASH', amount: 851n, idempotencyKey: 'too-much', reason: 'x' }).catch((x) => x);
    expect(e.extensions).toMatchObject({ code: 'CUSTODY.INSUFFICIENT_AVAILABLE', available: '850', requested: '851' });
    expect(await balance(db, acc)).toEqual(before);
    // Not recorded either: the same key may be tried again once funds arrive.
    expect(await count(db, 'SELECT count(*) AS n FROM ledger_operations WHERE idempotency_key = $1', ['too-much'])).toBe(0);
  });

  test('a replay with the same key and content returns the same reservation and reserves nothing more', async () => {
    const input = { accountId: acc, asset: 'CASH', amount: 10n, idempotencyKey: 'ord-2', reason: 'order ord-2' };
    const first = await ledger.reserve(db, T, input);
    const again = await ledger.reserve(db, T, input);
    expect(again).toEqual(first);
    expect((await balance(db, acc)).reserved).toBe('10');
    expect(await count(db, 'SELECT count(*) AS n FROM reservations WHERE account_id = $1 AND status = $2', [acc, 'OPEN'])).toBe(1);
  });

  test('the same key with other content is INPUT.IDEMPOTENCY_KEY_REUSED, for every operation, and moves nothing', async () => {
    const before = await balance(db, acc);
    expect(await code(ledger.reserve(db, T, { accountId: acc, asset: 'CASH', amount: 11n, idempotencyKey: 'ord-2', reason: 'order ord-2' }))).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    expect(await code(ledger.credit(db, 'settlement', { accountId: acc, asset: 'CASH', amount: 999n, idempotencyKey: 'dep-1', reason: 'deposit' }))).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    // A reserve key cannot be reused for a different kind of operation either.
    expect(await code(ledger.debit(db, T, { accountId: acc, asset: 'CASH', amount: 10n, idempotencyKey: 'ord-2', reason: 'order ord-2' }))).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    expect(await balance(db, acc)).toEqual(before);
  });

  test('idempotency keys belong to the calling service: two services may use the same key', async () => {
    const a = await ledger.reserve(db, 'svc-a', { accountId: acc, asset: 'CASH', amount: 1n, idempotencyKey: 'shared', reason: 'a' });
    const b = await ledger.reserve(db, 'svc-b', { accountId: acc, asset: 'CASH', amount: 1n, idempotencyKey: 'shared', reason: 'b' });
    expect(a.reservation.reservationId).not.toBe(b.reservation.reservationId);
    // And a service finds only its own reservation by key.
    expect(await code(ledger.release(db, 'svc-c', { ref: { reservationKey: 'shared' } }))).toBe('CUSTODY.UNKNOWN_RESERVATION');
    await ledger.release(db, 'svc-a', { ref: { reservationKey: 'shared' } });
    await ledger.release(db, 'svc-b', { ref: { reservationKey: 'shared' } });
  });

  test('releases and consumes stay within what the reservation holds', async () => {
    const r = await ledger.reserve(db, T, { accountId: acc, asset: 'CASH', amount: 20n, idempotencyKey: 'ord-3', reason: 'order ord-3' });
    const ref = { reservationId: r.reservation.reservationId };
    expect(await code(ledger.release(db, T, { ref, amount: 21n, idempotencyKey: 'rel-3' }))).toBe('CUSTODY.EXCEEDS_RESERVATION');
    expect(await code(ledger.consume(db, T, { ref, amount: 21n, idempotencyKey: 'con-3' }))).toBe('CUSTODY.EXCEEDS_RESERVATION');
    expect(await code(ledger.release(db, T, { ref, amount: 5n }))).toBe('INPUT.IDEMPOTENCY_KEY_REQUIRED');
    // A partial release replayed with its key happens once.
    await ledger.release(db, T, { ref, amount: 5n, idempotencyKey: 'rel-3a' });
    await ledger.release(db, T, { ref, amount: 5n, idempotencyKey: 'rel-3a' });
    expect((await ledger.reservation(db, T, ref)).remaining).toBe('15');
    // A full release replayed is harmless.
    const full = await ledger.release(db, T, { ref });
    expect(await ledger.release(db, T, { ref })).toEqual(full);
    expect(full.reservation?.status).toBe('CLOSED');
  });

  test('a debit takes free funds only; reserved funds leave through consume', async () => {
    const b = await balance(db, acc);
    const r = await ledger.reserve(db, T, { accountId: acc, asset: 'CASH', amount: BigInt(b.available), idempotencyKey: 'all-in', reason: 'x' });
    expect(await code(ledger.debit(db, T, { accountId: acc, asset: 'CASH', amount: 1n, idempotencyKey: 'deb-1', reason: 'fee' }))).toBe('CUSTODY.INSUFFICIENT_AVAILABLE');
    await ledger.release(db, T, { ref: { reservationId: r.reservation.reservationId } });
    await ledger.debit(db, T, { accountId: acc, asset: 'CASH', amount: 1n, idempotencyKey: 'deb-1', reason: 'fee' });
    expect((await balance(db, acc)).total).toBe(String(BigInt(b.total) - 1n));
  });

  test('internal calls: bad input, unknown accounts and assets are typed errors and nothing moves', async () => {
    const rpc = custodyInternal(db);
    const svc = service(T);
    const before = await balance(db, acc);
    const tok = newId('tok');
    const cases: [string, Record<string, unknown>, string][] = [
      ['reserve', { accountId: acc, asset: 'CASH', amount: '0', idempotencyKey: 'b1', reason: 'x' }, 'INPUT.INVALID_AMOUNT'],
      ['reserve', { accountId: acc, asset: 'CASH', amount: '-5', idempotencyKey: 'b2', reason: 'x' }, 'INPUT.INVALID_AMOUNT'],
      ['reserve', { accountId: acc, asset: 'CASH', amount: 5, idempotencyKey: 'b3', reason: 'x' }, 'INPUT.INVALID_AMOUNT'],
      ['reserve', { accountId: acc, asset: 'CASH', amount: '1.5', idempotencyKey: 'b4', reason: 'x' }, 'INPUT.INVALID_AMOUNT'],
      ['reserve', { accountId: acc, asset: 'USD', amount: '5', idempotencyKey: 'b5', reason: 'x' }, 'INPUT.INVALID_ASSET'],
      ['reserve', { accountId: acc, asset: tok, amount: '5', idempotencyKey: 'b6', reason: 'x' }, 'CUSTODY.UNKNOWN_ASSET'],
      ['reserve', { accountId: newId('acc'), asset: 'CASH', amount: '5', idempotencyKey: 'b7', reason: 'x' }, 'CUSTODY.UNKNOWN_ACCOUNT'],
      ['reserve', { accountId: 'acc_nope', asset: 'CASH', amount: '5', idempotencyKey: 'b8', reason: 'x' }, 'INPUT.INVALID_ACCOUNT_ID'],
      ['reserve', { accountId: acc, asset: 'CASH', amount: '5', idempotencyKey: '', reason: 'x' }, 'INPUT.INVALID_IDEMPOTENCY_KEY'],
      ['credit', { accountId: acc, asset: 'CASH', amount: '5', idempotencyKey: 'b9', reason: '' }, 'INPUT.INVALID_TEXT'],
      ['release', { reservationId: 'rsv_x' }, 'INPUT.INVALID_ID'],
      ['release', {}, 'INPUT.INVALID_RESERVATION_REF'],
      ['consume', { reservationKey: 'never-made', amount: '1', idempotencyKey: 'c1' }, 'CUSTODY.UNKNOWN_RESERVATION'],
      ['registerAsset', { asset: tok, contractAddress: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD' }, 'INPUT.INVALID_ADDRESS'],
    ];
    for (const [method, body, expected] of cases) {
      expect([method, body, await code(rpc[method](body, svc))]).toEqual([method, body, expected]);
    }
    // Only services may call them at all.
    expect(await code(rpc.balance({ accountId: acc, asset: 'CASH' }, user('acme', 'eve', ['CUSTODIAN'])))).toBe('FORBIDDEN');
    expect(await balance(db, acc)).toEqual(before);
  });

  test('reserveMany: one transaction, a result or its own typed error per item in order; a refusal, a bad item or a replay does not fail the others', async () => {
    const rpc = custodyInternal(db);
    const svc = service(T);
    const a = await openAccount(db, 'acme');
    await ledger.credit(db, 'settlement', { accountId: a, asset: 'CASH', amount: 100n, idempotencyKey: `dep-${a}`, reason: 'deposit' });
    const item = (k: string, amount: string, accountId = a, asset = 'CASH') => ({ accountId, asset, amount, idempotencyKey: k, reason: `order ${k}` });
    const first = await rpc.reserveMany({ items: [item('m1', '60')] }, svc) as { results: { ok: boolean }[] };
    expect(first.results).toEqual([expect.objectContaining({ ok: true })]);
    const out = await rpc.reserveMany({ items: [
      item('m2', '30'), // fits
      item('m3', '20'), // 10 left after m2: refused
      item('m1', '60'), // a replay: the first answer, nothing more reserved
      item('m4', '0'), // bad amount
      item('m5', '5', newId('acc')), // unknown account
      item('m1', '61'), // the key with other content
      item('m6', '10'), // the last 10
    ] }, svc) as { results: ({ ok: true; value: { reservation: { amount: string } } } | { ok: false; error: { code: string; available?: string } })[] };
    expect(out.results.map((r) => (r.ok ? `ok ${r.value.reservation.amount}` : r.error.code))).toEqual([
      'ok 30', 'CUSTODY.INSUFFICIENT_AVAILABLE', 'ok 60', 'INPUT.INVALID_AMOUNT', 'CUSTODY.UNKNOWN_ACCOUNT', 'INPUT.IDEMPOTENCY_KEY_REUSED', 'ok 10',
    ]);
    expect(out.results[1]).toMatchObject({ ok: false, error: { available: '10' } });
    expect(await balance(db, a)).toEqual({ accountId: a, asset: 'CASH', total: '100', reserved: '100', available: '0' });
    // The refused ones left no claim behind: the same key reserves once funds are free.
    await ledger.release(db, T, { ref: { reservationKey: 'm1' } });
    expect(await code(ledger.reserve(db, T, { accountId: a, asset: 'CASH', amount: 20n, idempotencyKey: 'm3', reason: 'order m3' }))).toBe('no error');
    const [n] = await db.query<{ n: string }>("SELECT count(*) AS n FROM reservations WHERE account_id = $1", [a]);
    expect(n.n).toBe('4');
  });

  test('a batch whose transaction fails is retried item by item: the good items reserve once, the bad one fails alone, not retryable', async () => {
    const a = await openAccount(db, 'acme');
    await ledger.credit(db, 'settlement', { accountId: a, asset: 'CASH', amount: 100n, idempotencyKey: `dep-${a}`, reason: 'deposit' });
    const item = (k: string, reason = `order ${k}`) => ({ accountId: a, asset: 'CASH', amount: 10n, idempotencyKey: k, reason });
    // A NUL in the reason cannot be stored: its statement fails and takes the batch's transaction with it.
    const out = await ledger.reserveMany(db, T, [item('f1'), item('f2', 'bad\u0000reason'), item('f3')]);
    // The database refuses that item whenever it is asked: not a failure of the moment, so not retryable.
    expect(out.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual(['ok', 'CUSTODY.LEDGER_REFUSED', 'ok']);
    expect(out[1]).toMatchObject({ ok: false, error: { sqlstate: expect.stringMatching(/^22/) } });
    expect((out[1] as { error: { retryable?: boolean } }).error.retryable).toBeUndefined();
    expect(await balance(db, a)).toEqual({ accountId: a, asset: 'CASH', total: '100', reserved: '20', available: '80' });
    const [n] = await db.query<{ n: string }>('SELECT count(*) AS n FROM ledger_operations WHERE idempotency_key = ANY($1)', [['f1', 'f2', 'f3']]);
    expect(n.n).toBe('2');
  });

  test('reserveMany refuses a malformed or oversized list as a whole, and only services may call it', async () => {
    const rpc = custodyInternal(db);
    const before = await balance(db, acc);
    const one = { accountId: acc, asset: 'CASH', amount: '1', idempotencyKey: 'x', reason: 'x' };
    for (const body of [{}, { items: [] }, { items: 'no' }, { items: [{ ...one, amount: 1.5 }] }, { items: Array.from({ length: 501 }, (_, i) => ({ ...one, idempotencyKey: `o${i}` })) }]) {
      expect(await code(rpc.reserveMany(body, service(T)))).toBe('INPUT.INVALID_REQUEST');
    }
    expect(await code(rpc.reserveMany({ items: [one] }, user('acme', 'eve', ['CUSTODIAN'])))).toBe('FORBIDDEN');
    expect(await balance(db, acc)).toEqual(before);
  });

  test('an asset registers once; its contract address is filled once and never replaced', async () => {
    const rpc = custodyInternal(db);
    const tok = newId('tok');
    expect(await rpc.registerAsset({ asset: tok }, service('issuance'))).toEqual({ asset: tok, contractAddress: null });
    const addr = '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed';
    expect(await rpc.registerAsset({ asset: tok, contractAddress: addr }, service('issuance'))).toEqual({ asset: tok, contractAddress: addr });
    expect(await rpc.registerAsset({ asset: tok, contractAddress: addr }, service('issuance'))).toEqual({ asset: tok, contractAddress: addr });
    expect(await code(rpc.registerAsset({ asset: tok, contractAddress: '0x' + '12'.repeat(20) }, service('issuance')))).toBe('CUSTODY.ASSET_CONFLICT');
  });
});
