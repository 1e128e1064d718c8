import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { newId } from '../../subgraphs/kit/ids.js';
import { dbLabel, onPostgres } from '../support/db.js';
import { Trader, expectedReserved, gqlOk, market, quiet, services, startTrading, until, type MarketStatus, type Order, type OrderBook, type TradingHarness, type TradingNode } from './support.js';

const engineView = async (n: TradingNode, tokenId: string) => {
  const w = await services(n).venue.writerFor(tokenId);
  return { snapshot: w!.snapshot(), orders: w!['book'].restingOrders() };
};

describe(`the book survives restarts; one writer per book (${dbLabel()})`, () => {
  let h: TradingHarness;
  beforeAll(async () => { h = await startTrading(); }, 60_000);
  afterAll(async () => h?.stop());

  test('after a restart on the same database the book is the same, with the same time priority', async () => {
    const m = await market(h, { accounts: 4 });
    const [a, b, c, d] = m.traders;
    await a.place('SELL', 5, 103);
    const early = await b.place('SELL', 5, 102);
    const late = await c.place('SELL', 5, 102);
    await d.place('BUY', 3, 102); // partially fills the early order
    await a.place('BUY', 4, 99, { timeInForce: 'DAY' });
    await b.place('BUY', 2, 98);
    const before = await engineView(h.node, m.tokenId);
    const [bookBefore] = await h.node.sg.db.query<{ last_event_seq: string }>('SELECT last_event_seq FROM books WHERE token_id = $1', [m.tokenId]);

    await h.restart();
    const after = await engineView(h.node, m.tokenId);
    expect(after.snapshot.bids).toEqual(before.snapshot.bids);
    expect(after.snapshot.asks).toEqual(before.snapshot.asks);
    expect(after.snapshot.lastEventSeq).toBe(Number(bookBefore.last_event_seq));
    expect(after.orders.map((o) => [o.orderId, o.remaining, o.filled, o.priority, o.timeInForce])).toEqual(before.orders.map((o) => [o.orderId, o.remaining, o.filled, o.priority, o.timeInForce]));

    // Matching goes on where it stopped: the earlier order at 102 trades first.
    const buyer = new Trader(h, m.broker, d.accountId, m.tokenId);
    await buyer.place('BUY', 4, 102);
    const read = async (id: string) => (await gqlOk<{ order: Order }>(h.node.url, m.broker, 'query($id: ID!) { order(id: $id) { filled remaining } }', { id })).order;
    expect(await read(early.order.id)).toEqual({ filled: '5', remaining: '0' });
    expect(await read(late.order.id)).toEqual({ filled: '2', remaining: '3' });

    // The journal is gapless: every engine event of the book, in order, up to the book's last seq.
    const seqs = await h.node.sg.db.query<{ seq: string }>('SELECT seq FROM book_events WHERE token_id = $1 ORDER BY seq', [m.tokenId]);
    const [last] = await h.node.sg.db.query<{ last_event_seq: string }>('SELECT last_event_seq FROM books WHERE token_id = $1', [m.tokenId]);
    expect(seqs.map((r) => Number(r.seq))).toEqual(Array.from({ length: Number(last.last_event_seq) }, (_, i) => i + 1));
    await quiet(h.node);
    for (const t of m.traders) expect(h.peers.reserved(t.accountId, 'CASH')).toBe(await expectedReserved(h.node, t.accountId, 'CASH'));
  });

  test('an operator halt survives a restart: orders stay refused until the operator resumes', async () => {
    const m = await market(h);
    const [s, b] = m.traders;
    const resting = await s.place('SELL', 5, 100);
    await gqlOk(h.node.url, m.operator, 'mutation($t: ID!) { haltTrading(tokenId: $t, reason: "pending announcement") { halted } }', { t: m.tokenId });
    await h.restart();
    const status = (await gqlOk<{ marketStatus: MarketStatus }>(h.node.url, m.broker, 'query($t: ID!) { marketStatus(tokenId: $t) { halted haltReason } }', { t: m.tokenId })).marketStatus;
    expect(status).toEqual({ halted: true, haltReason: 'pending announcement' });
    expect((await b.place('BUY', 5, 100)).rejections).toEqual([expect.objectContaining({ code: 'TRADING.MARKET_HALTED' })]);
    await gqlOk(h.node.url, m.operator, 'mutation($t: ID!) { resumeTrading(tokenId: $t, reason: "announced") { halted } }', { t: m.tokenId });
    // The resting order kept its place through the halt and the restart.
    expect((await b.place('BUY', 5, 100)).order.status).toBe('FILLED');
    expect((await gqlOk<{ order: Order }>(h.node.url, m.broker, 'query($id: ID!) { order(id: $id) { status } }', { id: resting.order.id })).order.status).toBe('FILLED');
  });

  test('an order left half-way by a process that died is rejected and whatever it reserved is released', async () => {
    const m = await market(h);
    const [t] = m.traders;
    const id = newId('ord');
    // What a process leaves behind if it dies after custody reserved and before the book: a pending order and its intent.
    await h.node.sg.db.tx(async (q) => {
      await q.query(`INSERT INTO orders (id, org, token_id, account_id, side, type, time_in_force, price, quantity, remaining, status, client_order_id, request_hash, created_at)
        VALUES ($1, $2, $3, $4, 'SELL', 'LIMIT', 'GTC', 100, 7, 7, 'PENDING_NEW', 'crashed-1', 'x', now() - interval '1 hour')`, [id, m.org, m.tokenId, t.accountId]);
      await q.query("INSERT INTO reservation_intents (reservation_key, order_id, created_at) VALUES ($1, $1, now() - interval '1 hour')", [id]);
    });
    h.peers.reservations.set(id, { key: id, accountId: t.accountId, asset: m.tokenId, amount: 7n, released: 0n, consumed: 0n });
    await until('recovery', async () => (await gqlOk<{ order: Order | null }>(h.node.url, m.broker, 'query($id: ID!) { order(id: $id) { status } }', { id })).order?.status === 'REJECTED');
    const o = (await gqlOk<{ order: Order }>(h.node.url, m.broker, 'query($id: ID!) { order(id: $id) { status rejectReasons { code } } }', { id })).order;
    expect(o.rejectReasons).toEqual([{ code: 'TRADING.INTERRUPTED' }]);
    await until('the release', async () => h.peers.reserved(t.accountId, m.tokenId) === 0n);
  });

  test('orders whose shared reservation call reserved at custody but lost its answer are refused, and every one of those reservations is released once', async () => {
    const m = await market(h, { accounts: 6, tokens: 100_000n, cash: 100_000_000n });
    const peers = h.peers as unknown as { handle(method: string, body: Record<string, unknown>): unknown };
    let cut = 0;
    try {
      // Custody commits each reservation of the batch, then the answer never arrives (the connection drops).
      h.peers.onCall = (method, body) => {
        if (method !== 'reserve') return;
        peers.handle('reserve', body);
        cut++;
        h.peers.down.add('reserve');
      };
      const refused = await Promise.all(m.traders.map((t, i) => t.place(i % 2 ? 'BUY' : 'SELL', 3, 100 + (i % 2 ? -1 : 1))));
      expect(cut).toBe(6);
      expect(refused.map((r) => [r.accepted, r.order.status])).toEqual(m.traders.map(() => [false, 'REJECTED']));
      expect(new Set(refused.flatMap((r) => r.rejections.map((x: { code: string }) => x.code)))).toEqual(new Set(['DOWNSTREAM.FAILED']));
    } finally {
      h.peers.onCall = undefined;
      h.peers.down.delete('reserve');
    }
    // Every reservation custody made for them is released (by the releaser, from the intents), none twice.
    for (const t of m.traders) await until(`the release of ${t.accountId}`, async () => h.peers.reserved(t.accountId, m.tokenId) + h.peers.reserved(t.accountId, 'CASH') === 0n);
    const released = [...h.peers.reservations.values()].filter((r) => m.traders.some((t) => t.accountId === r.accountId));
    expect(released.every((r) => r.released === r.amount)).toBe(true);
    // The same orders again, as one batch, go through: nothing was left held or doubled.
    const again = await Promise.all(m.traders.map((t, i) => t.place(i % 2 ? 'BUY' : 'SELL', 3, 100 + (i % 2 ? -1 : 1))));
    expect(again.every((r) => r.accepted)).toBe(true);
    await quiet(h.node);
    for (const t of m.traders) {
      expect(h.peers.reserved(t.accountId, m.tokenId)).toBe(await expectedReserved(h.node, t.accountId, m.tokenId));
      expect(h.peers.reserved(t.accountId, 'CASH')).toBe(await expectedReserved(h.node, t.accountId, 'CASH'));
    }
  });

  test('a cancel and a fill racing for the same order never both succeed', async () => {
    const m = await market(h, { accounts: 2, tokens: 100_000n, cash: 100_000_000n });
    const [s, b] = m.traders;
    let cancels = 0;
    let fills = 0;
    try {
      for (let i = 0; i < 30; i++) {
        const ask = await s.place('SELL', 5, 100);
        // The cancel leaves while custody reserves the buyer's cash, the moment before the buy goes to the book:
        // before custody answers (held 0-6 ms) or a few ms after.
        let cancel: ReturnType<Trader['cancel']> | undefined;
        const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
        h.peers.onCall = async (method, body) => {
          if (method !== 'reserve' || body.accountId !== b.accountId) return;
          if (i % 2 === 0) {
            cancel = s.cancel(ask.order.id);
            await sleep(i % 7);
          } else {
            cancel = sleep((i % 6) * 2).then(() => s.cancel(ask.order.id));
          }
        };
        const buy = await b.place('BUY', 5, 100, { timeInForce: 'IOC' });
        const c = await cancel!;
        const cancelled = !c.body.errors;
        const filled = buy.order.filled === '5';
        expect([i, cancelled, filled]).toEqual([i, !filled, filled]);
        if (!cancelled) expect(c.body.errors![0].extensions!.code).toBe('TRADING.ORDER_NOT_OPEN');
        const final = (await gqlOk<{ order: Order }>(h.node.url, m.broker, 'query($id: ID!) { order(id: $id) { status filled } }', { id: ask.order.id })).order;
        expect(final).toEqual(cancelled ? { status: 'CANCELLED', filled: '0' } : { status: 'FILLED', filled: '5' });
        if (cancelled) cancels++; else fills++;
      }
    } finally {
      h.peers.onCall = undefined;
    }
    // Both outcomes happened: the race was real.
    expect([cancels > 0, fills > 0]).toEqual([true, true]);
    await quiet(h.node);
    expect(h.peers.reserved(s.accountId, m.tokenId)).toBe(await expectedReserved(h.node, s.accountId, m.tokenId));
    expect(h.peers.reserved(b.accountId, 'CASH')).toBe(await expectedReserved(h.node, b.accountId, 'CASH'));
  });

  (onPostgres() ? test : test.skip)('two trading processes on one PostgreSQL: one writes the book, the other queues for it, and takes over when it stops', async () => {
    const m = await market(h, { accounts: 4, tokens: 100_000n, cash: 100_000_000n });
    const n1 = h.node;
    const n2 = await h.startNode();
    try {
      // The first order through n1 makes it the writer.
      const [a, b, c, d] = m.traders;
      await a.place('SELL', 10, 100, {}, n1);
      expect(services(n1).venue.owned()).toContain(m.tokenId);
      // Orders through n2 run in n1's writer; both processes see one book.
      const results = await Promise.all([
        b.place('BUY', 3, 100, {}, n2), c.place('BUY', 3, 100, {}, n1), d.place('SELL', 5, 101, {}, n2), b.place('BUY', 2, 101, {}, n2),
      ]);
      expect(results.every((r) => r.accepted)).toBe(true);
      expect(services(n2).venue.owned()).not.toContain(m.tokenId);
      expect(await services(n2).venue.writerFor(m.tokenId)).toBeNull();
      const queued = await n1.sg.db.query<{ n: string; done: string }>("SELECT count(*) AS n, count(*) FILTER (WHERE status = 'DONE') AS done FROM commands WHERE token_id = $1", [m.tokenId]);
      expect(queued[0]).toEqual({ n: '3', done: '3' });
      // The lock is held by exactly one session.
      const locks = await n1.sg.db.query<{ n: string }>("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = 72105001 AND objid = hashtext($1)::oid AND granted", [m.tokenId]);
      expect(locks[0].n).toBe('1');
      const bookOn = async (n: TradingNode) => (await gqlOk<{ orderBook: OrderBook }>(n.url, m.broker, `query($t: ID!) { orderBook(tokenId: $t) { bids { price quantity } asks { price quantity } } }`, { t: m.tokenId })).orderBook;
      const seen = await bookOn(n2);
      expect(seen).toEqual(await bookOn(n1));
      expect(seen).toEqual({ bids: [], asks: [{ price: '100', quantity: '2' }, { price: '101', quantity: '5' }] });
      const before = services(n1).venue.writer(m.tokenId)!.snapshot();

      // The writer stops: n2 takes the book over on its next command and finds the same book.
      await n1.stop();
      await b.place('BUY', 1, 100, {}, n2);
      expect(services(n2).venue.owned()).toContain(m.tokenId);
      const snap = services(n2).venue.writer(m.tokenId)!.snapshot();
      expect(snap.asks).toEqual([{ ...before.asks[0], quantity: 1n }, before.asks[1]]);
      const [epoch] = await n2.sg.db.query<{ epoch: string }>('SELECT epoch FROM books WHERE token_id = $1', [m.tokenId]);
      expect(Number(epoch.epoch)).toBeGreaterThanOrEqual(2);
      h.node = n2;
    } finally {
      if (h.node !== n2) await n2.stop();
    }
  });

  (onPostgres() ? test : test.skip)('a writer whose book was taken over cannot commit (epoch fencing)', async () => {
    const m = await market(h);
    const [a, b] = m.traders;
    await a.place('SELL', 10, 100);
    // Another process took the book over behind this writer's back (as after a lost lock session).
    await h.node.sg.db.query('UPDATE books SET epoch = epoch + 1 WHERE token_id = $1', [m.tokenId]);
    const before = (await h.node.sg.db.query<{ n: string }>('SELECT count(*) AS n FROM book_events WHERE token_id = $1', [m.tokenId]))[0].n;
    const w = services(h.node).venue.writer(m.tokenId)!;
    await expect(w.submit({ kind: 'CANCEL', orderId: 'ord_x', reason: 'USER', actor: 't' })).rejects.toThrow(/no longer writes/);
    expect((await h.node.sg.db.query<{ n: string }>('SELECT count(*) AS n FROM book_events WHERE token_id = $1', [m.tokenId]))[0].n).toBe(before);
    // The process still holds the lock, so its next command takes the book back (a new epoch) and goes on.
    expect((await b.place('BUY', 4, 100)).order.status).toBe('FILLED');
  });
});
