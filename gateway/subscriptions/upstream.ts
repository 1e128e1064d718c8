import { randomUUID } from 'node:crypto';
import { createClient, type Client } from 'graphql-ws';
import { GraphQLError, type FormattedExecutionResult, type GraphQLFormattedError } from 'graphql';
import WebSocket from 'ws';
import type { Logger } from '../../subgraphs/kit/log.js';
import { CONNECTION_REFUSED } from './close-codes.js';
import { AFTER_VARIABLE, CURSOR_ALIAS, cursorAfter } from './resume.js';

export interface UpstreamListener {
  event(data: Record<string, unknown>): void;
  fail(error: GraphQLError): void;
  complete(): void;
}

export interface UpstreamSpec {
  serviceName: string;
  /** graphql-ws URL of the subgraph. */
  url: string;
  query: string;
  variables: Record<string, unknown>;
  rootKey: string;
  resumable: boolean;
  /** Where the first connection starts (the client's `after`, or null: from now). */
  after: string | null;
  /** Bearer of the callers (all of one identity) to forward in connectionParams. */
  token: () => string;
}

export interface RetryPolicy {
  firstMs: number;
  maxMs: number;
  attempts: number;
}

/**
 * One graphql-ws subscription to a subgraph, shared by every listener that
 * asked for the same thing. When the connection drops, it reconnects with
 * backoff and resumes after the last cursor it handed on, skipping anything
 * at or before it, so listeners see each event once and in order.
 */
export class Upstream {
  readonly listeners = new Set<UpstreamListener>();
  lastCursor: string | null;
  /** Events handed on so far. */
  delivered = 0;
  private client?: Client;
  private unsubscribe?: () => void;
  private stopped = false;
  private failures = 0;
  private timer?: NodeJS.Timeout;

  constructor(readonly spec: UpstreamSpec, private readonly retry: RetryPolicy, private readonly log: Logger) {
    this.lastCursor = spec.after;
  }

  get ended(): boolean {
    return this.stopped;
  }

  start(): void {
    this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.close();
  }

  private connect(): void {
    if (this.stopped) return;
    const variables = this.spec.resumable ? { ...this.spec.variables, [AFTER_VARIABLE]: this.lastCursor } : this.spec.variables;
    const client = createClient({
      url: this.spec.url,
      webSocketImpl: WebSocket,
      connectionParams: () => ({ authorization: `Bearer ${this.spec.token()}` }),
      retryAttempts: 0, // reconnects are ours: they must resume from the cursor
      lazy: true,
      on: { connected: () => { this.failures = 0; } },
    });
    this.client = client;
    this.unsubscribe = client.subscribe<Record<string, unknown>>({ query: this.spec.query, variables }, {
      next: (r) => this.onNext(r),
      error: (e) => this.onError(e),
      complete: () => {
        if (this.stopped || client !== this.client) return;
        this.stopped = true;
        this.close();
        for (const l of this.listeners) l.complete();
      },
    });
  }

  private close(): void {
    const { client, unsubscribe } = this;
    this.client = undefined;
    this.unsubscribe = undefined;
    unsubscribe?.();
    // dispose() awaits the connection attempt: one that failed rejects, which must not end the process.
    client?.dispose()?.catch(() => undefined);
  }

  private onNext(r: FormattedExecutionResult<Record<string, unknown>, unknown>): void {
    if (this.stopped) return;
    if (!r.data) return this.failAll(new GraphQLError(r.errors?.[0]?.message ?? 'the subgraph sent no data', { extensions: { ...(r.errors?.[0]?.extensions ?? {}), serviceName: this.spec.serviceName } }));
    const root = r.data[this.spec.rootKey] as Record<string, unknown> | null | undefined;
    const cursor = root && typeof root[CURSOR_ALIAS] === 'string' ? (root[CURSOR_ALIAS] as string) : null;
    if (cursor !== null) {
      if (!cursorAfter(cursor, this.lastCursor)) return; // seen before a reconnect
      this.lastCursor = cursor;
    }
    this.delivered++;
    for (const l of this.listeners) l.event(r.data);
  }

  private onError(e: unknown): void {
    if (this.stopped) return;
    if (Array.isArray(e)) {
      // The subgraph refused the subscription itself (scoping, a bad cursor): permanent.
      const f = e[0] as GraphQLFormattedError | undefined;
      return this.failAll(new GraphQLError(f?.message ?? 'the subgraph refused the subscription', { extensions: { ...(f?.extensions ?? {}), serviceName: this.spec.serviceName } }));
    }
    const code = (e as { code?: number }).code;
    if (code !== undefined && CONNECTION_REFUSED.has(code)) {
      return this.failAll(new GraphQLError(`subgraph ${this.spec.serviceName} refused the connection (${code})`, { extensions: { code: 'DOWNSTREAM_SERVICE_ERROR', serviceName: this.spec.serviceName } }));
    }
    this.close();
    if (++this.failures > this.retry.attempts) {
      return this.failAll(new GraphQLError(`subgraph ${this.spec.serviceName} is unavailable (subscription lost)`, { extensions: { code: 'DOWNSTREAM_SERVICE_ERROR', serviceName: this.spec.serviceName, retryable: true } }));
    }
    const pause = Math.min(this.retry.maxMs, this.retry.firstMs * 2 ** (this.failures - 1));
    this.log.warn({ subgraph: this.spec.serviceName, after: this.lastCursor, pause }, 'subgraph subscription lost; reconnecting');
    this.timer = setTimeout(() => this.connect(), pause);
  }

  private failAll(error: GraphQLError): void {
    this.stopped = true;
    this.close();
    for (const l of this.listeners) l.fail(error);
  }
}

/** Identical upstream subscriptions (same subgraph, operation, variables and caller) share one connection. */
export class UpstreamPool {
  private readonly byKey = new Map<string, Upstream>();

  constructor(private readonly retry: RetryPolicy, private readonly log: Logger) {}

  get size(): number {
    return this.byKey.size;
  }

  acquire(key: string, spec: UpstreamSpec, listener: UpstreamListener): () => void {
    let up = this.byKey.get(key);
    if (up?.ended) up = undefined;
    // A stream asked to start at a cursor can join only one that has not moved past it yet.
    if (up && spec.after !== null && up.delivered > 0) {
      key = `${key}#${randomUUID()}`;
      up = undefined;
    }
    if (!up) {
      up = new Upstream(spec, this.retry, this.log);
      this.byKey.set(key, up);
      up.start();
    }
    const mine = up;
    mine.listeners.add(listener);
    return () => {
      mine.listeners.delete(listener);
      if (mine.listeners.size > 0) return;
      mine.stop();
      if (this.byKey.get(key) === mine) this.byKey.delete(key);
    };
  }

  closeAll(): void {
    for (const up of this.byKey.values()) up.stop();
    this.byKey.clear();
  }
}
