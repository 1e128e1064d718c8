import { bool, int, oneOf, optionalStr, port, str, type ConfigOf, type Setting } from '../subgraphs/kit/config.js';
import { authSettings, observabilitySettings } from '../subgraphs/kit/settings.js';
import { MODES } from './persisted/partners.js';
import { SHARING_MODES } from './subscriptions/sharing.js';

export const gatewaySettings = {
  PORT: port('gateway HTTP and graphql-ws port', 4000),
  HOST: str('interface to bind', '127.0.0.1'),
  SUPERGRAPH_PATH: str('composed supergraph SDL, reloaded when the file changes', 'schema/supergraph.graphql'),
  ISSUANCE_URL: optionalStr('issuance subgraph GraphQL URL (default: the URL in the supergraph)'),
  TRADING_URL: optionalStr('trading subgraph GraphQL URL (default: the URL in the supergraph)'),
  SETTLEMENT_URL: optionalStr('settlement subgraph GraphQL URL (default: the URL in the supergraph)'),
  CUSTODY_URL: optionalStr('custody subgraph GraphQL URL (default: the URL in the supergraph)'),
  ...authSettings,
  ...observabilitySettings,
  NODE_ENV: str('production masks unknown errors and turns introspection off', 'development'),
  REQUEST_MAX_BYTES: int('largest accepted request body', 1_000_000, 1_000),
  SUBGRAPH_TIMEOUT_MS: int('deadline of one subgraph fetch, resends included; past it the subgraph counts as down', 10_000, 100),
  SUBGRAPH_RETRIES: int('resends of a subgraph request the network lost: any request when no connection was made (ECONNREFUSED, connect timeout), a query also when the connection broke after it left (never a mutation then: the subgraph may have run it)', 2, 0, 10),
  LOG_LEVEL: str('pino level', 'info'),
  PUBLIC_URL: optionalStr('URL printed for clients'),
  MAX_DEPTH: int('deepest selection an operation may have', 12, 1),
  MAX_ALIASES: int('most aliases in one operation', 30, 0),
  MAX_TOKENS: int('most lexical tokens in one operation (parsing stops past it)', 5000, 10),
  MAX_SELECTIONS: int('most field selections in one operation once every fragment spread is replaced by its fragment', 5000, 1),
  MAX_COST: int('highest estimated cost of one operation with its variables (each field 1, lists multiply their selection)', 20000, 1),
  COST_LIST_FACTOR: int('assumed length of a list field without first/last/limit/depth', 10, 1),
  COST_LIST_MAX: int('length counted for a list whose first/last/limit/depth is a variable the request leaves out (the largest page a subgraph serves)', 1000, 1),
  RATE_LIMIT_PER_MINUTE: int('requests per organisation per minute on this gateway process (0: off)', 1200, 0),
  HEALTH_TIMEOUT_MS: int('deadline of each subgraph readiness probe in /healthz', 2_000, 50),
  GATEWAY_SUBSCRIPTION_QUEUE: int('events a graphql-ws subscriber may have waiting to be sent before it is closed as a slow consumer (4420)', 1000, 1),
  GATEWAY_WS_KEEPALIVE_MS: int('graphql-ws ping interval; a client that has not answered a ping by the next one is dropped (0: no pings)', 12_000, 0),
  GATEWAY_SUBSCRIPTIONS_PER_CONNECTION: int('subscriptions one graphql-ws connection may have open at once (past it: SUBSCRIPTION.TOO_MANY_ON_CONNECTION)', 100, 1),
  GATEWAY_SUBSCRIPTIONS_PER_IDENTITY: int('subscriptions one identity (organisation and subject) may have open at once on this gateway process, over all its connections (past it: SUBSCRIPTION.TOO_MANY_FOR_IDENTITY)', 500, 1),
  GATEWAY_SUBSCRIPTION_RETRY_MS: int('first pause before the gateway reconnects a lost subgraph subscription (doubles each attempt)', 250, 10),
  GATEWAY_SUBSCRIPTION_RETRY_MAX_MS: int('longest pause between reconnects of a subgraph subscription', 5_000, 10),
  GATEWAY_SUBSCRIPTION_RETRY_ATTEMPTS: int('reconnects in a row before subscribers get DOWNSTREAM_SERVICE_ERROR', 20, 0),
  GATEWAY_SUBSCRIPTION_PIPELINE: int('events of one subscription whose fields from other subgraphs are fetched at once (delivered in order all the same)', 4, 1),
  GATEWAY_SUBSCRIPTION_SHARING: oneOf('callers: a subscription whose stream and fields subgraphs/kit/sharing.ts lists as the same for every caller runs once for all identities; identity: one upstream and execution per caller identity, always', SHARING_MODES, 'callers'),
  PERSISTED_MANIFEST_PATH: str('persisted operation manifest (Apollo format, built by npm run persisted)', 'schema/persisted-operations.json'),
  GATEWAY_PARTNERS_PATH: optionalStr('JSON file of partners: API key hashes, organisation, roles, mode, operation list (none: API keys are refused)'),
  PERSISTED_DEFAULT_MODE: oneOf('persisted-operation mode of bearer-token clients (their list: the whole manifest)', MODES, 'ALLOW_ALL'),
  PARTNER_TOKEN_TTL_SECONDS: int('life of the bearer token the gateway signs and forwards for a partner', 300, 30),
  // Unset means "on unless NODE_ENV=production", which a fixed default cannot say.
  GATEWAY_IDE: { ...bool('serve the GraphQL IDE at /ide (default: on unless NODE_ENV=production)'), default: undefined } as Setting<boolean | undefined>,
  GATEWAY_DEV_TOKENS: bool('offer dev bearer tokens in the IDE, signed with AUTH_JWT_SECRET (refused when NODE_ENV=production)', false),
};

export type GatewayConfig = ConfigOf<typeof gatewaySettings>;
