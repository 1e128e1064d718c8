import { writeOrGather, type WriteKind } from './db/deferred-writes.js';
import type { Db, Queryable } from './db/types.js';
import { currentTraceparent } from './tracing.js';

export interface OutboxEvent<P = Record<string, unknown>> {
  seq: string;
  topic: string;
  key: string;
  payload: P;
  createdAt: string;
  /** The trace the event carries on (absent when tracing was off where it was written). */
  traceparent?: string;
}

export const OUTBOX_CHANNEL = 'outbox';
// Serializes appends until commit, so seq order is commit order (see migration).
const OUTBOX_LOCK = 72_101_002;

/** JSON text of a value: bigints as decimal strings, Dates as ISO strings (undefined for undefined). */
export const toJsonText = (value: unknown): string => JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));


/**
 * Appends an event inside the caller's transaction. Call it last in the
 * transaction: the lock it takes is held until commit. Readers are woken by
 * NOTIFY, which PostgreSQL delivers only if the transaction commits.
 */
export async function appendEvent(q: Queryable, topic: string, key: string, payload: unknown): Promise<string> {
  return (await appendEvents(q, [{ topic, key, payload }]))[0];
}


// The NOTIFY payload of an append is its last seq, then a space and the topics it appended, so that a reader
// following other topics need not look. Topics that would not fit (the payload limit is 8000 bytes) are left out,
// which readers take as "any topic".
const MAX_NOTIFY_TOPICS = 4000;

/** The topics a NOTIFY payload names; undefined when it does not say (an older producer, a reconnect, a poll tick). */
export function notifiedTopics(payload: string): Set<string> | undefined {
  const i = payload.indexOf(' ');
  return i < 0 ? undefined : new Set(payload.slice(i + 1).split(','));
}

/**
 * Appends events in the order given, in one statement that also sends the NOTIFY, after taking the lock that
 * serialises appends until commit (call it last in the transaction). The lock is its own statement: a statement's
 * snapshot is taken when it starts, so the max(seq) it reads must come from a statement that starts after the lock.
 */
export interface NewEvent { topic: string; key: string; payload: unknown; /** The trace it carries on; default: the caller's. */ traceparent?: string | null }

export async function appendEvents(q: Queryable, events: readonly NewEvent[]): Promise<string[]> {
  if (events.length === 0) return [];
  await q.query('SELECT pg_advisory_xact_lock($1)', [OUTBOX_LOCK]);
  const topics = [...new Set(events.map((e) => e.topic))].join(',');
  const [row] = await q.query<{ seqs: string[] }>(
    `WITH added AS (
       INSERT INTO outbox (seq, topic, key, payload, traceparent)
       SELECT (SELECT coalesce(max(seq), 0) FROM outbox) + x.n, x.e->>'topic', x.e->>'key', x.e->'payload', coalesce(x.e->>'traceparent', $2)
       FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(e, n)
       ORDER BY x.n
       RETURNING seq)
     SELECT array_agg(seq ORDER BY seq)::text[] AS seqs, pg_notify($3, max(seq)::text || $4::text) AS notified FROM added`,
    [`[${events.map((e) => `{"topic":${JSON.stringify(e.topic)},"key":${JSON.stringify(e.key)},"payload":${toJsonText(e.payload) ?? 'null'}${e.traceparent ? `,"traceparent":${JSON.stringify(e.traceparent)}` : ''}}`).join(',')}]`,
      currentTraceparent(), OUTBOX_CHANNEL, topics.length > MAX_NOTIFY_TOPICS ? '' : ` ${topics}`],
  );
  return row.seqs;
}

/**
 * Events as a write a transaction may gather (kit/db/deferred-writes.ts): a group commit appends its units'
 * events in one statement, last (its lock is held until commit), each with the trace of the unit that wrote it.
 */
export const OUTBOX_EVENTS: WriteKind<NewEvent> = { order: 1000, write: async (q, events) => void (await appendEvents(q, events)) };

/** appendEvent where the transaction gathers its writes (no seq comes back). */
export const appendEventOrGather = (q: Queryable, topic: string, key: string, payload: unknown) =>
  writeOrGather(q, OUTBOX_EVENTS, { topic, key, payload, traceparent: currentTraceparent() ?? null });

export interface ReadOptions {
  after: bigint;
  limit: number;
  topics?: string[];
}

