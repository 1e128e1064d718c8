import type { AuthSettings } from './auth.js';
import { ConfigError, bool, int, optionalStr, optionalUrl, port, secret, str, url, type ConfigOf } from './config.js';
import { DB_URL_PROTOCOLS } from './db/open.js';

/** How user bearer tokens are verified: the same at the gateway and in every subgraph. */
export const authSettings = {
  AUTH_JWT_SECRET: optionalStr('HS256 secret of user bearer tokens (>= 32 chars); or set AUTH_JWT_PUBLIC_KEY'),
  AUTH_JWT_PUBLIC_KEY: optionalStr('PEM public key (RS256/ES256) of user bearer tokens from your identity provider'),
  AUTH_JWKS_URL: optionalUrl('JSON Web Key Set URL of your identity provider (RS256/ES256 tokens; keys cached and refetched on rotation)', ['https:', 'http:']),
  AUTH_JWKS_CACHE_MS: int('how long fetched JWKS keys are used before they are fetched again', 600_000, 1_000),
  AUTH_JWKS_COOLDOWN_MS: int('least time between two JWKS fetches (a token with an unknown key id fetches again after it)', 30_000, 0),
  AUTH_JWKS_TIMEOUT_MS: int('deadline of one JWKS fetch', 5_000, 100),
  AUTH_ISSUER: str('expected "iss" of bearer tokens', 'tokenstack'),
  AUTH_AUDIENCE: str('expected "aud" of bearer tokens', 'tokenstack-api'),
  AUTH_CLAIM_ORG: str('claim holding the organisation (a dotted path reaches into an object)', 'org'),
  AUTH_CLAIM_ROLES: str('claim holding the roles, a list or a space-separated string (e.g. realm_access.roles)', 'roles'),
  AUTH_CLAIM_INVESTOR: str('claim holding the investor id of INVESTOR users', 'inv'),
  AUTH_CLOCK_SKEW_SECONDS: int('allowed clock difference for exp, nbf and iat (a token issued further in the future is refused)', 30, 0, 600),
  AUTH_MAX_TOKEN_LIFETIME_SECONDS: int('longest lifetime (exp - iat) of a user bearer token accepted', 86_400, 60),
};

/** Observability settings of every process, the gateway's too. */
export const observabilitySettings = {
  METRICS_TOKEN: optionalStr('bearer token that GET /metrics requires; without it /metrics is open, and off when NODE_ENV=production'),
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl('OpenTelemetry collector (OTLP over HTTP, e.g. http://127.0.0.1:4318): traces are sent to <endpoint>/v1/traces; unset, no tracing SDK is loaded', ['http:', 'https:']),
  TRACE_SAMPLE_PERCENT: int('share of new traces recorded when OTEL_EXPORTER_OTLP_ENDPOINT is set (a request continuing a peer\'s trace follows the peer\'s decision)', 100, 0, 100),
};

/** Settings every subgraph process reads from its environment (README lists them). */
export const subgraphSettings = (defaultPort: number) => ({
  PORT: port('HTTP and graphql-ws port', defaultPort),
  HOST: str('interface to bind', '127.0.0.1'),
  DATABASE_URL: url('postgres://user@host:5432/db, file:///abs/dir (embedded PGlite) or memory:// (PGlite in memory)', DB_URL_PROTOCOLS),
  DATABASE_POOL_MAX: int('PostgreSQL: most connections in the process\'s pool (it holds one more that listens for notifications)', 10, 1, 200),
  CHAIN_RPC_URL: url('EVM JSON-RPC endpoint', ['http:', 'https:', 'ws:', 'wss:'], 'http://127.0.0.1:8545'),
  ...authSettings,
  ...observabilitySettings,
  SERVICE_SECRET: secret('HS256 secret shared by the services for internal calls and feeds (>= 32 chars)'),
  NODE_ENV: str('production masks unknown errors and turns introspection off', 'development'),
  REQUEST_MAX_BYTES: int('largest accepted request body', 1_000_000, 1_000),
  FEED_POLL_MS: int('fallback poll interval of outbox readers when no NOTIFY arrives', 1000, 10),
  LOG_LEVEL: str('pino level', 'info'),
  ISSUANCE_URL: url('issuance base URL for internal calls', ['http:', 'https:'], 'http://127.0.0.1:4001'),
  TRADING_URL: url('trading base URL for internal calls', ['http:', 'https:'], 'http://127.0.0.1:4002'),
  SETTLEMENT_URL: url('settlement base URL for internal calls', ['http:', 'https:'], 'http://127.0.0.1:4003'),
  CUSTODY_URL: url('custody base URL for internal calls', ['http:', 'https:'], 'http://127.0.0.1:4004'),
  INTERNAL_TIMEOUT_MS: int('deadline of one internal call', 10_000, 100),
  MIGRATE_ON_START: bool('apply pending migrations at start', true),
});

export type SubgraphConfig = ConfigOf<ReturnType<typeof subgraphSettings>>;

/** The verifier's settings; `serviceSecret` only where service credentials are accepted (not at the public gateway). */
export function authSettingsOf(c: ConfigOf<typeof authSettings>, serviceSecret?: string): AuthSettings {
  if (!c.AUTH_JWT_SECRET && !c.AUTH_JWT_PUBLIC_KEY && !c.AUTH_JWKS_URL) {
    throw new ConfigError('AUTH_JWT_SECRET', 'or AUTH_JWT_PUBLIC_KEY or AUTH_JWKS_URL must be set');
  }
  if (c.AUTH_JWT_SECRET && c.AUTH_JWT_SECRET.length < 32) throw new ConfigError('AUTH_JWT_SECRET', 'must be at least 32 characters');
  return {
    secret: c.AUTH_JWT_SECRET,
    publicKey: c.AUTH_JWT_PUBLIC_KEY,
    jwksUrl: c.AUTH_JWKS_URL,
    jwks: { cacheMaxAgeMs: c.AUTH_JWKS_CACHE_MS, cooldownMs: c.AUTH_JWKS_COOLDOWN_MS, timeoutMs: c.AUTH_JWKS_TIMEOUT_MS },
    issuer: c.AUTH_ISSUER,
    audience: c.AUTH_AUDIENCE,
    claims: { org: c.AUTH_CLAIM_ORG, roles: c.AUTH_CLAIM_ROLES, investor: c.AUTH_CLAIM_INVESTOR },
    clockSkewSeconds: c.AUTH_CLOCK_SKEW_SECONDS,
    maxLifetimeSeconds: c.AUTH_MAX_TOKEN_LIFETIME_SECONDS,
    serviceSecret,
  };
}
