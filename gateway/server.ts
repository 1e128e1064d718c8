import type { IncomingMessage } from 'node:http';
import { readFileSync } from 'node:fs';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { createVerifier, type Verifier } from '../subgraphs/kit/auth.js';
import { authSettingsOf } from '../subgraphs/kit/settings.js';
import { unauthenticated } from '../subgraphs/kit/errors.js';
import { apolloHandler, sendJson, startHttpServer } from '../subgraphs/kit/http.js';
import { createLogger } from '../subgraphs/kit/log.js';
import { createMetrics } from '../subgraphs/kit/metrics.js';
import { flushTracing, installTracing, tracedRoute, tracerOf, tracingPlugin } from '../subgraphs/kit/tracing.js';
import type { GatewayContext } from './context.js';
import { costLimitPlugin, limitRules, operationLimitsOf } from './limits.js';
import { operationChecksPlugin } from './operationChecks.js';
import { OrgRateLimiter } from './rateLimit.js';
import { AuthForwardingDataSource } from './dataSource.js';
import type { GatewayConfig } from './settings.js';
import { fileSupergraph, subgraphUrlsOf, supergraphPath } from './supergraph.js';
import { loadPersistedOperations } from './persisted/index.js';
import { ideRoutes } from './ide/routes.js';
import { gatewaySubscriptions, type GatewaySubscriptions } from './subscriptions/index.js';

export interface RunningGateway {
  url: string;
  port: number;
  subgraphUrls: Record<string, string>;
  subscriptions: Pick<GatewaySubscriptions, 'stats' | 'openFor'>;
  stop(): Promise<void>;
}

function overrides(c: GatewayConfig): Record<string, string | undefined> {
  return { issuance: c.ISSUANCE_URL, trading: c.TRADING_URL, settlement: c.SETTLEMENT_URL, custody: c.CUSTODY_URL };
}

export function gatewayVerifier(c: GatewayConfig): Verifier {
  // No service secret: internal credentials are refused at the public edge.
  return createVerifier(authSettingsOf(c));
}

/** Keeps the code and the subgraph's name; hides unexpected failures in production. */
function formatError(production: boolean) {
  return (f: GraphQLFormattedError, error?: unknown): GraphQLFormattedError => {
    // Operation limits and refused input (a NUL in a string) fail validation; their own code is the useful one.
    const original = (error as GraphQLError | undefined)?.originalError;
    const inputCode = original instanceof GraphQLError && String(original.extensions?.code).startsWith('INPUT.') ? original.extensions.code as string : undefined;
    const limitCode = (f.extensions?.limitCode as string | undefined) ?? (f.extensions?.code === 'GRAPHQL_VALIDATION_FAILED' ? inputCode : undefined);
    if (limitCode) {
      const { limitCode: _l, ...ext } = f.extensions ?? {};
      return { ...f, extensions: { ...ext, code: limitCode } };
    }
    const code = f.extensions?.code as string | undefined;
    // A subgraph's error without a code arrives as DOWNSTREAM_SERVICE_ERROR with the subgraph's own message;
    // only the data source's "subgraph unavailable" (retryable) is written by the gateway.
    const unexpected = !code || code === 'INTERNAL_SERVER_ERROR' || (code === 'DOWNSTREAM_SERVICE_ERROR' && f.extensions?.retryable !== true);
    if (production && unexpected) {
      return { message: 'internal error', path: f.path, extensions: { code: code ?? 'INTERNAL_SERVER_ERROR', serviceName: f.extensions?.serviceName } };
    }
    if (production && f.extensions?.stacktrace) {
      const { stacktrace: _s, ...ext } = f.extensions; // a subgraph in development mode sends its stack; it stays here
      return { ...f, extensions: ext };
    }
    return f;
  };
}

