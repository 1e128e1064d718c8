import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { ANVIL_DEV_KEYS, findFreePort } from '../../scripts/chain/anvil.js';
import { dbLabel } from '../support/db.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import type { RuleResult } from '../../scripts/issuerDesk.js';
import { IssuerDesk } from './flow.js';

const code = (r: { body: { errors?: { extensions?: Record<string, unknown> }[] } }) => r.body.errors?.[0]?.extensions?.code;

describe(`issuance refuses bad input with typed errors and writes nothing (${dbLabel()})`, () => {
  let stack: TestStack, desk: IssuerDesk;
  let tokenId: string, investorId: string;
  const count = async (table: string) => Number((await stack.subgraphs.issuance.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`))[0].n);

  beforeAll(async () => {
    // A chain node that is down: nothing listens on this port.
    const dead = `http://127.0.0.1:${await findFreePort()}`;
    stack = await startTestStack({ chain: { rpcUrl: dead }, chainKeys: { issuanceAgent: ANVIL_DEV_KEYS[0], claimSigner: ANVIL_DEV_KEYS[1] } });
    desk = await IssuerDesk.open(stack);
    tokenId = await desk.createToken('BAD', 'REG_D_506C');
    investorId = (await desk.run<{ registerInvestor: { id: string } }>(`mutation { registerInvestor(input: { idempotencyKey: "i", legalName: "I", type: ENTITY, jurisdiction: "GB", usPerson: false }) { id } }`)).registerInvestor.id;
  }, 120_000);
  afterAll(async () => stack?.stop());

  test('deploying while the chain is down is a retryable error and leaves the token DRAFT with nothing recorded', async () => {
    const r = await desk.raw(`mutation($t: ID!) { deploySecurityToken(tokenId: $t) { id } }`, { t: tokenId });
    expect(code(r)).toBe('ISSUANCE.CHAIN_UNAVAILABLE');
    expect(r.body.errors?.[0].extensions?.retryable).toBe(true);
    const t = (await desk.run<{ securityToken: { status: string; contracts: { token: string } | null } | null }>(`query($t: ID!) { securityToken(id: $t) { status contracts { token } } }`, { t: tokenId })).securityToken;
    expect(t).toEqual({ status: 'DRAFT', contracts: null });
    expect(await count('chain_setup')).toBe(0);
  });

  const cases: [string, string, Record<string, unknown>, string][] = [
    ['wrong decimals', `mutation { createSecurityToken(input: { idempotencyKey: "d", name: "D", symbol: "DEC", decimals: 19, exemption: REG_D_506B }) { id } }`, {}, 'INPUT.INVALID_DECIMALS'],
    ['a lower-case symbol', `mutation { createSecurityToken(input: { idempotencyKey: "s", name: "S", symbol: "abc", decimals: 0, exemption: REG_D_506B }) { id } }`, {}, 'INPUT.INVALID_SYMBOL'],
    ['a REG_S token without its terms', `mutation { createSecurityToken(input: { idempotencyKey: "r", name: "R", symbol: "RS", decimals: 0, exemption: REG_S }) { id } }`, {}, 'INPUT.REG_S_TERMS_REQUIRED'],
    ['a country that does not exist', `mutation { registerInvestor(input: { idempotencyKey: "c", legalName: "C", type: ENTITY, jurisdiction: "XX", usPerson: false }) { id } }`, {}, 'INPUT.INVALID_COUNTRY_CODE'],
    ['a blocked-country list with an invalid code', `mutation($t: ID!) { setTransferRules(tokenId: $t, rules: { blockedCountries: ["USA"] }, reason: "policy") { id } }`, { t: '' }, 'INPUT.INVALID_COUNTRY_CODE'],
    ['a max share over 100%', `mutation($t: ID!) { setTransferRules(tokenId: $t, rules: { maxSupplyShareBps: 20000 }, reason: "policy") { id } }`, { t: '' }, 'INPUT.INVALID_TRANSFER_RULES'],
    ['a rule change without a reason', `mutation($t: ID!) { setTransferRules(tokenId: $t, rules: { maxHolders: 10 }, reason: "") { id } }`, { t: '' }, 'INPUT.REASON_REQUIRED'],
    ['an unknown token', `query { transferEligibility(tokenId: "tok_00000000000000000000000000", to: "inv_x", amount: "1") { allowed } }`, {}, 'NOT_FOUND'],
    ['an unknown investor', `query($t: ID!) { transferEligibility(tokenId: $t, to: "inv_00000000000000000000000000", amount: "1") { allowed } }`, { t: '' }, 'NOT_FOUND'],
    ['a zero amount', `query($t: ID!, $i: ID!) { transferEligibility(tokenId: $t, to: $i, amount: "0") { allowed } }`, { t: '', i: '' }, 'INPUT.INVALID_AMOUNT'],
    ['a negative amount', `query($t: ID!, $i: ID!) { transferEligibility(tokenId: $t, to: $i, amount: "-5") { allowed } }`, { t: '', i: '' }, 'INPUT.INVALID_AMOUNT'],
    ['an amount over uint256', `query($t: ID!, $i: ID!) { transferEligibility(tokenId: $t, to: $i, amount: "${'9'.repeat(78)}") { allowed } }`, { t: '', i: '' }, 'INPUT.AMOUNT_TOO_LARGE'],
    ['an expiry before the approval', `mutation($i: ID!) { recordKyc(investorId: $i, status: APPROVED, approvedAt: "2026-01-02T00:00:00Z", expiresAt: "2025-01-01T00:00:00Z", reason: "docs") { id } }`, { i: '' }, 'INPUT.INVALID_EXPIRY'],
    ['an approval without its date', `mutation($i: ID!) { recordKyc(investorId: $i, status: APPROVED, reason: "docs") { id } }`, { i: '' }, 'INPUT.KYC_APPROVAL_DATE_REQUIRED'],
    ['a checksum-invalid wallet', `mutation($i: ID!) { addInvestorWallet(investorId: $i, address: "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", reason: "wallet") { id } }`, { i: '' }, 'INPUT.INVALID_ADDRESS'],
    ['a document hash that is not 32 bytes', `mutation($t: ID!) { attachDocument(tokenId: $t, name: "PPM", uri: "https://x.example/ppm.pdf", hash: "0x1234") { version } }`, { t: '' }, 'INPUT.INVALID_HASH'],
    ['a negative price', `query($t: ID!, $i: ID!) { transferEligibility(tokenId: $t, to: $i, amount: "1", price: "-1.00") { allowed } }`, { t: '', i: '' }, 'INPUT.INVALID_PRICE'],
    ['a price in fractions of a cent', `query($t: ID!, $i: ID!) { transferEligibility(tokenId: $t, to: $i, amount: "1", price: "10.001") { allowed } }`, { t: '', i: '' }, 'INPUT.INVALID_PRICE'],
    ['a price that is not a number', `query($t: ID!, $i: ID!) { transferEligibility(tokenId: $t, to: $i, amount: "1", price: "1e5") { allowed } }`, { t: '', i: '' }, 'INPUT.INVALID_DECIMAL'],
    ['a price in another currency', `query($t: ID!, $i: ID!) { transferEligibility(tokenId: $t, to: $i, amount: "1", price: "10.00", currency: "EUR") { allowed } }`, { t: '', i: '' }, 'INPUT.UNSUPPORTED_CURRENCY'],
    ['an oversized currency', `query($t: ID!, $i: ID!) { transferEligibility(tokenId: $t, to: $i, amount: "1", price: "10.00", currency: "${'U'.repeat(5000)}") { allowed } }`, { t: '', i: '' }, 'INPUT.UNSUPPORTED_CURRENCY'],
    ['a currency without a price', `query($t: ID!, $i: ID!) { transferEligibility(tokenId: $t, to: $i, amount: "1", currency: "USD") { allowed } }`, { t: '', i: '' }, 'INPUT.PRICE_REQUIRED'],
    ['an affiliation that ends before it starts', `mutation($i: ID!) { recordAffiliation(investorId: $i, since: "2025-06-01T00:00:00Z", until: "2025-01-01T00:00:00Z", reason: "board seat") { id } }`, { i: '' }, 'INPUT.INVALID_PERIOD'],
    ['an affiliation without a reason', `mutation($i: ID!) { recordAffiliation(investorId: $i, since: "2025-06-01T00:00:00Z", reason: "") { id } }`, { i: '' }, 'INPUT.REASON_REQUIRED'],
    ['issuing on a token that is not deployed', `mutation($t: ID!, $i: ID!) { issueTokens(input: { idempotencyKey: "x", tokenId: $t, investorId: $i, amount: "1" }) { status } }`, { t: '', i: '' }, 'ISSUANCE.TOKEN_NOT_DEPLOYED'],
  ];
  test.each(cases)('%s is refused', async (_label, query, vars, expected) => {
    const before = await Promise.all(['security_tokens', 'investors', 'audit_log', 'issuances', 'investor_wallets', 'documents'].map(count));
    const filled = Object.fromEntries(Object.entries(vars).map(([k]) => [k, k === 't' ? tokenId : investorId]));
    const r = await desk.raw(query, filled);
    expect(r.status).not.toBe(500);
    expect(code(r)).toBe(expected);
    expect(await Promise.all(['security_tokens', 'investors', 'audit_log', 'issuances', 'investor_wallets', 'documents'].map(count))).toEqual(before);
  });

  test('a priced Reg CF question is answered before any sale: allowed at the investment limit, refused one cent over (17 CFR 227.100(a)(2))', async () => {
    const cf = await desk.createToken('CROWD', 'REG_CF');
    // $60,000 income and net worth: the greater of $2,500 and 5% of $60,000, so $3,000.
    const crowd = await desk.register('Crowd Investor', { incomeCents: '6000000' });
    const ask = async (price: string) => {
      const e = (await desk.run<{ transferEligibility: { results: Pick<RuleResult, 'code' | 'passed' | 'currentValue' | 'limit'>[] } }>(`query($t: ID!, $i: ID!, $p: Decimal!) { transferEligibility(tokenId: $t, to: $i, amount: "30", price: $p, currency: "USD") {
        results { code passed currentValue limit } } }`, { t: cf, i: crowd, p: price })).transferEligibility;
      return e.results.find((r) => r.code === 'REG_CF_INVESTMENT_LIMIT');
    };
    expect(await ask('2999.99')).toEqual({ code: 'REG_CF_INVESTMENT_LIMIT', passed: true, currentValue: '$2,999.99', limit: '$3,000.00' });
    expect(await ask('3000')).toEqual({ code: 'REG_CF_INVESTMENT_LIMIT', passed: true, currentValue: '$3,000.00', limit: '$3,000.00' });
    expect(await ask('3000.01')).toEqual({ code: 'REG_CF_INVESTMENT_LIMIT', passed: false, currentValue: '$3,000.01', limit: '$3,000.00' });
    // Without a price the question cannot be decided, and says so.
    const r = await desk.raw(`query($t: ID!, $i: ID!) { transferEligibility(tokenId: $t, to: $i, amount: "30") { allowed } }`, { t: cf, i: crowd });
    expect(code(r)).toBe('ISSUANCE.INVALID_COMPLIANCE_INPUT');
  });

  test('an affiliation is recorded with its dates, and the same start again re-dates it instead of adding one', async () => {
    const rec = (until: string | null) => desk.run<{ recordAffiliation: { affiliations: { since: string; until: string | null; reason: string }[] } }>(`mutation($i: ID!, $u: DateTime) { recordAffiliation(investorId: $i, since: "2025-01-01T00:00:00Z", until: $u, reason: "director") {
      affiliations { since until reason } } }`, { i: investorId, u: until });
    expect((await rec(null)).recordAffiliation.affiliations).toEqual([{ since: '2025-01-01T00:00:00.000Z', until: null, reason: 'director' }]);
    expect((await rec('2025-09-01T00:00:00Z')).recordAffiliation.affiliations).toEqual([{ since: '2025-01-01T00:00:00.000Z', until: '2025-09-01T00:00:00.000Z', reason: 'director' }]);
    const investor = new IssuerDesk(stack, await stack.token('issuer-co', ['INVESTOR'], { investorId }));
    expect(code(await investor.raw(`mutation($i: ID!) { recordAffiliation(investorId: $i, since: "2025-01-01T00:00:00Z", reason: "myself") { id } }`, { i: investorId }))).toBe('FORBIDDEN');
  });

  test('another organisation can neither change the token nor see or change the investor', async () => {
    const other = new IssuerDesk(stack, await stack.token('globex', ['ISSUER_AGENT', 'COMPLIANCE_OFFICER']));
    expect(code(await other.raw(`mutation($t: ID!) { pauseToken(tokenId: $t, reason: "not mine") { id } }`, { t: tokenId }))).toBe('FORBIDDEN');
    expect(code(await other.raw(`mutation($t: ID!) { setTransferRules(tokenId: $t, rules: { maxHolders: 1 }, reason: "not mine") { id } }`, { t: tokenId }))).toBe('FORBIDDEN');
    expect(code(await other.raw(`mutation($i: ID!) { recordKyc(investorId: $i, status: REJECTED, reason: "not mine") { id } }`, { i: investorId }))).toBe('NOT_FOUND');
    expect((await other.run<{ investor: { id: string } | null }>(`query($i: ID!) { investor(id: $i) { id } }`, { i: investorId })).investor).toBeNull();
    expect(code(await other.raw(`mutation($i: ID!) { recordAffiliation(investorId: $i, since: "2025-01-01T00:00:00Z", reason: "not mine") { id } }`, { i: investorId }))).toBe('NOT_FOUND');
    const t = (await desk.run<{ securityToken: { transferRules: { maxHolders: number | null } } | null }>(`query($t: ID!) { securityToken(id: $t) { transferRules { maxHolders } } }`, { t: tokenId })).securityToken!;
    expect(t.transferRules.maxHolders).toBeNull();
  });

  test('an investor role cannot act as the issuer', async () => {
    const investor = new IssuerDesk(stack, await stack.token('issuer-co', ['INVESTOR'], { investorId }));
    expect(code(await investor.raw(`mutation { createSecurityToken(input: { idempotencyKey: "z", name: "Z", symbol: "ZZ", decimals: 0, exemption: REG_CF }) { id } }`))).toBe('FORBIDDEN');
  });
});
