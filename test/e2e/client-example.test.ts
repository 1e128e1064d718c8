import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, test } from '@jest/globals';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { connect, createToken, GraphQLRequestError, listTokens, settlementUpdates } from '../../examples/client/index.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { dbLabel } from '../support/db.js';
import { gqlOk, startTestStack } from '../support/stack.js';

/** Whether the gateway answers graphql-ws on /graphql (it may run without subscriptions). */
async function servesSubscriptions(url: string, token: string): Promise<boolean> {
  const ws = createClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, lazy: false, connectionParams: { authorization: `Bearer ${token}` } });
  try {
    return await new Promise<boolean>((resolve) => {
      // A gateway without subscriptions refuses the upgrade at once; the deadline only keeps a dead socket from hanging the file.
      const late = setTimeout(() => resolve(false), 60_000);
      const answer = (served: boolean) => { clearTimeout(late); resolve(served); };
      ws.on('connected', () => answer(true));
      ws.on('closed', () => answer(false));
      ws.on('error', () => answer(false));
    });
  } finally {
    await ws.dispose();
  }
}

const stack = await startTestStack();
afterAll(async () => stack.stop());
const url = stack.gateway.url;
const issuer = await stack.token('acme', ['ISSUER_AGENT']);
const subscriptions = await servesSubscriptions(url, issuer);

describe(`the typed client example against a running stack (${dbLabel()})`, () => {
  test('its generated files are what `npm run codegen` writes from the current supergraph and operations', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'examples/client/codegen.ts', '--check'], { cwd: fromRoot(), encoding: 'utf8', timeout: 120_000 });
    expect([r.status, r.stderr.trim()]).toEqual([0, '']);
    expect(r.stdout).toContain('is current');
  }, 150_000);

  test('its mutation creates a token once per idempotency key and its query lists it with typed fields', async () => {
    const c = connect({ url, token: issuer });
    const input = { idempotencyKey: 'client-example-1', name: 'Client Example Notes', symbol: 'CLEX', decimals: 0, exemption: 'REG_D_506C' as const };
    const first = await createToken(c, input);
    expect(await createToken(c, input)).toEqual(first);
    expect(first).toEqual({ id: expect.stringMatching(/^tok_/), symbol: 'CLEX', exemption: 'REG_D_506C', status: expect.any(String) });
    const listed = await listTokens(c);
    expect(listed).toContainEqual({ id: first.id, symbol: 'CLEX', name: 'Client Example Notes', exemption: 'REG_D_506C', status: first.status, totalSupply: '0' });
    await c.close();
  });

  test('a refused request surfaces as an error carrying the gateway\'s code', async () => {
    const c = connect({ url, token: 'not-a-jwt' });
    const refused = await listTokens(c).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GraphQLRequestError);
    expect([(refused as GraphQLRequestError).status, (refused as GraphQLRequestError).errors[0].extensions?.code]).toEqual([401, 'UNAUTHENTICATED']);
  });

  // Subscriptions through the gateway are its graphql-ws server's job; without it there is nothing to follow.
  (subscriptions ? test : test.skip)('its subscription follows a settlement from the start of the feed to its final status', async () => {
    const custodian = await stack.token('acme', ['CUSTODIAN']);
    const settler = await stack.token('acme', ['SETTLEMENT_AGENT']);
    const tokenId = (await createToken(connect({ url, token: issuer }), { idempotencyKey: 'client-example-2', name: 'Client Example Units', symbol: 'CLEU', decimals: 0, exemption: 'REG_D_506C' })).id;
    const investorId = (await gqlOk<{ registerInvestor: { id: string } }>(url, issuer, 'mutation { registerInvestor(input: { idempotencyKey: "ce-i1", legalName: "Jane Doe", type: INDIVIDUAL, jurisdiction: "US", usPerson: true }) { id } }')).registerInvestor.id;
    const account = async (key: string) => (await gqlOk<{ openCustodyAccount: { id: string } }>(url, custodian, `mutation($i: ID!) { openCustodyAccount(input: { idempotencyKey: "${key}", investorId: $i, kind: SEGREGATED }) { id } }`, { i: investorId })).openCustodyAccount.id;
    const [buyer, seller] = [await account('ce-a1'), await account('ce-a2')];
    await gqlOk(url, await stack.token('settle-co', ['SETTLEMENT_AGENT']), 'mutation($t: ID!) { authorizeVenueToken(venue: "XNYS-ATS", tokenId: $t, authorized: true) { authorized } }', { t: tokenId });
    const settlementId = (await gqlOk<{ submitExternalTrade: { id: string } }>(url, settler, `mutation($t: ID!, $b: ID!, $s: ID!) { submitExternalTrade(input: { venue: "XNYS-ATS", venueReference: "ce-1", tokenId: $t,
      buyerAccountId: $b, sellerAccountId: $s, quantity: "3", price: "10", tradeTime: "2026-11-20T15:00:00Z" }) { id } }`, { t: tokenId, b: buyer, s: seller })).submitExternalTrade.id;

    const c = connect({ url, token: settler });
    try {
      const seen = [];
      for await (const e of settlementUpdates(c, { settlementId, after: '0', untilFinal: true })) seen.push(e);
      // Without a chain the token is not deployed, so verification at settlement time refuses the trade.
      expect(seen.map((e) => [e.settlementId, e.status, e.final])).toEqual([[settlementId, 'RECEIVED', false], [settlementId, 'REJECTED', true]]);
      expect(BigInt(seen[1].cursor) > BigInt(seen[0].cursor)).toBe(true);
    } finally {
      await c.close();
    }
  }, 60_000);
});
