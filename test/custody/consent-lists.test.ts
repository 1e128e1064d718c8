import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { verifyTypedData, type Contract } from 'ethers';
import { startAnvil, type AnvilNode } from '../../scripts/chain/anvil.js';
import { deployCashToken } from '../../scripts/chain/cash-token.js';
import { loadArtifact } from '../../subgraphs/kit/chain/artifacts.js';
import { createChainClient, type ChainClient } from '../../subgraphs/kit/chain/client.js';
import { createVerifier, serviceToken, signUserToken } from '../../subgraphs/kit/auth.js';
import { peerCalls, type RequestOf } from '../../subgraphs/kit/contracts/calls.js';
import type { Db } from '../../subgraphs/kit/db/types.js';
import { startHttpServer } from '../../subgraphs/kit/http.js';
import { InternalClient, internalRoutes } from '../../subgraphs/kit/internal.js';
import { DVP_CONSENT_TYPES, dvpDomain } from '../../subgraphs/custody/dvp-signing.js';
import { custodyDvpInternal } from '../../subgraphs/custody/internal.js';
import { ledger } from '../../subgraphs/custody/ledger.js';
import { walletOfAccount } from '../../subgraphs/custody/store/accounts.js';
import { httpPeers } from '../../subgraphs/settlement/peers.js';
import { isTransient } from '../../subgraphs/settlement/services.js';
import { dbLabel, onPostgres } from '../support/db.js';
import { KEYS, killSessionsWaitingOn, openAccount, openCustodyDb } from './support.js';

type Ask = RequestOf<'custody', 'signDvpConsents'>['consents'][number];

const AUTH = { secret: 's'.repeat(32), serviceSecret: 'v'.repeat(32), issuer: 'tokenstack', audience: 'tokenstack-api' };
const LIST_MAX = 4;

/**
 * Custody's list of DvP consents over HTTP, as settlement asks for them: a
 * service credential, the list call typed in kit/contracts/calls.ts, each
 * request answered on its own (a signature or its typed error), hostile lists
 * refused with a typed 4xx. Settlement's peers answer each request of a list
 * as its single call would: a refusal custody marks retryable (consents,
 * holds, bookings alike: a failure of the moment such as a killed database
 * session) as DOWNSTREAM.UNAVAILABLE, a step retried later; a booking the
 * books can never take (a credit past the largest balance) keeps its own code.
 */