export async function startGateway(c: GatewayConfig): Promise<RunningGateway> {
  await installTracing({ endpoint: c.OTEL_EXPORTER_OTLP_ENDPOINT, samplePercent: c.TRACE_SAMPLE_PERCENT });
  const log = createLogger('gateway', c.LOG_LEVEL);
  const production = c.NODE_ENV === 'production';
  const verify = gatewayVerifier(c);
  const persisted = loadPersistedOperations(c, log);
  const recorded = subgraphUrlsOf(readFileSync(supergraphPath(c.SUPERGRAPH_PATH), 'utf8'));
  const urls = Object.fromEntries(Object.entries(recorded).map(([n, u]) => [n, overrides(c)[n] ?? u]));

  const metrics = createMetrics('gateway');
  const gateway = new ApolloGateway({
    supergraphSdl: fileSupergraph(c.SUPERGRAPH_PATH, () => log.info('supergraph reloaded')),
    buildService: ({ name, url }) => new AuthForwardingDataSource({ name, url: urls[name] ?? url!, timeoutMs: c.SUBGRAPH_TIMEOUT_MS, retries: c.SUBGRAPH_RETRIES, metrics, log }),
    experimental_didResolveQueryPlan: persisted.didResolveQueryPlan, // ends start-time plan preparation before any fetch
  });
  const apollo = new ApolloServer<GatewayContext>({
    gateway,
    introspection: !production,
    includeStacktraceInErrorResponses: false,
    stopOnTerminationSignals: false, // our entry points stop everything in order
    formatError: formatError(production),
    validationRules: limitRules(operationLimitsOf(c)),
    parseOptions: { maxTokens: c.MAX_TOKENS },
    hideSchemaDetailsFromClientErrors: production, // no "did you mean" field suggestions in production
    plugins: [persisted.plugin, operationChecksPlugin(), costLimitPlugin(operationLimitsOf(c)), metrics.apolloPlugin(), tracingPlugin()], // partners' lists and modes, before APQ; the cost with the request's variables
  });
  const limiter = new OrgRateLimiter(c.RATE_LIMIT_PER_MINUTE);
  const subscriptions = gatewaySubscriptions(gateway, c, urls, log); // before start: it follows every supergraph the gateway loads
  await apollo.start();
  await persisted.prepare(apollo, gateway);

  const context = async (req: IncomingMessage): Promise<GatewayContext> => {
    const partner = await persisted.authenticate(req); // x-api-key
    const caller = partner?.caller ?? await verify(req.headers.authorization);
    if (caller.kind !== 'user') throw unauthenticated('a user bearer token is required');
    limiter.take(caller.org);
    return { caller, token: caller.token, partner: partner?.partner };
  };

  const http = await startHttpServer({
    port: c.PORT,
    host: c.HOST,
    log,
    // The public edge: a client's traceparent is linked to, never continued (it picks neither the trace id nor the sampling).
    graphql: tracedRoute(tracerOf('gateway'), '/graphql', apolloHandler(apollo, context, c.REQUEST_MAX_BYTES), { edge: true }),
    routes: {
      ...ideRoutes(c), // GET /ide (and / pointing at it) when GATEWAY_IDE allows
      'GET /metrics': metrics.route({ token: c.METRICS_TOKEN, production }),
      'GET /healthz': async (_req, res) => {
        const subgraphs = await probeSubgraphs(urls, c.HEALTH_TIMEOUT_MS);
        const ok = Object.values(subgraphs).every((s) => s.status === 'ready');
        sendJson(res, ok ? 200 : 503, { status: ok ? 'ok' : 'degraded', subgraphs });
      },
    },
  });
  subscriptions.listen({ server: http.server, verify, partners: persisted, onSlowConsumer: () => metrics.slowConsumerCloses.inc(), limiter, formatError: formatError(production) }); // graphql-ws on /graphql
  metrics.gauge('tokenstack_gateway_subscriptions', 'graphql-ws subscriptions of clients, and the upstream subgraph subscriptions they share', ['kind'], () => {
    const s = subscriptions.stats();
    return [{ labels: { kind: 'clients' }, value: s.clients }, { labels: { kind: 'upstreams' }, value: s.upstreams }];
  });
  log.info({ url: `${http.url}/graphql` }, 'gateway ready');
  let stopped = false;
  return {
    url: `${http.url}/graphql`,
    port: http.port,
    subgraphUrls: urls,
    subscriptions,
    async stop() {
      if (stopped) return;
      stopped = true;
      await subscriptions.close();
      await http.close();
      await apollo.stop();
      await flushTracing();
    },
  };
}

/** Each subgraph's /readyz, in parallel, each with a deadline. */
export interface SubgraphHealth { status: 'ready' | 'unavailable' | 'down'; url: string; problem?: string }

export async function probeSubgraphs(urls: Record<string, string>, timeoutMs: number): Promise<Record<string, SubgraphHealth>> {
  const entries = await Promise.all(
    Object.entries(urls).map(async ([name, url]) => {
      const readyz = url.replace(/\/graphql$/, '/readyz');
      try {
        const r = await fetch(readyz, { signal: AbortSignal.timeout(timeoutMs) });
        const body = (await r.json().catch(() => ({}))) as { problem?: string };
        const h: SubgraphHealth = { status: r.ok ? 'ready' : 'unavailable', url, ...(body.problem ? { problem: body.problem } : {}) };
        return [name, h] as const;
      } catch (e) {
        const h: SubgraphHealth = { status: 'down', url, problem: (e as Error).message };
        return [name, h] as const;
      }
    }),
  );
  return Object.fromEntries(entries);
}
