import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { GraphQLError } from 'graphql';
import type { Metrics } from '../subgraphs/kit/metrics.js';
import { traceHeaders } from '../subgraphs/kit/tracing.js';
import type { GatewayContext } from './context.js';

/**
 * Forwards the caller's bearer token so that each subgraph verifies it again
 * (defence in depth: a subgraph reached directly trusts nothing) and the
 * trace context (W3C traceparent), with a
 * deadline per fetch so that a stuck subgraph costs a timeout, never a hang.
 */
export class AuthForwardingDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  private readonly name: string;

  constructor(o: { url: string; name: string; timeoutMs: number; metrics?: Metrics }) {
    super({ url: o.url, fetcher: measured(o.metrics, o.name, subgraphFetcher(o.timeoutMs)) as never });
    this.name = o.name;
  }

  /** A subgraph that cannot be reached is a typed, named failure (the rest of the query still answers). */
  override didEncounterError(error: Error): void {
    if (error instanceof GraphQLError) throw error;
    const timeout = error.name === 'TimeoutError' || error.name === 'AbortError';
    throw new GraphQLError(`subgraph ${this.name} is unavailable (${timeout ? 'timeout' : 'unreachable'})`, {
      extensions: { code: 'DOWNSTREAM_SERVICE_ERROR', serviceName: this.name, retryable: true },
    });
  }

  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    const token = (context as Partial<GatewayContext>).token;
    if (token) request.http?.headers.set('authorization', `Bearer ${token}`);
    // The subgraph's span continues the trace as a child of this fetch's span.
    for (const [k, v] of Object.entries(traceHeaders())) request.http?.headers.set(k, v);
  }
}

/**
 * A subgraph answers a request it refuses (a BigInt variable that is not a
 * decimal string, say) with HTTP 400 and a GraphQL body carrying the typed
 * error. The gateway would turn any non-2xx into an opaque
 * INTERNAL_SERVER_ERROR; handing it the body as a normal response keeps the
 * code (INPUT.INVALID_BIG_INT) for the client.
 */
type Fetcher = (input: string, init: RequestInit) => Promise<Response>;

/** Counts each subgraph fetch by outcome (HTTP status, or the failure) and times it. */
function measured(m: Metrics | undefined, subgraph: string, fetcher: Fetcher): Fetcher {
  if (!m) return fetcher;
  return async (input, init) => {
    const end = m.subgraphFetchSeconds.startTimer({ subgraph });
    try {
      const r = await fetcher(input, init);
      m.subgraphFetches.inc({ subgraph, outcome: String(r.status) });
      return r;
    } catch (e) {
      m.subgraphFetches.inc({ subgraph, outcome: (e as Error).name === 'TimeoutError' ? 'timeout' : 'unreachable' });
      throw e;
    } finally {
      end();
    }
  };
}

function subgraphFetcher(timeoutMs: number): Fetcher {
  return async (input: string, init: RequestInit): Promise<Response> => {
    const r = await fetch(input, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    if (r.status !== 400 || !/json/.test(r.headers.get('content-type') ?? '')) return r;
    const text = await r.text();
    try {
      if (Array.isArray((JSON.parse(text) as { errors?: unknown }).errors)) return new Response(text, { status: 200, headers: r.headers });
    } catch { /* not a GraphQL body: fall through as the 400 it was */ }
    return new Response(text, { status: 400, statusText: r.statusText, headers: r.headers });
  };
}
