/**
 * An institution's identity provider: the gateway and every subgraph verify
 * its RS256 tokens against its JWKS URL (a key set on loopback that rotates
 * its key), reading the organisation, roles and investor from the claim
 * names it uses. The stack's own HS256 tokens keep working beside it.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { dbLabel } from '../support/db.js';
import { LocalJwks } from '../support/jwks.js';
import { gql, startTestStack, type TestStack } from '../support/stack.js';

describe(`bearer tokens from an identity provider's JWKS (${dbLabel()})`, () => {
  let stack: TestStack;
  let idp: LocalJwks;
  const claims = (org: string, roles: string[]) => ({ sub: `${org}-idp-user`, 'https://idp.example/org': org, realm_access: { roles } });

  beforeAll(async () => {
    idp = await new LocalJwks().start('RS256');
    const auth = {
      AUTH_JWKS_URL: idp.url, AUTH_JWKS_COOLDOWN_MS: '0', AUTH_CLAIM_ORG: 'https://idp.example/org', AUTH_CLAIM_ROLES: 'realm_access.roles',
      AUTH_CLAIM_INVESTOR: 'investor_id', AUTH_MAX_TOKEN_LIFETIME_SECONDS: '3600',
    };
    stack = await startTestStack({ gatewayEnv: auth, subgraphEnv: auth });
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
    await idp?.stop();
  });

  type Investors = { investors: unknown[] };
  const targets = () => [stack.gateway.url, stack.subgraphs.issuance.url];

  test('a token of the provider creates and reads as its organisation at the gateway and at a subgraph; another organisation sees nothing of it', async () => {
    const issuer = await idp.sign(claims('acme', ['ISSUER_AGENT']));
    const created = await gql<{ registerInvestor: { id: string } }>(stack.gateway.url, issuer, 'mutation { registerInvestor(input: { idempotencyKey: "idp-1", legalName: "Jane Doe", type: INDIVIDUAL, jurisdiction: "US", usPerson: true }) { id } }');
    expect(created.body.errors).toBeUndefined();
    const id = created.body.data!.registerInvestor.id;
    for (const url of targets()) {
      expect((await gql<Investors>(url, issuer, '{ investors { id legalName } }')).body.data!.investors).toEqual([{ id, legalName: 'Jane Doe' }]);
      expect((await gql<Investors>(url, await idp.sign(claims('globex', ['ISSUER_AGENT'])), '{ investors { id } }')).body.data!.investors).toEqual([]);
    }
    // The stack's own HS256 tokens are still accepted beside the provider's.
    expect((await gql<Investors>(stack.gateway.url, await stack.token('acme', ['ISSUER_AGENT']), '{ investors { id } }')).body.data!.investors).toEqual([{ id }]);
  });

  test('when the provider rotates its key, new tokens are accepted everywhere and tokens of the retired key are refused', async () => {
    const old = idp.current;
    const before = await idp.sign(claims('acme', ['AUDITOR']));
    for (const url of targets()) expect((await gql(url, before, '{ securityTokens { id } }')).status).toBe(200);
    await idp.rotate('RS256');
    const after = await idp.sign(claims('acme', ['AUDITOR']));
    for (const url of targets()) {
      const r = await gql(url, after, '{ securityTokens { id } }');
      expect(r.status).toBe(200);
      expect(r.body.errors).toBeUndefined();
    }
    const retired = await idp.sign(claims('acme', ['AUDITOR']), { key: old });
    for (const url of targets()) {
      const r = await gql(url, retired, '{ securityTokens { id } }');
      expect(r.status).toBe(401);
      expect(r.body.errors?.[0].extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'UNKNOWN_KEY' });
    }
  });

  test('hostile tokens of the provider are refused with their reason at the gateway and at a subgraph, never a 500', async () => {
    const now = Math.floor(Date.now() / 1000);
    const hostile: [string, string][] = [
      [await idp.sign({ ...claims('acme', ['AUDITOR']), iat: now + 3600 }), 'FUTURE_IAT'],
      [await idp.sign(claims('acme', ['AUDITOR']), { lifetimeSeconds: 30 * 86_400 }), 'LIFETIME_TOO_LONG'],
      [await idp.sign({ sub: 'x', org: 'acme', roles: ['AUDITOR'] }), 'BAD_CLAIM'], // our claim names, not the provider's
      [await idp.sign(claims('acme', ['AUDITOR']), { audience: 'elsewhere' }), 'BAD_CLAIM'],
    ];
    // HS256 signed with the provider's public key as the secret (algorithm confusion).
    const [, payload] = (await idp.sign(claims('acme', ['ISSUER_AGENT']))).split('.');
    const { createHmac } = await import('node:crypto');
    const header = Buffer.from(JSON.stringify({ alg: 'HS256', kid: idp.current.kid })).toString('base64url');
    hostile.push([`${header}.${payload}.${createHmac('sha256', idp.current.publicPem).update(`${header}.${payload}`).digest('base64url')}`, 'BAD_SIGNATURE']);
    for (const [token, reason] of hostile) {
      for (const url of targets()) {
        const r = await gql(url, token, '{ securityTokens { id } }');
        expect([r.status, r.body.errors?.[0].extensions?.code, r.body.errors?.[0].extensions?.reason]).toEqual([401, 'UNAUTHENTICATED', reason]);
      }
    }
  });
});