describe(`custody signs DvP consents in lists (${dbLabel()})`, () => {
  let node: AnvilNode;
  let chain: ChainClient;
  let dvp: string;
  let cash: Contract;
  let db: Db;
  let url: string;
  let cleanup: () => Promise<void>;
  let server: { url: string; close(): Promise<void> };
  let a: string, b: string, m: string;
  const wallet: Record<string, string> = {};
  let listCalls = 0;
  let bookingCalls = 0;
  const asSettlement = () => peerCalls(new InternalClient('custody', server.url, () => serviceToken(AUTH, 'settlement')), 'custody');
  const count = async (sql: string) => Number((await db.query<{ n: string }>(sql))[0].n);

  beforeAll(async () => {
    node = await startAnvil({ port: 0 });
    chain = await createChainClient({ rpcUrl: node.url, privateKey: node.privateKeys[0] });
    dvp = (await chain.deploy(loadArtifact('TokenstackDvP', 'project'))).target as string;
    cash = (await deployCashToken(chain)).contract;
    ({ db, url, cleanup } = await openCustodyDb() as { db: Db; url: string; cleanup(): Promise<void> });
    await ledger.registerAsset(db, 'CASH', cash.target as string);
    [a, b, m] = [await openAccount(db, 'acme'), await openAccount(db, 'acme'), await openAccount(db, 'mallory')];
    for (const acc of [a, b, m]) {
      wallet[acc] = (await walletOfAccount(db, acc))!;
      await ledger.credit(db, 'settlement', { accountId: acc, asset: 'CASH', amount: 100n, idempotencyKey: `dep-${acc}`, reason: 'deposit' });
    }
    await ledger.reserve(db, 'settlement', { accountId: a, asset: 'CASH', amount: 60n, idempotencyKey: 'r-a', reason: 'stl a' });
    await ledger.reserve(db, 'settlement', { accountId: m, asset: 'CASH', amount: 50n, idempotencyKey: 'r-m', reason: 'stl m' });
    await ledger.reserve(db, 'trading', { accountId: b, asset: 'CASH', amount: 50n, idempotencyKey: 'r-b', reason: 'order b' });
    const handlers = custodyDvpInternal({ db, config: { CHAIN_RPC_URL: node.url, CUSTODY_CONSENT_LIST_MAX: LIST_MAX } }, KEYS);
    const routes = internalRoutes(createVerifier(AUTH), handlers);
    for (const [method, counter] of [['signDvpConsents', () => listCalls++], ['bookSettlements', () => bookingCalls++]] as const) {
      const route = routes[`POST /internal/rpc/${method}`];
      routes[`POST /internal/rpc/${method}`] = (...args) => {
        counter();
        return route(...args);
      };
    }
    server = await startHttpServer({ port: 0, host: '127.0.0.1', routes });
  }, 120_000);
  afterAll(async () => {
    await server?.close();
    await cleanup?.();
    await node?.stop();
  });

  const batch = (n: number) => `0x${n.toString(16).padStart(64, '0')}`;
  const ask = (o: Partial<Ask> & { payer: string; amount?: bigint; batch?: number }): Ask => ({
    accountId: o.payer, reservationKeys: ['r-a'], chainId: chain.chainId, dvp, batchId: batch(o.batch ?? 1), deadline: Math.floor(Date.now() / 1000) + 600,
    legs: [{ token: cash.target as string, from: wallet[o.payer], to: wallet[b], amount: o.amount ?? 40n }], ...o,
  });

  test('each request is answered on its own: a signature by the paying wallet, or its typed refusal; only the signed are recorded', async () => {
    const list = [
      ask({ payer: a, batch: 1 }),
      // Another organisation's account, covered by a reservation on someone else's: refused, alone.
      ask({ payer: m, reservationKeys: ['r-a'], batch: 1 }),
      // The other way round: an account of the caller's choosing with another organisation's reservation.
      ask({ payer: a, reservationKeys: ['r-m'], batch: 2 }),
      ask({ payer: a, amount: 61n, batch: 3 }),
    ];
    const { results } = await asSettlement().call('signDvpConsents', { consents: list });
    expect(results.map((r) => (r.ok ? 'signed' : r.error.code))).toEqual(['signed', 'CUSTODY.CONSENT_NOT_COVERED', 'CUSTODY.CONSENT_NOT_COVERED', 'CUSTODY.CONSENT_NOT_COVERED']);
    const signed = results[0].ok ? results[0].value : null;
    const legs = list[0].legs.map((l) => ({ ...l, amount: BigInt(l.amount) }));
    expect(verifyTypedData(dvpDomain(chain.chainId, dvp), DVP_CONSENT_TYPES, { batchId: batch(1), legs, nonces: signed!.nonces, deadline: signed!.deadline }, signed!.signature))
      .toBe(wallet[a]);
    expect(await count(`SELECT count(*) AS n FROM dvp_consents WHERE batch_id = '${batch(1)}' AND account_id = '${a}'`)).toBe(1);
    expect(await count('SELECT count(*) AS n FROM dvp_consents')).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM outbox WHERE topic = 'wallet.dvp_consent_signed'`)).toBe(1);

    // Asked again (a retry after a lost answer): the same signature, still one consent recorded.
    const again = await asSettlement().call('signDvpConsents', { consents: [list[0]] });
    expect(again.results[0]).toEqual(results[0]);
    expect(await count('SELECT count(*) AS n FROM dvp_consents')).toBe(1);
  }, 60_000);

  test('refusals that are not about cover stay with their request too: another service\'s reservation, no DvP contract, another chain, a stale deadline', async () => {
    const { results } = await asSettlement().call('signDvpConsents', { consents: [
      ask({ payer: b, reservationKeys: ['r-b'] }),
      ask({ payer: a, dvp: cash.target as string }),
      ask({ payer: a, chainId: chain.chainId + 1 }),
      ask({ payer: a, deadline: Math.floor(Date.now() / 1000) - 1 }),
    ] });
    expect(results.map((r) => (r.ok ? 'signed' : r.error.code))).toEqual(['CUSTODY.UNKNOWN_RESERVATION', 'CUSTODY.NOT_A_DVP_CONTRACT', 'INPUT.WRONG_CHAIN', 'INPUT.INVALID_DEADLINE']);
  }, 60_000);

  test('hostile lists are refused whole with a typed 4xx and leave nothing: too long, malformed, without a service credential', async () => {
    const before = await count('SELECT count(*) AS n FROM dvp_consents');
    const code = (p: Promise<unknown>) => p.then(() => 'answered', (e: { extensions?: { code?: string } }) => e.extensions?.code);
    const c = asSettlement();
    expect(await code(c.call('signDvpConsents', { consents: Array.from({ length: LIST_MAX + 1 }, (_x, i) => ask({ payer: a, batch: 100 + i })) }))).toBe('INPUT.LIST_TOO_LONG');
    expect(await code(c.call('signDvpConsents', { consents: [] }))).toBe('INPUT.INVALID_REQUEST');
    // A malformed item (through the untyped client: a caller that does not hold the types).
    const raw = new InternalClient('custody', server.url, () => serviceToken(AUTH, 'settlement'));
    for (const bad of [{ ...ask({ payer: a, batch: 7 }), batchId: 'not-hex' }, { ...ask({ payer: a, batch: 8 }), legs: [{ token: 'x', from: 'y', to: 'z', amount: '-1e9' }] }, { ...ask({ payer: a, batch: 9 }), accountId: "acc_x'; DROP TABLE dvp_consents; --" }]) {
      expect(await code(raw.call('signDvpConsents', { consents: [ask({ payer: a, batch: 6 }), bad] }))).toBe('INPUT.INVALID_REQUEST');
    }
    // A user's token, however privileged, is not a service credential.
    const userToken = await signUserToken(AUTH, { subject: 'ops', org: 'acme', roles: ['SETTLEMENT_AGENT', 'CUSTODIAN'] });
    expect(await code(new InternalClient('custody', server.url, async () => userToken).call('signDvpConsents', { consents: [ask({ payer: a })] }))).toBe('FORBIDDEN');
    expect(await count('SELECT count(*) AS n FROM dvp_consents')).toBe(before);
  }, 60_000);

  test('settlement\'s peers send the consents asked for at once in one list call; a refusal rejects its own request only', async () => {
    const client = new InternalClient('custody', server.url, () => serviceToken(AUTH, 'settlement'));
    const peers = httpPeers(client, client, 0, LIST_MAX);
    const asPeer = (x: Ask) => ({ ...x, legs: x.legs.map((l) => ({ ...l, amount: String(l.amount) })) });
    const before = listCalls;
    const [signed, refused] = await Promise.allSettled([
      peers.consent(asPeer(ask({ payer: a, batch: 20 }))),
      peers.consent(asPeer(ask({ payer: a, amount: 61n, batch: 21 }))),
    ]);
    expect(listCalls - before).toBe(1);
    expect(signed).toMatchObject({ status: 'fulfilled', value: { signer: wallet[a] } });
    expect(refused).toMatchObject({ status: 'rejected', reason: { extensions: { code: 'CUSTODY.CONSENT_NOT_COVERED' } } });
  }, 60_000);

  test('settlement set to send longer lists than custody takes keeps to custody\'s limit once refused: every consent is signed, none twice', async () => {
    const client = new InternalClient('custody', server.url, () => serviceToken(AUTH, 'settlement'));
    const peers = httpPeers(client, client, 0, LIST_MAX * 3); // SETTLEMENT_CONSENT_LIST_MAX above CUSTODY_CONSENT_LIST_MAX
    const asPeer = (x: Ask) => ({ ...x, legs: x.legs.map((l) => ({ ...l, amount: String(l.amount) })) });
    const [before, signedBefore] = [listCalls, await count('SELECT count(*) AS n FROM dvp_consents')];
    const asks = Array.from({ length: LIST_MAX * 2 + 1 }, (_x, i) => asPeer(ask({ payer: a, amount: 1n, batch: 300 + i })));
    const answers = await Promise.all(asks.map((x) => peers.consent(x)));
    expect(answers.map((c) => c.signer)).toEqual(asks.map(() => wallet[a]));
    // One list refused whole for its length, then lists of custody's size: ceil(9 / 4) = 3.
    expect(listCalls - before).toBe(1 + 3);
    expect(await count('SELECT count(*) AS n FROM dvp_consents') - signedBefore).toBe(asks.length);
    // Later lists keep to it: no refusal first.
    const more = listCalls;
    await Promise.all([0, 1].map((i) => peers.consent(asPeer(ask({ payer: a, amount: 1n, batch: 400 + i })))));
    expect(listCalls - more).toBe(1);
  }, 60_000);

  test('a booking whose credit would overflow the books is refused at custody with its own code, not retryable; the other bookings of the list are booked once', async () => {
    const client = new InternalClient('custody', server.url, () => serviceToken(AUTH, 'settlement'));
    const peers = httpPeers(client, client, 0, LIST_MAX);
    const before = { calls: bookingCalls, b: (await ledger.balance(db, b, 'CASH')).total, entries: await count('SELECT count(*) AS n FROM ledger_entries') };
    const max = (1n << 256n) - 1n;
    const [booked, overflow, unknown] = await Promise.allSettled([
      peers.book({ idempotencyKey: 'bk-ok', reason: 'stl ok', consume: [], credit: [{ accountId: b, asset: 'CASH', amount: 5n }] }),
      // Nine uint256 credits take the balance past 10^78 - 1, the largest the books hold: custody decides it before writing.
      peers.book({ idempotencyKey: 'bk-overflow', reason: 'stl overflow', consume: [], credit: Array.from({ length: 9 }, () => ({ accountId: b, asset: 'CASH', amount: max })) }),
      peers.book({ idempotencyKey: 'bk-unknown', reason: 'stl unknown', consume: [{ key: 'no-such-hold', amount: 1n }], credit: [{ accountId: b, asset: 'CASH', amount: 1n }] }),
    ]);
    expect(bookingCalls - before.calls).toBe(1);
    expect(booked.status).toBe('fulfilled');
    expect(overflow).toMatchObject({ status: 'rejected', reason: { extensions: { code: 'CUSTODY.BALANCE_OVERFLOW', accountId: b, asset: 'CASH', service: 'custody' } } });
    expect(unknown).toMatchObject({ status: 'rejected', reason: { extensions: { code: 'CUSTODY.UNKNOWN_RESERVATION', service: 'custody' } } });
    const reason = (r: PromiseSettledResult<void>) => (r.status === 'rejected' ? r.reason as { extensions: Record<string, unknown> } : null);
    expect([isTransient(reason(overflow)), isTransient(reason(unknown))]).toEqual([false, false]);
    expect([reason(overflow)!.extensions.retryable, reason(unknown)!.extensions.retryable]).toEqual([undefined, undefined]);
    // Only the good booking moved anything, once (one journal entry); asked again each answers the same.
    expect(BigInt((await ledger.balance(db, b, 'CASH')).total) - BigInt(before.b)).toBe(5n);
    expect(await count('SELECT count(*) AS n FROM ledger_entries') - before.entries).toBe(1);
    const again = await asSettlement().call('bookSettlements', { bookings: [
      { idempotencyKey: 'bk-ok', reason: 'stl ok', consume: [], credit: [{ accountId: b, asset: 'CASH', amount: 5n }] },
      { idempotencyKey: 'bk-overflow', reason: 'stl overflow', consume: [], credit: Array.from({ length: 9 }, () => ({ accountId: b, asset: 'CASH', amount: max })) },
    ] });
    expect(again.results.map((r) => (r.ok ? 'booked' : r.error.code))).toEqual(['booked', 'CUSTODY.BALANCE_OVERFLOW']);
    expect(BigInt((await ledger.balance(db, b, 'CASH')).total) - BigInt(before.b)).toBe(5n);
    expect(await count('SELECT count(*) AS n FROM ledger_entries') - before.entries).toBe(1);
  }, 60_000);

  (onPostgres() ? test : test.skip)('a booking whose database session is killed reaches settlement as retryable (DOWNSTREAM.UNAVAILABLE); the others of its list are booked, and asked again it is booked once', async () => {
    const client = new InternalClient('custody', server.url, () => serviceToken(AUTH, 'settlement'));
    const peers = httpPeers(client, client, 0, LIST_MAX);
    const [x, y] = [await openAccount(db, 'acme'), await openAccount(db, 'acme')];
    const booking = (acc: string) => ({ idempotencyKey: `bk-kill-${acc}`, reason: 'stl kill', consume: [], credit: [{ accountId: acc, asset: 'CASH', amount: 7n }] });
    await ledger.credit(db, 'settlement', { accountId: y, asset: 'CASH', amount: 1n, idempotencyKey: `dep-${y}`, reason: 'deposit' });
    // Another session holds y's balance: the list, then y's booking alone, wait on it, and their sessions are killed there.
    const [ok, killed] = await killSessionsWaitingOn(url, y, () => Promise.allSettled([peers.book(booking(x)), peers.book(booking(y))]));
    expect(ok.status).toBe('fulfilled');
    expect(killed).toMatchObject({ status: 'rejected', reason: { extensions: { code: 'DOWNSTREAM.UNAVAILABLE', retryable: true, cause: 'DATABASE.UNAVAILABLE', service: 'custody' } } });
    expect(isTransient((killed as PromiseRejectedResult).reason)).toBe(true);
    expect([(await ledger.balance(db, x, 'CASH')).total, (await ledger.balance(db, y, 'CASH')).total]).toEqual(['7', '1']);
    // Once the database answers again, settlement's retry books it, once; a later retry is a replay.
    await peers.book(booking(y));
    await peers.book(booking(y));
    expect((await ledger.balance(db, y, 'CASH')).total).toBe('8');
    expect(await count(`SELECT count(*) AS n FROM ledger_entries WHERE account_id = '${y}'`)).toBe(2);
  }, 60_000);
});
