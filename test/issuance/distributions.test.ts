/**
 * Distributions through the gateway on anvil: entitlements fixed from the cap table as of the record
 * date (a trade settled after it moves nothing: the seller is paid, the buyer is not), a total split
 * pro rata to the base unit, withholding for four regimes in three jurisdictions, who sees what, bad
 * input; then the payment on the payment date: from the issuer's custody account to holders in custody
 * and to a registered wallet outside it, all in one batchTransfer transaction, a frozen holder held,
 * custody killed (-9) with the batch in flight paying nobody twice, a payment that fails (no funds)
 * retried until paid, the issuer's treasury paid from itself SKIPPED.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { custody } from '../../subgraphs/custody/index.js';
import { startSubgraph, subgraphConfig, type RunningSubgraph } from '../../subgraphs/kit/subgraph.js';
import { createTestDatabase, dbLabel, onPostgres, type TestDatabase } from '../support/db.js';
import { IssuerDesk } from './flow.js';
import { wsClient } from '../support/ws.js';
import { SettlementWorld, gql, gqlOk, monthsAgo, waitFor, type Party } from '../settlement/support.js';
import { balances, type CapTableAnswer, type Entitlement, type EntitlementCounts, type WalletsAnswer } from './answers.js';

const ANNOUNCE = `mutation($in: AnnounceDistributionInput!) { announceDistribution(input: $in) { id kind status units gross withheld net unallocated totalAmount amountPerUnit
  counts { pending paid failed held }
  entitlements { investorId units gross withheld net rateBps withholdingBasis jurisdiction taxForm status }
  withholdingReport { jurisdiction rateBps basis holders gross withheld net } } }`;
const ENTITLEMENTS = `query($id: ID!) { distribution(id: $id) { status counts { pending paid failed held }
  entitlements { investorId net status reason attempts txHash reference paidTo } } }`;

/** The parts of the answers these tests read. */
interface Announced {
  id: string; kind: string; status: string; units: string | null; gross: string | null; withheld: string | null; net: string | null;
  unallocated: string | null; totalAmount: string | null; amountPerUnit: string | null; counts: EntitlementCounts | null; entitlements: Entitlement[];
  withholdingReport: { jurisdiction: string; rateBps: number; basis: string; holders: number; gross: string; withheld: string; net: string }[] | null;
}
interface Payments { distribution: { status: string; counts: EntitlementCounts | null; entitlements: Entitlement[] } | null }
interface Seen {
  distribution: { id: string; gross: string | null; withholdingReport: { holders: number }[] | null; entitlements: { investorId: string; gross: string }[] } | null;
  entitlements: { investorId: string }[];
}
interface EntitlementEvent { cursor: string; entitlementId: string; distributionId: string; investorId: string; status: string; net: string; txHash: string | null; reason: string | null }

// Custody's settings in this world: the broadcaster on, and quick.
const CUSTODY_ENV = { CUSTODY_BROADCAST_ENABLED: 'true', CUSTODY_BROADCAST_INTERVAL_MS: '100', CUSTODY_BROADCAST_RETRY_MS: '300', CUSTODY_INDEXER_POLL_MS: '100' };

