import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { serverAudits } from 'graphql-http';
import { signUserToken } from '../../subgraphs/kit/auth.js';
import { loadConfig } from '../../subgraphs/kit/config.js';
import { startGateway, type RunningGateway } from '../../gateway/server.js';
import { gatewaySettings } from '../../gateway/settings.js';

// The GraphQL-over-HTTP audits use `{ __typename }`, which the gateway answers itself.
const secret = 'h'.repeat(40);
const closed = 'http://127.0.0.1:9/graphql';

describe('GraphQL over HTTP (graphql-http audits against the gateway)', () => {
  let gw: RunningGateway;
  let token: string;
  beforeAll(async () => {
    gw = await startGateway(loadConfig(gatewaySettings, {
      PORT: '0', AUTH_JWT_SECRET: secret, LOG_LEVEL: 'silent', RATE_LIMIT_PER_MINUTE: '0',
      ISSUANCE_URL: closed, TRADING_URL: closed, SETTLEMENT_URL: closed, CUSTODY_URL: closed,
    }));
    token = await signUserToken({ secret, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject: 'audit', org: 'audit', roles: ['AUDITOR'] });
  });
  afterAll(async () => gw?.stop());

  test('every MUST audit passes', async () => {
    const audits = serverAudits({
      url: gw.url,
      fetchFn: (input: RequestInfo | URL, init?: RequestInit) => fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), authorization: `Bearer ${token}` } }),
    });
    expect(audits.filter((a) => a.name.startsWith('MUST')).length).toBeGreaterThan(10);
    const failed: string[] = [];
    for (const a of audits) {
      if (!a.name.startsWith('MUST')) continue;
      const r = await a.fn();
      if (r.status !== 'ok') failed.push(`${a.name}: ${r.reason}`);
    }
    expect(failed).toEqual([]);
  });
});
