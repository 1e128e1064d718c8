import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import pg from 'pg';
import { GraphQLError } from 'graphql';
import { errorCode } from '../../subgraphs/kit/errors.js';
import { startSubgraph, subgraphConfig, type RunningSubgraph } from '../../subgraphs/kit/subgraph.js';
import { custody } from '../../subgraphs/custody/index.js';
import { issuance } from '../../subgraphs/issuance/index.js';
import { settlement } from '../../subgraphs/settlement/index.js';
import { serviceToken, signUserToken } from '../../subgraphs/kit/auth.js';
import { gql } from '../../scripts/graphqlClient.js';
import { createTestDatabase, onPostgres, openTestDb, type TestDatabase } from '../support/db.js';
import { openAccount } from '../custody/support.js';
import { expectedReserved, market, quiet, services, startTrading, until, type TradingHarness } from '../trading/support.js';

/**
 * A database session that dies (server restart, failover, pg_terminate_backend)
 * fails the requests it carried with DATABASE.UNAVAILABLE (retryable) and
 * never ends the process: pool clients, the LISTEN connection, background
 * loops and trading's advisory-lock session all come back. Only PostgreSQL
 * has sessions to kill; PGlite runs in the process.
 */
const onServer = onPostgres() ? describe : describe.skip;

/** Ends every session on the database but the caller's; returns how many. */
async function killSessions(url: string, where = 'true'): Promise<number> {
  const c = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await c.connect();
  try {
    const r = await c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND ${where}`, [new URL(url).pathname.slice(1)]);
    return r.rowCount ?? 0;
  } finally {
    await c.end();
  }
}

/** Whatever would have ended the process: an unhandled 'error' event or rejection. */
const crashes: unknown[] = [];
const onCrash = (e: unknown) => { crashes.push(e); };
function watchCrashes(): void {
  beforeEach(() => {
    crashes.length = 0;
    process.on('uncaughtException', onCrash);
    process.on('unhandledRejection', onCrash);
  });
  afterEach(() => {
    process.off('uncaughtException', onCrash);
    process.off('unhandledRejection', onCrash);
  });
}

onServer('a killed database session (PostgreSQL)', () => {
  watchCrashes();

  test('a transaction whose session is terminated fails with a typed retryable error, and the next one gets a new connection', async () => {
    const { db, url, cleanup } = await openTestDb();
    try {
      await db.exec('CREATE TABLE effects (k text PRIMARY KEY)');
      const inFlight = db.tx(async (q) => {
        await q.query("INSERT INTO effects VALUES ('lost')");
        await q.query('SELECT pg_sleep(60)');
      });
      const outcome = inFlight.then(() => undefined, (e: unknown) => e);
      await until('the statement is running', async () => (await killSessions(url, "query LIKE 'SELECT pg_sleep%'")) > 0);
      const e = await outcome;
      expect(e).toBeInstanceOf(GraphQLError);
      expect(errorCode(e)).toBe('DATABASE.UNAVAILABLE');
      expect((e as GraphQLError).extensions.retryable).toBe(true);
      // The process is still here, the pool hands out a live connection, and nothing of the lost transaction stayed.
      await db.tx((q) => q.query("INSERT INTO effects VALUES ('kept')"));
      expect(await db.query('SELECT k FROM effects ORDER BY k')).toEqual([{ k: 'kept' }]);
      expect(crashes).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  test('every session of the pool killed at once: idle ones are replaced, the next query and transaction succeed', async () => {
    const { db, url, cleanup } = await openTestDb();
    try {
      await Promise.all([1, 2, 3, 4].map(() => db.tx((q) => q.query('SELECT 1'))));
      expect(await killSessions(url)).toBeGreaterThan(0);
      await until('a query succeeds again', () => db.query('SELECT 1 AS one').then(() => true, () => false));
      await expect(db.tx((q) => q.query<{ one: number }>('SELECT 1 AS one'))).resolves.toEqual([{ one: 1 }]);
      expect(crashes).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  test('the LISTEN connection reconnects by itself: a notification after the kill still arrives', async () => {
    const { db, url, cleanup } = await openTestDb();
    try {
      const got: string[] = [];
      await db.listen('pings', (p) => got.push(p));
      await db.query("SELECT pg_notify('pings', 'before')");
      await until('the first notification', async () => got.includes('before'));
      expect(await killSessions(url, "query LIKE 'LISTEN%'")).toBe(1);
      // Notify until the new LISTEN session is up (one sent while it was down is lost; readers re-read on the empty wake-up).
      await until('a notification after the kill', async () => {
        await db.query("SELECT pg_notify('pings', 'after')");
        return got.includes('after');
      });
      expect(got).toContain('');
      expect(crashes).toEqual([]);
    } finally {
      await cleanup();
    }
  });
});

onServer('trading survives its sessions being killed (PostgreSQL)', () => {
  let h: TradingHarness;
  beforeAll(async () => { h = await startTrading(); }, 120_000);
  afterAll(async () => h?.stop());
  watchCrashes();

  test('after every session (pool, LISTEN, book lock) is terminated the process keeps serving: the lock is taken again under a new epoch and no order is lost or doubled', async () => {
    const m = await market(h, { accounts: 2 });
    const [seller, buyer] = m.traders;
    expect(await seller.place('SELL', 10, 50)).toMatchObject({ accepted: true, order: { status: 'OPEN' } });
    await quiet(h.node);
    const epoch = async () => BigInt((await h.node.sg.db.query<{ epoch: string }>('SELECT epoch FROM books WHERE token_id = $1', [m.tokenId]))[0].epoch);
    const before = await epoch();
    expect(services(h.node).venue.owned()).toEqual([m.tokenId]);

    // Every session (the pool's, LISTEN, the advisory lock) is terminated while the next order is in flight, at its custody reservation.
    let killed = 0;
    h.peers.onCall = async (method) => {
      if (method !== 'reserve' || killed) return;
      killed = await killSessions(h.db.url);
    };

    // The same order retried until it is accepted: one order, whatever the first attempts met.
    const clientOrderId = 'after-kill-1';
    const placed = await until('an order placed after the kill', async () => {
      const r = await buyer.place('BUY', 4, 50, { clientOrderId }).catch((e: Error) => {
        expect(e.message).toMatch(/DATABASE\.UNAVAILABLE|TRADING\.BOOK_UNAVAILABLE|DOWNSTREAM/);
        return null;
      });
      return r?.accepted ? r : null;
    }, 60_000);
    h.peers.onCall = undefined;
    expect(killed).toBeGreaterThanOrEqual(2);
    expect(placed.order).toMatchObject({ status: 'FILLED', filled: '4' });
    // The lost lock session is noticed; the next command takes the book again under a new epoch, on a new lock session.
    await until('the lost book lock noticed', async () => services(h.node).venue.owned().length === 0 || (await epoch()) > before);
    expect(await buyer.place('BUY', 1, 50, { clientOrderId: 'after-kill-2' })).toMatchObject({ accepted: true, order: { status: 'FILLED' } });
    await quiet(h.node);
    expect(await epoch()).toBeGreaterThan(before);
    expect(await h.node.sg.db.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())")).toEqual([{ n: 1 }]);
    expect(await h.node.sg.db.query('SELECT count(*)::int AS n FROM orders WHERE client_order_id = $1', [clientOrderId])).toEqual([{ n: 1 }]);
    expect(await h.node.sg.db.query('SELECT count(*)::int AS n, sum(quantity)::text AS q FROM trades WHERE token_id = $1', [m.tokenId])).toEqual([{ n: 2, q: '5' }]);
    // The kill did not double a reservation either: custody holds what the open orders and fills hold.
    expect(h.peers.reserved(seller.accountId, m.tokenId)).toBe(await expectedReserved(h.node, seller.accountId, m.tokenId));
    expect(h.peers.reserved(buyer.accountId, 'CASH')).toBe(await expectedReserved(h.node, buyer.accountId, 'CASH'));
    expect(crashes).toEqual([]);
  }, 120_000);
});

onServer('custody survives its sessions being killed (PostgreSQL)', () => {
  let db: TestDatabase, sg: RunningSubgraph;
  const secrets = { AUTH_JWT_SECRET: 'j'.repeat(32), SERVICE_SECRET: 's'.repeat(32) };
  beforeAll(async () => {
    db = await createTestDatabase();
    sg = await startSubgraph(custody, subgraphConfig(custody, {
      PORT: '0', DATABASE_URL: db.url, ...secrets, CUSTODY_KEK: '0x' + '42'.repeat(32), LOG_LEVEL: 'silent', FEED_POLL_MS: '100',
      ISSUANCE_URL: 'http://127.0.0.1:9', TRADING_URL: 'http://127.0.0.1:9', SETTLEMENT_URL: 'http://127.0.0.1:9',
    }));
  }, 120_000);
  afterAll(async () => { await sg?.stop(); await db?.drop(); });

  const rpc = async (method: string, body: Record<string, unknown>) => {
    const r = await fetch(`${sg.url.replace(/\/graphql$/, '')}/internal/rpc/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await serviceToken({ serviceSecret: secrets.SERVICE_SECRET, issuer: 'tokenstack' }, 'test')}` },
      body: JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as { result?: unknown; error?: { code: string; retryable?: boolean } } };
  };

  watchCrashes();

  test('a credit interrupted by the kill is retried with its idempotency key and counted once; the process keeps serving', async () => {
    const accountId = await openAccount(sg.db, 'custodian-a');
    expect((await rpc('registerAsset', { asset: 'CASH' })).status).toBe(200);
    expect((await rpc('credit', { accountId, asset: 'CASH', amount: '100', idempotencyKey: 'c1', reason: 'deposit' })).status).toBe(200);
    expect(await killSessions(db.url)).toBeGreaterThanOrEqual(1);
    const answers: number[] = [];
    await until('the credit goes through again', async () => {
      const r = await rpc('credit', { accountId, asset: 'CASH', amount: '25', idempotencyKey: 'c2', reason: 'deposit' });
      answers.push(r.status);
      if (r.status !== 200) expect(r.body.error).toMatchObject({ code: 'DATABASE.UNAVAILABLE', retryable: true });
      return r.status === 200;
    }, 60_000);
    expect(answers.every((s) => s === 200 || s === 422)).toBe(true);
    // Replays of both credits change nothing.
    for (const k of ['c1', 'c2']) expect((await rpc('credit', { accountId, asset: 'CASH', amount: k === 'c1' ? '100' : '25', idempotencyKey: k, reason: 'deposit' })).status).toBe(200);
    const [bal] = await sg.db.query<{ total: string }>("SELECT total::text AS total FROM balances WHERE account_id = $1 AND asset = 'CASH'", [accountId]);
    expect(bal.total).toBe('125');
    expect((await fetch(`${sg.url.replace(/\/graphql$/, '')}/readyz`)).status).toBe(200);
    expect(crashes).toEqual([]);
  }, 120_000);
});

onServer('issuance and settlement survive their sessions being killed (PostgreSQL)', () => {
  const secrets = { AUTH_JWT_SECRET: 'j'.repeat(32), SERVICE_SECRET: 's'.repeat(32) };
  watchCrashes();

  test.each([['issuance', issuance], ['settlement', settlement]] as const)('%s keeps serving: its background work and LISTEN come back, a later query succeeds', async (name, def) => {
    const db = await createTestDatabase();
    const dead = 'http://127.0.0.1:9';
    const sg = await startSubgraph(def as never, subgraphConfig(def as never, {
      ...secrets, PORT: '0', DATABASE_URL: db.url, LOG_LEVEL: 'silent', FEED_POLL_MS: '100', ISSUANCE_URL: dead, TRADING_URL: dead, SETTLEMENT_URL: dead, CUSTODY_URL: dead,
    }));
    try {
      const token = await signUserToken({ secret: secrets.AUTH_JWT_SECRET, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject: 'a', org: 'o', roles: ['AUDITOR'] });
      const query = name === 'issuance' ? '{ securityTokens { id } }' : '{ settlements { id } }';
      expect((await gql(sg.url, token, query)).body.errors).toBeUndefined();
      expect(await killSessions(db.url)).toBeGreaterThanOrEqual(1);
      await until('a query succeeds again', async () => !(await gql(sg.url, token, query)).body.errors);
      await until('the LISTEN session is back', async () => (await sessionCount(db.url, "query LIKE 'LISTEN%'")) > 0);
      expect(crashes).toEqual([]);
    } finally {
      await sg.stop();
      await db.drop();
    }
  }, 120_000);
});

/** Sessions on the database matching a condition. */
async function sessionCount(url: string, where: string): Promise<number> {
  const c = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await c.connect();
  try {
    const r = await c.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND ${where}`, [new URL(url).pathname.slice(1)]);
    return r.rows[0].n as number;
  } finally {
    await c.end();
  }
}