export async function readEvents(q: Queryable, o: ReadOptions): Promise<OutboxEvent[]> {
  const rows = await q.query<{ seq: string; topic: string; key: string; payload: Record<string, unknown>; created_at: Date; traceparent: string | null }>(
    `SELECT seq, topic, key, payload, created_at, traceparent FROM outbox
     WHERE seq > $1 AND ($3::text[] IS NULL OR topic = ANY($3::text[]))
     ORDER BY seq LIMIT $2`,
    [o.after.toString(), o.limit, o.topics && o.topics.length ? o.topics : null],
  );
  return rows.map((r) => ({ seq: r.seq, topic: r.topic, key: r.key, payload: r.payload, createdAt: new Date(r.created_at).toISOString(), ...(r.traceparent ? { traceparent: r.traceparent } : {}) }));
}

export async function lastSeq(q: Queryable): Promise<bigint> {
  const [r] = await q.query<{ s: string | null }>('SELECT max(seq) AS s FROM outbox');
  return BigInt(r.s ?? 0);
}

/**
 * Wakes waiting readers when the outbox grows. LISTEN/NOTIFY is the fast path;
 * a poll interval is the fallback (a notification lost with a dropped
 * connection costs at most one interval, never an event).
 */
export class OutboxWatcher {
  /** Public subscriptions following this outbox now (kit/follow.ts keeps the count). */
  following = 0;
  /** Each waiter with the topics it follows (undefined: all). */
  private waiters = new Map<() => void, readonly string[] | undefined>();
  private unlisten?: () => Promise<void>;
  private timer?: NodeJS.Timeout;

  constructor(private readonly db: Db, private readonly pollMs = 1000) {}

  async start(): Promise<void> {
    this.unlisten = await this.db.listen(OUTBOX_CHANNEL, (payload) => this.wake(notifiedTopics(payload)));
    this.timer = setInterval(() => this.wake(), this.pollMs);
    this.timer.unref();
  }

  /** Wakes the waiters; with `topics` (what an append wrote) only those that follow one of them or any topic. */
  wake(topics?: ReadonlySet<string>): void {
    for (const [w, follows] of [...this.waiters]) {
      if (!topics || !follows || follows.some((t) => topics.has(t))) w();
    }
  }

  /** The last seq of the outbox, or of these topics (feed readers measure their lag against it). */
  async head(topics?: string[]): Promise<bigint> {
    if (!topics?.length) return lastSeq(this.db);
    const [r] = await this.db.query<{ s: string | null }>('SELECT max(seq) AS s FROM outbox WHERE topic = ANY($1::text[])', [topics]);
    return BigInt(r.s ?? 0);
  }

  /** Resolves on the next append (of one of `topics` when given), poll tick, timeout or abort; cancel() drops the wait and its timer. */
  next(timeoutMs: number, signal?: AbortSignal, topics?: readonly string[]): { done: Promise<void>; cancel: () => void } {
    let cancel = () => undefined as void;
    const done = new Promise<void>((resolve) => {
      const finish = () => { clearTimeout(t); signal?.removeEventListener('abort', finish); this.waiters.delete(finish); resolve(); };
      const t = setTimeout(finish, timeoutMs);
      signal?.addEventListener('abort', finish, { once: true });
      this.waiters.set(finish, topics?.length ? topics : undefined);
      cancel = finish;
    });
    return { done, cancel };
  }

  /** Events after `after`, waiting up to waitMs for the first one. */
  async read(o: ReadOptions & { waitMs?: number; signal?: AbortSignal }): Promise<OutboxEvent[]> {
    const deadline = Date.now() + (o.waitMs ?? 0);
    for (;;) {
      const wake = this.next(Math.max(0, deadline - Date.now()), o.signal, o.topics); // armed before reading: no lost wake-up
      let events: OutboxEvent[];
      try {
        events = await readEvents(this.db, o);
      } catch (e) {
        wake.cancel();
        throw e;
      }
      if (events.length || Date.now() >= deadline || o.signal?.aborted) {
        wake.cancel();
        return events;
      }
      await wake.done;
    }
  }

  /** Follows the outbox from a cursor forever: the base of the public subscriptions. */
  async *tail(o: Omit<ReadOptions, 'limit'> & { signal?: AbortSignal; batch?: number }): AsyncGenerator<OutboxEvent> {
    let after = o.after;
    while (!o.signal?.aborted) {
      const events = await this.read({ after, limit: o.batch ?? 500, topics: o.topics, waitMs: 30_000, signal: o.signal });
      for (const e of events) {
        after = BigInt(e.seq);
        yield e;
      }
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.unlisten?.();
    this.wake();
  }
}
