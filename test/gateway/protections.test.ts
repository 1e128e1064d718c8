import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startGateway, type RunningGateway } from '../../gateway/server.js';
import { gatewaySettings } from '../../gateway/settings.js';
import { signUserToken } from '../../subgraphs/kit/auth.js';
import { loadConfig } from '../../subgraphs/kit/config.js';
import { gql } from '../../scripts/graphqlClient.js';

// Depth, alias, token, cost, size, rate limits, introspection and suggestions: test/gateway/limits.test.ts.
const secret = 'p'.repeat(40);

/** A subgraph on loopback that fails the way a real one can: an unexpected failure (leaking internals) or a typed refusal. */
function failingSubgraph(): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const stacktrace = ['error: relation "security_tokens" does not exist', '    at Store.list (/srv/subgraphs/issuance/store.ts:41:9)'];
      const errors = body.includes('securityTokens')
        ? [{ message: 'relation "security_tokens" does not exist', path: ['securityTokens'], extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace } }]
        : body.includes('venueRules')
          ? [{ message: 'the venue is closed until 09:30 America/New_York', path: ['venueRules'], extensions: { code: 'TRADING.MARKET_CLOSED', stacktrace } }]
          : [{ message: 'ECONNRESET from 10.0.3.7:5432', path: ['settlementAgent'] }];
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data: null, errors }));
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql` })));
}

describe('the gateway\'s protections', () => {
  let production: RunningGateway, development: RunningGateway;
  let subgraph: { url: string; server: Server };
  let token: string;

  const start = (nodeEnv: string) => startGateway(loadConfig(gatewaySettings, {
    PORT: '0', AUTH_JWT_SECRET: secret, LOG_LEVEL: 'silent', NODE_ENV: nodeEnv,
    ISSUANCE_URL: subgraph.url, TRADING_URL: subgraph.url, SETTLEMENT_URL: subgraph.url, CUSTODY_URL: subgraph.url,
  }));

  beforeAll(async () => {
    subgraph = await failingSubgraph();
    [production, development] = [await start('production'), await start('development')];
    token = await signUserToken({ secret, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject: 's', org: 'acme', roles: ['AUDITOR'] });
  });
  afterAll(async () => {
    await production?.stop();
    await development?.stop();
    subgraph?.server.close();
  });

  test('in production a subgraph\'s unexpected failure is masked, keeping its code and the subgraph\'s name', async () => {
    const r = await gql(production.url, token, '{ securityTokens { id } }');
    expect(r.body.errors).toEqual([{ message: 'internal error', path: ['securityTokens'], extensions: { code: 'INTERNAL_SERVER_ERROR', serviceName: 'issuance' } }]);
    const untyped = await gql(production.url, token, '{ settlementAgent { mode } }');
    expect(untyped.body.errors).toEqual([{ message: 'internal error', path: ['settlementAgent'], extensions: { code: 'DOWNSTREAM_SERVICE_ERROR', serviceName: 'settlement' } }]);
    expect(JSON.stringify([r.body, untyped.body])).not.toMatch(/relation|store\.ts|10\.0\.3\.7/);
  });

  test('in production a subgraph\'s typed error keeps its message, code and subgraph, but no stack trace', async () => {
    const r = await gql(production.url, token, '{ venueRules { defaultStpMode } }');
    expect(r.body.errors?.[0]).toMatchObject({ message: 'the venue is closed until 09:30 America/New_York', extensions: { code: 'TRADING.MARKET_CLOSED', serviceName: 'trading' } });
    expect(JSON.stringify(r.body)).not.toMatch(/stacktrace|store\.ts/);
  });

  test('in development the subgraph\'s own message is shown, to debug with', async () => {
    const r = await gql(development.url, token, '{ securityTokens { id } }');
    expect(r.body.errors?.[0]).toMatchObject({ message: 'relation "security_tokens" does not exist', extensions: { serviceName: 'issuance' } });
  });

  const simpleRequests: [string, (url: string) => Promise<Response>][] = [
    ['a GET without a preflight header', (u) => fetch(`${u}?query=${encodeURIComponent('{ __typename }')}`, { headers: { authorization: `Bearer ${token}` } })],
    ['a text/plain POST', (u) => fetch(u, { method: 'POST', headers: { 'content-type': 'text/plain', authorization: `Bearer ${token}` }, body: '{"query":"{ __typename }"}' })],
    ['a form POST', (u) => fetch(u, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${token}` }, body: 'query=%7B__typename%7D' })],
  ];
  test.each(simpleRequests)('%s (a request a browser sends cross-site without preflight) is refused as a possible CSRF', async (_l, send) => {
    const r = await send(production.url);
    expect(r.status).toBe(400);
    expect(await r.text()).toMatch(/Cross-Site Request Forgery/);
  });

  test('the same GET with the preflight header, or with a JSON content type, is served', async () => {
    const get = await fetch(`${production.url}?query=${encodeURIComponent('{ __typename }')}`, { headers: { authorization: `Bearer ${token}`, 'apollo-require-preflight': 'true' } });
    expect(get.status).toBe(200);
    expect(await get.json()).toEqual({ data: { __typename: 'Query' } });
    const json = await fetch(`${production.url}?query=${encodeURIComponent('{ __typename }')}`, { headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });
    expect(json.status).toBe(200);
  });
});
