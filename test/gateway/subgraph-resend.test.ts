import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startGateway, type RunningGateway } from '../../gateway/server.js';
import { gatewaySettings } from '../../gateway/settings.js';
import { isQueryBody, subgraphFetcher } from '../../gateway/subgraphFetcher.js';
import { signUserToken } from '../../subgraphs/kit/auth.js';
import { loadConfig } from '../../subgraphs/kit/config.js';
import { findFreePort } from '../../scripts/chain/anvil.js';
import { gql } from '../../scripts/graphqlClient.js';

/**
 * A subgraph on loopback whose network loses requests: the next `drop` requests
 * arrive whole and have their connection closed without an answer (what a
 * kept-alive connection closed under a request, or a subgraph dying mid-request, looks like).
 */
class LossySubgraph {
  readonly bodies: string[] = [];
  drop = 0;
  readonly server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      this.bodies.push(body);
      if (this.drop > 0) {
        this.drop--;
        req.socket.destroy();
        return;
      }
      const data = body.includes('authorizeVenueToken')
        ? { authorizeVenueToken: { venue: 'XNYS-ATS', tokenId: 'tok_1', authorized: true } }
        : body.includes('securityTokens') ? { securityTokens: [] } : { ok: true };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data }));
    });
  });

  listen(port = 0): Promise<string> {
    return new Promise((resolve) => this.server.listen(port, '127.0.0.1', () => resolve(`http://127.0.0.1:${(this.server.address() as AddressInfo).port}/graphql`)));
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const secret = 'r'.repeat(40);
const QUERY = '{ securityTokens { id } }';
const MUTATION = 'mutation { authorizeVenueToken(venue: "XNYS-ATS", tokenId: "tok_1", authorized: true) { authorized } }';

describe('the gateway sends again a subgraph request the network lost, only where it cannot run twice', () => {
  const subgraph = new LossySubgraph();
  let gateway: RunningGateway;
  let refusedGateway: RunningGateway;
  let token: string;

  beforeAll(async () => {
    const url = await subgraph.listen();
    const start = (urls: Record<string, string>) => startGateway(loadConfig(gatewaySettings, { PORT: '0', AUTH_JWT_SECRET: secret, LOG_LEVEL: 'silent', SUBGRAPH_RETRIES: '2', ...urls }));
    gateway = await start({ ISSUANCE_URL: url, TRADING_URL: url, SETTLEMENT_URL: url, CUSTODY_URL: url });
    const nobody = `http://127.0.0.1:${await findFreePort()}/graphql`; // picked, never bound
    refusedGateway = await start({ ISSUANCE_URL: nobody, TRADING_URL: nobody, SETTLEMENT_URL: nobody, CUSTODY_URL: nobody });
    token = await signUserToken({ secret, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject: 's', org: 'settle-co', roles: ['SETTLEMENT_AGENT', 'AUDITOR'] });
  });
  afterAll(async () => {
    await gateway?.stop();
    await refusedGateway?.stop();
    await subgraph.close();
  });

  test('a query whose connection broke after it left is sent again and answers', async () => {
    subgraph.bodies.length = 0;
    subgraph.drop = 1;
    const r = await gql(gateway.url, token, QUERY);
    expect([r.status, r.body.errors, r.body.data]).toEqual([200, undefined, { securityTokens: [] }]);
    expect(subgraph.bodies).toHaveLength(2);
    expect(isQueryBody(subgraph.bodies[0])).toBe(true); // the gateway's own text for a query
  });

  test('a mutation whose connection broke after it left is not sent again: the subgraph saw it once, the caller gets a retryable error', async () => {
    subgraph.bodies.length = 0;
    subgraph.drop = 1;
    const r = await gql(gateway.url, token, MUTATION);
    expect(r.body.errors?.[0].extensions).toEqual({ code: 'DOWNSTREAM_SERVICE_ERROR', serviceName: 'settlement', retryable: true, reason: 'UND_ERR_SOCKET' });
    expect(subgraph.bodies).toHaveLength(1);
    expect(isQueryBody(subgraph.bodies[0])).toBe(false); // the gateway's own text for a mutation
  });

  test('resends are bounded: a query lost every time fails after SUBGRAPH_RETRIES resends', async () => {
    subgraph.bodies.length = 0;
    subgraph.drop = 10;
    const r = await gql(gateway.url, token, QUERY);
    expect(r.body.errors?.[0].extensions).toMatchObject({ code: 'DOWNSTREAM_SERVICE_ERROR', reason: 'UND_ERR_SOCKET' });
    expect(subgraph.bodies).toHaveLength(3);
    subgraph.drop = 0;
  });

  test('a subgraph nobody listens for is refused with its reason after the resends, query or mutation', async () => {
    for (const doc of [QUERY, MUTATION]) {
      const r = await gql(refusedGateway.url, token, doc);
      expect([r.status, r.body.errors?.[0].extensions]).toEqual([200, expect.objectContaining({ code: 'DOWNSTREAM_SERVICE_ERROR', retryable: true, reason: 'ECONNREFUSED' })]);
    }
  });
});

describe('subgraphFetcher', () => {
  test('a mutation whose connection was refused is sent again (nothing reached the subgraph): it runs once, when the subgraph is up', async () => {
    const port = await findFreePort();
    const late = new LossySubgraph();
    const reasons: string[] = [];
    // The subgraph comes up after the first refusal; until it listens, each refusal is resent (pauses doubling from 5 ms).
    const fetcher = subgraphFetcher({ timeoutMs: 10_000, retries: 10, retryPauseMs: 5, onResend: (reason) => {
      reasons.push(reason);
      if (reasons.length === 1) void late.listen(port);
    } });
    try {
      const r = await fetcher(`http://127.0.0.1:${port}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: MUTATION }) });
      expect(r.status).toBe(200);
      expect(reasons.length).toBeGreaterThan(0);
      expect(new Set(reasons)).toEqual(new Set(['ECONNREFUSED']));
      expect(late.bodies).toHaveLength(1);
    } finally {
      await late.close();
    }
  });

  test('no resend with SUBGRAPH_RETRIES=0, and none past the deadline', async () => {
    const s = new LossySubgraph();
    const url = await s.listen();
    try {
      s.drop = 1;
      const none = subgraphFetcher({ timeoutMs: 10_000, retries: 0 });
      const e = await none(url, { method: 'POST', body: JSON.stringify({ query: QUERY }) }).catch((x: unknown) => x);
      expect([(e as Error).name, ((e as Error).cause as { code?: string }).code, s.bodies.length]).toEqual(['TypeError', 'UND_ERR_SOCKET', 1]);

      // A subgraph that never answers: the deadline ends the fetch, and an aborted fetch is not sent again.
      const silent = createServer(() => undefined);
      const silentUrl = await new Promise<string>((resolve) => silent.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/`)));
      let resends = 0;
      const bounded = subgraphFetcher({ timeoutMs: 200, retries: 5, onResend: () => resends++ });
      const t = await bounded(silentUrl, { method: 'POST', body: JSON.stringify({ query: QUERY }) }).catch((x: unknown) => x);
      silent.closeAllConnections();
      silent.close();
      expect([(t as Error).name, resends]).toEqual(['TimeoutError', 0]);
    } finally {
      await s.close();
    }
  });

  test('only a body that is surely a query counts as one', () => {
    expect(isQueryBody(JSON.stringify({ query: 'query Q { a }' }))).toBe(true);
    expect(isQueryBody(JSON.stringify({ query: '{ a }' }))).toBe(true);
    expect(isQueryBody(JSON.stringify({ query: 'mutation { a }' }))).toBe(false);
    expect(isQueryBody(JSON.stringify({ variables: {}, query: 'query { a }' }))).toBe(false); // not the gateway's shape: counted as having effects
    expect(isQueryBody(JSON.stringify({ query: 'queryType { a }' }))).toBe(false);
    expect(isQueryBody(undefined)).toBe(false);
  });
});
