import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createVerifier, serviceToken } from '../../subgraphs/kit/auth.js';
import type { Db } from '../../subgraphs/kit/db/types.js';
import { errorCode } from '../../subgraphs/kit/errors.js';
import { startHttpServer } from '../../subgraphs/kit/http.js';
import { InternalClient, internalRoutes } from '../../subgraphs/kit/internal.js';
import { custodyInternal } from '../../subgraphs/custody/internal.js';
import { ledger } from '../../subgraphs/custody/ledger.js';
import { httpPeers, type Peers } from '../../subgraphs/trading/peers.js';
import { killSessionsWaitingOn, openAccount, openCustodyDb } from '../custody/support.js';
import { dbLabel, onPostgres } from '../support/db.js';

const AUTH = { secret: 's'.repeat(32), serviceSecret: 'v'.repeat(32), issuer: 'tokenstack', audience: 'tokenstack-api' };

/**
 * Trading's list calls to its peers, item by item: a reservation custody
 * refuses retryably (its own transaction lost for the moment) and an
 * eligibility question issuance answers retryably reach the order as
 * DOWNSTREAM.UNAVAILABLE, "try again", as their single calls would; a
 * business refusal keeps its code. Custody is the real one over HTTP with a
 * service credential; the other orders of the list are reserved once.
 */
describe(`trading's peers answer each item of a list call as its single call would (${dbLabel()})`, () => {
  let db: Db;
  let url: string;
  let cleanup: () => Promise<void>;
  let custody: { url: string; close(): Promise<void> };
  let issuance: Server;
  let issuanceUrl: string;
  let peers: Peers;

  beforeAll(async () => {
    ({ db, url, cleanup } = await openCustodyDb() as { db: Db; url: string; cleanup(): Promise<void> });
    await ledger.registerAsset(db, 'CASH', null);
    custody = await startHttpServer({ port: 0, host: '127.0.0.1', routes: internalRoutes(createVerifier(AUTH), custodyInternal(db)) });
    // Issuance's list answer as it sends it when one question's database session was lost (a typed, retryable item) and another's token is unknown.
    issuance = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end(JSON.stringify({ result: { answers: [
        { ok: false, error: { code: 'DATABASE.UNAVAILABLE', message: 'the database connection was lost; retry the request', retryable: true } },
        { ok: false, error: { code: 'NOT_FOUND', message: 'no security token tok_x' } },
      ] } })));
    });
    await new Promise<void>((r) => issuance.listen(0, '127.0.0.1', () => r()));
    issuanceUrl = `http://127.0.0.1:${(issuance.address() as AddressInfo).port}`;
    const token = () => serviceToken(AUTH, 'trading');
    peers = httpPeers(new InternalClient('issuance', issuanceUrl, token), new InternalClient('custody', custody.url, token), 0, { maxBatch: 10, maxInFlight: 1 });
  });
  afterAll(async () => {
    await custody?.close();
    issuance?.closeAllConnections();
    await new Promise((r) => issuance?.close(r));
    await cleanup?.();
  });

  const ext = (r: PromiseSettledResult<unknown>) => (r.status === 'rejected' ? (r.reason as { extensions: Record<string, unknown> }).extensions : null);
  const reserved = async (acc: string) => (await ledger.balance(db, acc, 'CASH')).reserved;

  test('eligibility: a question issuance answers retryably is DOWNSTREAM.UNAVAILABLE with its cause, a refusal keeps its code', async () => {
    const ask = (n: number) => peers.eligibility({ tokenId: 'tok_x', fromInvestorId: null, toInvestorId: `inv_${n}`, amount: 1n, kind: 'SECONDARY_TRADE' });
    const [lost, unknown] = await Promise.allSettled([ask(1), ask(2)]);
    expect(ext(lost)).toMatchObject({ code: 'DOWNSTREAM.UNAVAILABLE', retryable: true, cause: 'DATABASE.UNAVAILABLE', service: 'issuance' });
    expect(ext(unknown)).toMatchObject({ code: 'NOT_FOUND', service: 'issuance' });
    expect(ext(unknown)!.retryable).toBeUndefined();
  });

  test('reservations: a short one keeps CUSTODY.INSUFFICIENT_AVAILABLE, the others of the list are reserved once', async () => {
    const [a, b] = [await openAccount(db, 'acme'), await openAccount(db, 'acme')];
    for (const acc of [a, b]) await ledger.credit(db, 'settlement', { accountId: acc, asset: 'CASH', amount: 10n, idempotencyKey: `dep-${acc}`, reason: 'deposit' });
    const reserve = (acc: string, amount: bigint) => peers.reserve({ accountId: acc, asset: 'CASH', amount, key: `ord-${acc}`, reason: 'order' });
    const [ok, short] = await Promise.allSettled([reserve(a, 4n), reserve(b, 11n)]);
    expect(ok.status).toBe('fulfilled');
    expect(ext(short)).toMatchObject({ code: 'CUSTODY.INSUFFICIENT_AVAILABLE', available: '10', service: 'custody' });
    expect([await reserved(a), await reserved(b)]).toEqual(['4', '0']);
  });

  (onPostgres() ? test : test.skip)('reservations: one whose database session is killed is DOWNSTREAM.UNAVAILABLE (try again), not a refusal; asked again it is reserved once', async () => {
    const [x, y] = [await openAccount(db, 'acme'), await openAccount(db, 'acme')];
    for (const acc of [x, y]) await ledger.credit(db, 'settlement', { accountId: acc, asset: 'CASH', amount: 10n, idempotencyKey: `dep-${acc}`, reason: 'deposit' });
    const reserve = (acc: string) => peers.reserve({ accountId: acc, asset: 'CASH', amount: 3n, key: `ord-kill-${acc}`, reason: 'order' });
    // Another session holds y's balance: the list, then y's reservation alone, wait on it, and their sessions are killed there.
    const [ok, killed] = await killSessionsWaitingOn(url, y, () => Promise.allSettled([reserve(x), reserve(y)]));
    expect(ok.status).toBe('fulfilled');
    expect(ext(killed)).toMatchObject({ code: 'DOWNSTREAM.UNAVAILABLE', retryable: true, cause: 'DATABASE.UNAVAILABLE', service: 'custody' });
    // What orders.ts makes of it: a code that says "try again", not CUSTODY.* (a business refusal).
    expect(errorCode((killed as PromiseRejectedResult).reason)?.startsWith('CUSTODY.')).toBe(false);
    expect([await reserved(x), await reserved(y)]).toEqual(['3', '0']);
    await reserve(y);
    await reserve(y);
    expect(await reserved(y)).toBe('3');
  }, 60_000);
});
