import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { signUserToken } from '../../subgraphs/kit/auth.js';
import { loadConfig } from '../../subgraphs/kit/config.js';
import { startGateway, type RunningGateway } from '../../gateway/server.js';
import { gatewaySettings } from '../../gateway/settings.js';
import { gql } from '../../scripts/graphqlClient.js';

// Only the gateway runs: every request here is refused (or answered) before any subgraph would be asked.
const secret = 'g'.repeat(40);
const closed = 'http://127.0.0.1:9/graphql';

describe('the gateway\'s protections', () => {
  let gw: RunningGateway;
  const token = (org: string) => signUserToken({ secret, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject: 's', org, roles: ['AUDITOR'] });

  beforeAll(async () => {
    gw = await startGateway(loadConfig(gatewaySettings, {
      PORT: '0', AUTH_JWT_SECRET: secret, LOG_LEVEL: 'silent', MAX_DEPTH: '4', MAX_ALIASES: '3', MAX_TOKENS: '200', MAX_COST: '60',
      RATE_LIMIT_PER_MINUTE: '5', REQUEST_MAX_BYTES: '2000', NODE_ENV: 'production',
      ISSUANCE_URL: closed, TRADING_URL: closed, SETTLEMENT_URL: closed, CUSTODY_URL: closed,
    }));
  });
  afterAll(async () => gw?.stop());

  const cases: [string, string, string][] = [
    ['too deep', '{ settlements { token { orderBook { bids { price } } } } }', 'LIMIT.DEPTH_EXCEEDED'],
    ['too many aliases', '{ a: securityTokens { id } b: securityTokens { id } c: securityTokens { id } d: securityTokens { id } }', 'LIMIT.ALIASES_EXCEEDED'],
    ['too costly', '{ securityTokens { id name symbol decimals exemption status paused issuerOrg totalSupply createdAt } }', 'LIMIT.COST_EXCEEDED'],
    ['too many tokens', `{ ${Array.from({ length: 120 }, (_, i) => `f${i}: __typename`).join(' ')} }`, 'GRAPHQL_PARSE_FAILED'],
  ];
  test.each(cases)('an operation that is %s is refused with its code before any subgraph is called', async (_l, query, code) => {
    const r = await gql(gw.url, await token(`org-${code}`), query);
    expect(r.status).toBe(400);
    expect(r.body.errors?.[0].extensions?.code).toBe(code);
  });

  test('a request body over the size limit is refused with 413', async () => {
    const r = await fetch(gw.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${await token('big')}` }, body: JSON.stringify({ query: `{ __typename } # ${'x'.repeat(3000)}` }) });
    expect(r.status).toBe(413);
  });

  test('an organisation over its rate limit gets 429 RATE_LIMITED while another organisation is still served', async () => {
    const busy = await token('busy-org');
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) statuses.push((await gql(gw.url, busy, '{ __typename }')).status);
    expect(statuses.slice(0, 5)).toEqual([200, 200, 200, 200, 200]);
    const refused = await gql(gw.url, busy, '{ __typename }');
    expect(refused.status).toBe(429);
    expect(refused.body.errors?.[0].extensions).toMatchObject({ code: 'RATE_LIMITED', retryable: true });
    expect((await gql(gw.url, await token('calm-org'), '{ __typename }')).status).toBe(200);
  });

  test('in production, introspection is off and field suggestions are hidden', async () => {
    const intro = await gql(gw.url, await token('intro'), '{ __schema { types { name } } }');
    expect(intro.status).toBe(400);
    const typo = await gql(gw.url, await token('typo'), '{ securityToken { idd } }');
    expect(JSON.stringify(typo.body.errors)).not.toMatch(/Did you mean/);
  });

  test('a state-changing GET or a simple cross-site POST is refused (CSRF prevention)', async () => {
    const r = await fetch(`${gw.url}?query=${encodeURIComponent('{ __typename }')}`, { headers: { authorization: `Bearer ${await token('csrf')}` } });
    expect(r.status).toBe(400);
    const form = await fetch(gw.url, { method: 'POST', headers: { 'content-type': 'text/plain', authorization: `Bearer ${await token('csrf')}` }, body: '{"query":"{ __typename }"}' });
    expect(form.status).toBe(400);
  });
});
