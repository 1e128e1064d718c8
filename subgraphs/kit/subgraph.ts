import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { ApolloServer, type BaseContext } from '@apollo/server';
import { ApolloServerPluginInlineTraceDisabled } from '@apollo/server/plugin/disabled';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { GraphQLError, parse, specifiedRules, validate, type GraphQLFormattedError } from 'graphql';
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/use/ws';
import { serviceOnlyQueryField } from './access.js';
import { createVerifier, serviceToken, type Caller, type Verifier } from './auth.js';
import { InternalClient, internalRoutes, type InternalHandler } from './internal.js';
import { migrate, openDb, type Db } from './db/index.js';
import { consumersOf, feedRoute, traceConsumersOf } from './feed.js';
import { apolloHandler, sendJson, startHttpServer, type RouteHandler } from './http.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { containsNul, noNulInStrings, nulCharacter } from './nul.js';
import { guardEntities } from './entities.js';
import { OutboxWatcher } from './outbox.js';
import { fromRoot } from './paths.js';
import { scalarResolvers } from './scalars.js';
import { authSettingsOf, subgraphSettings, type SubgraphConfig } from './settings.js';
import { loadConfig, type ConfigOf, type SettingsSpec } from './config.js';
import { flushTracing, installTracing, tracedRoute, tracerOf, tracingPlugin } from './tracing.js';

export type SubgraphName = 'issuance' | 'trading' | 'settlement' | 'custody';

/** What every resolver gets; a subgraph adds its loaders and services. */
export interface BaseContext_ {
  caller: Caller;
  db: Db;
  log: Logger;
}

/** A subgraph without settings of its own. */
export type NoSettings = Record<never, never>;

/** The common settings plus a subgraph's own (its def.settings), parsed. */
export type SubgraphConfigOf<S extends SettingsSpec> = SubgraphConfig & ConfigOf<S>;

export interface SubgraphRuntime<S extends SettingsSpec = NoSettings> {
  name: SubgraphName;
  /** The common settings plus the subgraph's own (def.settings), parsed and typed. */
  config: SubgraphConfigOf<S>;
  db: Db;
  log: Logger;
  verify: Verifier;
  outbox: OutboxWatcher;
  /** This process's Prometheus registry (GET /metrics): a subgraph adds its gauges with rt.metrics.gauge. */
  metrics: Metrics;
  /** A client for another subgraph's internal operations, authenticated as this service. */
  peer(name: SubgraphName): InternalClient;
  serviceToken(): Promise<string>;
}

export interface SubgraphDefinition<C extends BaseContext, S extends SettingsSpec = NoSettings> {
  name: SubgraphName;
  defaultPort: number;
  /** Settings of this subgraph beyond the common ones (kit/settings.ts); rt.config is typed by them. */
  settings?: S;
  /** Resolver map (typed loosely: Apollo's map type is not exported for ESM). */
  resolvers: Record<string, object>;
  /** Builds the per-request context (fresh DataLoaders every time). */
  context(base: BaseContext_, rt: SubgraphRuntime<S>): C;
  /** Background work started after migrations (feed consumers, indexers); returns its stopper. */
  start?(rt: SubgraphRuntime<S>): Promise<() => Promise<void>>;
  routes?(rt: SubgraphRuntime<S>): Record<string, RouteHandler>;
  /** Internal operations (service credential only), served at POST /internal/rpc/<name>. */
  internal?(rt: SubgraphRuntime<S>): Record<string, InternalHandler>;
  /**
   * What this process depends on and is down (a peer's feed, the chain
   * node), by name. Reported in /healthz; never a reason for /readyz to fail:
   * every replica sees the same peer, and taking a healthy process out of
   * the load balancer would not bring the peer back.
   */
  dependencies?(rt: SubgraphRuntime<S>): Promise<Record<string, string>>;
  /** The subgraph's own metrics (gauges read at scrape time), beside kit's. */
  metrics?(rt: SubgraphRuntime<S>): void;
}

export interface RunningSubgraph<S extends SettingsSpec = NoSettings> {
  name: SubgraphName;
  url: string;
  port: number;
  db: Db;
  runtime: SubgraphRuntime<S>;
  stop(): Promise<void>;
}

export const loadSubgraphSdl = (name: SubgraphName): string => readFileSync(fromRoot('schema', `${name}.graphql`), 'utf8');

function inputCodeOf(e: unknown): string | undefined {
  for (let cur = e, depth = 0; cur && depth < 5; cur = (cur as { originalError?: unknown }).originalError, depth++) {
    const c = cur instanceof GraphQLError ? (cur.extensions?.code as string | undefined) : undefined;
    if (c?.startsWith('INPUT.')) return c;
  }
  return undefined;
}

