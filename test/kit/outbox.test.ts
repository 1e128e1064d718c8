import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createVerifier, serviceToken } from '../../subgraphs/kit/auth.js';
import { migrate, type Db, type Queryable } from '../../subgraphs/kit/db/index.js';
import { FeedConsumer, feedRoute } from '../../subgraphs/kit/feed.js';
import { startHttpServer, type RunningServer } from '../../subgraphs/kit/http.js';
import { createLogger } from '../../subgraphs/kit/log.js';
import { appendEvent, appendEvents, OutboxWatcher } from '../../subgraphs/kit/outbox.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { dbLabel, openTestDb } from '../support/db.js';

const auth = { secret: 'u'.repeat(32), issuer: 'tokenstack', audience: 'tokenstack-api', serviceSecret: 's'.repeat(32) };
const kitMigrations = [{ scope: 'kit', dir: fromRoot('subgraphs', 'kit', 'migrations') }];
const log = createLogger('test', 'silent');

describe(`the transactional outbox and its feed (${dbLabel()})`, () => {
  let producer: Db, consumerDb: Db, server: RunningServer, watcher: OutboxWatcher;
  const cleanups: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    const p = await openTestDb();
    const c = await openTestDb();
    producer = p.db;
    consumerDb = c.db;
    cleanups.push(p.cleanup, c.cleanup);
    await migrate(producer, kitMigrations);
    await migrate(consumerDb, kitMigrations);
    await producer.exec('CREATE TABLE widgets (id text PRIMARY KEY)');
    await consumerDb.exec('CREATE TABLE seen (event_key text PRIMARY KEY, times int NOT NULL)');
    watcher = new OutboxWatcher(producer, 200);
    await watcher.start();
    server = await startHttpServer({ port: 0, routes: { 'GET /internal/feed': feedRoute(watcher, createVerifier(auth)) } });
  });

  afterAll(async () => {
    await server?.close();
    await watcher?.stop();
    for (const c of cleanups) await c();
  });

  const produce = (id: string) =>
    producer.tx(async (q) => {
      await q.query('INSERT INTO widgets (id) VALUES ($1)', [id]);
      await appendEvent(q, 'widget.created', id, { id, amount: 10n ** 30n });
    });

  const consumer = (failOnce?: Set<string>) =>
    new FeedConsumer({
      db: consumerDb,
      source: 'producer',
      feedUrl: `${server.url}/internal/feed`,
      token: () => serviceToken(auth, 'consumer'),
      log,
      batch: 3,
      waitMs: 500,
      backoffMs: 20,
      async handle(q, e) {
        // Counts deliveries that took effect: exactly once means times = 1 for every key.
        await q.query('INSERT INTO seen (event_key, times) VALUES ($1, 1) ON CONFLICT (event_key) DO UPDATE SET times = seen.times + 1', [e.key]);
        if (failOnce?.delete(e.key)) throw new Error(`crash while applying ${e.key}`);
      },
    });

  const waitFor = async (cond: () => Promise<boolean>, ms = 15_000) => {
    const end = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error('condition not met in time');
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const seen = async () => consumerDb.query<{ event_key: string; times: number }>('SELECT event_key, times FROM seen ORDER BY event_key');

  test('an event committed with its state change reaches a consumer exactly once, across a consumer restart mid-stream and a crash inside a handler', async () => {
    for (let i = 0; i < 10; i++) await produce(`w${String(i).padStart(2, '0')}`);
    const first = consumer(new Set(['w07']));
    first.start();
    await waitFor(async () => (await first.position()) >= 4n);
    await first.stop(); // restart mid-stream

    for (let i = 10; i < 20; i++) await produce(`w${i}`);
    const second = consumer(new Set(['w12']));
    second.start();
    await waitFor(async () => (await second.position()) >= 20n);
    await second.stop();

    const rows = await seen();
    expect(rows).toHaveLength(20);
    expect(rows.every((r) => r.times === 1)).toBe(true);
  });

  test('the events of one fetch commit together; an event that keeps failing holds the cursor just before it, the events fetched with it before it applied once', async () => {
    await consumerDb.exec('CREATE TABLE stuck_seen (event_key text PRIMARY KEY, times int NOT NULL, tx text NOT NULL)');
    const from = BigInt((await producer.query<{ s: string | null }>('SELECT max(seq) AS s FROM outbox'))[0].s ?? 0);
    await consumerDb.query('INSERT INTO feed_cursors (source, position) VALUES ($1, $2)', ['stuck', from.toString()]);
    for (const k of ['s0', 's1', 's2']) await produce(k);
    let failures = 0;
    const consumer = () => new FeedConsumer({
      db: consumerDb, source: 'stuck', feedUrl: `${server.url}/internal/feed`, token: () => serviceToken(auth, 'consumer'), log, batch: 10, waitMs: 500, backoffMs: 20, maxBackoffMs: 50,
      async handle(q, e) {
        await q.query('INSERT INTO stuck_seen (event_key, times, tx) VALUES ($1, 1, txid_current()::text) ON CONFLICT (event_key) DO UPDATE SET times = stuck_seen.times + 1', [e.key]);
        if (e.key === 'bad') { failures++; throw new Error('cannot apply bad'); }
      },
    });
    let c = consumer();
    c.start();
    try {
      await waitFor(async () => (await c.position()) === from + 3n);
      const together = await consumerDb.query<{ tx: string }>('SELECT DISTINCT tx FROM stuck_seen');
      expect(together).toHaveLength(1); // one fetch, one transaction
      await c.stop();
      for (const k of ['s3', 's4', 'bad', 's6']) await produce(k);
      c = consumer();
      c.start();
      // Tried as part of the fetch, then alone (and again after each backoff): the cursor never passes it.
      await waitFor(async () => failures >= 3);
      expect(await c.position()).toBe(from + 5n);
      expect(c.lastError).toMatch(/cannot apply bad/);
      const rows = await consumerDb.query<{ event_key: string; times: number }>('SELECT event_key, times FROM stuck_seen ORDER BY event_key');
      expect(rows.map((r) => [r.event_key, r.times])).toEqual([['s0', 1], ['s1', 1], ['s2', 1], ['s3', 1], ['s4', 1]]);
    } finally {
      await c.stop();
    }
  });

  test('two replicas of a reader apply each event once; a reader that finds the cursor where it left it claims a fetch with one cursor statement', async () => {
    await consumerDb.exec('CREATE TABLE replica_seen (event_key text PRIMARY KEY, times int NOT NULL)');
    const from = BigInt((await producer.query<{ s: string | null }>('SELECT max(seq) AS s FROM outbox'))[0].s ?? 0);
    await consumerDb.query('INSERT INTO feed_cursors (source, position) VALUES ($1, $2)', ['replicas', from.toString()]);
    // The statements of each transaction a reader commits, through a database that records them.
    const txs: string[][] = [];
    const recording = (db: Db): Db => new Proxy(db, {
      get(t, k) {
        if (k !== 'tx') return Reflect.get(t, k, t) as unknown;
        return <T>(fn: (q: Queryable) => Promise<T>) => t.tx((q) => {
          const seen: string[] = [];
          txs.push(seen);
          const query = <R>(sql: string, params?: unknown[]) => { seen.push(sql); return q.query<R>(sql, params); };
          return fn({ query, exec: (sql) => q.exec(sql) } as Queryable);
        });
      },
    });
    const replica = (db: Db) => new FeedConsumer({
      db, source: 'replicas', feedUrl: `${server.url}/internal/feed`, token: () => serviceToken(auth, 'consumer'), log, batch: 4, waitMs: 500, backoffMs: 20,
      async handle(q, e) {
        await q.query('INSERT INTO replica_seen (event_key, times) VALUES ($1, 1) ON CONFLICT (event_key) DO UPDATE SET times = replica_seen.times + 1', [e.key]);
      },
    });
    const keys = Array.from({ length: 24 }, (_, i) => `r${String(i).padStart(2, '0')}`);
    const a = replica(consumerDb);
    const b = replica(consumerDb);
    a.start();
    b.start();
    try {
      for (const k of keys) await produce(k);
      await waitFor(async () => (await a.position()) >= from + 24n);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
    const rows = await consumerDb.query<{ event_key: string; times: number }>('SELECT event_key, times FROM replica_seen ORDER BY event_key');
    expect(rows.map((r) => [r.event_key, r.times])).toEqual(keys.map((k) => [k, 1]));
    expect(a.processed + b.processed).toBe(24);

    // One reader alone: every fetch it applies moves the cursor with one statement.
    const alone = replica(recording(consumerDb));
    alone.start();
    try {
      for (const k of ['r24', 'r25', 'r26']) {
        await produce(k);
        await waitFor(async () => (await consumerDb.query('SELECT 1 FROM replica_seen WHERE event_key = $1', [k])).length === 1);
      }
    } finally {
      await alone.stop();
    }
    const applying = txs.filter((t) => t.some((sql) => sql.includes('replica_seen')));
    expect(applying.length).toBeGreaterThanOrEqual(1);
    for (const t of applying) expect(t.filter((sql) => sql.includes('feed_cursors'))).toHaveLength(1);
    expect(alone.processed).toBe(3);
  });

  test('a rolled-back change emits nothing, and the next committed event keeps the sequence gapless', async () => {
    await expect(producer.tx(async (q) => {
      await q.query('INSERT INTO widgets (id) VALUES ($1)', ['ghost']);
      await appendEvent(q, 'widget.created', 'ghost', { id: 'ghost' });
      throw new Error('business rule refused it');
    })).rejects.toThrow('business rule');
    await produce('after-rollback');
    const rows = await producer.query<{ seq: string; key: string }>('SELECT seq, key FROM outbox ORDER BY seq');
    expect(rows.map((r) => r.key)).not.toContain('ghost');
    expect(rows.map((r) => Number(r.seq))).toEqual(rows.map((_, i) => i + 1));
    const c = consumer();
    c.start();
    await waitFor(async () => (await seen()).some((r) => r.event_key === 'after-rollback'));
    await c.stop();
    expect((await seen()).map((r) => r.event_key)).not.toContain('ghost');
  });

  test('events carry amounts as exact decimal strings', async () => {
    const r = await fetch(`${server.url}/internal/feed?after=0&limit=1`, { headers: { authorization: `Bearer ${await serviceToken(auth, 'x')}` } });
    const body = (await r.json()) as { events: { payload: { amount: string } }[] };
    expect(body.events[0].payload.amount).toBe('1' + '0'.repeat(30));
  });

  test("the feed answers the head of the reader's topics: its last event when it brought fewer than its limit, else the outbox's", async () => {
    const max = BigInt((await producer.query<{ s: string }>('SELECT max(seq) AS s FROM outbox'))[0].s);
    const svc = { authorization: `Bearer ${await serviceToken(auth, 'x')}` };
    const read = async (query: string) => (await (await fetch(`${server.url}/internal/feed?${query}`, { headers: svc })).json()) as { events: { seq: string }[]; head?: string };
    const partial = await read('after=0&limit=1&topics=widget.created');
    expect(partial.events).toHaveLength(1);
    const widgetsHead = (await producer.query<{ s: string }>("SELECT max(seq) AS s FROM outbox WHERE topic = 'widget.created'"))[0].s;
    expect(partial.head).toBe(widgetsHead);
    const tail = await read(`after=${max - 2n}&limit=100`);
    expect(tail.events.map((e) => e.seq)).toEqual([String(max - 1n), String(max)]);
    expect(tail.head).toBe(String(max));
    expect((await read(`after=${max}&limit=100`)).head).toBeUndefined();
  });

  test('the feed refuses callers without a service credential and malformed cursors', async () => {
    expect((await fetch(`${server.url}/internal/feed?after=0`)).status).toBe(401);
    const { signUserToken } = await import('../../subgraphs/kit/auth.js');
    const user = await signUserToken(auth, { subject: 'u', org: 'o', roles: ['AUDITOR'] });
    expect((await fetch(`${server.url}/internal/feed?after=0`, { headers: { authorization: `Bearer ${user}` } })).status).toBe(403);
    const svc = await serviceToken(auth, 'x');
    const bad = await fetch(`${server.url}/internal/feed?after=-1&limit=0`, { headers: { authorization: `Bearer ${svc}` } });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { code: string } }).error.code).toBe('INPUT.INVALID_FEED_QUERY');
  });

  test('a waiting reader is woken by a commit without waiting for its poll interval', async () => {
    const last = BigInt((await producer.query<{ s: string }>('SELECT max(seq) AS s FROM outbox'))[0].s);
    const slow = new OutboxWatcher(producer, 60_000);
    await slow.start();
    try {
      const started = Date.now();
      const read = slow.read({ after: last, limit: 10, waitMs: 10_000 });
      setTimeout(() => void produce('wake-up'), 100);
      const events = await read;
      expect(events.map((e) => e.key)).toEqual(['wake-up']);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await slow.stop();
    }
  });

  test('the NOTIFY of an append names its topics; a reader of one topic is woken by its events, not by others, and a hint without topics wakes every reader', async () => {
    const payloads: string[] = [];
    const unlisten = await producer.listen('outbox', (p) => payloads.push(p));
    const slow = new OutboxWatcher(producer, 60_000);
    await slow.start();
    try {
      const last = BigInt((await producer.query<{ s: string }>('SELECT max(seq) AS s FROM outbox'))[0].s);
      let seqs: string[] = [];
      await producer.tx(async (q) => { seqs = await appendEvents(q, [{ topic: 'gadget.made', key: 'g1', payload: {} }, { topic: 'gadget.sold', key: 'g2', payload: {} }, { topic: 'gadget.made', key: 'g3', payload: {} }]); });
      expect(seqs.map(BigInt)).toEqual([last + 1n, last + 2n, last + 3n]);
      await waitFor(async () => payloads.includes(`${last + 3n} gadget.made,gadget.sold`));

      // Deterministic wake-ups: no poll tick can come (60 s), the waits are long.
      const woken: string[] = [];
      const wait = (name: string, topics?: string[]) => slow.next(30_000, undefined, topics).done.then(() => woken.push(name));
      const settle = () => new Promise((r) => setImmediate(r));
      const waits = [wait('widgets', ['widget.created']), wait('gadgets', ['gadget.sold']), wait('all')];
      slow.wake(new Set(['gadget.sold']));
      await settle();
      expect(woken.sort()).toEqual(['all', 'gadgets']);
      slow.wake(undefined); // a reconnect or a poll tick: it does not say which topics
      await Promise.all(waits);
      expect(woken).toContain('widgets');

      // End to end: a reader of widget.created sleeps through other topics' commits and wakes on its own.
      const from = BigInt((await producer.query<{ s: string }>('SELECT max(seq) AS s FROM outbox'))[0].s);
      const read = slow.read({ after: from, limit: 10, topics: ['widget.created'], waitMs: 20_000 });
      await producer.tx((q) => appendEvent(q, 'gadget.made', 'g4', {}));
      await produce('widget-after-gadget');
      expect((await read).map((e) => e.key)).toEqual(['widget-after-gadget']);
    } finally {
      await unlisten();
      await slow.stop();
    }
  });
});
