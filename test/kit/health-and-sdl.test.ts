import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { serviceToken, signUserToken } from '../../subgraphs/kit/auth.js';
import { findFreePort } from '../../scripts/chain/anvil.js';
import { startSubgraph, subgraphConfig, type RunningSubgraph } from '../../subgraphs/kit/subgraph.js';
import { issuance } from '../../subgraphs/issuance/index.js';
import { settlement } from '../../subgraphs/settlement/index.js';
import { gql } from '../../scripts/graphqlClient.js';
import { until } from '../trading/support.js';

const secrets = { AUTH_JWT_SECRET: 'j'.repeat(32), SERVICE_SECRET: 's'.repeat(32) };
const userToken = () => signUserToken({ secret: secrets.AUTH_JWT_SECRET, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject: 'u', org: 'any-co', roles: ['AUDITOR', 'ISSUER_AGENT'] });
const gatewayToken = () => serviceToken({ serviceSecret: secrets.SERVICE_SECRET, issuer: 'tokenstack' }, 'gateway');
const SDL = '{ _service { sdl } }';
type Sdl = { _service: { sdl: string } };

describe('a subgraph in production serves its SDL only to the service credential', () => {
  const started: RunningSubgraph[] = [];
  const start = async (nodeEnv: string) => {
    const sg = await startSubgraph(issuance, subgraphConfig(issuance, { ...secrets, PORT: '0', DATABASE_URL: 'memory://', LOG_LEVEL: 'silent', NODE_ENV: nodeEnv }));
    started.push(sg);
    return sg;
  };
  afterAll(async () => { for (const s of started) await s.stop(); });

  test('production: a user of any role gets FORBIDDEN, the service credential the SDL', async () => {
    const sg = await start('production');
    const refused = await gql<Sdl>(sg.url, await userToken(), SDL);
    expect(refused.body.data).toBeNull();
    expect(refused.body.errors?.map((e) => e.extensions?.code)).toEqual(['FORBIDDEN']);
    expect(JSON.stringify(refused.body)).not.toContain('type SecurityToken');
    const served = await gql<Sdl>(sg.url, await gatewayToken(), SDL);
    expect(served.body.data!._service.sdl).toContain('type SecurityToken');
  }, 60_000);

  test('development: any authenticated user may read it (tools compose from it)', async () => {
    const sg = await start('development');
    const served = await gql<Sdl>(sg.url, await userToken(), SDL);
    expect(served.body.data!._service.sdl).toContain('type SecurityToken');
  }, 60_000);
});

describe('a peer that is down is /healthz detail, not a reason to be unready', () => {
  let sg: RunningSubgraph;
  beforeAll(async () => {
    const dead = `http://127.0.0.1:${await findFreePort()}`; // trading: nothing listens here
    sg = await startSubgraph(settlement, subgraphConfig(settlement, {
      ...secrets, PORT: '0', DATABASE_URL: 'memory://', LOG_LEVEL: 'silent', TRADING_URL: dead, ISSUANCE_URL: dead, CUSTODY_URL: dead,
    }));
  }, 60_000);
  afterAll(async () => sg?.stop());

  test("settlement stays ready while trading's feed cannot be read, and /healthz names the feed", async () => {
    const base = sg.url.replace(/\/graphql$/, '');
    const health = await until('the feed failure reported', async () => {
      const h = (await (await fetch(`${base}/healthz`)).json()) as { status: string; dependencies?: Record<string, string> };
      return h.dependencies ? h : null;
    });
    expect(health.status).toBe('ok');
    expect(Object.keys(health.dependencies!)).toEqual(['trading feed']);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', service: 'settlement' });
  }, 60_000);
});
