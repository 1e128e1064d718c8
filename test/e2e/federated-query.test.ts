import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { serviceToken } from '../../subgraphs/kit/auth.js';
import { dbLabel } from '../support/db.js';
import { gqlOk, startTestStack, type TestStack } from '../support/stack.js';
import { until } from '../support/wait.js';

describe(`a query through the gateway (${dbLabel()})`, () => {
  let stack: TestStack;
  let issuer: string, broker: string, custodian: string, settler: string;
  let tokenId: string, investorId: string, accountId: string, otherAccountId: string;

  beforeAll(async () => {
    stack = await startTestStack();
    const url = stack.gateway.url;
    issuer = await stack.token('acme', ['ISSUER_AGENT']);
    broker = await stack.token('acme', ['BROKER_DEALER']);
    custodian = await stack.token('acme', ['CUSTODIAN']);
    settler = await stack.token('acme', ['SETTLEMENT_AGENT']);
    tokenId = (await gqlOk<{ createSecurityToken: { id: string } }>(url, issuer, `mutation { createSecurityToken(input: { idempotencyKey: "t1", name: "Acme Preferred", symbol: "ACMEP", decimals: 0, exemption: REG_D_506C }) { id } }`)).createSecurityToken.id;
    investorId = (await gqlOk<{ registerInvestor: { id: string } }>(url, issuer, `mutation { registerInvestor(input: { idempotencyKey: "i1", legalName: "Jane Doe", type: INDIVIDUAL, jurisdiction: "US", usPerson: true }) { id } }`)).registerInvestor.id;
    accountId = (await gqlOk<{ openCustodyAccount: { id: string } }>(url, custodian, `mutation($i: ID!) { openCustodyAccount(input: { idempotencyKey: "a1", investorId: $i, kind: SEGREGATED }) { id } }`, { i: investorId })).openCustodyAccount.id;
    otherAccountId = (await gqlOk<{ openCustodyAccount: { id: string } }>(url, custodian, `mutation($i: ID!) { openCustodyAccount(input: { idempotencyKey: "a2", investorId: $i, kind: OMNIBUS }) { id } }`, { i: investorId })).openCustodyAccount.id;
    // Orders pass trading's pre-trade checks: an admitted subscriber, a buyer the rules admit (KYC, AML, accredited for 506(c)), balances at custody.
    const now = new Date().toISOString();
    await gqlOk(url, issuer, `mutation($i: ID!, $at: DateTime!) { recordKyc(investorId: $i, status: APPROVED, approvedAt: $at, reason: "verified") { id }
      recordAmlScreening(investorId: $i, status: CLEAR, screenedAt: $at, reason: "clear") { id }
      recordAccreditation(investorId: $i, accredited: true, method: THIRD_PARTY_LETTER, verifiedAt: $at, reason: "CPA letter") { id } }`, { i: investorId, at: now });
    await gqlOk(url, await stack.token('ats-co', ['ATS_OPERATOR']), 'mutation { admitSubscriber(org: "acme", reason: "admitted") { status } }');
    const svc = await serviceToken({ serviceSecret: stack.secrets.serviceSecret, issuer: 'tokenstack' }, 'test');
    const custody = (method: string, body: object) => fetch(stack.subgraphs.custody.url.replace(/\/graphql$/, `/internal/rpc/${method}`), {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${svc}` }, body: JSON.stringify(body) });
    for (const asset of ['CASH', tokenId]) await custody('registerAsset', { asset });
    await custody('credit', { accountId, asset: 'CASH', amount: '1000', idempotencyKey: 'f1', reason: 'deposit' });
    await custody('credit', { accountId: otherAccountId, asset: tokenId, amount: '10', idempotencyKey: 'f2', reason: 'deposit' });
    await custody('credit', { accountId: otherAccountId, asset: 'CASH', amount: '1000', idempotencyKey: 'f3', reason: 'deposit' });
    // Without a chain issuance knows of no lots, so a sell would be refused at entry (the seller's holding): two bids make the book.
    const placed = [
      await gqlOk<{ placeOrder: { accepted: boolean } }>(url, broker, `mutation($t: ID!, $a: ID!) { placeOrder(input: { tokenId: $t, accountId: $a, side: BUY, price: "101", quantity: "5", clientOrderId: "o1" }) { accepted order { id } } }`, { t: tokenId, a: accountId }),
      await gqlOk<{ placeOrder: { accepted: boolean } }>(url, broker, `mutation($t: ID!, $a: ID!) { placeOrder(input: { tokenId: $t, accountId: $a, side: BUY, price: "100", quantity: "7", clientOrderId: "o2" }) { accepted order { id } } }`, { t: tokenId, a: otherAccountId }),
    ];
    expect(placed.map((p) => p.placeOrder.accepted)).toEqual([true, true]);
    await gqlOk(url, await stack.token('settle-co', ['SETTLEMENT_AGENT']), 'mutation($t: ID!) { authorizeVenueToken(venue: "XNYS-ATS", tokenId: $t, authorized: true) { authorized } }', { t: tokenId });
    await gqlOk(url, settler, `mutation($t: ID!, $b: ID!, $s: ID!) { submitExternalTrade(input: { venue: "XNYS-ATS", venueReference: "r-1", tokenId: $t, buyerAccountId: $b, sellerAccountId: $s, quantity: "3", price: "102.50", tradeTime: "2026-11-20T15:00:00Z" }) { id } }`, { t: tokenId, b: accountId, s: otherAccountId });
  }, 120_000);

  afterAll(async () => stack?.stop());

  test('returns, in one request, data that each of the four subgraphs holds in its own database', async () => {
    // Without a chain the token is not deployed, so verification rejects the trade: wait for that outcome.
    await until('the settlement rejected', async () => (await stack.subgraphs.settlement.db.query<{ status: string }>('SELECT status FROM settlements'))[0]?.status === 'REJECTED');
    const data = await gqlOk<{ settlements: unknown[]; investors: { legalName: string; custodyAccounts: { kind: string; walletAddress: string }[] }[] }>(stack.gateway.url, settler, `{
      settlements {
        status quantity price venueReference
        history { status }
        token { symbol exemption orderBook(depth: 5) { bids { price quantity orders } asks { price quantity } } }
      }
      investors { legalName jurisdiction custodyAccounts { kind walletAddress } }
    }`);
    const withAccounts = data;

    expect(data.settlements).toEqual([{
      status: 'REJECTED', quantity: '3', price: '102.5', venueReference: 'r-1', history: [{ status: 'RECEIVED' }, { status: 'REJECTED' }],
      token: { symbol: 'ACMEP', exemption: 'REG_D_506C', orderBook: { bids: [{ price: '101', quantity: '5', orders: 1 }, { price: '100', quantity: '7', orders: 1 }], asks: [] } },
    }]);
    expect(withAccounts.investors).toHaveLength(1);
    expect(withAccounts.investors[0].legalName).toBe('Jane Doe');
    expect(withAccounts.investors[0].custodyAccounts.map((a) => a.kind).sort()).toEqual(['OMNIBUS', 'SEGREGATED']);
    for (const a of withAccounts.investors[0].custodyAccounts) expect(a.walletAddress).toMatch(/^0x[0-9a-fA-F]{40}$/);

    // Each fact lives only in its owner's database.
    const count = async (name: keyof TestStack['subgraphs'], table: string) =>
      Number((await stack.subgraphs[name].db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`))[0].n);
    expect(await count('issuance', 'security_tokens')).toBe(1);
    expect(await count('trading', 'orders')).toBe(2);
    expect(await count('settlement', 'settlements')).toBe(1);
    expect(await count('custody', 'custody_accounts')).toBe(2);
    for (const [name, table] of [['trading', 'security_tokens'], ['settlement', 'orders'], ['custody', 'settlements'], ['issuance', 'custody_accounts']] as const) {
      await expect(stack.subgraphs[name].db.query(`SELECT 1 FROM ${table}`)).rejects.toThrow(/does not exist/);
    }
  });

  test('creating mutations return the same entity when retried with the same key and refuse other content', async () => {
    const again = await gqlOk<{ createSecurityToken: { id: string } }>(stack.gateway.url, issuer, `mutation { createSecurityToken(input: { idempotencyKey: "t1", name: "Acme Preferred", symbol: "ACMEP", decimals: 0, exemption: REG_D_506C }) { id } }`);
    expect(again.createSecurityToken.id).toBe(tokenId);
    const { gql } = await import('../support/stack.js');
    const clash = await gql(stack.gateway.url, issuer, `mutation { createSecurityToken(input: { idempotencyKey: "t1", name: "Other", symbol: "OTH", decimals: 0, exemption: REG_D_506B }) { id } }`);
    expect(clash.body.errors?.[0].extensions?.code).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    expect(Number((await stack.subgraphs.issuance.db.query<{ n: string }>('SELECT count(*) AS n FROM security_tokens'))[0].n)).toBe(1);
  });

  test('an organisation sees none of another organisation\'s investors, accounts, orders or settlements', async () => {
    const stranger = await stack.token('globex', ['ISSUER_AGENT', 'BROKER_DEALER', 'CUSTODIAN', 'SETTLEMENT_AGENT']);
    const data = await gqlOk(stack.gateway.url, stranger, `{ investors { id } custodyAccounts { id } orders { id } settlements { id }
      investor(id: "${investorId}") { id } custodyAccount(id: "${accountId}") { id } }`);
    expect(data).toEqual({ investors: [], custodyAccounts: [], orders: [], settlements: [], investor: null, custodyAccount: null });
  });

  test('a custody account is opened only for an investor issuance knows, and its wallet becomes the investor\'s wallet there', async () => {
    const { gql } = await import('../support/stack.js');
    const unknown = await gql(stack.gateway.url, custodian, `mutation { openCustodyAccount(input: { idempotencyKey: "a-x", investorId: "inv_00000000000000000000000000", kind: SEGREGATED }) { id } }`);
    expect(unknown.body.errors?.[0].extensions?.code).toBe('CUSTODY.UNKNOWN_INVESTOR');
    const wallets = async () => (await gqlOk<{ investor: { wallets: { address: string }[] } }>(stack.gateway.url, issuer, `query($i: ID!) { investor(id: $i) { wallets { address } } }`, { i: investorId })).investor.wallets.map((w) => w.address);
    const accountWallets = (await gqlOk<{ custodyAccounts: { walletAddress: string }[] }>(stack.gateway.url, custodian, `{ custodyAccounts { walletAddress } }`)).custodyAccounts.map((a) => a.walletAddress);
    const end = Date.now() + 20_000;
    while ((await wallets()).length < accountWallets.length && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    expect((await wallets()).sort()).toEqual(accountWallets.sort());
  });
});
