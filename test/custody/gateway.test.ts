import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { serviceToken, signUserToken, type Role } from '../../subgraphs/kit/auth.js';
import { verifyHoldingProof } from '../../subgraphs/custody/domain/holdings-proof.js';
import { dbLabel } from '../support/db.js';
import { gql, gqlOk, startTestStack, type TestStack } from '../support/stack.js';

const TO = '0x000000000000000000000000000000000000bEEF';

/** The parts of the answers these tests read (a test reads a part only where it expects it). */
interface Balance { asset: string; total: string; reserved: string; available: string }
interface RpcResult { balance: Record<string, string>; reservation: { reservationId: string; status: string } }
interface Decision { status: string; approvals: { approver: string }[] }
interface Withdrawal { id: string; status: string; amount: string; toAddress: string; initiatedBy: string; approvalsRequired: number }
interface RequestAnswer { withdrawal: Withdrawal | null; refusals: { code: string; message: string }[] }

describe(`custody through the gateway (${dbLabel()})`, () => {
  let stack: TestStack;
  let url: string;
  let alice: string, bob: string, carol: string, mallory: string, issuer: string;
  let accountId: string, otherAccountId: string, tokenId: string;

  const as = (org: string, subject: string, roles: Role[]) =>
    signUserToken({ secret: stack.secrets.jwtSecret, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject, org, roles });
  /** Internal RPC as a peer service would call it: real HTTP, service credential. */
  async function rpc(method: string, body: Record<string, unknown>, token?: string) {
    const base = stack.subgraphs.custody.url.replace(/\/graphql$/, '');
    const r = await fetch(`${base}/internal/rpc/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token ?? await serviceToken({ serviceSecret: stack.secrets.serviceSecret, issuer: 'tokenstack' }, 'settlement')}` },
      body: JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as { result?: RpcResult; error?: { code: string } } };
  }
  const balances = async (id = accountId) =>
    (await gqlOk<{ custodyAccount: { balances: Balance[] } }>(url, alice, `query($id: ID!) { custodyAccount(id: $id) { balances { asset total reserved available onChain onChainBlock } } }`, { id })).custodyAccount.balances;

  beforeAll(async () => {
    stack = await startTestStack();
    url = stack.gateway.url;
    [alice, bob, carol, mallory, issuer] = await Promise.all([
      as('acme', 'alice', ['CUSTODIAN']), as('acme', 'bob', ['CUSTODIAN']), as('acme', 'carol', ['CUSTODIAN']),
      as('globex', 'mallory', ['CUSTODIAN']), as('acme', 'ivy', ['ISSUER_AGENT']),
    ]);
    const investorId = (await gqlOk<{ registerInvestor: { id: string } }>(url, issuer, `mutation { registerInvestor(input: { idempotencyKey: "i1", legalName: "Jane Doe", type: INDIVIDUAL, jurisdiction: "US", usPerson: true }) { id } }`)).registerInvestor.id;
    tokenId = (await gqlOk<{ createSecurityToken: { id: string } }>(url, issuer, `mutation { createSecurityToken(input: { idempotencyKey: "t1", name: "Acme Preferred", symbol: "ACMEP", decimals: 0, exemption: REG_D_506C }) { id } }`)).createSecurityToken.id;
    const open = (key: string) => gqlOk<{ openCustodyAccount: { id: string } }>(url, alice, `mutation($i: ID!, $k: String!) { openCustodyAccount(input: { idempotencyKey: $k, investorId: $i, kind: SEGREGATED }) { id } }`, { i: investorId, k: key });
    accountId = (await open('a1')).openCustodyAccount.id;
    otherAccountId = (await open('a2')).openCustodyAccount.id;
    expect((await rpc('registerAsset', { asset: 'CASH', contractAddress: '0x' + 'ca'.repeat(20) })).status).toBe(200);
    expect((await rpc('registerAsset', { asset: tokenId, contractAddress: '0x' + 'ab'.repeat(20) })).status).toBe(200);
    for (const [acc, asset, amount, key] of [[accountId, 'CASH', '5000', 'd1'], [accountId, tokenId, '70', 'd2'], [otherAccountId, tokenId, '30', 'd3']]) {
      expect((await rpc('credit', { accountId: acc, asset, amount, idempotencyKey: key, reason: 'deposit' })).status).toBe(200);
    }
  }, 120_000);
  afterAll(async () => stack?.stop());

  test('balances show total, reserved and available per asset; onChain stays null while the asset is not indexed (indexer off)', async () => {
    expect(await balances()).toEqual(expect.arrayContaining([
      { asset: 'CASH', total: '5000', reserved: '0', available: '5000', onChain: null, onChainBlock: null },
      { asset: tokenId, total: '70', reserved: '0', available: '70', onChain: null, onChainBlock: null },
    ]));
  });

  test('internal reserve, release and consume work over HTTP with a service credential only', async () => {
    const r = await rpc('reserve', { accountId, asset: 'CASH', amount: '1200', idempotencyKey: 'ord-1', reason: 'order ord-1' });
    expect(r.status).toBe(200);
    expect(r.body.result!.balance).toMatchObject({ reserved: '1200', available: '3800' });
    expect((await rpc('reserve', { accountId, asset: 'CASH', amount: '9999', idempotencyKey: 'ord-2', reason: 'x' })).body.error?.code).toBe('CUSTODY.INSUFFICIENT_AVAILABLE');
    expect((await rpc('reserve', { accountId, asset: 'CASH', amount: '1201', idempotencyKey: 'ord-1', reason: 'order ord-1' })).body.error?.code).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    const consumed = await rpc('consume', { reservationKey: 'ord-1', amount: '200', idempotencyKey: 'stl-1' });
    expect(consumed.body.result!.balance).toMatchObject({ total: '4800', reserved: '1000' });
    expect((await rpc('release', { reservationId: r.body.result!.reservation.reservationId })).body.result!.reservation.status).toBe('CLOSED');
    // A person cannot call them, not even a custodian.
    const denied = await rpc('reserve', { accountId, asset: 'CASH', amount: '1', idempotencyKey: 'u1', reason: 'x' }, alice);
    expect([denied.status, denied.body.error?.code]).toEqual([403, 'FORBIDDEN']);
    expect(await balances()).toEqual(expect.arrayContaining([expect.objectContaining({ asset: 'CASH', total: '4800', reserved: '0' })]));
    // And they are not part of the public schema.
    const r2 = await gql(url, alice, `mutation { reserve(accountId: "x") { id } }`);
    expect(r2.body.errors?.[0].extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  test('a policy change applies after two other custodians approve; the proposer and another organisation cannot approve', async () => {
    const c = (await gqlOk<{ proposePolicyChange: { id: string; status: string; approvalsRequired: number } }>(url, alice, `mutation { proposePolicyChange(input: { idempotencyKey: "p1", policy: {
      approvalsRequired: 2, destinationDelaySeconds: 0, velocityWindowSeconds: 86400, maxPerWithdrawal: "1000", maxPerWindow: "2500",
      assetLimits: [{ asset: "${tokenId}", maxPerWithdrawal: "10", maxPerWindow: "20" }] } }) { id status approvalsRequired } }`)).proposePolicyChange;
    expect(c).toMatchObject({ status: 'PENDING', approvalsRequired: 2 });
    const approve = (token: string) => gql<{ approvePolicyChange: Decision }>(url, token, `mutation($id: ID!) { approvePolicyChange(id: $id) { status approvals { approver } } }`, { id: c.id });
    expect((await approve(alice)).body.errors?.[0].extensions?.code).toBe('CUSTODY.SELF_APPROVAL');
    expect((await approve(mallory)).body.errors?.[0].extensions?.code).toBe('NOT_FOUND');
    expect((await approve(bob)).body.data?.approvePolicyChange).toEqual({ status: 'PENDING', approvals: [{ approver: 'bob' }] });
    expect((await approve(carol)).body.data?.approvePolicyChange.status).toBe('APPLIED');
    const p = (await gqlOk<{ organisationWithdrawalPolicy: unknown; custodyAccount: { withdrawalPolicy: unknown } }>(url, alice, `query($id: ID!) { organisationWithdrawalPolicy { scope version policy { destinationDelaySeconds } }
      custodyAccount(id: $id) { withdrawalPolicy { scope policy { approvalsRequired assetLimits { asset maxPerWithdrawal } } } } }`, { id: accountId }));
    expect(p.organisationWithdrawalPolicy).toEqual({ scope: 'ORGANISATION', version: 1, policy: { destinationDelaySeconds: 0 } });
    expect(p.custodyAccount.withdrawalPolicy).toEqual({ scope: 'ORGANISATION', policy: { approvalsRequired: 2, assetLimits: [{ asset: tokenId, maxPerWithdrawal: '10' }] } });
  });

  describe('withdrawals', () => {
    const request = (token: string, v: Record<string, unknown>) => gql<{ requestWithdrawal: RequestAnswer }>(url, token, `mutation($a: ID!, $asset: String!, $n: BigInt!, $to: Address!, $k: String!) {
      requestWithdrawal(input: { accountId: $a, asset: $asset, amount: $n, toAddress: $to, idempotencyKey: $k }) {
        withdrawal { id status amount toAddress initiatedBy approvalsRequired } refusals { code message } } }`, { a: accountId, asset: 'CASH', n: '300', to: TO, k: 'w1', ...v });

    beforeAll(async () => {
      await gqlOk(url, alice, `mutation($a: ID!, $to: Address!) { addWithdrawalDestination(input: { accountId: $a, address: $to, label: "treasury" }) { id usableFrom } }`, { a: accountId, to: TO });
    });

    test('bad input is a typed error and nothing is reserved', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [{ to: '0x1234', k: 'b1' }, 'INPUT.INVALID_ADDRESS'],
        [{ to: '0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD', k: 'b2' }, 'INPUT.INVALID_ADDRESS'],
        [{ n: '0', k: 'b3' }, 'INPUT.INVALID_AMOUNT'],
        [{ n: '-300', k: 'b4' }, 'INPUT.INVALID_AMOUNT'],
        [{ n: 300, k: 'b5' }, 'INPUT.INVALID_BIG_INT'],
        [{ asset: 'tok_' + '0'.repeat(26), k: 'b6' }, 'CUSTODY.UNKNOWN_ASSET'],
        [{ asset: 'EUR', k: 'b7' }, 'INPUT.INVALID_ASSET'],
        [{ a: 'acc_' + '0'.repeat(26), k: 'b8' }, 'CUSTODY.UNKNOWN_ACCOUNT'],
      ];
      for (const [v, code] of cases) {
        const r = await request(alice, v);
        expect([v, r.status !== 500, r.body.errors?.[0].extensions?.code]).toEqual([v, true, code]);
      }
      // Another organisation's custodian cannot even name the account.
      expect((await request(mallory, { k: 'b9' })).body.errors?.[0].extensions?.code).toBe('CUSTODY.UNKNOWN_ACCOUNT');
      expect((await balances()).find((b) => b.asset === 'CASH')!.reserved).toBe('0');
    });

    test('policy refusals come back in the payload with every reason', async () => {
      const r = (await request(alice, { n: '5000', to: '0x000000000000000000000000000000000000dEaD', k: 'r1' })).body.data!.requestWithdrawal;
      expect(r.withdrawal).toBeNull();
      expect(r.refusals.map((x: { code: string }) => x.code).sort()).toEqual([
        'CUSTODY.DESTINATION_NOT_ALLOWED', 'CUSTODY.INSUFFICIENT_AVAILABLE', 'CUSTODY.VELOCITY_LIMIT_EXCEEDED', 'CUSTODY.WITHDRAWAL_LIMIT_EXCEEDED',
      ]);
    });

    test('a security-token withdrawal to an address that is no investor\'s verified wallet is refused with issuance\'s reason', async () => {
      const r = (await request(alice, { asset: tokenId, n: '5', k: 's1' })).body.data!.requestWithdrawal;
      expect(r.withdrawal).toBeNull();
      expect(r.refusals.map((x: { code: string }) => x.code)).toEqual(['RECEIVER_WALLET_UNKNOWN']);
    });

    test('request, replay, two approvals from other custodians: APPROVED and queued, the amount reserved', async () => {
      const first = (await request(alice, {})).body.data!.requestWithdrawal;
      expect(first.withdrawal).toMatchObject({ status: 'PENDING_APPROVAL', amount: '300', toAddress: TO, initiatedBy: 'alice', approvalsRequired: 2 });
      expect((await request(alice, {})).body.data?.requestWithdrawal.withdrawal?.id).toBe(first.withdrawal!.id);
      expect((await request(alice, { n: '301' })).body.errors?.[0].extensions?.code).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
      expect((await balances()).find((b) => b.asset === 'CASH')!).toMatchObject({ reserved: '300', available: '4500' });

      const approve = (token: string) => gql<{ approveWithdrawal: Decision }>(url, token, `mutation($id: ID!) { approveWithdrawal(id: $id) { status approvals { approver } } }`, { id: first.withdrawal!.id });
      expect((await approve(alice)).body.errors?.[0].extensions?.code).toBe('CUSTODY.SELF_APPROVAL');
      expect((await approve(mallory)).body.errors?.[0].extensions?.code).toBe('NOT_FOUND');
      expect((await approve(await as('acme', 'ivan', ['INVESTOR']))).body.errors?.[0].extensions?.code).toBe('FORBIDDEN');
      expect((await approve(bob)).body.data?.approveWithdrawal.status).toBe('PENDING_APPROVAL');
      expect((await approve(carol)).body.data?.approveWithdrawal).toEqual({ status: 'APPROVED', approvals: [{ approver: 'bob' }, { approver: 'carol' }] });

      const seen = await gqlOk<{ withdrawal: unknown; withdrawals: unknown[] }>(url, bob, `query($id: ID!) { withdrawal(id: $id) { status account { id } } withdrawals(status: APPROVED) { id } }`, { id: first.withdrawal!.id });
      expect(seen.withdrawal).toEqual({ status: 'APPROVED', account: { id: accountId } });
      expect(seen.withdrawals).toEqual([{ id: first.withdrawal!.id }]);
      expect((await gqlOk<{ withdrawal: unknown }>(url, mallory, `query($id: ID!) { withdrawal(id: $id) { id } }`, { id: first.withdrawal!.id })).withdrawal).toBeNull();
    });

    test('rejecting a pending withdrawal releases its reservation', async () => {
      const w = (await request(alice, { n: '100', k: 'w2' })).body.data!.requestWithdrawal.withdrawal!;
      const before = (await balances()).find((b) => b.asset === 'CASH')!;
      const r = await gqlOk<{ rejectWithdrawal: unknown }>(url, bob, `mutation($id: ID!) { rejectWithdrawal(id: $id, reason: "not expected") { status decidedBy decisionReason } }`, { id: w.id });
      expect(r.rejectWithdrawal).toEqual({ status: 'REJECTED', decidedBy: 'bob', decisionReason: 'not expected' });
      const after = (await balances()).find((b) => b.asset === 'CASH')!;
      expect(BigInt(after.available) - BigInt(before.available)).toBe(100n);
    });
  });

  test('proofOfHoldings returns a root over every holder and a proof per visible account that verifies offline', async () => {
    const p = (await gqlOk<{ proofOfHoldings: { root: string; proofs: { account: { id: string }; balance: string; leaf: string; proof: string[] }[] } }>(url, alice, `query($t: ID!) { proofOfHoldings(tokenId: $t) { asset root total leafCount asOf proofs { account { id } balance leaf proof } } }`, { t: tokenId })).proofOfHoldings;
    expect(p).toMatchObject({ asset: tokenId, total: '100', leafCount: 2 });
    expect(p.proofs.map((h) => h.account.id).sort()).toEqual([accountId, otherAccountId].sort());
    for (const h of p.proofs) {
      expect(verifyHoldingProof(p.root, { accountId: h.account.id, balance: h.balance }, h.proof)).toBe(true);
      expect(verifyHoldingProof(p.root, { accountId: h.account.id, balance: String(BigInt(h.balance) + 1n) }, h.proof)).toBe(false);
    }
    const foreign = (await gqlOk<{ proofOfHoldings: unknown }>(url, mallory, `query($t: ID!) { proofOfHoldings(tokenId: $t) { root proofs { leaf } } }`, { t: tokenId })).proofOfHoldings;
    expect(foreign).toEqual({ root: p.root, proofs: [] });
  });
});