/** Codes a client may see as they are; anything else is an unexpected failure and is masked in production. */
function formatErrorFor(production: boolean, log: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.code as string | undefined;
    // A bad literal in the operation (address: "0x12") fails validation; keep the scalar's own code for the client.
    if (code === 'GRAPHQL_VALIDATION_FAILED') {
      const inner = inputCodeOf(error);
      if (inner) return { ...formatted, extensions: { ...formatted.extensions, code: inner } };
    }
    const original = error instanceof GraphQLError ? error.originalError : error;
    if (!code || code === 'INTERNAL_SERVER_ERROR') {
      log.error({ err: (original as Error | undefined)?.message, path: formatted.path }, 'unexpected resolver error');
      if (production) return { message: 'internal error', path: formatted.path, extensions: { code: 'INTERNAL_SERVER_ERROR' } };
    }
    return formatted;
  };
}

/** Kit's own figures of a subgraph: its outbox, the subscriptions following it, its feed consumers' lag, its database pool. */
function kitMetrics(m: Metrics, db: Db, outbox: OutboxWatcher): void {
  m.gauge('tokenstack_outbox_head_seq', 'last sequence number of the outbox', [], async () => [{ value: Number(await outbox.head()) }]);
  m.gauge('tokenstack_subscriptions_open', 'public GraphQL subscriptions following the outbox', [], () => [{ value: outbox.following }]);
  const consumers = () => [...consumersOf(db)];
  m.gauge('tokenstack_feed_consumer_lag_events', 'events of the producer\'s outbox this consumer has not applied yet', ['consumer'],
    () => consumers().map((c) => ({ labels: { consumer: c.source }, value: Number(c.lag.head > c.lag.position ? c.lag.head - c.lag.position : 0n) })));
  m.gauge('tokenstack_feed_consumer_oldest_pending_age_seconds', 'age of the oldest event this consumer has fetched and not applied yet (0: caught up)', ['consumer'],
    () => consumers().map((c) => ({ labels: { consumer: c.source }, value: c.lag.oldestPendingAt ? Math.max(0, (Date.now() - Date.parse(c.lag.oldestPendingAt)) / 1000) : 0 })));
  m.gauge('tokenstack_db_pool_connections', 'database pool connections by state (PostgreSQL)', ['state'], () => {
    const p = db.poolStats?.();
    return p ? [{ labels: { state: 'total' }, value: p.total }, { labels: { state: 'idle' }, value: p.idle }, { labels: { state: 'waiting' }, value: p.waiting }, { labels: { state: 'max' }, value: p.max }] : [];
  });
}

/** Reads the subgraph's settings from an environment map (process.env standalone, a built map in the one-command start). */
export function subgraphConfig<C extends BaseContext, S extends SettingsSpec>(def: SubgraphDefinition<C, S>, env: Record<string, string | undefined>): SubgraphConfigOf<S> {
  // The spread of two specs is the intersection of their configs; TypeScript cannot see through the generic spread.
  return loadConfig({ ...subgraphSettings(def.defaultPort), ...(def.settings ?? {}) }, env) as SubgraphConfigOf<S>;
}

