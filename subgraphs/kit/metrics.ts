/**
 * Prometheus metrics of one process (the gateway or a subgraph), with
 * prom-client. Each process has its own registry labelled with its service
 * name (several run in one process in tests and `npm start`). The generic
 * instruments live here and are fed by kit (the HTTP bridge, internal calls,
 * feed consumers, the outbox, the database pool); a subgraph adds gauges read
 * at scrape time with one call (`gauge`), usually one SQL query.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { sendJson } from './http.js';

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface GaugeSample { labels?: Record<string, string>; value: number }

export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'operation' | 'type'>;
  readonly requestSeconds: Histogram<'operation' | 'type'>;
  readonly errors: Counter<'code'>;
  readonly subgraphFetches: Counter<'subgraph' | 'outcome'>;
  readonly subgraphFetchSeconds: Histogram<'subgraph'>;
  readonly internalCalls: Counter<'peer' | 'method' | 'outcome'>;
  readonly internalCallSeconds: Histogram<'peer' | 'method'>;
  readonly slowConsumerCloses: Counter;

  constructor(readonly service: string) {
    this.registry.setDefaultLabels({ service });
    // The process's figures (CPU, memory, event loop); where several services share a process (npm start), each shows them.
    collectDefaultMetrics({ register: this.registry, prefix: 'tokenstack_' });
    const r = [this.registry];
    this.requests = new Counter({ name: 'tokenstack_graphql_requests_total', help: 'GraphQL operations served, by operation name and type', labelNames: ['operation', 'type'], registers: r });
    this.requestSeconds = new Histogram({ name: 'tokenstack_graphql_request_duration_seconds', help: 'time to answer a GraphQL operation', labelNames: ['operation', 'type'], buckets: SECONDS, registers: r });
    this.errors = new Counter({ name: 'tokenstack_graphql_errors_total', help: 'GraphQL errors sent to clients, by extensions.code', labelNames: ['code'], registers: r });
    this.subgraphFetches = new Counter({ name: 'tokenstack_subgraph_fetches_total', help: 'fetches of the gateway from a subgraph, by outcome', labelNames: ['subgraph', 'outcome'], registers: r });
    this.subgraphFetchSeconds = new Histogram({ name: 'tokenstack_subgraph_fetch_duration_seconds', help: 'time of one subgraph fetch', labelNames: ['subgraph'], buckets: SECONDS, registers: r });
    this.internalCalls = new Counter({ name: 'tokenstack_internal_calls_total', help: 'internal calls to another subgraph, by outcome', labelNames: ['peer', 'method', 'outcome'], registers: r });
    this.internalCallSeconds = new Histogram({ name: 'tokenstack_internal_call_duration_seconds', help: 'time of one internal call', labelNames: ['peer', 'method'], buckets: SECONDS, registers: r });
    this.slowConsumerCloses = new Counter({ name: 'tokenstack_subscription_slow_consumer_closes_total', help: 'graphql-ws clients closed because they did not read their events', registers: r });
  }

  /** A gauge whose samples are read when Prometheus scrapes (a count in the database, a lag in memory). */
  gauge(name: string, help: string, labelNames: string[], read: () => Promise<GaugeSample[]> | GaugeSample[]): void {
    new Gauge({
      name, help, labelNames, registers: [this.registry],
      async collect() {
        this.reset();
        for (const s of await read()) {
          if (s.labels) this.set(s.labels, s.value);
          else this.set(s.value);
        }
      },
    });
  }

  /** Times an async step and counts its outcome ('ok' or the error's code). */
  async timed<T>(count: (outcome: string) => void, observe: (seconds: number) => void, step: () => Promise<T>): Promise<T> {
    const end = process.hrtime.bigint();
    try {
      const v = await step();
      count('ok');
      return v;
    } catch (e) {
      const code = (e as { extensions?: { code?: unknown } }).extensions?.code;
      count(typeof code === 'string' ? code : 'error');
      throw e;
    } finally {
      observe(Number(process.hrtime.bigint() - end) / 1e9);
    }
  }

  /** Counts and times every operation, and counts every error sent by its code. */
  apolloPlugin<C extends BaseContext>(): ApolloServerPlugin<C> {
    return {
      requestDidStart: async () => {
        const start = process.hrtime.bigint();
        return {
          didEncounterErrors: async ({ errors }) => {
            for (const e of errors) this.errors.inc({ code: String(e.extensions?.code ?? 'INTERNAL_SERVER_ERROR') });
          },
          willSendResponse: async ({ operationName, operation }) => {
            const labels = { operation: operationName ?? '(anonymous)', type: operation?.operation ?? 'unknown' };
            this.requests.inc(labels);
            this.requestSeconds.observe(labels, Number(process.hrtime.bigint() - start) / 1e9);
          },
        };
      },
    };
  }

  /** GET /metrics. With a token, only `Authorization: Bearer <token>` reads it; in production without one it is off. */
  route(o: { token?: string; production: boolean }) {
    const expected = o.token ? Buffer.from(`Bearer ${o.token}`) : undefined;
    return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
      if (!expected && o.production) return sendJson(res, 404, { error: { code: 'NOT_FOUND', message: 'metrics are off: set METRICS_TOKEN' } });
      if (expected) {
        const given = Buffer.from(String(req.headers.authorization ?? ''));
        if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
          return sendJson(res, 401, { error: { code: 'UNAUTHENTICATED', message: 'the metrics need Authorization: Bearer <METRICS_TOKEN>' } });
        }
      }
      const text = await this.registry.metrics();
      res.writeHead(200, { 'content-type': this.registry.contentType }).end(text);
    };
  }
}

/** The registry of one service. */
export function createMetrics(service: string): Metrics {
  return new Metrics(service);
}
