import { int, optionalStr, port, str, type ConfigOf } from '../subgraphs/kit/config.js';

export const gatewaySettings = {
  PORT: port('gateway HTTP and graphql-ws port', 4000),
  HOST: str('interface to bind', '127.0.0.1'),
  SUPERGRAPH_PATH: str('composed supergraph SDL, reloaded when the file changes', 'schema/supergraph.graphql'),
  ISSUANCE_URL: optionalStr('issuance subgraph GraphQL URL (default: the URL in the supergraph)'),
  TRADING_URL: optionalStr('trading subgraph GraphQL URL (default: the URL in the supergraph)'),
  SETTLEMENT_URL: optionalStr('settlement subgraph GraphQL URL (default: the URL in the supergraph)'),
  CUSTODY_URL: optionalStr('custody subgraph GraphQL URL (default: the URL in the supergraph)'),
  AUTH_JWT_SECRET: optionalStr('HS256 secret of user bearer tokens (>= 32 chars); or set AUTH_JWT_PUBLIC_KEY'),
  AUTH_JWT_PUBLIC_KEY: optionalStr('PEM public key (RS256/ES256) of user bearer tokens'),
  AUTH_ISSUER: str('expected "iss" of bearer tokens', 'tokenstack'),
  AUTH_AUDIENCE: str('expected "aud" of bearer tokens', 'tokenstack-api'),
  NODE_ENV: str('production masks unknown errors and turns introspection off', 'development'),
  REQUEST_MAX_BYTES: int('largest accepted request body', 1_000_000, 1_000),
  SUBGRAPH_TIMEOUT_MS: int('deadline of one subgraph fetch; past it the subgraph counts as down', 10_000, 100),
  LOG_LEVEL: str('pino level', 'info'),
  PUBLIC_URL: optionalStr('URL printed for clients'),
  MAX_DEPTH: int('deepest selection an operation may have', 12, 1),
  MAX_ALIASES: int('most aliases in one operation', 30, 0),
  MAX_TOKENS: int('most lexical tokens in one operation (parsing stops past it)', 5000, 10),
  MAX_COST: int('highest estimated cost of one operation (each field 1, lists multiply their selection)', 20000, 1),
  COST_LIST_FACTOR: int('assumed length of a list field without first/limit/depth', 10, 1),
  RATE_LIMIT_PER_MINUTE: int('requests per organisation per minute on this gateway process (0: off)', 1200, 0),
  HEALTH_TIMEOUT_MS: int('deadline of each subgraph readiness probe in /healthz', 2_000, 50),
};

export type GatewayConfig = ConfigOf<typeof gatewaySettings>;
