import { existsSync, readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import { ConfigError } from '../../subgraphs/kit/config.js';
import type { RouteHandler } from '../../subgraphs/kit/http.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import type { GatewayConfig } from '../settings.js';
import { devTokens } from './devUsers.js';
import { idePage, type IdeConfig } from './page.js';

/** Where `npm run build` (scripts/build-ide.ts) writes the bundle; the gateway only reads it. */
export const IDE_BUNDLE_DIR = fromRoot('dist', 'ide');
export const IDE_ASSETS = { 'ide.js': 'text/javascript; charset=utf-8', 'ide.css': 'text/css; charset=utf-8' } as const;

// As long as the tokens `npm start` prints; the page signs fresh ones on every load.
const DEV_TOKEN_TTL_SECONDS = 86_400;

export interface IdeOptions { ide: boolean; devTokens: boolean }

/** What the settings allow; dev tokens in production are a configuration error, not silently ignored. */
export function ideOptions(c: GatewayConfig): IdeOptions {
  const production = c.NODE_ENV === 'production';
  if (c.GATEWAY_DEV_TOKENS && production) throw new ConfigError('GATEWAY_DEV_TOKENS', 'must not be on when NODE_ENV=production');
  if (c.GATEWAY_DEV_TOKENS && !c.AUTH_JWT_SECRET) throw new ConfigError('GATEWAY_DEV_TOKENS', 'needs AUTH_JWT_SECRET to sign the tokens');
  const ide = c.GATEWAY_IDE ?? !production;
  return { ide, devTokens: ide && c.GATEWAY_DEV_TOKENS };
}

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, cache = 'no-store'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': cache });
  res.end(body);
}

/** GET /ide (the page), its two assets, and / pointing at it; nothing at all when the IDE is off. */
export function ideRoutes(c: GatewayConfig, { graphqlPath = '/graphql', bundleDir = IDE_BUNDLE_DIR } = {}): Record<string, RouteHandler> {
  const o = ideOptions(c);
  if (!o.ide) return {};
  const signer = { secret: c.AUTH_JWT_SECRET!, issuer: c.AUTH_ISSUER, audience: c.AUTH_AUDIENCE, ttlSeconds: DEV_TOKEN_TTL_SECONDS };
  const routes: Record<string, RouteHandler> = {
    'GET /': (_req, res) => { res.writeHead(302, { location: '/ide' }); res.end(); },
    'GET /ide': async (_req, res) => {
      if (!existsSync(join(bundleDir, 'ide.js'))) {
        return send(res, 503, 'text/plain; charset=utf-8', 'The IDE bundle is not built: run `npm run build` (or `npm run build:ide`).\n');
      }
      const config: IdeConfig = {
        graphqlPath,
        // The browser reaches the same host it loaded the page from, over ws: or wss:.
        subscriptionPath: graphqlPath,
        devTokens: o.devTokens ? await devTokens(signer) : [],
      };
      send(res, 200, 'text/html; charset=utf-8', idePage(config));
    },
  };
  for (const [file, type] of Object.entries(IDE_ASSETS)) {
    routes[`GET /ide/${file}`] = (_req, res) => {
      const p = join(bundleDir, file);
      if (!existsSync(p)) return send(res, 404, 'text/plain; charset=utf-8', 'not built\n');
      send(res, 200, type, readFileSync(p), 'no-cache');
    };
  }
  return routes;
}
