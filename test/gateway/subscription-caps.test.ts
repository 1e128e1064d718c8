import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Client } from 'graphql-ws';
import { startGateway, type RunningGateway } from '../../gateway/server.js';
import { gatewaySettings } from '../../gateway/settings.js';
import { signUserToken } from '../../subgraphs/kit/auth.js';
import { loadConfig } from '../../subgraphs/kit/config.js';
import { gql } from '../../scripts/graphqlClient.js';
import { firstOutcome, wsClient, type WsOutcome } from '../support/ws.js';

// Only the gateway runs; its upstream subgraph is unreachable and retried for long, so an accepted subscription stays open without events.
const secret = 'c'.repeat(40);
const closed = 'http://127.0.0.1:9/graphql';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, f: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('caps on graphql-ws subscriptions per connection and per identity', () => {
  let gw: RunningGateway;
  const clients: Client[] = [];
  const alice = { org: 'acme', subject: 'alice' };
  const bob = { org: 'acme', subject: 'bob' };
  const tokens: Record<string, string> = {};
  const query = 'subscription($t: ID!) { orderBookChanged(tokenId: $t) { cursor } }';

  const connect = (who: string) => {
    const c = wsClient(gw.url, tokens[who]);
    clients.push(c);
    return c;
  };
  /** A subscription that stays open: its outcome settles only if it is refused or ends. */
  const open = (c: Client, t: string) => {
    let outcome: WsOutcome | undefined;
    let stop: () => void = () => undefined;
    const settled = new Promise<WsOutcome>((resolve) => {
      stop = c.subscribe({ query, variables: { t } }, {
        next: (value) => resolve((outcome = { kind: 'next', value: value as never })),
        error: (e) => resolve((outcome = Array.isArray(e) ? { kind: 'errors', errors: e } : { kind: 'closed', code: (e as { code?: number }).code ?? 0, reason: '' })),
        complete: () => resolve((outcome = { kind: 'closed', code: 1000, reason: 'completed' })),
      });
    });
    return { stop, settled, get outcome() { return outcome; } };
  };

  beforeAll(async () => {
    gw = await startGateway(loadConfig(gatewaySettings, {
      PORT: '0', AUTH_JWT_SECRET: secret, LOG_LEVEL: 'silent', RATE_LIMIT_PER_MINUTE: '0',
      GATEWAY_SUBSCRIPTIONS_PER_CONNECTION: '3', GATEWAY_SUBSCRIPTIONS_PER_IDENTITY: '5',
      GATEWAY_SUBSCRIPTION_RETRY_ATTEMPTS: '100000', GATEWAY_SUBSCRIPTION_RETRY_MAX_MS: '60000',
      ISSUANCE_URL: closed, TRADING_URL: closed, SETTLEMENT_URL: closed, CUSTODY_URL: closed,
    }));
    for (const [name, c] of Object.entries({ alice, bob })) tokens[name] = await signUserToken({ secret, issuer: 'tokenstack', audience: 'tokenstack-api' }, { ...c, roles: ['BROKER_DEALER'] });
  });
  afterAll(async () => {
    for (const c of clients) await c.dispose();
    await gw?.stop();
  });

  test('a connection holds at most its cap; one more is refused with SUBSCRIPTION.TOO_MANY_ON_CONNECTION; completing one frees its place', async () => {
    const c = connect('alice');
    const subs = ['t1', 't2', 't3'].map((t) => open(c, t));
    await until('three open subscriptions', () => gw.subscriptions.openFor(alice) === 3);
    expect(await firstOutcome(c, { query, variables: { t: 't4' } })).toMatchObject({ kind: 'errors', errors: [{ extensions: { code: 'SUBSCRIPTION.TOO_MANY_ON_CONNECTION', limit: 3 } }] });
    expect(subs.map((s) => s.outcome)).toEqual([undefined, undefined, undefined]); // the others go on
    subs[0].stop();
    await until('the completed subscription released', () => gw.subscriptions.openFor(alice) === 2);
    open(c, 't5');
    await until('a new subscription in the freed place', () => gw.subscriptions.openFor(alice) === 3);
  });

  test('an identity holds at most its cap over all its connections, another identity is not affected, and a killed connection frees its places', async () => {
    const second = connect('alice');
    open(second, 'u1');
    open(second, 'u2');
    await until('five open subscriptions of alice', () => gw.subscriptions.openFor(alice) === 5);
    expect(await firstOutcome(second, { query, variables: { t: 'u3' } })).toMatchObject({ kind: 'errors', errors: [{ extensions: { code: 'SUBSCRIPTION.TOO_MANY_FOR_IDENTITY', limit: 5 } }] });
    const b = connect('bob');
    open(b, 'v1');
    await until('bob\'s subscription', () => gw.subscriptions.openFor(bob) === 1);
    await second.dispose(); // the client goes away with two subscriptions open
    await until('the closed connection\'s places released', () => gw.subscriptions.openFor(alice) === 3);
    open(connect('alice'), 'u4');
    await until('alice subscribing again', () => gw.subscriptions.openFor(alice) === 4);
  });

  test('a burst of 500 subscribes on one connection opens only the cap, every other gets the code, and the gateway goes on answering', async () => {
    const c = connect('bob');
    const burst = Array.from({ length: 500 }, (_, i) => open(c, `w${i}`));
    await until('every refusal', () => burst.filter((s) => s.outcome).length === 500 - 3);
    const refused = burst.filter((s) => s.outcome).map((s) => (s.outcome as Extract<WsOutcome, { kind: 'errors' }>).errors[0].extensions?.code);
    expect(new Set(refused)).toEqual(new Set(['SUBSCRIPTION.TOO_MANY_ON_CONNECTION']));
    expect(gw.subscriptions.openFor(bob)).toBe(1 + 3);
    const r = await gql(gw.url, tokens.bob, '{ __typename }');
    expect(r).toEqual({ status: 200, body: { data: { __typename: 'Query' } } });
  });
});
