import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { GraphQLError } from 'graphql';
import type { Logger } from '../subgraphs/kit/log.js';
import type { Metrics } from '../subgraphs/kit/metrics.js';
import { traceHeaders } from '../subgraphs/kit/tracing.js';
import { failureCode, subgraphFetcher, type Fetcher } from './subgraphFetcher.js';
import type { GatewayContext } from './context.js';

/**
 * Forwards the caller's bearer token so that each subgraph verifies it again
 * (defence in depth: a subgraph reached directly trusts nothing) and the
 * trace context (W3C traceparent), with a
 * deadline per fetch so that a stuck subgraph costs a timeout, never a hang,
 * and a request the network lost sent again where that is safe (subgraphFetcher.ts).
 */
export class AuthForwardingDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  private readonly name: string;
  private readonly log?: Pick<Logger, 'warn'>;

  constructor(o: { url: string; name: string; timeoutMs: number; retries: number; metrics?: Metrics; log?: Pick<Logger, 'warn'> }) {
    const onResend = (reason: string) => {
      o.metrics?.subgraphFetches.inc({ subgraph: o.name, outcome: 'resent' });
      o.log?.warn({ subgraph: o.name, reason }, 'subgraph request lost on the network: sent again');
    };
    super({ url: o.url, fetcher: measured(o.metrics, o.name, subgraphFetcher({ timeoutMs: o.timeoutMs, retries: o.retries, onResend })) as never });
    this.name = o.name;
    this.log = o.log;
  }

  /** A subgraph that cannot be reached is a typed, named failure (the rest of the query still answers). */
  override didEncounterError(error: Error): void {
    if (error instanceof GraphQLError) throw error;
    const timeout = error.name === 'TimeoutError' || error.name === 'AbortError';
    // fetch's own message is only "fetch failed": the socket's code says what failed (ECONNREFUSED, UND_ERR_SOCKET).
    const reason = failureCode(error);
    this.log?.warn({ subgraph: this.name, err: error.message, reason }, 'subgraph fetch failed');
    throw new GraphQLError(`subgraph ${this.name} is unavailable (${timeout ? 'timeout' : 'unreachable'})`, {
      extensions: { code: 'DOWNSTREAM_SERVICE_ERROR', serviceName: this.name, retryable: true, ...(reason ? { reason } : {}) },
    });
  }

  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    const token = (context as Partial<GatewayContext>).token;
    if (token) request.http?.headers.set('authorization', `Bearer ${token}`);
    // The subgraph's span continues the trace as a child of this fetch's span.
    for (const [k, v] of Object.entries(traceHeaders())) request.http?.headers.set(k, v);
  }
}

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
