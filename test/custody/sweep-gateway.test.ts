import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { signUserToken, type Role } from '../../subgraphs/kit/auth.js';
import { dbLabel } from '../support/db.js';
import { gql, gqlOk, startTestStack, type TestStack } from '../support/stack.js';

/**
 * The wallet sweep's refusals through the gateway: typed errors, never a 500. The happy path
 * (quorum, HSM wallet, cash moved across a restart) is in sweep-hsm.test.ts.
 */
describe(`wallet sweeps through the gateway (${dbLabel()})`, () => {
  let stack: TestStack;
  let url: string;
  let alice: string, mallory: string, investor: string;
  let accountId: string;
  const as = (org: string, subject: string, roles: Role[]) =>
    signUserToken({ secret: stack.secrets.jwtSecret, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject, org, roles });
  const request = (token: string, accountId: string, key: string) =>
    gql(url, token, `mutation($a: ID!, $k: String!) { requestWalletSweep(input: { accountId: $a, idempotencyKey: $k }) { id status oldWallet newWallet } }`, { a: accountId, k: key });
  const codeOf = async (r: ReturnType<typeof request>) => {
    const { status, body } = await r;
    expect(status).toBeLessThan(500);
    return body.errors?.[0]?.extensions?.code;
  };

  beforeAll(async () => {
    stack = await startTestStack();
    url = stack.gateway.url;
    [alice, mallory, investor] = await Promise.all([as('acme', 'alice', ['CUSTODIAN']), as('globex', 'mallory', ['CUSTODIAN']), as('acme', 'ivy', ['ISSUER_AGENT'])]);
    const investorId = (await gqlOk<{ registerInvestor: { id: string } }>(url, investor, `mutation { registerInvestor(input: { idempotencyKey: "i1", legalName: "Jane Doe", type: INDIVIDUAL, jurisdiction: "US", usPerson: true }) { id } }`)).registerInvestor.id;
    accountId = (await gqlOk<{ openCustodyAccount: { id: string } }>(url, alice, `mutation($i: ID!) { openCustodyAccount(input: { idempotencyKey: "a1", investorId: $i, kind: SEGREGATED }) { id } }`, { i: investorId })).openCustodyAccount.id;
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
  });

  test('another organisation, a non-custodian, bad input and the wrong signer get typed errors', async () => {
    expect(await codeOf(request(mallory, accountId, 's1'))).toBe('CUSTODY.UNKNOWN_ACCOUNT');
    expect(await codeOf(request(investor, accountId, 's1'))).toBe('FORBIDDEN');
    expect(await codeOf(request(alice, accountId, 'k'.repeat(300)))).toBe('INPUT.INVALID_IDEMPOTENCY_KEY');
    expect(await codeOf(request(alice, 'not-an-account', 's1'))).toMatch(/^INPUT\./);
    // SIGNER=software (the default stack): nothing to sweep to. With SIGNER=pkcs11 (CI's second pass) the account opened in the HSM.
    expect(await codeOf(request(alice, accountId, 's1'))).toBe(process.env.SIGNER === 'pkcs11' ? 'CUSTODY.WALLET_IN_HSM' : 'CUSTODY.SIGNER_NOT_PKCS11');
    expect(await codeOf(gql(url, alice, `mutation { approveWalletSweep(id: "swp_00000000000000000000000000") { id } }`) as never)).toBe('NOT_FOUND');
    expect((await gqlOk<{ walletSweeps: unknown[] }>(url, alice, '{ walletSweeps { id } }')).walletSweeps).toEqual([]);
    expect(await codeOf(gql(url, investor, '{ walletSweeps { id } }') as never)).toBe('FORBIDDEN');
  }, 60_000);
});
