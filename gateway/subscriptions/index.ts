import type { Server } from 'node:http';
import type { ApolloGateway } from '@apollo/gateway';
import type { GraphQLFormattedError } from 'graphql';
import type { Verifier } from '../../subgraphs/kit/auth.js';
import type { Logger } from '../../subgraphs/kit/log.js';
import type { OrgRateLimiter } from '../rateLimit.js';
import type { GatewayConfig } from '../settings.js';
import { operationLimitsOf } from '../limits.js';
import { SubscriptionHub } from './hub.js';
import { identityOfCaller } from './caps.js';
import { serveSubscriptions, type SubscriptionServerOptions } from './wsServer.js';

export { CloseCode, GatewayCloseCode } from './close-codes.js';

export interface GatewaySubscriptions {
  /** Serves graphql-ws at /graphql on the gateway's HTTP server. */
  listen(o: { server: Server; verify: Verifier; partners?: SubscriptionServerOptions['partners']; onSlowConsumer?: () => void; limiter: OrgRateLimiter; formatError(f: GraphQLFormattedError): GraphQLFormattedError }): void;
  stats(): { upstreams: number; feeds: number; clients: number };
  /** Open subscriptions of one caller on this process. */
  openFor(caller: { org: string; subject: string }): number;
  close(): Promise<void>;
}

/** Call before the gateway loads: it follows every supergraph the gateway loads (a reload ends active subscriptions). */
export function gatewaySubscriptions(gateway: ApolloGateway, c: GatewayConfig, urls: Record<string, string>, log: Logger): GatewaySubscriptions {
  const hub = new SubscriptionHub({
    urls, log, subgraphTimeoutMs: c.SUBGRAPH_TIMEOUT_MS, subgraphRetries: c.SUBGRAPH_RETRIES, queueLimit: c.GATEWAY_SUBSCRIPTION_QUEUE, sharing: c.GATEWAY_SUBSCRIPTION_SHARING, pipeline: c.GATEWAY_SUBSCRIPTION_PIPELINE,
    retry: { firstMs: c.GATEWAY_SUBSCRIPTION_RETRY_MS, maxMs: c.GATEWAY_SUBSCRIPTION_RETRY_MAX_MS, attempts: c.GATEWAY_SUBSCRIPTION_RETRY_ATTEMPTS },
  });
  const unhook = gateway.onSchemaLoadOrUpdate(({ coreSupergraphSdl }) => hub.load(coreSupergraphSdl));
  let server: ReturnType<typeof serveSubscriptions> | undefined;
  return {
    listen(o) {
      server = serveSubscriptions({
        ...o, hub, production: c.NODE_ENV === 'production', queueLimit: c.GATEWAY_SUBSCRIPTION_QUEUE, keepAliveMs: c.GATEWAY_WS_KEEPALIVE_MS, maxTokens: c.MAX_TOKENS, maxPayloadBytes: c.REQUEST_MAX_BYTES,
        caps: { perConnection: c.GATEWAY_SUBSCRIPTIONS_PER_CONNECTION, perIdentity: c.GATEWAY_SUBSCRIPTIONS_PER_IDENTITY },
        limits: operationLimitsOf(c),
      });
    },
    stats: () => hub.stats(),
    openFor: (caller) => server?.caps.openFor(identityOfCaller(caller)) ?? 0,
    async close() {
      unhook();
      await server?.close();
      hub.close();
    },
  };
}
