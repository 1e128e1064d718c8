import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Db, Queryable } from './db/types.js';
import type { Verifier } from './auth.js';
import type { Logger } from './log.js';
import { type OutboxEvent, type OutboxWatcher } from './outbox.js';
import { sendJson } from './http.js';
import { atBase } from './http-client.js';
import { errorCode } from './errors.js';
import { consumeTraced, type Tracer } from './tracing.js';
import { claimEvents, cursorPosition } from './feed-cursors.js';

const MAX_FEED_LIMIT = 1000;
const MAX_FEED_WAIT_MS = 30_000;

/**
 * GET /internal/feed?after=<seq>&limit=<n>&topics=a,b&waitMs=<ms>
 * The producer's outbox for other subgraphs, behind a service credential.
 * Long-polls up to waitMs when nothing is there yet.
 */
export function feedRoute(watcher: OutboxWatcher, verify: Verifier) {
  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    try {
      const caller = await verify(req.headers.authorization);
      if (caller.kind !== 'service') return sendJson(res, 403, { error: { code: 'FORBIDDEN', message: 'the feed needs a service credential' } });
    } catch (e) {
      return sendJson(res, 401, { error: { code: errorCode(e) ?? 'UNAUTHENTICATED', message: (e as Error).message } });
    }
    const after = url.searchParams.get('after') ?? '0';
    const limit = Number(url.searchParams.get('limit') ?? '100');
    const waitMs = Number(url.searchParams.get('waitMs') ?? '0');
    if (!/^\d{1,19}$/.test(after) || !Number.isInteger(limit) || limit < 1 || limit > MAX_FEED_LIMIT || !Number.isInteger(waitMs) || waitMs < 0) {
      return sendJson(res, 400, { error: { code: 'INPUT.INVALID_FEED_QUERY', message: `after must be a sequence number, limit 1..${MAX_FEED_LIMIT}, waitMs >= 0` } });
    }
    const topics = url.searchParams.get('topics')?.split(',').filter(Boolean);
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    let events;
    try {
      events = await watcher.read({ after: BigInt(after), limit, topics, waitMs: Math.min(waitMs, MAX_FEED_WAIT_MS), signal: ac.signal });
    } catch (e) {
      // The reader hung up (or the server is stopping and closed its connection): nobody is left to tell.
      if (ac.signal.aborted) return;
      throw e;
    }
    // The head of the reader's topics, its lag being head minus its position. A read that brought fewer events
    // than its limit brought every one there was: its last is the head it read, without another statement.
    const head = !events.length ? undefined : events.length < limit ? BigInt(events[events.length - 1].seq) : await watcher.head(topics);
    sendJson(res, 200, { events, ...(head !== undefined ? { head: head.toString() } : {}) });
  };
}

/** The outbox feed of the service at `baseUrl` (its ISSUANCE_URL, CUSTODY_URL... setting). */
export const feedUrlOf = (baseUrl: string): string => atBase(baseUrl, '/internal/feed');

export interface ConsumerOptions {
  db: Db;
  /** Names the cursor row: one per producer feed (and per consumer purpose). */
  source: string;
  feedUrl: string;
  token: () => Promise<string>;
  topics?: string[];
  /** Applies one event inside the consumer's transaction; the cursor moves in the same transaction. */
  handle: (q: Queryable, event: OutboxEvent) => Promise<void>;
  log: Logger;
  batch?: number;
  waitMs?: number;
  /** Backoff after a failed fetch or handler, doubled up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * Reads a producer's feed from the stored cursor. Delivery is at least once;
 * processing is exactly once because the effects and the cursor commit
 * together, and an event at or below the stored cursor is skipped (a replica
 * or a retry that lost the race).
 */
export class FeedConsumer {
  private ac = new AbortController();
  private loop?: Promise<void>;
  lastError?: string;
  processed = 0;
  /** For the metrics: the producer's last seq seen, this consumer's position, and when the oldest event not yet applied was written. */
  readonly lag = { head: 0n, position: 0n, oldestPendingAt: undefined as string | undefined };

  constructor(private readonly o: ConsumerOptions) {}

