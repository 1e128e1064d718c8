import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { createVerifier } from '../../subgraphs/kit/auth.js';
import { ConfigError, loadConfig } from '../../subgraphs/kit/config.js';
import { startHttpServer, type RunningServer } from '../../subgraphs/kit/http.js';
import { gatewaySettings } from '../settings.js';
import { DEV_USERS } from './devUsers.js';
import type { IdeConfig } from './page.js';
import { ideOptions, ideRoutes } from './routes.js';

const SECRET = 'x'.repeat(32);
const config = (env: Record<string, string>) => loadConfig(gatewaySettings, { AUTH_JWT_SECRET: SECRET, ...env });

// A stand-in bundle: these tests are about what the gateway serves, not about GraphiQL.
const bundleDir = mkdtempSync(join(tmpdir(), 'ide-bundle-'));
writeFileSync(join(bundleDir, 'ide.js'), 'console.log("ide")');
writeFileSync(join(bundleDir, 'ide.css'), 'body{}');

const servers: RunningServer[] = [];
async function serve(env: Record<string, string>, dir = bundleDir): Promise<string> {
  const s = await startHttpServer({ port: 0, routes: ideRoutes(config(env), { bundleDir: dir }) });
  servers.push(s);
  return s.url;
}
const pageConfig = (html: string): IdeConfig => JSON.parse(/<script id="ide-config" type="application\/json">(.*?)<\/script>/s.exec(html)![1]);

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  rmSync(bundleDir, { recursive: true, force: true });
});

describe('the IDE routes of the gateway', () => {
  test('outside production the IDE is served at /ide, / redirects to it, and its assets come from the local bundle', async () => {
    const url = await serve({});
    const root = await fetch(`${url}/`, { redirect: 'manual' });
    expect([root.status, root.headers.get('location')]).toEqual([302, '/ide']);
    const page = await fetch(`${url}/ide`);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).toContain('<script src="/ide/ide.js"></script>');
    expect(html).not.toMatch(/https?:\/\//);
    expect(pageConfig(html)).toEqual({ graphqlPath: '/graphql', subscriptionPath: '/graphql', devTokens: [] });
    const js = await fetch(`${url}/ide/ide.js`);
    expect([js.status, js.headers.get('content-type'), await js.text()]).toEqual([200, 'text/javascript; charset=utf-8', 'console.log("ide")']);
    expect((await fetch(`${url}/ide/ide.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  test('with dev tokens on, the page offers one token per seeded user, each verifying as that organisation and role', async () => {
    const html = await (await fetch(`${await serve({ GATEWAY_DEV_TOKENS: 'true' })}/ide`)).text();
    const offered = pageConfig(html).devTokens;
    expect(offered.map((t) => t.label)).toEqual(DEV_USERS.map((u) => u.label));
    const verify = createVerifier({ secret: SECRET, issuer: 'tokenstack', audience: 'tokenstack-api' });
    const callers = await Promise.all(offered.map((t) => verify(`Bearer ${t.token}`)));
    expect(callers.map((c) => [c.org, c.roles])).toEqual(DEV_USERS.map((u) => [u.org, u.roles]));
  });

  test('in production the IDE is off unless GATEWAY_IDE turns it on, and then offers no dev token', async () => {
    expect(Object.keys(ideRoutes(config({ NODE_ENV: 'production' })))).toEqual([]);
    const url = await serve({ NODE_ENV: 'production', GATEWAY_IDE: 'true' });
    expect(pageConfig(await (await fetch(`${url}/ide`)).text()).devTokens).toEqual([]);
    expect(ideOptions(config({ GATEWAY_IDE: 'false' }))).toEqual({ ide: false, devTokens: false });
  });

  test('dev tokens are a configuration error in production and without an HS256 secret', () => {
    expect(() => ideOptions(config({ NODE_ENV: 'production', GATEWAY_DEV_TOKENS: 'true' }))).toThrow(ConfigError);
    expect(() => ideOptions(loadConfig(gatewaySettings, { AUTH_JWT_PUBLIC_KEY: 'pem', GATEWAY_DEV_TOKENS: 'true' }))).toThrow(/GATEWAY_DEV_TOKENS needs AUTH_JWT_SECRET/);
  });

  test('without a built bundle the page says how to build it instead of a blank screen', async () => {
    const res = await fetch(`${await serve({}, join(bundleDir, 'absent'))}/ide`);
    expect([res.status, await res.text()]).toEqual([503, expect.stringContaining('npm run build')]);
  });
});
