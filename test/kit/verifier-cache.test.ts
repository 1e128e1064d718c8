import { describe, expect, test } from '@jest/globals';
import { createVerifier, serviceToken, signUserToken } from '../../subgraphs/kit/auth.js';
import { errorCode } from '../../subgraphs/kit/errors.js';

const settings = { secret: 's'.repeat(40), issuer: 'tokenstack', audience: 'tokenstack-api', serviceSecret: 'v'.repeat(40), clockSkewSeconds: 0 };
const reasonOf = async (p: Promise<unknown>) => p.then(() => 'ACCEPTED', (e) => `${errorCode(e)}:${(e as { extensions?: { reason?: string } }).extensions?.reason}`);

describe('the verifier remembers tokens it has checked', () => {
  test('the same token gives the same caller again; a token with one character changed is still refused', async () => {
    const verify = createVerifier(settings);
    const token = await signUserToken(settings, { subject: 'u1', org: 'acme', roles: ['AUDITOR'] });
    const first = await verify(`Bearer ${token}`);
    expect(first).toMatchObject({ kind: 'user', subject: 'u1', org: 'acme', roles: ['AUDITOR'] });
    expect(await verify(`Bearer ${token}`)).toEqual(first);
    const sig = token.slice(token.lastIndexOf('.') + 1);
    const forged = token.slice(0, token.lastIndexOf('.') + 1) + (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
    expect(await reasonOf(verify(`Bearer ${forged}`))).toBe('UNAUTHENTICATED:BAD_SIGNATURE');
    // Claims cannot be swapped under a remembered signature either.
    const [h, , s] = token.split('.');
    const otherBody = Buffer.from(JSON.stringify({ org: 'other', roles: ['AUDITOR'], sub: 'u1', iss: 'tokenstack', aud: 'tokenstack-api', exp: 4e9 })).toString('base64url');
    expect(await reasonOf(verify(`Bearer ${h}.${otherBody}.${s}`))).toBe('UNAUTHENTICATED:BAD_SIGNATURE');
  });

  test('a remembered token is refused once it expires', async () => {
    const verify = createVerifier(settings);
    const token = await signUserToken(settings, { subject: 'u2', org: 'acme', roles: ['AUDITOR'], ttl: 1 });
    const exp = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()).exp as number;
    expect(await reasonOf(verify(`Bearer ${token}`))).toBe('ACCEPTED');
    while (Date.now() < exp * 1000 + 5) await new Promise((r) => setTimeout(r, 50)); // the condition is the clock passing exp
    expect(await reasonOf(verify(`Bearer ${token}`))).toBe('UNAUTHENTICATED:TOKEN_EXPIRED');
  });

  test('a service credential is remembered as a service caller, and a user token is never taken for one', async () => {
    const verify = createVerifier(settings);
    const svc = await serviceToken({ serviceSecret: settings.serviceSecret, issuer: 'tokenstack' }, 'trading');
    expect(await verify(`Bearer ${svc}`)).toMatchObject({ kind: 'service', subject: 'trading' });
    expect(await verify(`Bearer ${svc}`)).toMatchObject({ kind: 'service', subject: 'trading' });
    const user = await signUserToken(settings, { subject: 'trading', org: 'tokenstack', roles: ['AUDITOR'] });
    expect(await verify(`Bearer ${user}`)).toMatchObject({ kind: 'user' });
  });
});
