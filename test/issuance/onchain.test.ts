import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Contract, JsonRpcProvider } from 'ethers';
import { loadArtifact } from '../../subgraphs/kit/chain/artifacts.js';
import { addMonthsUtc } from '../../subgraphs/issuance/domain/compliance/index.js';
import { dbLabel } from '../support/db.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { until } from '../support/wait.js';
import { balances, type CapTableAnswer } from './answers.js';
import { IssuerDesk, monthsAgo } from './flow.js';

/** The parts of the answers these tests read (a test reads a part only where it expects it). */
interface Holder {
  investor: { id: string };
  balance: string;
  lots: { amount: string; remaining: string; acquiredAt: string; holdingPeriodStart: string; restricted: boolean; source: string; txHash: string | null }[];
}
interface TokenView {
  securityToken: {
    totalSupply: string;
    contracts: { identityRegistry: string; compliance: string; rulesModule: string } | null;
    capTable: { holders: Holder[] };
    documents: { version: number; uri: string }[];
  };
}
interface Forced { forcedTransfer: { txHash: string | null; eligibility: { allowed: boolean } } }

describe(`issuance on chain through the gateway (${dbLabel()}, anvil)`, () => {
  let stack: TestStack, desk: IssuerDesk, provider: JsonRpcProvider, token: Contract;
  let tokenId: string;
  const inv: Record<string, { id: string; wallet: string }> = {};

  beforeAll(async () => {
    stack = await startTestStack({ chain: 'anvil' });
    desk = await IssuerDesk.open(stack);
    provider = new JsonRpcProvider(stack.chainRpcUrl, undefined, { staticNetwork: true, batchMaxCount: 1, cacheTimeout: -1 });
    tokenId = await desk.createToken('ACME', 'REG_D_506B', ', transferRules: { blockedCountries: ["CN"] }');
    const deployed = await desk.deploy(tokenId);
    expect(deployed.status).toBe('DEPLOYED');
    token = new Contract(deployed.contracts!.token, loadArtifact('Token', 'trex').abi, provider);
    inv.seasoned = await desk.onboard('Seasoned Holder', { accredited: true });
    inv.fresh = await desk.onboard('Fresh Holder', { accredited: true });
    inv.buyer = await desk.onboard('Buyer GmbH', { country: 'DE' });
    inv.noKyc = await desk.onboard('No KYC', { kyc: false });
    inv.blocked = await desk.onboard('Blocked Country', { country: 'CN' });
    inv.veteran = await desk.onboard('Veteran Holder', { accredited: true });
    inv.affiliate = await desk.onboard('Affiliate Officer', { accredited: true, issuerRelation: 'AFFILIATE' });
    inv.resaleBuyer = await desk.onboard('Resale Buyer', { accredited: true });
    inv.affiliateBuyer = await desk.onboard('Affiliate Buyer', { accredited: true });
    await desk.settled();
    expect((await desk.issue(tokenId, inv.seasoned.id, '1000', monthsAgo(13))).status).toBe('DONE');
    expect((await desk.issue(tokenId, inv.veteran.id, '1000', monthsAgo(13))).status).toBe('DONE');
    expect((await desk.issue(tokenId, inv.affiliate.id, '1000', monthsAgo(13))).status).toBe('DONE');
    expect((await desk.issue(tokenId, inv.fresh.id, '500')).status).toBe('DONE');
    await desk.settled();
  }, 240_000);

  afterAll(async () => {
    provider?.destroy();
    await stack?.stop();
  });

  test('a deployed token records its suite, holdings come from the chain, and the cap table shows holders and lots', async () => {
    const d = await desk.run<TokenView>(`query($t: ID!) { securityToken(id: $t) { status totalSupply contracts { token rulesModule }
      capTable { holderCount nonAccreditedHolderCount usHolderCount totalSupply holders { investor { id } balance lots { amount remaining acquiredAt source txHash } } } } }`, { t: tokenId });
    expect(d.securityToken.totalSupply).toBe('3500');
    expect(await token.totalSupply()).toBe(3500n);
    expect(await token.balanceOf(inv.seasoned.wallet)).toBe(1000n);
    const ct = d.securityToken.capTable;
    expect(ct).toMatchObject({ holderCount: 4, nonAccreditedHolderCount: 0, usHolderCount: 4, totalSupply: '3500' });
    const seasoned = ct.holders.find((h) => h.investor.id === inv.seasoned.id)!;
    expect(seasoned.balance).toBe('1000');
    expect(seasoned.lots).toEqual([expect.objectContaining({ amount: '1000', remaining: '1000', source: 'ISSUANCE', txHash: expect.stringMatching(/^0x/) })]);
    expect(new Date(seasoned.lots[0].acquiredAt).getTime()).toBeLessThan(monthsAgo(12).getTime());
  });

  test('the identity registry holds each eligible investor with signed claims, and not the others', async () => {
    const ir = new Contract((await desk.run<TokenView>(`query($t: ID!) { securityToken(id: $t) { contracts { identityRegistry } } }`, { t: tokenId })).securityToken.contracts!.identityRegistry,
      loadArtifact('IdentityRegistry', 'trex').abi, provider);
    expect(await ir.isVerified(inv.seasoned.wallet)).toBe(true);
    expect(await ir.isVerified(inv.buyer.wallet)).toBe(true);
    expect(await ir.isVerified(inv.noKyc.wallet)).toBe(false);
  });

  test('an issuance the rules refuse returns every reason and mints nothing', async () => {
    const r = await desk.issue(tokenId, inv.noKyc.id, '10');
    expect(r.status).toBe('REJECTED');
    expect(r.id).toBeNull();
    expect(r.eligibility.allowed).toBe(false);
    expect(r.eligibility.results.find((x) => x.code === 'KYC_VALID_RECEIVER')!.passed).toBe(false);
    expect(await token.balanceOf(inv.noKyc.wallet)).toBe(0n);
  });

  const onChainAllows = async (from: string, to: string, amount: bigint) =>
    token.transfer.staticCall(to, amount, { from }).then(() => true, () => false);

  /** Rows of [label, from, to, amount, expected]: the engine and the token's transfer must both give `expected`. */
  type Row = [string, string, string, string, boolean];
  async function agreeOnTable(table: Row[]) {
    const rows = [];
    for (const [label, from, to, amount, expected] of table) {
      const off = (await desk.eligibility(tokenId, inv[from].id, inv[to].id, amount)).allowed;
      const on = await onChainAllows(inv[from].wallet, inv[to].wallet, BigInt(amount));
      rows.push({ label, off, on, expected });
    }
    expect(rows).toEqual(table.map(([label, , , , expected]) => ({ label, off: expected, on: expected, expected })));
  }

  test('transferEligibility agrees with the chain on a table of transfers', async () => {
    const table: Row[] = [
      ['matured lot to a verified buyer', 'seasoned', 'buyer', '100', true],
      ['to an investor without KYC', 'seasoned', 'noKyc', '100', false],
      ['to an investor in a blocked country', 'seasoned', 'blocked', '100', false],
      ['lot still in its Rule 144 holding period', 'fresh', 'buyer', '100', false],
      ['more than the sender holds', 'seasoned', 'buyer', '5000', false],
    ];
    await agreeOnTable(table);
  });

  test('after a resale the chain and the engine agree on the buyer: free from a non-affiliate past the holding period, locked from an affiliate', async () => {
    const force = (from: string, to: string, amount: string) => desk.run<Forced>(
      `mutation($t: ID!, $f: ID!, $to: ID!, $a: BigInt!) { forcedTransfer(tokenId: $t, fromInvestorId: $f, toInvestorId: $to, amount: $a, reason: "private resale") { txHash eligibility { allowed } } }`,
      { t: tokenId, f: inv[from].id, to: inv[to].id, a: amount });
    // An affiliate's sale of a matured lot within the volume limit (1% of 3,500) is allowed on both sides.
    await agreeOnTable([['an affiliate\'s sale of a matured lot, within its volume limit', 'affiliate', 'resaleBuyer', '10', true]]);
    expect((await force('veteran', 'resaleBuyer', '100')).forcedTransfer.txHash).toMatch(/^0x/);
    expect((await force('affiliate', 'affiliateBuyer', '100')).forcedTransfer.txHash).toMatch(/^0x/);
    await desk.settled();
    await agreeOnTable([
      ['buyer after a resale by a non-affiliate past the holding period', 'resaleBuyer', 'buyer', '10', true],
      ['buyer from an affiliate, in its new holding period', 'affiliateBuyer', 'buyer', '10', false],
    ]);
    const lots = (await desk.run<TokenView>(`query($t: ID!) { securityToken(id: $t) { capTable { holders { investor { id } lots { holdingPeriodStart restricted } } } } }`, { t: tokenId }))
      .securityToken.capTable.holders;
    const lotOf = (name: string) => lots.find((h) => h.investor.id === inv[name].id)!.lots[0];
    expect(lotOf('resaleBuyer')).toMatchObject({ restricted: false });
    expect(new Date(lotOf('resaleBuyer').holdingPeriodStart).getTime()).toBeLessThan(monthsAgo(12).getTime());
    expect(lotOf('affiliateBuyer')).toMatchObject({ restricted: true });
    expect(new Date(lotOf('affiliateBuyer').holdingPeriodStart).getTime()).toBeGreaterThan(monthsAgo(1).getTime());
  });

  test('a gift by forced transfer is recorded with its occasion: the donee tacks the giver\'s period, on the books and in its on-chain lock', async () => {
    const giver = await desk.onboard('Young Affiliate', { accredited: true, issuerRelation: 'AFFILIATE' });
    const donee = await desk.onboard('Donee', { accredited: true });
    await desk.settled();
    const issued = monthsAgo(6);
    expect((await desk.issue(tokenId, giver.id, '100', issued)).status).toBe('DONE');
    const r = await desk.run<Forced>(`mutation($t: ID!, $f: ID!, $to: ID!) { forcedTransfer(tokenId: $t, fromInvestorId: $f, toInvestorId: $to, amount: "40", reason: "gift to a relative", occasion: GIFT) {
      txHash eligibility { allowed } } }`, { t: tokenId, f: giver.id, to: donee.id });
    expect(r.forcedTransfer).toMatchObject({ txHash: expect.stringMatching(/^0x/), eligibility: { allowed: true } });
    await desk.settled();
    const holders = (await desk.run<TokenView>(`query($t: ID!) { securityToken(id: $t) { capTable { holders { investor { id } lots { holdingPeriodStart restricted } } } } }`, { t: tokenId }))
      .securityToken.capTable.holders;
    const lot = holders.find((h) => h.investor.id === donee.id)!.lots[0];
    expect(lot).toEqual({ holdingPeriodStart: issued.toISOString(), restricted: true });
    // The chain locks the donee's 40 until the giver's lot completes its 12 months, as the engine does.
    const e = await desk.eligibility(tokenId, donee.id, inv.buyer.id, '10');
    const r144 = e.results.find((x) => x.code === 'RULE_144_HOLDING_PERIOD')!;
    expect(r144).toMatchObject({ passed: false });
    expect(await onChainAllows(donee.wallet, inv.buyer.wallet, 10n)).toBe(false);
    const contracts = (await desk.run<TokenView>(`query($t: ID!) { securityToken(id: $t) { contracts { compliance rulesModule } } }`, { t: tokenId })).securityToken.contracts!;
    const module = new Contract(contracts.rulesModule, loadArtifact('TokenstackRulesModule', 'project').abi, provider);
    const locks = await module.getLocks(contracts.compliance, donee.wallet);
    expect(locks.map((l: { amount: bigint; until: bigint }) => [l.amount, l.until])).toEqual([[40n, BigInt(Math.ceil(new Date(r144.blockingUntil!).getTime() / 1000))]]);
    // The giver's 12 months, not the donee's own.
    expect(new Date(r144.blockingUntil!)).toEqual(addMonthsUtc(issued, 12));
  });

  test('every rule is reported with its regulation, and a holding period says when it stops blocking', async () => {
    const e = await desk.eligibility(tokenId, inv.fresh.id, inv.buyer.id, '100');
    expect(e.allowed).toBe(false);
    const r144 = e.results.find((r) => r.code === 'RULE_144_HOLDING_PERIOD')!;
    expect(r144).toMatchObject({ passed: false, regulation: '17 CFR 230.144(d)' });
    expect(new Date(r144.blockingUntil!).getTime()).toBeGreaterThan(monthsAgo(-11).getTime());
    expect(e.results.length).toBeGreaterThan(8);
    expect(e.results.filter((r) => !r.passed).map((r) => r.code)).toEqual(['RULE_144_HOLDING_PERIOD']);
  });

  test('pausing the token refuses transfers on and off chain, and unpausing restores them', async () => {
    await desk.run(`mutation($t: ID!) { pauseToken(tokenId: $t, reason: "corporate action") { status paused } }`, { t: tokenId });
    expect((await desk.eligibility(tokenId, inv.seasoned.id, inv.buyer.id, '10')).allowed).toBe(false);
    expect(await onChainAllows(inv.seasoned.wallet, inv.buyer.wallet, 10n)).toBe(false);
    const u = await desk.run<{ unpauseToken: { status: string; paused: boolean } }>(`mutation($t: ID!) { unpauseToken(tokenId: $t, reason: "corporate action done") { status paused } }`, { t: tokenId });
    expect(u.unpauseToken).toEqual({ status: 'DEPLOYED', paused: false });
    expect(await onChainAllows(inv.seasoned.wallet, inv.buyer.wallet, 10n)).toBe(true);
  });

  test('freezing an investor and part of its tokens is enforced on chain and reported by the engine', async () => {
    await desk.run(`mutation($t: ID!, $i: ID!) { freezePartialTokens(tokenId: $t, investorId: $i, amount: "950", reason: "court order") { id } }`, { t: tokenId, i: inv.seasoned.id });
    const e = await desk.eligibility(tokenId, inv.seasoned.id, inv.buyer.id, '100');
    expect(e.results.find((r) => r.code === 'FREE_BALANCE_SENDER')!.passed).toBe(false);
    expect(await onChainAllows(inv.seasoned.wallet, inv.buyer.wallet, 100n)).toBe(false);
    expect(await onChainAllows(inv.seasoned.wallet, inv.buyer.wallet, 50n)).toBe(true);
    await desk.run(`mutation($t: ID!, $i: ID!) { freezePartialTokens(tokenId: $t, investorId: $i, amount: "0", reason: "order lifted") { id } }`, { t: tokenId, i: inv.seasoned.id });
    await desk.run(`mutation($t: ID!, $i: ID!) { freezeInvestor(tokenId: $t, investorId: $i, frozen: true, reason: "investigation") { id } }`, { t: tokenId, i: inv.seasoned.id });
    expect((await desk.eligibility(tokenId, inv.seasoned.id, inv.buyer.id, '10')).allowed).toBe(false);
    expect(await onChainAllows(inv.seasoned.wallet, inv.buyer.wallet, 10n)).toBe(false);
    await desk.run(`mutation($t: ID!, $i: ID!) { freezeInvestor(tokenId: $t, investorId: $i, frozen: false, reason: "cleared") { id } }`, { t: tokenId, i: inv.seasoned.id });
    expect(await onChainAllows(inv.seasoned.wallet, inv.buyer.wallet, 10n)).toBe(true);
  });

  test('a withdrawn KYC revokes the claim on chain, so both the engine and the chain refuse the investor', async () => {
    await desk.run(`mutation($i: ID!) { recordKyc(investorId: $i, status: REJECTED, reason: "documents withdrawn") { kyc { status } } }`, { i: inv.buyer.id });
    await desk.settled();
    expect((await desk.eligibility(tokenId, inv.seasoned.id, inv.buyer.id, '10')).allowed).toBe(false);
    expect(await onChainAllows(inv.seasoned.wallet, inv.buyer.wallet, 10n)).toBe(false);
    const audit = (await desk.run<{ investor: { auditTrail: { action: string; reason: string; actor: string }[] } | null }>(`query($i: ID!) { investor(id: $i) { auditTrail { action reason actor } } }`, { i: inv.buyer.id })).investor;
    expect(audit?.auditTrail ?? []).toEqual(expect.arrayContaining([expect.objectContaining({ action: 'investor.kyc_recorded', reason: 'documents withdrawn' })]));
  });

  test('a forced transfer moves tokens with a reason, and the books follow the chain', async () => {
    const r = await desk.run<Forced>(`mutation($t: ID!, $f: ID!, $to: ID!) { forcedTransfer(tokenId: $t, fromInvestorId: $f, toInvestorId: $to, amount: "100", reason: "court-ordered transfer") { txHash eligibility { allowed } } }`,
      { t: tokenId, f: inv.seasoned.id, to: inv.fresh.id });
    expect(r.forcedTransfer.txHash).toMatch(/^0x/);
    expect(await token.balanceOf(inv.fresh.wallet)).toBe(600n);
    const ct = await desk.run<CapTableAnswer>(`query($t: ID!) { securityToken(id: $t) { capTable { holders { investor { id } balance } } } }`, { t: tokenId });
    expect(balances(ct)).toMatchObject({ [inv.seasoned.id]: '900', [inv.fresh.id]: '600' });
  });

  test('a policy change reaches the chain: a lower max balance is refused by both the engine and the token', async () => {
    await desk.run(`mutation($t: ID!) { setTransferRules(tokenId: $t, rules: { blockedCountries: ["CN"], maxBalance: "50" }, reason: "concentration limit") { id } }`, { t: tokenId });
    await desk.settled();
    const e = await desk.eligibility(tokenId, inv.seasoned.id, inv.fresh.id, '10');
    expect(e.results.find((r) => r.code === 'MAX_BALANCE_RECEIVER')).toMatchObject({ passed: false, limit: expect.stringContaining('50') });
    expect(await onChainAllows(inv.seasoned.wallet, inv.fresh.wallet, 10n)).toBe(false);
    await desk.run(`mutation($t: ID!) { setTransferRules(tokenId: $t, rules: { blockedCountries: ["CN"] }, reason: "limit lifted") { id } }`, { t: tokenId });
    await desk.settled();
  });

  test('a KYC that lapses has its claim revoked on chain without anyone acting', async () => {
    const lapsing = await desk.onboard('Lapsing KYC', { accredited: true });
    await desk.run(`mutation($i: ID!, $a: DateTime!, $e: DateTime!) { recordKyc(investorId: $i, status: APPROVED, approvedAt: $a, expiresAt: $e, reason: "short-lived check") { id } }`,
      { i: lapsing.id, a: new Date(Date.now() - 60_000).toISOString(), e: new Date(Date.now() + 86_400_000).toISOString() });
    await desk.settled();
    expect(await onChainAllows(inv.seasoned.wallet, lapsing.wallet, 10n)).toBe(true);
    // The day passes: the recorded expiry (and its claim's) moves into the past, as the clock would move them; no job is queued by hand.
    const db = stack.subgraphs.issuance.db;
    await db.query("UPDATE investors SET kyc_expires_at = now() - interval '1 second' WHERE id = $1", [lapsing.id]);
    await db.query("UPDATE claims SET expires_at = now() - interval '1 second' WHERE investor_id = $1 AND status = 'ACTIVE' AND data LIKE 'kyc:%'", [lapsing.id]);
    await until('the lapsed KYC claim revoked on chain', async () => !(await onChainAllows(inv.seasoned.wallet, lapsing.wallet, 10n)), 60_000);
    expect((await desk.eligibility(tokenId, inv.seasoned.id, lapsing.id, '10')).results.find((r) => r.code === 'KYC_VALID_RECEIVER')!.passed).toBe(false);
  }, 120_000);

  test('a lost wallet is recovered to a new one: the balance moves on chain, the lots stay with the investor', async () => {
    const { Wallet } = await import('ethers');
    const next = Wallet.createRandom().address;
    const before = await token.balanceOf(inv.fresh.wallet);
    const r = await desk.run<{ recoverInvestorWallet: { wallets: { address: string; status: string }[] } }>(`mutation($i: ID!, $l: Address!, $n: Address!) { recoverInvestorWallet(investorId: $i, lostWallet: $l, newWallet: $n, reason: "device lost, identity re-verified") {
      wallets { address status } } }`, { i: inv.fresh.id, l: inv.fresh.wallet, n: next });
    expect(r.recoverInvestorWallet.wallets).toEqual(expect.arrayContaining([{ address: inv.fresh.wallet, status: 'LOST' }, { address: next, status: 'ACTIVE' }]));
    expect(await token.balanceOf(inv.fresh.wallet)).toBe(0n);
    expect(await token.balanceOf(next)).toBe(before);
    const ct = (await desk.run<TokenView>(`query($t: ID!) { securityToken(id: $t) { capTable { holders { investor { id } balance lots { source } } } } }`, { t: tokenId })).securityToken.capTable;
    const fresh = ct.holders.find((h) => h.investor.id === inv.fresh.id)!;
    expect(fresh.balance).toBe(before.toString());
    expect(fresh.lots.map((l) => l.source)).not.toContain('RECOVERY');
  });

  test('documents keep every version', async () => {
    const h = (n: number) => '0x' + String(n).repeat(64);
    const v1 = await desk.run<{ attachDocument: { version: number } }>(`mutation($t: ID!, $h: String!) { attachDocument(tokenId: $t, name: "Offering memorandum", uri: "https://docs.example/ppm-v1.pdf", hash: $h) { version } }`, { t: tokenId, h: h(1) });
    const v2 = await desk.run<{ attachDocument: { version: number } }>(`mutation($t: ID!, $h: String!) { attachDocument(tokenId: $t, name: "Offering memorandum", uri: "https://docs.example/ppm-v2.pdf", hash: $h) { version } }`, { t: tokenId, h: h(2) });
    expect([v1.attachDocument.version, v2.attachDocument.version]).toEqual([1, 2]);
    const docs = (await desk.run<TokenView>(`query($t: ID!) { securityToken(id: $t) { documents(name: "Offering memorandum") { version uri hash attachedBy } } }`, { t: tokenId })).securityToken.documents;
    expect(docs.map((d) => [d.version, d.uri])).toEqual([[1, 'https://docs.example/ppm-v1.pdf'], [2, 'https://docs.example/ppm-v2.pdf']]);
  });
});