describe(`distributions through the gateway (anvil, ${dbLabel()})`, () => {
  let w: SettlementWorld;
  let tokenId: string;
  let us: Party; let gb: Party; let de: Party; let buyer: Party; let treasury: Party;
  let outside: { investorId: string; wallet: string };
  let recordDate: Date;
  let custodyDb: TestDatabase | undefined; let custodyDir: string | undefined; let custodyUrl: string;
  let restarted: RunningSubgraph | undefined; let child: ChildProcess | undefined;
  const base = () => ({ tokenId, kind: 'DIVIDEND', recordDate: recordDate.toISOString(), paymentDate: new Date(Date.now() + 86_400_000).toISOString(), asset: 'CASH', payingAccountId: treasury.accountId });

  /** Custody's settings as the stack runs it, on this world's database that survives a kill. */
  function custodyEnv(extra: Record<string, string>): Record<string, string> {
    const url = (n: 'issuance' | 'trading' | 'settlement' | 'custody') => w.stack.subgraphs[n].url.replace(/\/graphql$/, '');
    return {
      PORT: String(w.stack.subgraphs.custody.port), ISSUANCE_URL: url('issuance'), TRADING_URL: url('trading'), SETTLEMENT_URL: w.settlement.url.replace(/\/graphql$/, ''),
      CUSTODY_URL: url('custody'), DATABASE_URL: custodyUrl, CHAIN_RPC_URL: w.stack.chainRpcUrl!, AUTH_JWT_SECRET: w.stack.secrets.jwtSecret,
      SERVICE_SECRET: w.stack.secrets.serviceSecret, CUSTODY_KEK: w.stack.secrets.custodyKek, SETTLEMENT_OPERATOR_ORGS: 'settle-co', TRADING_OPERATOR_ORGS: 'ats-co',
      CUSTODY_INDEXER_ENABLED: 'true', CUSTODY_CONFIRMATIONS: '0', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent', ...CUSTODY_ENV, ...extra,
    };
  }
  const cashOf = async (address: string) => BigInt(await w.cash.balanceOf(address));
  const mine = () => w.provider.send('evm_mine', []);

  beforeAll(async () => {
    if (onPostgres()) custodyUrl = (custodyDb = await createTestDatabase()).url;
    else custodyUrl = pathToFileURL(join((custodyDir = mkdtempSync(join(tmpdir(), 'tokenstack-distributions-'))), 'custody')).href;
    w = await SettlementWorld.start({}, { databaseUrls: { custody: custodyUrl }, subgraphEnv: { ...CUSTODY_ENV, DISTRIBUTION_POLL_MS: '100', DISTRIBUTION_RETRY_MS: '300', DISTRIBUTION_MAX_ATTEMPTS: '1000' } });
    ({ tokenId } = await w.token506b('DIVD'));
    us = await w.party('Dividend US', 'alpha-bd');
    gb = await w.party('Dividend GB', 'beta-bd', { country: 'GB' });
    de = await w.party('Dividend DE', 'beta-bd', { country: 'DE' });
    buyer = await w.party('Dividend Buyer', 'beta-bd');
    treasury = await w.party('Dividend Treasury', 'alpha-bd');
    await w.stack.subgraphs.issuance.db.query("UPDATE investors SET issuer_relation = 'ISSUER' WHERE id = $1", [treasury.investorId]);
    // A holder outside custody, onboarded by its broker-dealer (beta-bd), with its own registered wallet.
    const broker = new IssuerDesk(w.stack, await w.token('beta-bd', ['BROKER_DEALER']));
    const o = await broker.onboard('Dividend Outside', { accredited: true });
    outside = { investorId: o.id, wallet: o.wallet };
    await waitFor('the outside wallet on chain', () => broker.run<WalletsAnswer>(`query($i: ID!) { investor(id: $i) { wallets { registeredOnChain } } }`, { i: o.id }),
      (d) => !!d.investor?.wallets?.[0]?.registeredOnChain);
    for (const [p, n] of [[us, 100n], [gb, 50n], [de, 25n], [treasury, 10n]] as const) await w.issue(tokenId, p, n, monthsAgo(13));
    expect((await w.desk.issue(tokenId, outside.investorId, '20', monthsAgo(13))).status).toBe('DONE');
    // Forms on file: a W-9 for the US holder, a W-8BEN claiming the UK treaty; none for the German holder nor the outside one.
    const form = (i: string, f: string, c?: string) => w.desk.run<{ recordTaxForm: { id: string; taxForms: { form: string; treatyCountry: string | null }[] } }>(`mutation($in: RecordTaxFormInput!) { recordTaxForm(input: $in) { id taxForms { form treatyCountry } } }`,
      { in: { investorId: i, form: f, treatyCountry: c, signedAt: new Date(Date.now() - 86_400_000).toISOString(), reason: 'form received' } });
    await form(us.investorId, 'W9');
    expect((await form(gb.investorId, 'W8BEN', 'GB')).recordTaxForm.taxForms).toEqual([{ form: 'W8BEN', treatyCountry: 'GB' }]);

    // The record date, then a trade that settles after it: the US holder sells 40 to the buyer.
    recordDate = new Date(Math.floor(Date.now() / 1000) * 1000 - 1);
    await w.fund(buyer, 10_000_000_000n);
    await w.authorizeVenue('OTHER-ATS', tokenId);
    const ext = await w.submit(await w.token('alpha-bd', ['BROKER_DEALER']), { venue: 'OTHER-ATS', venueReference: 'div-trade-1', tokenId,
      buyerAccountId: buyer.accountId, sellerAccountId: us.accountId, quantity: '40', price: '100', tradeTime: new Date().toISOString() });
    expect(ext.body.errors).toBeUndefined();
    await w.waitStatus(ext.body.data!.submitExternalTrade.id, ['SETTLED']);
  }, 900_000);
  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await restarted?.stop().catch(() => undefined);
    await w?.stop();
    await custodyDb?.drop();
    if (custodyDir) rmSync(custodyDir, { recursive: true, force: true });
  });

  test('entitlements are the holders of record: the seller after the record date is entitled, the buyer is not; the total splits to the base unit', async () => {
    // Today's cap table has the trade (once the holdings indexer saw it): the seller holds 60, the buyer 40.
    const holding = async () => balances(await w.desk.run<CapTableAnswer>(`query($t: ID!) { securityToken(id: $t) { capTable { holders { investor { id } balance } } } }`, { t: tokenId }));
    await waitFor('the trade in the cap table', holding, (h) => h[buyer.investorId] === '40' && h[us.investorId] === '60');

    const d = (await w.desk.run<{ announceDistribution: Announced }>(ANNOUNCE, { in: { ...base(), idempotencyKey: 'div-1', totalAmount: '1000', excludeIssuer: true } })).announceDistribution;
    const by = Object.fromEntries(d.entitlements.map((e) => [e.investorId, e]));
    expect(Object.keys(by).sort()).toEqual([us.investorId, gb.investorId, de.investorId, outside.investorId].sort()); // no buyer, no issuer
    // 1000 over 100/50/25/20 units: 512.82, 256.41, 128.21, 102.56; the two base units left go to the largest fractions.
    expect([by[us.investorId].gross, by[gb.investorId].gross, by[de.investorId].gross, by[outside.investorId].gross]).toEqual(['513', '256', '128', '103']);
    expect([d.units, d.gross, d.totalAmount, d.unallocated]).toEqual(['195', '1000', '1000', '0']);

    // US with a W-9 (none), GB with a W-8BEN treaty claim (15%), DE without a form (30%, §1441), US without a W-9 (24%, §3406).
    expect(by[us.investorId]).toMatchObject({ rateBps: 0, withheld: '0', net: '513', jurisdiction: 'US', taxForm: 'W9' });
    expect(by[gb.investorId]).toMatchObject({ rateBps: 1500, withheld: '38', net: '218', jurisdiction: 'GB', taxForm: 'W8BEN' });
    expect(by[de.investorId]).toMatchObject({ rateBps: 3000, withheld: '38', net: '90', jurisdiction: 'DE', taxForm: null });
    expect(by[outside.investorId]).toMatchObject({ rateBps: 2400, withheld: '25', net: '78', jurisdiction: 'US', taxForm: null });
    expect(by[de.investorId].withholdingBasis).toContain('§1441');
    expect(by[outside.investorId].withholdingBasis).toContain('§3406');
    expect([d.withheld, d.net]).toEqual(['101', '899']);
    expect(d.withholdingReport!.map((l) => [l.jurisdiction, l.rateBps, l.holders, l.gross, l.withheld])).toEqual([
      ['DE', 3000, 1, '128', '38'], ['GB', 1500, 1, '256', '38'], ['US', 0, 1, '513', '0'], ['US', 2400, 1, '103', '25']]);
    expect(d.status).toBe('ANNOUNCED');
    expect(d.counts).toEqual({ pending: 4, paid: 0, failed: 0, held: 0 });
  }, 120_000);

  test('an amount per unit pays units x rate; the issuer\'s own holding is in unless excluded; a retry returns the same distribution', async () => {
    const input = { ...base(), idempotencyKey: 'div-2', kind: 'COUPON', amountPerUnit: '3' };
    const d = (await w.desk.run<{ announceDistribution: Announced }>(ANNOUNCE, { in: input })).announceDistribution;
    expect([d.units, d.gross, d.amountPerUnit, d.totalAmount]).toEqual(['205', '615', '3', null]);
    expect(d.entitlements.find((e) => e.investorId === treasury.investorId)?.gross).toBe('30');
    // A coupon to a foreign holder with a W-8 is portfolio interest; without one, 30%.
    expect(d.entitlements.find((e) => e.investorId === gb.investorId)).toMatchObject({ rateBps: 0, withholdingBasis: expect.stringContaining('§871(h)') });
    expect(d.entitlements.find((e) => e.investorId === de.investorId)).toMatchObject({ rateBps: 3000 });
    expect((await w.desk.run<{ announceDistribution: Announced }>(ANNOUNCE, { in: input })).announceDistribution.id).toBe(d.id);
    const other = await gql(w.url, w.desk.token, ANNOUNCE, { in: { ...input, amountPerUnit: '4' } });
    expect(other.body.errors?.[0]?.extensions?.code).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
  }, 120_000);

  test('each sees its own: the issuer every entitlement and the report, a broker its clients\', an investor its own, a custodian or another organisation nothing', async () => {
    const d = (await w.desk.run<{ distributions: { id: string; kind: string }[] }>(`query($t: ID!) { distributions(tokenId: $t) { id kind } }`, { t: tokenId })).distributions.find((x) => x.kind === 'COUPON')!;
    const Q = `query($id: ID!) { distribution(id: $id) { id gross withholdingReport { holders } entitlements { investorId gross } } entitlements(distributionId: $id) { investorId } }`;
    const brokerView = await gqlOk<Seen>(w.url, await w.token('beta-bd', ['BROKER_DEALER']), Q, { id: d.id });
    expect(brokerView.distribution).toMatchObject({ gross: null, withholdingReport: null });
    expect(brokerView.distribution!.entitlements.map((e) => e.investorId)).toEqual([outside.investorId]);
    expect(brokerView.entitlements.map((e) => e.investorId)).toEqual([outside.investorId]);
    const mine = await gqlOk<Seen>(w.url, await w.token('issuer-co', ['INVESTOR'], { investorId: gb.investorId }), Q, { id: d.id });
    expect(mine.entitlements.map((e) => e.investorId)).toEqual([gb.investorId]);
    const issuer = await gqlOk<Seen>(w.url, w.desk.token, Q, { id: d.id });
    expect(issuer.distribution!.entitlements).toHaveLength(5);
    for (const [token, who] of [
      [await w.token('issuer-co', ['INVESTOR'], { investorId: buyer.investorId }), 'the buyer after the record date'],
      [await w.token('alpha-bd', ['CUSTODIAN', 'AUDITOR']), 'a custodian (it sees the payment as a deposit)'],
      [await w.token('other-co', ['ISSUER_AGENT', 'AUDITOR', 'CUSTODIAN', 'BROKER_DEALER']), 'another organisation'],
    ] as const) {
      const v = await gqlOk<Seen & { distributions: { id: string }[] }>(w.url, token, `${Q.slice(0, -1)} distributions { id } }`, { id: d.id });
      expect([who, v.distribution, v.entitlements, v.distributions]).toEqual([who, null, [], []]);
    }
  }, 120_000);

  test('bad announcements are typed refusals and record nothing', async () => {
    // An account of an investor another organisation onboarded cannot pay the issuer's distribution.
    const foreign = (await gqlOk<{ registerInvestor: { id: string } }>(w.url, await w.token('beta-bd', ['BROKER_DEALER']), `mutation { registerInvestor(input: { idempotencyKey: "pa-1", legalName: "Not The Issuer", type: ENTITY, jurisdiction: "US", usPerson: true }) { id } }`)).registerInvestor.id;
    const acc = (await gqlOk<{ openCustodyAccount: { id: string } }>(w.url, await w.token('beta-bd', ['CUSTODIAN']), `mutation($i: ID!) { openCustodyAccount(input: { idempotencyKey: "pa-acc", investorId: $i, kind: SEGREGATED }) { id } }`, { i: foreign })).openCustodyAccount.id;
    const tries: [Record<string, unknown>, string][] = [
      [{ totalAmount: '10', amountPerUnit: '1' }, 'INPUT.AMOUNT_REQUIRED'],
      [{}, 'INPUT.AMOUNT_REQUIRED'],
      [{ totalAmount: '0' }, 'INPUT.INVALID_AMOUNT'],
      [{ amountPerUnit: '-3' }, 'INPUT.INVALID_AMOUNT'],
      [{ totalAmount: '1'.padEnd(79, '0') }, 'INPUT.INVALID_BIG_INT'],
      [{ totalAmount: '2'.padEnd(78, '0') }, 'INPUT.AMOUNT_TOO_LARGE'], // above 2^256 - 1
      [{ totalAmount: '10', recordDate: new Date(Date.now() + 2 * 86_400_000).toISOString() }, 'INPUT.PAYMENT_BEFORE_RECORD_DATE'], // a record date to come, paid before it
      [{ totalAmount: '10', paymentDate: new Date(recordDate.getTime() - 1000).toISOString() }, 'INPUT.PAYMENT_BEFORE_RECORD_DATE'],
      [{ totalAmount: '10', asset: 'EUR' }, 'INPUT.UNKNOWN_ASSET'],
      [{ totalAmount: '10', payingAccountId: 'not-an-account' }, 'INPUT.INVALID_ID'],
      [{ totalAmount: '10', payingAccountId: 'acc_00000000000000000000000000' }, 'ISSUANCE.PAYING_ACCOUNT_REFUSED'],
      [{ totalAmount: '10', payingAccountId: acc }, 'ISSUANCE.PAYING_ACCOUNT_REFUSED'],
      [{ totalAmount: '10', recordDate: monthsAgo(24).toISOString() }, 'ISSUANCE.NO_HOLDERS_OF_RECORD'],
      [{ totalAmount: '10', idempotencyKey: 'x'.repeat(129) }, 'INPUT.INVALID_IDEMPOTENCY_KEY'],
    ];
    const before = await w.stack.subgraphs.issuance.db.query<{ n: string }>('SELECT count(*) AS n FROM distributions');
    for (const [extra, code] of tries) {
      const r = await gql(w.url, w.desk.token, ANNOUNCE, { in: { ...base(), idempotencyKey: `bad-${code}`, ...extra } });
      expect([JSON.stringify(extra), r.body.errors?.[0]?.extensions?.code]).toEqual([JSON.stringify(extra), code]);
    }
    const notIssuer = await gql(w.url, await w.token('other-co', ['ISSUER_AGENT']), ANNOUNCE, { in: { ...base(), idempotencyKey: 'intruder', totalAmount: '10' } });
    expect(notIssuer.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const auditor = await gql(w.url, await w.token('issuer-co', ['AUDITOR']), ANNOUNCE, { in: { ...base(), idempotencyKey: 'auditor', totalAmount: '10' } });
    expect(auditor.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect(await w.stack.subgraphs.issuance.db.query<{ n: string }>('SELECT count(*) AS n FROM distributions')).toEqual(before);
  }, 120_000);

  test('tax forms: the wrong form for the holder, a treaty claim on a W-9, a form signed in the future are refused', async () => {
    const F = `mutation($in: RecordTaxFormInput!) { recordTaxForm(input: $in) { id } }`;
    const at = new Date(Date.now() - 1000).toISOString();
    for (const [input, code] of [
      [{ investorId: us.investorId, form: 'W8BEN', signedAt: at }, 'INPUT.WRONG_TAX_FORM'],
      [{ investorId: gb.investorId, form: 'W8BEN_E', signedAt: at }, 'INPUT.WRONG_TAX_FORM'],
      [{ investorId: us.investorId, form: 'W9', treatyCountry: 'GB', signedAt: at }, 'INPUT.TREATY_ON_W9'],
      [{ investorId: gb.investorId, form: 'W8BEN', signedAt: new Date(Date.now() + 3_600_000).toISOString() }, 'INPUT.SIGNED_IN_FUTURE'],
      [{ investorId: gb.investorId, form: 'W8BEN', signedAt: at, expiresAt: at }, 'INPUT.EXPIRES_BEFORE_SIGNED'],
      [{ investorId: gb.investorId, form: 'W8BEN', signedAt: at, reason: 'x' }, 'INPUT.REASON_REQUIRED'],
    ] as const) {
      const r = await gql(w.url, w.desk.token, F, { in: { reason: 'form received', ...input } });
      expect(r.body.errors?.[0]?.extensions?.code).toBe(code);
    }
    const r = await gql(w.url, await w.token('other-co', ['BROKER_DEALER']), F, { in: { investorId: gb.investorId, form: 'W8BEN', signedAt: at, reason: 'form received' } });
    expect(r.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  }, 60_000);

  describe('payment on the payment date', () => {
    const FUNDED = 10_000n;
    let paid: { id: string; before: Record<string, bigint>; books: Record<string, bigint> };

    test('custody killed (-9) with the batch on chain but not booked pays nobody twice; the holders are paid in one transaction, one outside custody on chain, a frozen one held', async () => {
      await w.fund(treasury, FUNDED);
      await w.bank.send(w.bank.signer.sendTransaction({ to: treasury.wallet, value: 10n ** 18n })); // gas for the paying wallet
      await w.desk.run(`mutation($t: ID!, $i: ID!) { freezeInvestor(tokenId: $t, investorId: $i, frozen: true, reason: "court order") { id } }`, { t: tokenId, i: de.investorId });
      const wallets = { us: us.wallet, gb: gb.wallet, outside: outside.wallet, treasury: treasury.wallet };
      const before = Object.fromEntries(await Promise.all(Object.entries(wallets).map(async ([k, a]) => [k, await cashOf(a)] as const)));
      const books = { us: BigInt((await w.balance(us.accountId, 'CASH')).total), gb: BigInt((await w.balance(gb.accountId, 'CASH')).total), treasury: BigInt((await w.balance(treasury.accountId, 'CASH')).total) };
      const nonce = await w.provider.getTransactionCount(treasury.wallet);

      // Custody as its own process, told to wait for 1000 confirmations: it sends the payments as one batch and books nothing.
      await w.stack.subgraphs.custody.stop();
      child = spawn(process.execPath, ['--import', 'tsx', 'subgraphs/custody/main.ts'], { env: { PATH: process.env.PATH, HOME: process.env.HOME, NODE_OPTIONS: '', ...custodyEnv({ CUSTODY_WITHDRAWAL_CONFIRMATIONS: '1000' }) }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout!.on('data', (b) => (out += b));
      child.stderr!.on('data', (b) => (out += b));
      await waitFor('the custody process', async () => {
        if (child!.exitCode !== null) throw new Error(`custody exited ${child!.exitCode}: ${out.slice(-2000)}`);
        return fetch(`${w.stack.subgraphs.custody.url.replace(/\/graphql$/, '')}/readyz`).then((r) => r.status, () => 0);
      }, (s) => s === 200, 120_000);

      const d = (await w.desk.run<{ announceDistribution: Announced }>(ANNOUNCE, { in: { ...base(), idempotencyKey: 'div-pay-1', totalAmount: '1000', excludeIssuer: true, paymentDate: new Date().toISOString() } })).announceDistribution;
      const nets = 513n + 218n + 78n; // the frozen holder's 90 is held
      const first = await waitFor('the batch on chain', () => cashOf(treasury.wallet), (b) => b < before.treasury, 120_000);
      expect(before.treasury - first).toBe(nets);
      const inFlight = (await w.desk.run<Payments>(ENTITLEMENTS, { id: d.id })).distribution!;
      expect(inFlight.counts).toEqual({ pending: 3, paid: 0, failed: 0, held: 1 });
      child.kill('SIGKILL');
      await waitFor('custody to die', async () => child!.exitCode !== null || child!.signalCode !== null, (x) => x);

      // Restarted with one confirmation: it finds its transfers mined, books them and reports PAID; it signs nothing new.
      restarted = await startSubgraph(custody, subgraphConfig(custody, custodyEnv({})));
      const done = await waitFor('the distribution paid', async () => {
        await mine();
        return (await w.desk.run<Payments>(ENTITLEMENTS, { id: d.id })).distribution!;
      }, (x) => x.status === 'COMPLETED', 120_000);
      expect(done.counts).toEqual({ pending: 0, paid: 3, failed: 0, held: 1 });
      const by = Object.fromEntries(done.entitlements.map((e) => [e.investorId, e]));
      expect(by[de.investorId]).toMatchObject({ status: 'HELD', reason: expect.stringContaining('frozen'), txHash: null });
      const txHash = by[us.investorId].txHash!;
      expect(txHash).toMatch(/^0x[0-9a-f]{64}$/);
      for (const [p, wallet, net] of [[us.investorId, us.wallet, '513'], [gb.investorId, gb.wallet, '218'], [outside.investorId, outside.wallet, '78']] as const) {
        expect(by[p]).toMatchObject({ status: 'PAID', net, attempts: 1, paidTo: wallet, txHash, reference: expect.stringMatching(/^wdr_/) });
      }
      // One transaction from the paying wallet (signed once, before the kill), one Transfer per payee.
      expect(await w.provider.getTransactionCount(treasury.wallet)).toBe(nonce + 1);
      const logs = (await w.provider.getTransactionReceipt(txHash))!.logs.map((l) => w.cash.interface.parseLog(l)!);
      expect(logs.map((e) => [e.name, e.args[0], e.args[1], e.args[2]]).sort()).toEqual(
        [[us.wallet, 513n], [gb.wallet, 218n], [outside.wallet, 78n]].map(([to, v]) => ['Transfer', treasury.wallet, to, v]).sort());
      // Exactly once on chain, and in custody's books: the paying account debited, the holder in custody credited (a deposit).
      for (let i = 0; i < 3; i++) await mine();
      expect(await cashOf(us.wallet)).toBe(before.us + 513n);
      expect(await cashOf(gb.wallet)).toBe(before.gb + 218n);
      expect(await cashOf(outside.wallet)).toBe(before.outside + 78n);
      expect(await cashOf(treasury.wallet)).toBe(before.treasury - nets);
      await w.deposited(us, 'CASH', books.us + 513n);
      await w.deposited(gb, 'CASH', books.gb + 218n);
      await waitFor('the paying account debited', () => w.balance(treasury.accountId, 'CASH'), (b) => BigInt(b.total) === books.treasury - nets && b.reserved === '0');
      // Each payee in custody credited once: its books are what its wallet holds.
      for (const p of [us, gb, treasury]) expect(BigInt((await w.balance(p.accountId, 'CASH')).total)).toBe(await cashOf(p.wallet));
      expect(BigInt((await w.balance(us.accountId, 'CASH')).total)).toBe(books.us + 513n);
      const rows = await restarted.db.query<{ entitlement_id: string; n: string }>("SELECT entitlement_id, count(*) AS n FROM withdrawals WHERE entitlement_id IS NOT NULL GROUP BY entitlement_id");
      expect(rows.map((r) => r.n)).toEqual(['1', '1', '1']);
      paid = { id: d.id, before, books };
    }, 600_000);

    test('a holder\'s entitlement events stream through the gateway: announced, instructed, paid; each caller only its own', async () => {
      expect(paid).toBeDefined();
      const until = async (token: string, vars: Record<string, unknown>, done: (e: EntitlementEvent) => boolean) => {
        const c = wsClient(w.url, token);
        const got: EntitlementEvent[] = [];
        try {
          await new Promise<void>((resolve, reject) => {
            const stop = c.subscribe<{ entitlementUpdated: EntitlementEvent }>({ query: `subscription($i: ID, $d: ID, $a: String) { entitlementUpdated(investorId: $i, distributionId: $d, after: $a) {
              cursor entitlementId distributionId investorId status net txHash reason } }`, variables: vars }, {
              next: (v) => {
                if (v.errors) return reject(new Error(JSON.stringify(v.errors)));
                got.push(v.data!.entitlementUpdated);
                if (done(v.data!.entitlementUpdated)) { stop(); resolve(); }
              },
              error: reject, complete: () => resolve(),
            });
          });
        } finally {
          await c.dispose();
        }
        return got;
      };
      const broker = await until(await w.token('beta-bd', ['BROKER_DEALER']), { d: paid.id, a: '0' }, (e) => e.status === 'PAID');
      expect(broker.map((e) => [e.investorId, e.status])).toEqual([[outside.investorId, 'PENDING'], [outside.investorId, 'PENDING'], [outside.investorId, 'PAID']]);
      expect(broker[2]).toMatchObject({ net: '78', txHash: expect.stringMatching(/^0x/) });
      const own = await until(await w.token('issuer-co', ['INVESTOR'], { investorId: gb.investorId }), { a: '0' }, (e) => e.distributionId === paid.id && e.status === 'PAID');
      expect(new Set(own.map((e) => e.investorId))).toEqual(new Set([gb.investorId]));
      const held = await until(w.desk.token, { i: de.investorId, d: paid.id, a: '0' }, (e) => e.status === 'HELD');
      expect(held.at(-1)!.reason).toContain('frozen');
      const bad = await gql(w.url, w.desk.token, '{ distributions { id } }');
      expect(bad.body.errors).toBeUndefined();
    }, 120_000);

    test('a payment that fails (the paying account short of cash) is FAILED with its reason, then retried and paid', async () => {
      expect(paid).toBeDefined();
      const d = (await w.desk.run<{ announceDistribution: Announced }>(ANNOUNCE, { in: { ...base(), idempotencyKey: 'div-pay-2', totalAmount: '1000000', excludeIssuer: true, paymentDate: new Date().toISOString() } })).announceDistribution;
      const failed = await waitFor('payments failing', () => w.desk.run<Payments>(ENTITLEMENTS, { id: d.id }).then((x) => x.distribution!), (x) => x.counts!.failed === 3);
      for (const e of failed.entitlements.filter((x) => x.status === 'FAILED')) expect(e.reason).toContain('available');
      const needed = failed.entitlements.filter((x) => x.status !== 'HELD').reduce((s, e) => s + BigInt(e.net), 0n);
      await w.fund(treasury, needed);
      const done = await waitFor('the retries paid', async () => {
        await mine();
        return (await w.desk.run<Payments>(ENTITLEMENTS, { id: d.id })).distribution!;
      }, (x) => x.status === 'COMPLETED', 120_000);
      expect(done.counts).toEqual({ pending: 0, paid: 3, failed: 0, held: 1 });
      expect(done.entitlements.filter((e) => e.status === 'PAID').every((e) => e.attempts >= 2)).toBe(true);
      expect(await cashOf(outside.wallet)).toBe(paid.before.outside + 78n + BigInt(done.entitlements.find((e) => e.investorId === outside.investorId)!.net));
    }, 300_000);

    test('the issuer\'s treasury holding the token, paid from its own account, is SKIPPED with the reason: the chain and the books move by the others\' payments alone', async () => {
      expect(paid).toBeDefined();
      const chainBefore = await cashOf(treasury.wallet);
      const books = BigInt((await waitFor('the books at the chain', () => w.balance(treasury.accountId, 'CASH'), (b) => BigInt(b.total) === chainBefore)).total);
      const d = (await w.desk.run<{ announceDistribution: Announced }>(ANNOUNCE, { in: { ...base(), idempotencyKey: 'div-pay-self', amountPerUnit: '2', paymentDate: new Date().toISOString() } })).announceDistribution;
      const own = d.entitlements.find((e) => e.investorId === treasury.investorId)!;
      expect(own.gross).toBe('20'); // the issuer is in: excludeIssuer not given
      const done = await waitFor('the distribution paid', async () => {
        await mine();
        return (await w.desk.run<Payments>(ENTITLEMENTS.replace('held }', 'held skipped }'), { id: d.id })).distribution!;
      }, (x) => x.status === 'COMPLETED', 120_000);
      expect(done.counts).toEqual({ pending: 0, paid: 3, failed: 0, held: 1, skipped: 1 });
      const self = done.entitlements.find((e) => e.investorId === treasury.investorId)!;
      expect(self).toMatchObject({ status: 'SKIPPED', txHash: null, paidTo: null, reason: expect.stringContaining(`is a custody wallet of the paying account ${treasury.accountId}`) });
      const others = done.entitlements.filter((e) => e.status === 'PAID').reduce((s, e) => s + BigInt(e.net), 0n);
      for (let i = 0; i < 3; i++) await mine();
      expect(await cashOf(treasury.wallet)).toBe(chainBefore - others);
      await waitFor('the paying account debited', () => w.balance(treasury.accountId, 'CASH'), (b) => BigInt(b.total) === books - others && b.reserved === '0');
      // The reason is in the issuer's audit log, custody the actor; custody made no payment of it.
      const audit = await w.stack.subgraphs.issuance.db.query<{ actor: string; reason: string; details: { distributionId: string } }>("SELECT actor, reason, details FROM audit_log WHERE action = 'entitlement.skipped'");
      expect(audit.filter((a) => a.details.distributionId === d.id).map((a) => [a.actor, a.reason])).toEqual([['custody', self.reason]]);
      expect(await restarted!.db.query("SELECT id FROM withdrawals WHERE to_address = $1 AND account_id = $2", [treasury.wallet, treasury.accountId])).toEqual([]);
    }, 300_000);
  });
});
