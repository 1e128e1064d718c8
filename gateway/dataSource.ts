import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GatewayContext } from './context.js';

/**
 * Forwards the caller's bearer token so that each subgraph verifies it again
 * (defence in depth: a subgraph reached directly trusts nothing), with a
 * deadline per fetch so that a stuck subgraph costs a timeout, never a hang.
 */
export class AuthForwardingDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  constructor(o: { url: string; name: string; timeoutMs: number }) {
    super({
      url: o.url,
      fetcher: ((input: string, init: RequestInit) => fetch(input, { ...init, signal: AbortSignal.timeout(o.timeoutMs) })) as never,
    });
  }

  override willSendRequest({ request, context }: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    const token = (context as Partial<GatewayContext>).token;
    if (token) request.http?.headers.set('authorization', `Bearer ${token}`);
  }
}
