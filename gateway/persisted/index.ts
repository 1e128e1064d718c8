import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { isAbsolute } from 'node:path';
import type { ApolloGateway } from '@apollo/gateway';
import type { ApolloServer, ApolloServerPlugin } from '@apollo/server';
import { ConfigError } from '../../subgraphs/kit/config.js';
import type { Logger } from '../../subgraphs/kit/log.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import type { GatewayContext } from '../context.js';
import type { GatewayConfig } from '../settings.js';
import { PartnerAuthenticator, type PartnerAuth } from './credential.js';
import { manifestOf, readManifest, type Manifest } from './manifest.js';
import { checkPartnersFile, partnersByKeyHash, type Partner } from './partners.js';
import { persistedOperationsPlugin } from './plugin.js';
import { decide, indexManifest, refusal } from './policy.js';
import { keepPlansPrepared, stopWhenPrepared } from './prepare.js';

export type { Partner };

/** What the gateway's server wires in: partner authentication, the per-client policy, plans prepared at start. */
export interface PersistedOperations {
  manifest: Manifest;
  plugin: ApolloServerPlugin<GatewayContext>;
  /** For ApolloGateway's experimental_didResolveQueryPlan. */
  didResolveQueryPlan: typeof stopWhenPrepared;
  /** A partner from its `x-api-key`; undefined without one. */
  authenticate(req: IncomingMessage): Promise<PartnerAuth | undefined>;
  /** A partner from the `x-api-key` of a graphql-ws connection_init payload; undefined without one. */
  authenticateKey(key: unknown): Promise<PartnerAuth | undefined>;
  /** The text a partner's subscription runs (the manifest's, by text or id), or the typed refusal its mode and list give. */
  subscriptionText(partner: Partner, req: { query: string; hash?: string }): string;
  prepare(apollo: ApolloServer<GatewayContext>, gateway: ApolloGateway): Promise<void>;
}

const fromRootIfRelative = (p: string) => (isAbsolute(p) ? p : fromRoot(p));

function loadManifest(c: GatewayConfig, log: Logger): Manifest {
  const path = fromRootIfRelative(c.PERSISTED_MANIFEST_PATH);
  if (!existsSync(path)) {
    log.warn({ path }, 'no persisted operation manifest: partners can have no operations');
    return manifestOf([]);
  }
  try {
    return readManifest(path);
  } catch (e) {
    throw new ConfigError('PERSISTED_MANIFEST_PATH', (e as Error).message);
  }
}

function loadPartners(c: GatewayConfig, manifest: Manifest): Map<string, Partner> {
  if (!c.GATEWAY_PARTNERS_PATH) return new Map();
  // Partners' forwarded tokens are signed here; with only a public key (tokens from an identity provider) the gateway cannot sign.
  if (!c.AUTH_JWT_SECRET) throw new ConfigError('GATEWAY_PARTNERS_PATH', 'needs AUTH_JWT_SECRET: the gateway signs the tokens it forwards for partners');
  try {
    return partnersByKeyHash(checkPartnersFile(JSON.parse(readFileSync(fromRootIfRelative(c.GATEWAY_PARTNERS_PATH), 'utf8'))), manifest);
  } catch (e) {
    throw new ConfigError('GATEWAY_PARTNERS_PATH', `is not valid: ${(e as Error).message}`);
  }
}

export function loadPersistedOperations(c: GatewayConfig, log: Logger): PersistedOperations {
  const manifest = loadManifest(c, log);
  const partners = loadPartners(c, manifest);
  const auth = new PartnerAuthenticator(partners, { secret: c.AUTH_JWT_SECRET, issuer: c.AUTH_ISSUER, audience: c.AUTH_AUDIENCE }, c.PARTNER_TOKEN_TTL_SECONDS);
  // Bearer-token clients' list is the whole manifest.
  const bearerPolicy = { mode: c.PERSISTED_DEFAULT_MODE, allowed: new Set(manifest.operations.map((o) => o.id)) };
  const ops = indexManifest(manifest, c.MAX_TOKENS);
  return {
    manifest,
    plugin: persistedOperationsPlugin(ops, bearerPolicy, log),
    didResolveQueryPlan: stopWhenPrepared,
    authenticate: (req) => auth.authenticate(req.headers),
    authenticateKey: (key) => auth.authenticateKey(key),
    subscriptionText(partner, req) {
      const d = decide(partner, { query: req.hash !== undefined && !req.query ? undefined : req.query, hash: req.hash }, ops);
      if (d.kind === 'refuse') throw refusal(d);
      return d.operation?.body ?? req.query;
    },
    prepare: (apollo, gateway) => keepPlansPrepared(apollo, gateway, manifest, log),
  };
}
