import { ConfigError, bool, int, optionalStr, port, secret, str, url, type ConfigOf } from './config.js';
import { DB_URL_PROTOCOLS } from './db/open.js';

/** Settings every subgraph process reads from its environment (README lists them). */
export const subgraphSettings = (defaultPort: number) => ({
  PORT: port('HTTP and graphql-ws port', defaultPort),
  HOST: str('interface to bind', '127.0.0.1'),
  DATABASE_URL: url('postgres://user@host:5432/db, file:///abs/dir (embedded PGlite) or memory:// (PGlite in memory)', DB_URL_PROTOCOLS),
  CHAIN_RPC_URL: url('EVM JSON-RPC endpoint', ['http:', 'https:', 'ws:', 'wss:'], 'http://127.0.0.1:8545'),
  AUTH_JWT_SECRET: optionalStr('HS256 secret of user bearer tokens (>= 32 chars); or set AUTH_JWT_PUBLIC_KEY'),
  AUTH_JWT_PUBLIC_KEY: optionalStr('PEM public key (RS256/ES256) of user bearer tokens from your identity provider'),
  AUTH_ISSUER: str('expected "iss" of bearer tokens', 'tokenstack'),
  AUTH_AUDIENCE: str('expected "aud" of bearer tokens', 'tokenstack-api'),
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

export function authSettingsOf(c: SubgraphConfig) {
  if (!c.AUTH_JWT_SECRET && !c.AUTH_JWT_PUBLIC_KEY) {
    throw new ConfigError('AUTH_JWT_SECRET', 'or AUTH_JWT_PUBLIC_KEY must be set');
  }
  if (c.AUTH_JWT_SECRET && c.AUTH_JWT_SECRET.length < 32) throw new ConfigError('AUTH_JWT_SECRET', 'must be at least 32 characters');
  return {
    secret: c.AUTH_JWT_SECRET,
    publicKey: c.AUTH_JWT_PUBLIC_KEY,
    issuer: c.AUTH_ISSUER,
    audience: c.AUTH_AUDIENCE,
    serviceSecret: c.SERVICE_SECRET,
  };
}
