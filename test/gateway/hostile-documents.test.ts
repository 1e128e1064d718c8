import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Client } from 'graphql-ws';
import { startGateway, type RunningGateway } from '../../gateway/server.js';
import { gatewaySettings } from '../../gateway/settings.js';
import { operationId, readManifest } from '../../gateway/persisted/manifest.js';
import { addPartnerKey } from '../../gateway/persisted/partners.js';
import { signUserToken } from '../../subgraphs/kit/auth.js';
import { loadConfig } from '../../subgraphs/kit/config.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { fragmentBomb } from '../../scripts/hostileInputs.js';
import { firstOutcome, wsClient } from '../support/ws.js';

// Only the gateway runs (its subgraphs' addresses are closed): every case here is refused, or answered, before any subgraph is asked.
const secret = 'd'.repeat(40);
const closed = 'http://127.0.0.1:9/graphql';

const heavyTrades = (limit: string) => `trades(tokenId: "t", limit: ${limit}) { id token { capTable { holders { lots { remaining } } } } }`;

describe('hostile documents and requests at the gateway', () => {
  let gw: RunningGateway;
  let token: string;
  let dir: string;
  const keys: Record<string, string> = {};
  const clients: Client[] = [];
  const manifest = readManifest(fromRoot('schema', 'persisted-operations.json'));

  async function post(body: unknown, who: { key?: string; bearer?: string } = { bearer: token }) {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (who.key) headers['x-api-key'] = who.key;
    if (who.bearer) headers.authorization = `Bearer ${who.bearer}`;
    const r = await fetch(gw.url, { method: 'POST', headers, body: JSON.stringify(body) });
    return { status: r.status, body: (await r.json()) as { data?: unknown; errors?: { message: string; extensions?: Record<string, unknown> }[] } };
  }
  const ws = () => {
    const c = wsClient(gw.url, token);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hostile-'));
    const partners = join(dir, 'partners.json');
    keys.safelist = addPartnerKey(partners, manifest, { name: 'safe', org: 'acme', roles: ['CUSTODIAN'], mode: 'SAFELIST', operations: ['Positions'] }).key;
    keys.idsOnly = addPartnerKey(partners, manifest, { name: 'ids', org: 'acme', roles: ['CUSTODIAN'], mode: 'IDS_ONLY', operations: ['Positions'] }).key;
    gw = await startGateway(loadConfig(gatewaySettings, {
      PORT: '0', AUTH_JWT_SECRET: secret, LOG_LEVEL: 'silent', RATE_LIMIT_PER_MINUTE: '0', NODE_ENV: 'production', GATEWAY_PARTNERS_PATH: partners,
      ISSUANCE_URL: closed, TRADING_URL: closed, SETTLEMENT_URL: closed, CUSTODY_URL: closed,
    }));
    token = await signUserToken({ secret, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject: 'h', org: 'acme', roles: ['AUDITOR'] });
  });
  afterAll(async () => {
    for (const c of clients) await c.dispose();
    await gw?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('fragments that expand exponentially', () => {
    test('the doubling-fragment document (k = 20 to 30) is refused over HTTP with LIMIT.SELECTIONS_EXCEEDED, and the gateway still answers', async () => {
      for (let k = 20; k <= 30; k++) {
        const r = await post({ query: fragmentBomb(k) });
        expect([k, r.status]).toEqual([k, 400]);
        expect(r.body.errors?.[0].extensions).toMatchObject({ code: 'LIMIT.SELECTIONS_EXCEEDED', selections: 2 ** k });
      }
      expect(await post({ query: '{ __typename }' })).toEqual({ status: 200, body: { data: { __typename: 'Query' } } });
    }, 30_000);

    test('the same documents are refused over graphql-ws, as a subscription and as a query', async () => {
      const client = ws();
      for (let k = 20; k <= 30; k += 5) {
        const sub = await firstOutcome(client, { query: fragmentBomb(k, 'Subscription', 'orderBookChanged(tokenId: "t") { cursor }', 'subscription ') });
        expect(sub).toMatchObject({ kind: 'errors', errors: [{ extensions: { code: 'LIMIT.SELECTIONS_EXCEEDED' } }] });
        const query = await firstOutcome(client, { query: fragmentBomb(k) });
        expect(query).toMatchObject({ kind: 'errors', errors: [{ extensions: { code: 'LIMIT.SELECTIONS_EXCEEDED' } }] });
      }
    }, 30_000);

    test('fragments that stay under the selection limit but multiply a costly leaf are refused for their cost, on HTTP and graphql-ws', async () => {
      // 2^8 copies of a leaf of cost 115: 1,536 selections, cost 29,440.
      const leaf = 'tradeExecuted(tokenId: "t") { trade { token { capTable { holders { lots { remaining } } } } } }';
      const sub = await firstOutcome(ws(), { query: fragmentBomb(8, 'Subscription', leaf, 'subscription ') });
      expect(sub).toMatchObject({ kind: 'errors', errors: [{ extensions: { code: 'LIMIT.COST_EXCEEDED', cost: 256 * 115 } }] });
      const r = await post({ query: fragmentBomb(8, 'Query', heavyTrades('1')) });
      expect(r.status).toBe(400);
      expect(r.body.errors?.[0].extensions).toMatchObject({ code: 'LIMIT.COST_EXCEEDED', cost: 256 * 115 });
    });
  });

  describe('cost with the request\'s variables', () => {
    test('a page size of 1000 is refused alike as a literal and as a variable', async () => {
      const literal = await post({ query: `{ ${heavyTrades('1000')} }` });
      const variable = await post({ query: `query($n: Int) { ${heavyTrades('$n')} }`, variables: { n: 1000 } });
      for (const r of [literal, variable]) {
        expect(r.status).toBe(400);
        expect(r.body.errors?.[0].extensions).toMatchObject({ code: 'LIMIT.COST_EXCEEDED', cost: 114_001 });
      }
    });

    test('a variable the request leaves out counts at the largest page; the operation\'s default counts as given', async () => {
      const missing = await post({ query: `query($n: Int) { ${heavyTrades('$n')} }` });
      expect(missing.body.errors?.[0].extensions).toMatchObject({ code: 'LIMIT.COST_EXCEEDED', cost: 114_001 });
      const notANumber = await post({ query: `query($n: Int) { ${heavyTrades('$n')} }`, variables: { n: '5' } });
      expect(notANumber.body.errors?.[0].extensions?.code).toBe('LIMIT.COST_EXCEEDED');
      const defaulted = await post({ query: `query($n: Int = 5) { ${heavyTrades('$n')} }` });
      expect(defaulted.body.errors?.[0].extensions?.code).not.toBe('LIMIT.COST_EXCEEDED');
    });

    test('a small page given by a variable passes the limit (and goes on to the subgraph)', async () => {
      const r = await post({ query: `query($n: Int) { ${heavyTrades('$n')} }`, variables: { n: 100 } });
      expect(r.body.errors?.[0].extensions?.code).not.toMatch(/^LIMIT\./);
      expect(r.body.errors?.[0].extensions?.serviceName).toBe('trading');
    });

    test('a page size inside an input object is read too, literal or variable', async () => {
      const heavyOrders = 'orders(filter: FILTER) { id token { capTable { holders { lots { remaining } } } } }';
      const literal = await post({ query: `{ ${heavyOrders.replace('FILTER', '{ limit: 1000 }')} }` });
      const variable = await post({ query: `query($f: OrderFilter) { ${heavyOrders.replace('FILTER', '$f')} }`, variables: { f: { limit: 1000 } } });
      for (const r of [literal, variable]) expect(r.body.errors?.[0].extensions).toMatchObject({ code: 'LIMIT.COST_EXCEEDED', cost: 1 + 1000 * 114 });
    });
  });

  describe('client mistakes are 4xx with a code, never 500', () => {
    test('an operationName the document does not define: 400 REQUEST.UNKNOWN_OPERATION', async () => {
      const r = await post({ query: '{ __typename }', operationName: 'X' });
      expect(r.status).toBe(400);
      expect(r.body.errors?.[0].extensions?.code).toBe('REQUEST.UNKNOWN_OPERATION');
      const two = await post({ query: 'query A { __typename } query B { __typename }' });
      expect(two.status).toBe(400);
      expect(two.body.errors?.[0].extensions?.code).toBe('REQUEST.OPERATION_NAME_REQUIRED');
    });

    test('a subscription over HTTP: 400 SUBSCRIPTION.USE_GRAPHQL_WS naming graphql-ws', async () => {
      const r = await post({ query: 'subscription { orderBookChanged(tokenId: "t") { cursor } }' });
      expect(r.status).toBe(400);
      expect(r.body.errors?.[0]).toMatchObject({ message: expect.stringMatching(/graphql-ws/), extensions: { code: 'SUBSCRIPTION.USE_GRAPHQL_WS' } });
    });

    test('a NUL character in a string literal or in a variable: 400 INPUT.NUL_CHARACTER, over HTTP and graphql-ws', async () => {
      const literal = await post({ query: '{ securityToken(id: "a\\u0000b") { id } }' });
      const variable = await post({ query: 'query($id: ID!) { securityToken(id: $id) { id } }', variables: { id: 'a\u0000b' } });
      const get = await fetch(`${gw.url}?query=${encodeURIComponent('query($id: ID!) { securityToken(id: $id) { id } }')}&variables=${encodeURIComponent(JSON.stringify({ id: 'a\u0000b' }))}`, { headers: { authorization: `Bearer ${token}`, 'apollo-require-preflight': '1' } });
      for (const r of [literal, variable, { status: get.status, body: (await get.json()) as typeof literal.body }]) {
        expect(r.status).toBe(400);
        expect(r.body.errors?.[0].extensions?.code).toBe('INPUT.NUL_CHARACTER');
      }
      const client = ws();
      const wsLiteral = await firstOutcome(client, { query: 'subscription { orderUpdated(accountId: "a\\u0000b") { cursor } }' });
      const wsVariable = await firstOutcome(client, { query: 'subscription($a: ID!) { orderUpdated(accountId: $a) { cursor } }', variables: { a: 'a\u0000b' } });
      for (const o of [wsLiteral, wsVariable]) expect(o).toMatchObject({ kind: 'errors', errors: [{ extensions: { code: 'INPUT.NUL_CHARACTER' } }] });
    });
  });

  describe('malformed persisted queries (APQ) and partners locked to their list', () => {
    const registered = '{ __typename }';
    const hash = operationId(registered);
    beforeAll(async () => {
      // Any bearer client registers a text in the shared APQ cache.
      const r = await post({ query: registered, extensions: { persistedQuery: { version: 1, sha256Hash: hash } } });
      expect(r.status).toBe(200);
    });

    const malformed: [string, unknown][] = [
      ['the hash inside an array', { persistedQuery: { version: 1, sha256Hash: [hash] } }],
      ['the hash inside an object', { persistedQuery: { version: 1, sha256Hash: { h: hash } } }],
      ['a number as hash', { persistedQuery: { version: 1, sha256Hash: 12 } }],
      ['an upper-case hash', { persistedQuery: { version: 1, sha256Hash: hash.toUpperCase() } }],
      ['version 2', { persistedQuery: { version: 2, sha256Hash: hash } }],
      ['version "1"', { persistedQuery: { version: '1', sha256Hash: hash } }],
      ['an extra field', { persistedQuery: { version: 1, sha256Hash: hash, query: registered } }],
      ['persistedQuery nested once more', { persistedQuery: { persistedQuery: { version: 1, sha256Hash: hash } } }],
      ['persistedQuery as an array', { persistedQuery: [{ version: 1, sha256Hash: hash }] }],
      ['persistedQuery as a string', { persistedQuery: hash }],
    ];
    test.each(malformed)('%s: 400 PERSISTED_QUERY_INVALID for a SAFELIST partner, an IDS_ONLY partner and a bearer client, over POST and GET', async (_l, extensions) => {
      for (const who of [{ key: keys.safelist }, { key: keys.idsOnly }, { bearer: token }]) {
        const r = await post({ extensions }, who);
        expect([who, r.status, r.body.errors?.[0].extensions?.code]).toEqual([who, 400, 'PERSISTED_QUERY_INVALID']);
        expect(r.body.data).toBeUndefined();
        const headers: Record<string, string> = { 'apollo-require-preflight': '1', ...(who.key ? { 'x-api-key': who.key } : { authorization: `Bearer ${who.bearer}` }) };
        const get = await fetch(`${gw.url}?extensions=${encodeURIComponent(JSON.stringify(extensions))}`, { headers });
        const body = (await get.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
        expect([who, get.status, body.errors?.[0].extensions?.code, body.data]).toEqual([who, 400, 'PERSISTED_QUERY_INVALID', undefined]);
      }
    });

    test('a malformed persistedQuery on a graphql-ws subscribe is refused with PERSISTED_QUERY_INVALID', async () => {
      const client = ws();
      for (const persistedQuery of [{ version: 1, sha256Hash: [hash] }, { version: 2, sha256Hash: hash }, 'x']) {
        const o = await firstOutcome(client, { query: 'subscription { orderBookChanged(tokenId: "t") { cursor } }', extensions: { persistedQuery } });
        expect(o).toMatchObject({ kind: 'errors', errors: [{ extensions: { code: 'PERSISTED_QUERY_INVALID' } }] });
      }
    });

    test('a locked partner sending the well-formed hash of a text outside its list is refused, though APQ holds the text', async () => {
      for (const key of [keys.safelist, keys.idsOnly]) {
        const r = await post({ extensions: { persistedQuery: { version: 1, sha256Hash: hash } } }, { key });
        expect([r.status, r.body.errors?.[0].extensions?.code]).toEqual([400, 'PERSISTED_QUERY_NOT_IN_LIST']);
      }
    });

    test('a hash sent with a text it is not the hash of: 400 PERSISTED_QUERY_HASH_MISMATCH, the listed id does not carry another text', async () => {
      const listed = manifest.operations.find((o) => o.name === 'Positions')!.id;
      const r = await post({ query: registered, extensions: { persistedQuery: { version: 1, sha256Hash: listed } } }, { key: keys.safelist });
      expect([r.status, r.body.errors?.[0].extensions?.code]).toEqual([400, 'PERSISTED_QUERY_HASH_MISMATCH']);
    });
  });
});
