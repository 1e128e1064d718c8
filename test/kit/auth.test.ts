/**
 * Bearer verification (kit/auth.ts, used by the gateway and every subgraph)
 * against hostile tokens: algorithm confusion, unsigned tokens, tokens from
 * the future or made to live too long, and an identity provider's key set on
 * loopback that rotates its key.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createSecretKey } from 'node:crypto';
import { GraphQLError } from 'graphql';
import { SignJWT } from 'jose';
import { createVerifier, signUserToken, type AuthSettings, type Verifier } from '../../subgraphs/kit/auth.js';
import { LocalJwks } from '../support/jwks.js';

const SECRET = 's'.repeat(40);
const base = { issuer: 'tokenstack', audience: 'tokenstack-api' };
const now = () => Math.floor(Date.now() / 1000);
const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');

/** The refusal's reason, or 'ACCEPTED'. */
async function outcome(verify: Verifier, token: string): Promise<string> {
  try {
    await verify(`Bearer ${token}`);
    return 'ACCEPTED';
  } catch (e) {
    expect(e).toBeInstanceOf(GraphQLError);
    expect((e as GraphQLError).extensions.code).toBe('UNAUTHENTICATED');
    return String((e as GraphQLError).extensions.reason);
  }
}

const hs256 = (claims: Record<string, unknown>, secret = SECRET) =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setSubject('u').setIssuer('tokenstack').setAudience('tokenstack-api').sign(createSecretKey(Buffer.from(secret)));