export async function startSubgraph<C extends BaseContext, S extends SettingsSpec>(def: SubgraphDefinition<C, S>, config: SubgraphConfigOf<S>, db?: Db): Promise<RunningSubgraph<S>> {
  await installTracing({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, samplePercent: config.TRACE_SAMPLE_PERCENT });
  const tracer = tracerOf(def.name);
  const log = createLogger(def.name, config.LOG_LEVEL);
  const production = config.NODE_ENV === 'production';
  const verify = createVerifier(authSettingsOf(config, config.SERVICE_SECRET));
  db ??= await openDb(config.DATABASE_URL, { poolMax: config.DATABASE_POOL_MAX });
  if (config.MIGRATE_ON_START) {
    const applied = await migrate(db, [
      { scope: 'kit', dir: fromRoot('subgraphs', 'kit', 'migrations') },
      { scope: def.name, dir: fromRoot('subgraphs', def.name, 'migrations') },
    ]);
    if (applied.length) log.info({ applied }, 'migrations applied');
  }
  const outbox = new OutboxWatcher(db, config.FEED_POLL_MS);
  await outbox.start();
  const token = () => serviceToken({ serviceSecret: config.SERVICE_SECRET, issuer: config.AUTH_ISSUER }, def.name);
  const peerUrls: Record<SubgraphName, string> = { issuance: config.ISSUANCE_URL, trading: config.TRADING_URL, settlement: config.SETTLEMENT_URL, custody: config.CUSTODY_URL };
  const peers = new Map<SubgraphName, InternalClient>();
  const metrics = createMetrics(def.name);
  kitMetrics(metrics, db, outbox);
  traceConsumersOf(db, tracer);
  const rt: SubgraphRuntime<S> = {
    name: def.name, config, db, log, verify, outbox, metrics, serviceToken: token,
    peer(name) {
      let c = peers.get(name);
      if (!c) peers.set(name, (c = new InternalClient(name, peerUrls[name], token, config.INTERNAL_TIMEOUT_MS, metrics, tracer)));
      return c;
    },
  };

  const schema = buildSubgraphSchema([{ typeDefs: parse(loadSubgraphSdl(def.name)), resolvers: { ...scalarResolvers, ...def.resolvers } as never }]);
  guardEntities(schema);
  if (production) serviceOnlyQueryField(schema, '_service'); // the gateway composes from schema/ files; clients get no SDL
  const apollo = new ApolloServer<C>({
    schema,
    introspection: !production,
    includeStacktraceInErrorResponses: false,
    stopOnTerminationSignals: false, // our entry points stop everything in order
    formatError: formatErrorFor(production, log),
    plugins: [ApolloServerPluginInlineTraceDisabled(), metrics.apolloPlugin(), tracingPlugin()], // no Apollo usage reporting: nothing leaves the machine
    validationRules: [noNulInStrings],
  });
  await apollo.start();
  const contextFor = async (authorization: string | undefined): Promise<C> => def.context({ caller: await verify(authorization), db: db!, log }, rt);

  const stopBackground = def.start ? await def.start(rt) : async () => undefined;
  def.metrics?.(rt);
  const http = await startHttpServer({
    port: config.PORT,
    host: config.HOST,
    log,
    graphql: tracedRoute(tracer, '/graphql', apolloHandler(apollo, (req: IncomingMessage) => contextFor(req.headers.authorization), config.REQUEST_MAX_BYTES)),
    routes: {
      'GET /healthz': async (_req, res) => {
        const down = (await def.dependencies?.(rt).catch((e: Error) => ({ dependencies: e.message }))) ?? {};
        sendJson(res, 200, { status: 'ok', service: def.name, ...(Object.keys(down).length ? { dependencies: down } : {}) });
      },
      // Ready when this process can serve: its own database answers. Peers and the chain are /healthz detail.
      'GET /readyz': async (_req, res) => {
        const problem = await db!.query('SELECT 1').then(() => undefined, (e: Error) => `database: ${e.message}`);
        sendJson(res, problem ? 503 : 200, { status: problem ? 'unavailable' : 'ready', service: def.name, ...(problem ? { problem } : {}) });
      },
      'GET /internal/feed': feedRoute(outbox, verify),
      'GET /metrics': metrics.route({ token: config.METRICS_TOKEN, production }),
      ...internalRoutes(verify, def.internal?.(rt) ?? {}, tracer),
      ...(def.routes?.(rt) ?? {}),
    },
  });

  const wss = new WebSocketServer({ server: http.server, path: '/graphql', maxPayload: config.REQUEST_MAX_BYTES });
  const ws = useServer<{ authorization?: string }, { caller?: Caller }>({
    schema,
    validate: (sch, doc) => validate(sch, doc, [...specifiedRules, noNulInStrings]),
    onSubscribe: (_ctx, _id, payload) => (containsNul(payload.variables) ? [nulCharacter()] : undefined),
    onConnect: async (ctx) => {
      try {
        ctx.extra.caller = await verify(ctx.connectionParams?.authorization as string | undefined);
        return true;
      } catch {
        return false; // graphql-ws closes with CloseCode.Forbidden (4403)
      }
    },
    context: (ctx) => def.context({ caller: (ctx.extra as { caller: Caller }).caller, db: db!, log }, rt),
  }, wss);

  log.info({ url: `${http.url}/graphql` }, `${def.name} subgraph ready`);
  let stopped = false;
  return {
    name: def.name,
    url: `${http.url}/graphql`,
    port: http.port,
    db,
    runtime: rt,
    async stop() {
      if (stopped) return;
      stopped = true;
      await stopBackground();
      await ws.dispose();
      await new Promise<void>((r) => wss.close(() => r()));
      await http.close();
      await apollo.stop();
      await outbox.stop();
      await db!.close();
      await flushTracing();
    },
  };
}
