import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Contract } from 'ethers';
import { loadArtifact } from '../../subgraphs/kit/chain/artifacts.js';
import { appError } from '../../subgraphs/kit/errors.js';
import pg from 'pg';
import { dbLabel, onPostgres } from '../support/db.js';
import { SettlementWorld, gqlOk, holdGross, waitFor, watchStatements, type AuditCheck, type Party, type PlaceAnswer } from './support.js';

/** Ends every session on a database but the caller's; returns how many. */
async function killSessions(url: string): Promise<number> {
  const c = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await c.connect();
  try {
    return (await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [new URL(url).pathname.slice(1)])).rowCount ?? 0;
  } finally {
    await c.end();
  }
}

/**
 * Kill the settlement process while trades flow: after a restart every fill has
 * exactly one settlement, each SETTLED once on chain (or FAILED with its
 * reservations released), and custody's books equal the chain.
 */
describe(`settlement across crashes and restarts (${dbLabel()}, anvil)`, () => {
  let w: SettlementWorld;
  let tokenId: string, token: Contract;
  let seller: Party, buyer: Party;
  let sellerBd: string, buyerBd: string;

  const place = (who: string, p: Party, side: 'BUY' | 'SELL', quantity: string, key: string) =>
    gqlOk<PlaceAnswer>(w.url, who, 'mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { accepted rejections { code message } } }',
      { in: { tokenId, accountId: p.accountId, side, type: 'LIMIT', price: '3', quantity, clientOrderId: key } }).then((d) => d.placeOrder);

  async function booksEqualChain(): Promise<void> {
    for (const p of [seller, buyer]) {
      expect(await w.balance(p.accountId, tokenId)).toMatchObject({ total: String(await token.balanceOf(p.wallet)), reserved: '0' });
      expect(await w.balance(p.accountId, 'CASH')).toMatchObject({ total: String(await w.cash.balanceOf(p.wallet)), reserved: '0' });
    }
  }

  async function settledEventsOnChain(): Promise<number> {
    const info = (await gqlOk<{ settlementAgent: { dvpContract: string | null } }>(w.url, w.agent, '{ settlementAgent { dvpContract } }')).settlementAgent;
    if (!info.dvpContract) return 0; // none deployed yet (a test run alone): nothing settled
    const dvp = new Contract(info.dvpContract, loadArtifact('TokenstackDvP', 'project').abi, w.provider);
    return (await dvp.queryFilter(dvp.filters.Settled(), 0, 'latest')).length;
  }

  /** Through the gateway: while the settlement runs as another process, its embedded database is that process's alone. */
  const settlementRows = async () =>
    (await gqlOk<{ settlements: { id: string; status: string; final: boolean; trade: { id: string } | null }[] }>(w.url, w.agent, '{ settlements { id status final trade { id } } }')).settlements
      .map((r) => ({ ...r, trade_id: r.trade?.id }));

  beforeAll(async () => {
    w = await SettlementWorld.start();
    ({ tokenId, token } = await w.token506b('CRSH'));
    [seller, buyer] = [await w.party('Crash Seller', 'alpha-bd'), await w.party('Crash Buyer', 'beta-bd')];
    await w.issue(tokenId, seller, 1_000n);
    await w.fund(buyer, 1_000_000n);
    const operator = await w.token('ats-co', ['ATS_OPERATOR']);
    for (const org of ['alpha-bd', 'beta-bd']) await gqlOk(w.url, operator, `mutation($o: String!) { admitSubscriber(org: $o, reason: "approved") { org } }`, { o: org });
    [sellerBd, buyerBd] = [await w.token('alpha-bd', ['BROKER_DEALER']), await w.token('beta-bd', ['BROKER_DEALER'])];
  }, 300_000);
  afterAll(async () => w?.stop());

  test('the settlement process killed (SIGKILL) while fills flow: after a restart each fill is settled exactly once and the books equal the chain', async () => {
    await w.settlement.stop();
    const child = await w.spawnSettlement();
    const fills = 12;
    let killed = false;
    let atKill: { status: string }[] = [];
    try {
      for (let i = 0; i < fills; i++) {
        const sold = await place(sellerBd, seller, 'SELL', '5', `k-sell-${i}`);
        expect(sold).toMatchObject({ accepted: true });
        expect(await place(buyerBd, buyer, 'BUY', '5', `k-buy-${i}`)).toMatchObject({ accepted: true });
        if (i === 5) {
          // Let some of the work get under way, then kill it wherever it is; fills keep coming meanwhile.
          atKill = await waitFor('some progress', settlementRows, (r) => r.some((x) => x.status === 'SETTLED' || x.status === 'SETTLING'), 30_000);
          child.kill('SIGKILL');
          killed = true;
          await new Promise((r) => child.once('exit', r));
        }
      }
    } finally {
      if (!killed) child.kill('SIGKILL');
    }
    expect(atKill.filter((r) => r.status === 'SETTLED').length).toBeLessThan(fills);
    await w.startSettlement();
    const rows = await waitFor('every fill settled', settlementRows, (r) => r.length === fills && r.every((x) => x.status === 'SETTLED'), 90_000);
    expect(new Set(rows.map((r) => r.trade_id)).size).toBe(fills);
    expect(await settledEventsOnChain()).toBe(fills);
    expect(await token.balanceOf(buyer.wallet)).toBe(BigInt(5 * fills));
    await booksEqualChain();
  }, 240_000);

  test('netted: the settlement process killed (SIGKILL) once a batch is under way, then (PostgreSQL) the new process\'s database sessions killed: each trade is settled and booked once', async () => {
    const venue = 'CRASH-VENUE';
    const netted = { SETTLEMENT_MODE: 'NETTED', SETTLEMENT_NETTING_INTERVAL_MS: '200' };
    const submit = (ref: string, quantity: string) => w.submit(w.agent, {
      venue, venueReference: ref, tokenId, sellerAccountId: seller.accountId, buyerAccountId: buyer.accountId, quantity, price: '0.001', tradeTime: new Date().toISOString(),
    }).then((r) => expect(r.body.errors).toBeUndefined());
    await w.settlement.stop();
    const child = await w.spawnSettlement(netted);
    try {
      await w.authorizeVenue(venue, tokenId);
      const chainBefore = await settledEventsOnChain();
      const before = new Set((await settlementRows()).map((r) => r.id));
      const mine = <T extends { id: string }>(r: T[]) => r.filter((x) => !before.has(x.id));
      const trades = 10;
      await Promise.all(Array.from({ length: trades }, (_, i) => submit(`kn-${i}`, '2')));
      // Killed as soon as a batch is under way (its trades SETTLING), wherever its lists and group commits are.
      await waitFor('a batch under way', async () => mine(await settlementRows()).map((x) => x.status), (st) => st.some((x) => x === 'SETTLING' || x === 'SETTLED'), 90_000);
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      await w.startSettlement(netted);
      // More trades, and on PostgreSQL the restarted process's database sessions killed while they are worked on.
      await Promise.all(Array.from({ length: 4 }, (_, i) => submit(`kn-after-${i}`, '1')));
      if (onPostgres()) expect(await killSessions(w.dbUrl)).toBeGreaterThan(0);
      const rows = mine(await waitFor('every trade settled', settlementRows, (r) => mine(r).length === trades + 4 && mine(r).every((x) => x.status === 'SETTLED'), 120_000));
      // Each batch settled once on chain, fewer transactions than trades, books equal the chain, the audit chain holds.
      const batches = new Set(await Promise.all(rows.map(async (r) => (await w.settlementOf(r.id))!.batch!.id)));
      expect(await settledEventsOnChain()).toBe(chainBefore + batches.size);
      expect(batches.size).toBeLessThan(trades + 4);
      await booksEqualChain();
      const audit = (await gqlOk<AuditCheck>(w.url, w.auditor, '{ verifyAuditLog { valid breaks { seq kind detail } } }')).verifyAuditLog;
      expect(audit).toEqual({ valid: true, breaks: [] });
    } finally {
      // The next tests run on the in-process settlement in its default mode.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await w.settlement.stop().catch(() => undefined);
      await w.startSettlement();
    }
  }, 300_000);

  test('a crash right after a shared DvP transaction was sent, before it was recorded, settles each of its trades once on recovery; sending it again moves nothing', async () => {
    const s = w.services();
    const submitMany = s.chain.submitMany.bind(s.chain);
    const sent: Parameters<typeof submitMany>[0][] = [];
    s.chain.submitMany = async (batches) => {
      await submitMany(batches);
      sent.push(batches);
      throw new Error('the process died after sending');
    };
    const before = await settledEventsOnChain();
    const known = new Set((await settlementRows()).map((r) => r.id));
    const pairs = 3;
    try {
      await Promise.all(Array.from({ length: pairs }, async (_, i) => {
        expect((await place(sellerBd, seller, 'SELL', '7', `c-sell-${i}`)).accepted).toBe(true);
        expect((await place(buyerBd, buyer, 'BUY', '7', `c-buy-${i}`)).accepted).toBe(true);
      }));
      await waitFor('every trade sent', async () => sent.flat().length, (n) => n >= pairs, 60_000);
    } finally {
      s.chain.submitMany = submitMany;
    }
    const mine = await waitFor('the trades recorded', async () => (await settlementRows()).filter((r) => !known.has(r.id)), (r) => r.length === pairs);
    for (const r of mine) expect((await w.waitStatus(r.id, ['SETTLED'], 60_000)).batch!.status).toBe('SETTLED');
    expect(await settledEventsOnChain()).toBe(before + pairs);
    await booksEqualChain();

    // The same transaction's batches sent once more: each is refused on chain as settled already, nothing moves, nothing changes.
    const balances = [await token.balanceOf(buyer.wallet), await w.cash.balanceOf(seller.wallet)];
    const replay = sent.flat();
    const hash = await submitMany(replay);
    for (const b of replay) expect(await s.chain.outcome(hash, b.chainBatchId)).toMatchObject({ kind: 'reverted', reason: expect.stringMatching(/already settled/) });
    expect([await token.balanceOf(buyer.wallet), await w.cash.balanceOf(seller.wallet)]).toEqual(balances);
    expect(await settledEventsOnChain()).toBe(before + pairs);
    expect((await settlementRows()).filter((r) => !known.has(r.id)).map((r) => r.status)).toEqual(Array(pairs).fill('SETTLED'));
    await booksEqualChain();
  }, 180_000);

  test('a shared DvP transaction\'s batches are recorded settled in one step: that step failing midway (its statement refused as on a killed session) leaves none of them settled and no trade due; once it goes through, each trade settles once with one entry per step', async () => {
    const s = w.services();
    const watch = watchStatements(s.db);
    const before = await settledEventsOnChain();
    const known = new Set((await settlementRows()).map((r) => r.id));
    const pairs = 3;
    // The trades due for their booking are marked in the transaction that records their batches settled, after them.
    watch.refuse = (sql) => sql.startsWith('WITH due AS (UPDATE settlements SET next_attempt_at');
    const hold = holdGross(s.chain);
    try {
      try {
        await Promise.all(Array.from({ length: pairs }, async (_, i) => {
          expect((await place(sellerBd, seller, 'SELL', '6', `m-sell-${i}`)).accepted).toBe(true);
          expect((await place(buyerBd, buyer, 'BUY', '6', `m-buy-${i}`)).accepted).toBe(true);
        }));
        await waitFor('the batches consented and ready to send', async () => hold.held.size, (n) => n >= pairs, 120_000);
      } finally {
        hold.release();
      }
      await waitFor('the settled step refused', async () => watch.refused, (n) => n >= 1, 60_000);
      const mine = (await settlementRows()).filter((r) => !known.has(r.id));
      expect(mine).toHaveLength(pairs);
      const views = await Promise.all(mine.map(async (r) => (await w.settlementOf(r.id))!));
      // Settled on chain in one transaction; in the books, nothing of the refused step.
      expect(await settledEventsOnChain()).toBe(before + pairs);
      expect(new Set(views.map((v) => v.batch!.txHash)).size).toBe(1);
      expect(views.map((v) => [v.status, v.batch!.status])).toEqual(Array(pairs).fill(['SETTLING', 'SUBMITTED']));
      const entries = async () => s.db.query<{ settlement_id: string; kind: string }>(
        "SELECT settlement_id, kind FROM audit_log WHERE settlement_id = ANY($1::text[]) AND kind LIKE 'CHAIN.%' ORDER BY seq", [mine.map((r) => r.id)]);
      expect((await entries()).filter((e) => e.kind === 'CHAIN.SETTLED')).toEqual([]);

      watch.refuse = null;
      for (const r of mine) expect((await w.waitStatus(r.id, ['SETTLED'], 60_000)).batch!.status).toBe('SETTLED');
      const count = (kind: string) => mine.map((r) => entries().then((es) => es.filter((e) => e.settlement_id === r.id && e.kind === kind).length));
      expect(await Promise.all(count('CHAIN.SUBMITTED'))).toEqual(Array(pairs).fill(1));
      expect(await Promise.all(count('CHAIN.SETTLED'))).toEqual(Array(pairs).fill(1));
      // The three batches were recorded sent with one statement.
      expect(watch.seen.filter((sql) => sql.includes("SET status = 'SUBMITTED'"))).toHaveLength(1);
      expect(await settledEventsOnChain()).toBe(before + pairs);
      await booksEqualChain();
      const audit = (await gqlOk<AuditCheck>(w.url, w.auditor, '{ verifyAuditLog { valid breaks { seq kind detail } } }')).verifyAuditLog;
      expect(audit).toEqual({ valid: true, breaks: [] });
    } finally {
      watch.refuse = null;
      watch.restore();
    }
  }, 240_000);

  test('two gross transactions in flight at once (SETTLEMENT_GROSS_IN_FLIGHT=2), both sent and neither recorded when the process dies: each trade settles once on recovery', async () => {
    await w.settlement.stop();
    await w.startSettlement({ SETTLEMENT_GROSS_IN_FLIGHT: '2', SETTLEMENT_GROSS_BATCH_MAX: '1', SETTLEMENT_GROSS_GATHER_MS: '20' });
    try {
      const s = w.services();
      const submitMany = s.chain.submitMany.bind(s.chain);
      const sent: Parameters<typeof submitMany>[0][] = [];
      let sending = 0;
      let most = 0;
      let bothIn!: () => void;
      const gate = new Promise<void>((r) => (bothIn = r));
      // Each send waits until the other is under way too, then both go out and the process "dies" before recording either.
      s.chain.submitMany = async (batches) => {
        most = Math.max(most, ++sending);
        if (sending >= 2) bothIn();
        await gate;
        await submitMany(batches);
        sent.push(batches);
        throw new Error('the process died after sending');
      };
      const before = await settledEventsOnChain();
      const known = new Set((await settlementRows()).map((r) => r.id));
      const pairs = 2;
      try {
        await Promise.all(Array.from({ length: pairs }, async (_, i) => {
          expect((await place(sellerBd, seller, 'SELL', '4', `f-sell-${i}`)).accepted).toBe(true);
          expect((await place(buyerBd, buyer, 'BUY', '4', `f-buy-${i}`)).accepted).toBe(true);
        }));
        await waitFor('two transactions sent', async () => sent.length, (n) => n >= 2, 60_000);
      } finally {
        s.chain.submitMany = submitMany;
      }
      expect(most).toBe(2);
      expect(sent.map((b) => b.length)).toEqual([1, 1]);
      const mine = await waitFor('the trades recorded', async () => (await settlementRows()).filter((r) => !known.has(r.id)), (r) => r.length === pairs);
      for (const r of mine) expect((await w.waitStatus(r.id, ['SETTLED'], 60_000)).batch!.status).toBe('SETTLED');
      expect(await settledEventsOnChain()).toBe(before + pairs);
      await booksEqualChain();
    } finally {
      await w.settlement.stop().catch(() => undefined);
      await w.startSettlement();
    }
  }, 180_000);

  test('settled on chain but custody unreachable: the settlement stays SETTLING, then is booked once; a restart in between changes nothing', async () => {
    const s = w.services();
    const book = s.peers.book;
    let refused = 0;
    s.peers.book = async () => {
      refused++;
      throw appError('DOWNSTREAM.UNAVAILABLE', 'custody is unavailable', { retryable: true });
    };
    try {
      expect((await place(sellerBd, seller, 'SELL', '9', 'u-sell-1')).accepted).toBe(true);
      expect((await place(buyerBd, buyer, 'BUY', '9', 'u-buy-1')).accepted).toBe(true);
      await waitFor('a refused booking', async () => refused, (n) => n >= 1, 30_000);
      const [row] = (await settlementRows()).slice(-1);
      expect(row.status).toBe('SETTLING');
      expect((await w.settlementOf(row.id))!.batch!.status).toBe('SETTLED');
    } finally {
      s.peers.book = book;
    }
    await w.settlement.stop();
    await w.startSettlement();
    const [row] = (await settlementRows()).slice(-1);
    await w.waitStatus(row.id, ['SETTLED'], 60_000);
    await booksEqualChain();
    const audit = (await gqlOk<AuditCheck>(w.url, w.auditor, '{ verifyAuditLog { valid breaks { seq kind detail } } }')).verifyAuditLog;
    expect(audit).toEqual({ valid: true, breaks: [] });
  });

  test('without an operator key settlements stop at VERIFIED; once one is configured they settle', async () => {
    await w.settlement.stop();
    await w.startSettlement({ SETTLEMENT_OPERATOR_KEY: '' });
    expect(w.services().chain.configured).toBe(false);
    expect((await place(sellerBd, seller, 'SELL', '4', 'nk-sell-1')).accepted).toBe(true);
    expect((await place(buyerBd, buyer, 'BUY', '4', 'nk-buy-1')).accepted).toBe(true);
    const waiting = await waitFor('verified', settlementRows, (r) => r.at(-1)?.status === 'VERIFIED');
    // The worker looked at it and parked it (nothing due, no lease): without a chain it goes no further.
    const parked = await waitFor('parked', async () => (await w.services().db.query<{ status: string; next_attempt_at: Date | null; lease_until: Date | null }>(
      'SELECT status, next_attempt_at, lease_until FROM settlements WHERE id = $1', [waiting.at(-1)!.id]))[0], (r) => r.next_attempt_at === null && r.lease_until === null);
    expect(parked.status).toBe('VERIFIED');
    expect((await settlementRows()).at(-1)).toMatchObject({ id: waiting.at(-1)!.id, status: 'VERIFIED' });
    await w.settlement.stop();
    await w.startSettlement();
    await w.waitStatus(waiting.at(-1)!.id, ['SETTLED'], 60_000);
    await booksEqualChain();
  });
});
