import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { serviceToken } from '../../subgraphs/kit/auth.js';
import { runHostile, stackHealthy } from '../../scripts/hostileRun.js';
import { dbLabel } from '../support/db.js';
import { gql, startTestStack, type TestStack } from '../support/stack.js';
import { firstOutcome, wsClient } from '../support/ws.js';

/**
 * The randomised hostile-input run (scripts/hostileInputs.ts, fixed seed) on
 * the whole stack, a smaller count than `npm run hostile` (HOSTILE_COUNT
 * raises it), and the NUL character on every way into a real subgraph.
 */
describe(`hostile input against the whole stack (${dbLabel()})`, () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ nodeEnv: 'production', gatewayEnv: { RATE_LIMIT_PER_MINUTE: '0' } });
  });
  afterAll(async () => stack?.stop());

  test('a seeded run of random hostile requests gets no 5xx, a code on every error, no crash close, and leaves the stack answering', async () => {
    const count = Number(process.env.HOSTILE_COUNT ?? 200);
    const f = await runHostile(stack, stack.secrets, { seed: 12, count, concurrency: 4 });
    expect(f.requests).toBe(count);
    expect(f.ws).toBeGreaterThan(0);
    expect(Object.keys(f.statuses).filter((s) => /^5/.test(s))).toEqual([]);
    expect(f.violations).toEqual([]);
    expect(await stackHealthy(stack, stack.secrets)).toEqual({ query: 200, healthz: 200 });
  }, 300_000);

  const nulQueries: [string, string, Record<string, unknown> | undefined][] = [
    ['a string literal', '{ securityToken(id: "a\\u0000b") { id } }', undefined],
    ['a variable', 'query($id: ID!) { securityToken(id: $id) { id } }', { id: 'a\u0000b' }],
  ];
  test.each(nulQueries)('a NUL character in %s is refused with 400 INPUT.NUL_CHARACTER through the gateway and straight at the subgraph with a service credential', async (_l, query, variables) => {
    const through = await gql(stack.gateway.url, await stack.token('acme', ['ISSUER_AGENT']), query, variables);
    const direct = await gql(stack.subgraphs.issuance.url, await serviceToken({ serviceSecret: stack.secrets.serviceSecret, issuer: 'tokenstack' }, 'someone'), query, variables);
    for (const r of [through, direct]) {
      expect(r.status).toBe(400);
      expect(r.body.errors?.[0].extensions?.code).toBe('INPUT.NUL_CHARACTER');
    }
  });

  test('a NUL character in an internal call or a subgraph subscription is refused too', async () => {
    const token = await serviceToken({ serviceSecret: stack.secrets.serviceSecret, issuer: 'tokenstack' }, 'trading');
    const rpc = await fetch(stack.subgraphs.custody.url.replace(/\/graphql$/, '/internal/rpc/reserve'), {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ accountId: 'a\u0000b', asset: 'x', amount: '1' }),
    });
    expect(rpc.status).toBe(400);
    expect(((await rpc.json()) as { error: { code: string } }).error.code).toBe('INPUT.NUL_CHARACTER');
    const client = wsClient(stack.subgraphs.trading.url, await stack.token('acme', ['BROKER_DEALER']));
    try {
      for (const payload of [
        { query: 'subscription { orderUpdated(accountId: "a\\u0000b") { cursor } }' },
        { query: 'subscription($a: ID!) { orderUpdated(accountId: $a) { cursor } }', variables: { a: 'a\u0000b' } },
      ]) {
        expect(await firstOutcome(client, payload)).toMatchObject({ kind: 'errors', errors: [{ extensions: { code: 'INPUT.NUL_CHARACTER' } }] });
      }
    } finally {
      await client.dispose();
    }
  });
});