describe('bearer verification against hostile tokens', () => {
  let idp: LocalJwks;
  beforeAll(async () => { idp = await new LocalJwks().start(); });
  afterAll(async () => idp?.stop());

  test('a secret accepts HS256 only: an RS256 token and an unsigned one (alg none) are refused', async () => {
    const verify = createVerifier({ ...base, secret: SECRET });
    expect(await outcome(verify, await signUserToken({ ...base, secret: SECRET }, { subject: 'u', org: 'acme', roles: ['AUDITOR'] }))).toBe('ACCEPTED');
    expect(await outcome(verify, await idp.sign({ sub: 'u', org: 'acme', roles: ['AUDITOR'] }))).toBe('BAD_ALGORITHM');
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'u', org: 'acme', roles: ['AUDITOR'], iss: 'tokenstack', aud: 'tokenstack-api', iat: now(), exp: now() + 60 })}.`;
    expect(await outcome(verify, none)).toBe('BAD_ALGORITHM');
  });

  test('a public key accepts its own algorithm only: an HS256 token signed with the public key as its secret (algorithm confusion) is refused', async () => {
    const verify = createVerifier({ ...base, publicKey: idp.current.publicPem });
    expect(await outcome(verify, await idp.sign({ sub: 'u', org: 'acme', roles: ['AUDITOR'] }))).toBe('ACCEPTED');
    const confused = await hs256({ org: 'acme', roles: ['ISSUER_AGENT'], iat: now(), exp: now() + 60 }, idp.current.publicPem);
    expect(await outcome(verify, confused)).toBe('BAD_ALGORITHM');
    // The same with a JWKS: its keys never serve as an HMAC secret.
    const viaJwks = createVerifier({ ...base, jwksUrl: idp.url });
    expect(await outcome(viaJwks, confused)).toBe('BAD_ALGORITHM');
  });

  test('with a secret and a JWKS, each algorithm is checked with its own key only', async () => {
    const verify = createVerifier({ ...base, secret: SECRET, jwksUrl: idp.url });
    expect(await outcome(verify, await hs256({ org: 'acme', roles: ['AUDITOR'], iat: now(), exp: now() + 60 }))).toBe('ACCEPTED');
    expect(await outcome(verify, await idp.sign({ sub: 'u', org: 'acme', roles: ['AUDITOR'] }))).toBe('ACCEPTED');
    // An ES256 header over an RS256 signature: the key set has no ES256 key of that id.
    const rs = await idp.sign({ sub: 'u', org: 'acme', roles: ['AUDITOR'] });
    const [, payload, sig] = rs.split('.');
    expect(await outcome(verify, `${b64({ alg: 'ES256', kid: idp.current.kid })}.${payload}.${sig}`)).not.toBe('ACCEPTED');
    expect(await outcome(verify, `${b64({ alg: 'PS256', kid: idp.current.kid })}.${payload}.${sig}`)).toBe('BAD_ALGORITHM');
  });

  test('a token issued in the future beyond the clock skew, or living longer than allowed, is refused; within them it is accepted', async () => {
    const s: AuthSettings = { ...base, secret: SECRET, clockSkewSeconds: 30, maxLifetimeSeconds: 3600 };
    const verify = createVerifier(s);
    const claims = { org: 'acme', roles: ['AUDITOR'] };
    expect(await outcome(verify, await hs256({ ...claims, iat: now() + 20, exp: now() + 600 }))).toBe('ACCEPTED');
    expect(await outcome(verify, await hs256({ ...claims, iat: now() + 300, exp: now() + 900 }))).toBe('FUTURE_IAT');
    expect(await outcome(verify, await hs256({ ...claims, iat: now(), exp: now() + 3600 }))).toBe('ACCEPTED');
    expect(await outcome(verify, await hs256({ ...claims, iat: now(), exp: now() + 3601 + 60 }))).toBe('LIFETIME_TOO_LONG');
    // A backdated iat cannot hide a long life: the lifetime is exp - iat.
    expect(await outcome(verify, await hs256({ ...claims, iat: now() - 86_400, exp: now() + 60 }))).toBe('LIFETIME_TOO_LONG');
    expect(await outcome(verify, await hs256({ ...claims, exp: now() + 60 }))).toBe('BAD_CLAIM'); // no iat at all
    expect(await outcome(verify, await hs256({ ...claims, iat: now() }))).toBe('BAD_CLAIM'); // no exp at all
    // The same rules for the identity provider's tokens.
    const viaJwks = createVerifier({ ...s, secret: undefined, jwksUrl: idp.url });
    expect(await outcome(viaJwks, await idp.sign({ sub: 'u', ...claims, iat: now() + 300 }))).toBe('FUTURE_IAT');
    expect(await outcome(viaJwks, await idp.sign({ sub: 'u', ...claims }, { lifetimeSeconds: 7200 }))).toBe('LIFETIME_TOO_LONG');
  });

  test('the identity provider\'s claim names are read as configured (nested paths, space-separated roles); our own HS256 tokens keep ours', async () => {
    const verify = createVerifier({ ...base, secret: SECRET, jwksUrl: idp.url, claims: { org: 'https://idp.example/org', roles: 'realm_access.roles', investor: 'investor_id' } });
    const caller = await verify(`Bearer ${await idp.sign({ sub: 'jane', 'https://idp.example/org': 'acme', realm_access: { roles: ['INVESTOR', 'SOMETHING_ELSE'] }, investor_id: 'inv_1' })}`);
    expect(caller).toMatchObject({ kind: 'user', subject: 'jane', org: 'acme', roles: ['INVESTOR'], investorId: 'inv_1' });
    const spaced = await verify(`Bearer ${await idp.sign({ sub: 'bob', 'https://idp.example/org': 'acme', realm_access: { roles: 'AUDITOR BROKER_DEALER' } })}`);
    expect(spaced.roles).toEqual(['AUDITOR', 'BROKER_DEALER']);
    // The IdP's token with our claim names instead of the configured ones carries no organisation.
    expect(await outcome(verify, await idp.sign({ sub: 'eve', org: 'acme', roles: ['AUDITOR'] }))).toBe('BAD_CLAIM');
    // A partner or dev token signed with our secret uses org/roles/inv as always.
    expect(await verify(`Bearer ${await signUserToken({ ...base, secret: SECRET }, { subject: 'partner:x', org: 'acme', roles: ['AUDITOR'] })}`)).toMatchObject({ org: 'acme', roles: ['AUDITOR'] });
  });

  test('the key set is cached, fetched again when the provider rotates its key, and the retired key is refused', async () => {
    const jwks = await new LocalJwks().start('ES256');
    try {
      const verify = createVerifier({ ...base, jwksUrl: jwks.url, jwks: { cacheMaxAgeMs: 600_000, cooldownMs: 0, timeoutMs: 5_000 } });
      const claims = { sub: 'u', org: 'acme', roles: ['AUDITOR'] };
      const old = jwks.current;
      const before = await jwks.sign(claims);
      for (let i = 0; i < 5; i++) expect(await outcome(verify, before)).toBe('ACCEPTED');
      expect(jwks.fetches).toBe(1); // cached
      await jwks.rotate('ES256');
      expect(await outcome(verify, await jwks.sign(claims))).toBe('ACCEPTED'); // an unknown key id: fetched again
      expect(jwks.fetches).toBe(2);
      expect(await outcome(verify, await jwks.sign(claims, { key: old }))).toBe('UNKNOWN_KEY'); // retired
      // The very token string accepted five times above: a key set's token is not remembered past the key's retirement.
      expect(await outcome(verify, before)).toBe('UNKNOWN_KEY');
      // A token naming the current key id but signed by another key.
      const forged = await new LocalJwks().start('ES256').then(async (other) => {
        try {
          return await other.sign(claims, { key: { ...other.current, kid: jwks.current.kid } });
        } finally {
          await other.stop();
        }
      });
      expect(await outcome(verify, forged)).toBe('BAD_SIGNATURE');
    } finally {
      await jwks.stop();
    }
  });

  test('an identity provider that cannot be reached is a retryable 503, not a forged-token 401', async () => {
    const gone = await new LocalJwks().start();
    const url = gone.url;
    const token = await gone.sign({ sub: 'u', org: 'acme', roles: ['AUDITOR'] });
    await gone.stop();
    const verify = createVerifier({ ...base, jwksUrl: url, jwks: { cacheMaxAgeMs: 600_000, cooldownMs: 0, timeoutMs: 2_000 } });
    const e = await verify(`Bearer ${token}`).then(() => undefined, (x: GraphQLError) => x);
    expect(e?.extensions).toMatchObject({ code: 'UNAUTHENTICATED', reason: 'KEYS_UNAVAILABLE', retryable: true, http: { status: 503 } });
  });
});
