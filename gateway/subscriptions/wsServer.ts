import type { Server } from 'node:http';
import { GraphQLError, getOperationAST, parse, specifiedRules, validate, type DocumentNode, type ExecutionResult, type GraphQLFormattedError } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Caller, Verifier } from '../../subgraphs/kit/auth.js';
import { containsNul, nulCharacter } from '../../subgraphs/kit/nul.js';
import { checkCost, limitRules, type OperationLimits } from '../limits.js';
import type { OrgRateLimiter } from '../rateLimit.js';
import { SubscriptionCaps, identityOfCaller, type SubscriptionCapSettings } from './caps.js';
import type { Partner, PersistedOperations } from '../persisted/index.js';
import { persistedQueryOf, refusal } from '../persisted/policy.js';
import type { SubscriptionHub } from './hub.js';
import { CloseCode, GatewayCloseCode } from './close-codes.js';


export interface SubscriptionServerOptions {
  server: Server;
  hub: SubscriptionHub;
  verify: Verifier;
  /** Partners authenticate with `x-api-key` in connection_init; their mode and list apply to each subscribe. */
  partners?: Pick<PersistedOperations, 'authenticateKey' | 'subscriptionText'>;
  /** Counts a client closed as a slow consumer (metrics). */
  onSlowConsumer?: () => void;
  limiter: OrgRateLimiter;
  limits: OperationLimits;
  maxTokens: number;
  maxPayloadBytes: number;
  queueLimit: number;
  keepAliveMs: number;
  caps: SubscriptionCapSettings;
  production: boolean;
  formatError(f: GraphQLFormattedError): GraphQLFormattedError;
}

type Extra = { socket: WebSocket; caller?: Caller; partner?: Partner };

const asGraphQLError = (e: unknown): GraphQLError =>
  e instanceof GraphQLError ? e : new GraphQLError((e as Error)?.message ?? String(e), { extensions: { code: 'INTERNAL_SERVER_ERROR' } });

/** The error as it is, or with this code when it has none (the parser's and graphql-js's own rules set none). */
const withCode = (e: GraphQLError, code: string): GraphQLError =>
  e.extensions?.code ? e : new GraphQLError(e.message, { nodes: e.nodes, source: e.source, positions: e.positions, path: e.path, originalError: e.originalError, extensions: { ...e.extensions, code } });

/** A close reason fits in 123 bytes. */
const reasonOf = (text: string) => Buffer.from(text).subarray(0, 123).toString('utf8').replace(/\uFFFD+$/, '');

/**
 * graphql-ws on the gateway's HTTP server at /graphql: the bearer from
 * connectionParams is verified as on HTTP, each subscribe passes the same
 * validation, limits and organisation rate limit, then runs through the hub.
 */
export function serveSubscriptions(o: SubscriptionServerOptions): { close(): Promise<void>; caps: SubscriptionCaps } {
  const caps = new SubscriptionCaps(o.caps);
  const wss = new WebSocketServer({ server: o.server, path: '/graphql', maxPayload: o.maxPayloadBytes });
  const rules = [...specifiedRules, ...limitRules(o.limits)];
  const format = (errors: readonly GraphQLError[]) => errors.map((e) => {
    const { http: _h, ...extensions } = e.extensions; // the HTTP status of an error shared with HTTP means nothing here
    const f = o.formatError({ ...e.toJSON(), extensions });
    // No "did you mean" field suggestions in production, as on HTTP.
    return o.production ? { ...f, message: f.message.replace(/ Did you mean .*\?$/, '') } : f;
  });

  const ws = useServer<{ authorization?: string; 'x-api-key'?: string }, Extra>({
    onConnect: async (ctx) => {
      try {
        const partner = await o.partners?.authenticateKey(ctx.connectionParams?.['x-api-key']);
        const caller = partner?.caller ?? await o.verify(ctx.connectionParams?.authorization as string | undefined);
        ctx.extra.partner = partner?.partner;
        if (caller.kind !== 'user') throw new GraphQLError('a user bearer token is required', { extensions: { code: 'UNAUTHENTICATED', reason: 'BAD_CLAIM' } });
        ctx.extra.caller = caller;
        return true;
      } catch (e) {
        const err = asGraphQLError(e);
        ctx.extra.socket.close(CloseCode.Forbidden, reasonOf(`UNAUTHENTICATED ${String(err.extensions.reason ?? '')}: ${err.message}`));
        return false;
      }
    },
    onSubscribe: (ctx, _id, payload) => {
      const caller = ctx.extra.caller!;
      try {
        o.limiter.take(caller.org);
        if (containsNul(payload.variables) || containsNul(payload.operationName)) return [nulCharacter()];
        const partner = ctx.extra.partner;
        const pq = persistedQueryOf(payload.extensions);
        if (pq.kind === 'malformed') return [refusal(pq.refusal)];
        const query = partner ? o.partners!.subscriptionText(partner, { query: payload.query, hash: pq.hash }) : payload.query;
        let document: DocumentNode;
        try {
          document = parse(query, { maxTokens: o.maxTokens });
        } catch (e) {
          return [withCode(asGraphQLError(e), 'GRAPHQL_PARSE_FAILED')];
        }
        const errors = validate(o.hub.schema, document, rules);
        if (errors.length) return errors.map((e) => withCode(e, 'GRAPHQL_VALIDATION_FAILED'));
        const operation = getOperationAST(document, payload.operationName);
        if (!operation) {
          return [new GraphQLError(payload.operationName ? `the document has no operation named ${JSON.stringify(String(payload.operationName).slice(0, 100))}` : 'the document has several operations: name the one to run in operationName', { extensions: { code: payload.operationName ? 'REQUEST.UNKNOWN_OPERATION' : 'REQUEST.OPERATION_NAME_REQUIRED' } })];
        }
        if (operation.operation !== 'subscription') {
          return [new GraphQLError('only subscriptions are served over graphql-ws; send queries and mutations over HTTP', { extensions: { code: 'SUBSCRIPTION.NOT_A_SUBSCRIPTION' } })];
        }
        checkCost(o.hub.schema, document, operation, payload.variables, o.limits);
        const identity = identityOfCaller(caller);
        caps.check(identity, Object.keys(ctx.subscriptions).length); // graphql-ws lists this subscription already
        const queue = o.hub.subscribe({
          document, query, operationName: payload.operationName, variables: payload.variables ?? undefined, caller,
          onSlow: () => {
            o.onSlowConsumer?.();
            ctx.extra.socket.close(GatewayCloseCode.SlowConsumer, reasonOf(`SUBSCRIPTION.SLOW_CONSUMER: more than ${o.queueLimit} events were waiting to be sent; resume with after = the last cursor`));
          },
        });
        return { schema: o.hub.schema, document, operationName: payload.operationName, variableValues: payload.variables, contextValue: { stream: caps.hold(identity, queue) } };
      } catch (e) {
        return [asGraphQLError(e)];
      }
    },
    subscribe: (args) => (args.contextValue as { stream: AsyncIterableIterator<ExecutionResult> }).stream,
    onError: (_ctx, _id, _payload, errors) => format(errors),
    onNext: (_ctx, _id, _payload, _args, result: ExecutionResult) => (result.errors ? { ...result, errors: format(result.errors) } : undefined),
  }, wss, o.keepAliveMs);

  return {
    caps,
    async close() {
      await ws.dispose();
    },
  };
}