  get source(): string {
    return this.o.source;
  }

  start(): void {
    consumersOf(this.o.db).add(this);
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    consumersOf(this.o.db).delete(this);
    this.ac.abort();
    await this.loop;
    this.loop = undefined;
  }

  position(): Promise<bigint> {
    return cursorPosition(this.o.db, this.o.source);
  }

  private async run(): Promise<void> {
    const { signal } = this.ac;
    let backoff = this.o.backoffMs ?? 200;
    // The stored cursor is read at start and after a failure; otherwise the position is where the last apply left it
    // (a replica that moved it further only makes the next fetch bring events that apply() skips).
    let position: bigint | null = null;
    while (!signal.aborted) {
      try {
        position ??= await this.position();
        this.lag.position = position;
        const events = await this.fetchAfter(position, signal);
        if (events.length && !signal.aborted) {
          await this.applyAll(events, position);
          position = BigInt(events[events.length - 1].seq);
        }
        backoff = this.o.backoffMs ?? 200;
        this.lastError = undefined;
      } catch (e) {
        position = null;
        if (signal.aborted) break;
        this.lastError = (e as Error).message;
        this.o.log.warn({ source: this.o.source, err: this.lastError }, 'feed consumer retrying');
        await sleep(backoff, signal);
        backoff = Math.min(backoff * 2, this.o.maxBackoffMs ?? 10_000);
      }
    }
  }

  private async fetchAfter(after: bigint, signal: AbortSignal): Promise<OutboxEvent[]> {
    const u = new URL(this.o.feedUrl);
    u.searchParams.set('after', after.toString());
    u.searchParams.set('limit', String(this.o.batch ?? 100));
    u.searchParams.set('waitMs', String(this.o.waitMs ?? 20_000));
    if (this.o.topics?.length) u.searchParams.set('topics', this.o.topics.join(','));
    const r = await fetch(u, { headers: { authorization: `Bearer ${await this.o.token()}` }, signal });
    if (!r.ok) throw new Error(`feed ${u.origin} answered ${r.status}: ${(await r.text()).slice(0, 200)}`);
    const body = (await r.json()) as { events: OutboxEvent[]; head?: string };
    if (body.head !== undefined) this.lag.head = BigInt(body.head);
    return body.events;
  }

  /**
   * Applies what one fetch brought in one transaction (one commit and one
   * cursor update for the lot); if that fails, one event per transaction, so
   * that the events before a failing one still commit and the failing one
   * alone is retried. `from` is where this reader left the stored cursor.
   */
  private async applyAll(events: OutboxEvent[], from: bigint): Promise<void> {
    this.lag.oldestPendingAt = events[0].createdAt;
    try {
      await this.apply(events, from);
    } catch (e) {
      if (events.length === 1) throw e;
      let at = from;
      for (const one of events) {
        this.lag.oldestPendingAt = one.createdAt;
        await this.apply([one], at);
        at = BigInt(one.seq);
        this.lag.position = at;
      }
    }
    this.lag.position = BigInt(events[events.length - 1].seq);
    this.lag.oldestPendingAt = undefined;
  }

  private async apply(events: OutboxEvent[], from: bigint): Promise<void> {
    const applied = await this.o.db.tx(async (q) => {
      const fresh = await claimEvents(q, this.o.source, from, events);
      const tracer = consumerTracers.get(this.o.db);
      for (const e of fresh) await (tracer ? consumeTraced(tracer, e, () => this.o.handle(q, e)) : this.o.handle(q, e));
      return fresh.length;
    });
    this.processed += applied;
  }
}

const consumerTracers = new WeakMap<Db, Tracer>();

/** The tracer of the service that writes to this database: its consumers' spans are that service's. */
export function traceConsumersOf(db: Db, tracer: Tracer): void {
  consumerTracers.set(db, tracer);
}

const consumers = new WeakMap<Db, Set<FeedConsumer>>();

/** The running consumers that write to this database (one subgraph's), for its metrics. */
export function consumersOf(db: Db): Set<FeedConsumer> {
  let set = consumers.get(db);
  if (!set) consumers.set(db, (set = new Set()));
  return set;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
  });
}
