/**
 * A bond's redemption through the gateway on anvil: announced by the issuer's agent (hostile and
 * malformed announcements refused, nothing recorded), then at the redemption date the holders AT
 * that date are bought back (a seller since the announcement is not, its buyer is), their balances
 * burned on chain and debited at custody, each paid units x price from the issuer's custody account
 * with no withholding, the final coupon paid with it (withheld as a coupon), a holder outside
 * custody paid to its registered wallet, a frozen holder held (neither burned nor paid). Afterwards
 * the token is REDEEMED: no issuance, no unpause, no order. A pass resumed after a crash burns and
 * pays nobody twice; so does issuance killed (-9) with a batchBurn sent and not mined. An open order
 * on the token is cancelled (reason REDEEMED); a split before the date is refused. The held holder,
 * once unfrozen, is released by the issuer's agent, then burned and paid once.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Contract } from 'ethers';
import { issuanceServices } from '../../subgraphs/issuance/index.js';
import { runDueRedemptions } from '../../subgraphs/issuance/redemption-steps.js';
import { dbLabel } from '../support/db.js';
import type { CapTableAnswer, Entitlement, WalletsAnswer } from './answers.js';
import { KillableIssuance } from './killable-issuance.js';
import { IssuerDesk } from './flow.js';
import { SettlementWorld, gql, gqlOk, monthsAgo, waitFor, type Party, type PlaceAnswer } from '../settlement/support.js';
import type { MarketStatus, Order } from '../trading/support.js';

const DAY = 86_400_000;
const REDEMPTION = `id status redemptionDate pricePerUnit payingAccountId finalCouponPerUnit finalCouponTotal fixedAt units gross unallocated txHashes lastError
  distribution { id kind status gross withheld net counts { pending paid failed held } }
  couponDistribution { id kind status gross withheld net counts { pending paid failed held } entitlements { investorId gross withheld net rateBps status reason } }
  holders { investorId units gross status reason payment { status net withheld rateBps withholdingBasis txHash paidTo attempts } }`;
const ANNOUNCE = `mutation($in: AnnounceRedemptionInput!) { announceRedemption(input: $in) { ${REDEMPTION} } }`;

/** The parts of the answers these tests read (a test reads a part only where it expects it). */
interface RedemptionHolder { investorId: string; units: string; gross: string; status: string; reason: string | null; payment: Entitlement | null }
interface Redemption {
  id: string; status: string; units: string | null; gross: string | null; txHashes: string[]; lastError: string | null;
  holders: RedemptionHolder[]; distribution: { kind: string; status: string } | null; couponDistribution: { entitlements: Entitlement[] } | null;
}
interface Redemptions { redemptions: Redemption[] }

const CUSTODY_ENV = { CUSTODY_BROADCAST_ENABLED: 'true', CUSTODY_BROADCAST_INTERVAL_MS: '100', CUSTODY_BROADCAST_RETRY_MS: '300', CUSTODY_INDEXER_POLL_MS: '100' };

describe(`redemptions through the gateway (anvil, ${dbLabel()})`, () => {
  let w: SettlementWorld;
  let tokenId: string; let token: Contract;
  let seller: Party; let buyer: Party; let gb: Party; let frozen: Party; let treasury: Party;
  let outside: { investorId: string; wallet: string };
  let redemptionDate: Date;
  const killable = new KillableIssuance();
  const services = () => issuanceServices(w.stack.subgraphs.issuance.runtime)!;
  const codeOf = (r: { body: { errors?: { extensions?: Record<string, unknown> }[] } }) => r.body.errors?.[0]?.extensions?.code;
  const base = () => ({ tokenId, redemptionDate: redemptionDate.toISOString(), pricePerUnit: '1000', asset: 'CASH', payingAccountId: treasury.accountId, finalCoupon: { amountPerUnit: '50' } });
  const cashOf = async (address: string) => BigInt(await w.cash.balanceOf(address));
  const redemption = async (t = w.desk.token) => (await gqlOk<Redemptions>(w.url, t, `query($t: ID!) { redemptions(tokenId: $t) { ${REDEMPTION} } }`, { t: tokenId })).redemptions;

  beforeAll(async () => {
    // Issuance on a database that outlives its process (the last test kills it).
    w = await SettlementWorld.start({}, { databaseUrls: { issuance: await killable.databaseUrl('redemptions') }, subgraphEnv: { ...CUSTODY_ENV, DISTRIBUTION_POLL_MS: '100', DISTRIBUTION_RETRY_MS: '300', DISTRIBUTION_MAX_ATTEMPTS: '1000', REDEMPTION_POLL_MS: '100', REDEMPTION_BATCH_SIZE: '2' } });
    ({ tokenId, token } = await w.token506b('BOND'));
    seller = await w.party('Bond Seller', 'alpha-bd');
    buyer = await w.party('Bond Buyer', 'beta-bd');
    gb = await w.party('Bond GB', 'beta-bd', { country: 'GB' });
    frozen = await w.party('Bond Frozen', 'alpha-bd');
    treasury = await w.party('Bond Paying Agent', 'alpha-bd');
    const broker = new IssuerDesk(w.stack, await w.token('beta-bd', ['BROKER_DEALER']));
    const o = await broker.onboard('Bond Outside', { accredited: true });
    outside = { investorId: o.id, wallet: o.wallet };
    await waitFor('the outside wallet on chain', () => broker.run<WalletsAnswer>(`query($i: ID!) { investor(id: $i) { wallets { registeredOnChain } } }`, { i: o.id }),
      (d) => !!d.investor?.wallets?.[0]?.registeredOnChain);
    for (const [p, n] of [[seller, 100n], [gb, 50n], [frozen, 30n]] as const) await w.issue(tokenId, p, n, monthsAgo(13));
    expect((await w.desk.issue(tokenId, outside.investorId, '20', monthsAgo(13))).status).toBe('DONE');
    await w.desk.run(`mutation($in: RecordTaxFormInput!) { recordTaxForm(input: $in) { id } }`,
      { in: { investorId: seller.investorId, form: 'W9', signedAt: new Date(Date.now() - DAY).toISOString(), reason: 'form received' } });
    redemptionDate = new Date(Date.now() + DAY);
  }, 900_000);
  afterAll(async () => {
    await killable.stop();
    await w?.stop();
    await killable.drop();
  });

  test('hostile and malformed announcements are typed refusals and record nothing', async () => {
    const count = async () => (await w.stack.subgraphs.issuance.db.query<{ n: string }>('SELECT count(*) AS n FROM redemptions'))[0].n;
    const before = await count();
    const tries: [Record<string, unknown>, string][] = [
      [{ pricePerUnit: '-5' }, 'INPUT.INVALID_AMOUNT'],
      [{ pricePerUnit: '0' }, 'INPUT.INVALID_AMOUNT'],
      [{ pricePerUnit: '1.5' }, 'INPUT.INVALID_BIG_INT'],
      [{ pricePerUnit: '2'.padEnd(78, '0') }, 'INPUT.AMOUNT_TOO_LARGE'],
      [{ pricePerUnit: '1'.padEnd(79, '0') }, 'INPUT.INVALID_BIG_INT'],
      [{ finalCoupon: { amountPerUnit: '1', totalAmount: '10' } }, 'INPUT.AMOUNT_REQUIRED'],
      [{ finalCoupon: {} }, 'INPUT.AMOUNT_REQUIRED'],
      [{ finalCoupon: { totalAmount: '-1' } }, 'INPUT.INVALID_AMOUNT'],
      [{ redemptionDate: new Date(Date.now() - 60_000).toISOString() }, 'REDEMPTION.DATE_IN_PAST'],
      [{ asset: 'EUR' }, 'INPUT.UNKNOWN_ASSET'],
      [{ payingAccountId: 'acc_00000000000000000000000000' }, 'ISSUANCE.PAYING_ACCOUNT_REFUSED'],
      [{ idempotencyKey: 'x'.repeat(129) }, 'INPUT.INVALID_IDEMPOTENCY_KEY'],
    ];
    for (const [extra, code] of tries) {
      const r = await gql(w.url, w.desk.token, ANNOUNCE, { in: { ...base(), idempotencyKey: `bad-${code}`, ...extra } });
      expect([JSON.stringify(extra), codeOf(r)]).toEqual([JSON.stringify(extra), code]);
    }
    for (const t of [await w.token('other-co', ['ISSUER_AGENT']), await w.token('issuer-co', ['AUDITOR', 'COMPLIANCE_OFFICER']), await w.token('alpha-bd', ['BROKER_DEALER', 'CUSTODIAN'])]) {
      expect(codeOf(await gql(w.url, t, ANNOUNCE, { in: { ...base(), idempotencyKey: 'intruder' } }))).toBe('FORBIDDEN');
    }
    expect(await count()).toBe(before);
  }, 120_000);

  test('announced once: a replay is the same redemption, also one racing the first; another body under the key is refused, a second redemption of the token too', async () => {
    const input = { ...base(), idempotencyKey: 'bond-redeem-1' };
    // A client that retries before the first answer came: every copy gets the one redemption (none is refused as already announced).
    const copies = await Promise.all([0, 1, 2].map(() => gql<{ announceRedemption: Redemption }>(w.url, w.desk.token, ANNOUNCE, { in: input })));
    expect(copies.map((c) => c.body.errors)).toEqual([undefined, undefined, undefined]);
    const r = copies[0].body.data!.announceRedemption;
    expect(new Set(copies.map((c) => c.body.data!.announceRedemption.id))).toEqual(new Set([r.id]));
    expect(r).toMatchObject({ status: 'ANNOUNCED', pricePerUnit: '1000', finalCouponPerUnit: '50', finalCouponTotal: null, payingAccountId: treasury.accountId, holders: [], distribution: null, fixedAt: null });
    expect((await w.desk.run<{ announceRedemption: Redemption }>(ANNOUNCE, { in: input })).announceRedemption.id).toBe(r.id);
    expect(codeOf(await gql(w.url, w.desk.token, ANNOUNCE, { in: { ...input, pricePerUnit: '999' } }))).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    expect(codeOf(await gql(w.url, w.desk.token, ANNOUNCE, { in: { ...base(), idempotencyKey: 'bond-redeem-2' } }))).toBe('REDEMPTION.ALREADY_ANNOUNCED');
    // A split before the date would change the units bought back: refused, nothing recorded.
    const split = await gql(w.url, w.desk.token, `mutation($in: AnnounceSplitInput!) { announceSplit(input: $in) { id } }`,
      { in: { idempotencyKey: 'split-before-redemption', tokenId, numerator: '2', denominator: '1', effectiveDate: new Date(Date.now() + 60_000).toISOString(), cashInLieuPrice: '0' } });
    expect(codeOf(split)).toBe('SPLIT.REDEMPTION_PENDING');
    expect((await w.stack.subgraphs.issuance.db.query('SELECT 1 FROM splits WHERE token_id = $1', [tokenId])).length).toBe(0);
    // Another organisation sees nothing of it; nothing happens before the date.
    expect(await redemption(await w.token('other-co', ['ISSUER_AGENT', 'AUDITOR', 'BROKER_DEALER']))).toEqual([]);
    await runDueRedemptions(services().redemptions);
    expect((await redemption()).map((x) => x.status)).toEqual(['ANNOUNCED']);
  }, 120_000);

  test('at the date the holders then are bought back and burned, paid from the paying account with the final coupon; a frozen holder is held', async () => {
    // Before the date: the seller sells 40 to the buyer (the buyer is bought back for them, not the seller), one holder is frozen.
    await w.fund(buyer, 10_000_000_000n);
    await w.authorizeVenue('OTHER-ATS', tokenId);
    const ext = await w.submit(await w.token('alpha-bd', ['BROKER_DEALER']), { venue: 'OTHER-ATS', venueReference: 'bond-trade-1', tokenId,
      buyerAccountId: buyer.accountId, sellerAccountId: seller.accountId, quantity: '40', price: '100', tradeTime: new Date().toISOString() });
    expect(ext.body.errors).toBeUndefined();
    await w.waitStatus(ext.body.data!.submitExternalTrade.id, ['SETTLED'], 120_000);
    await w.desk.run(`mutation($t: ID!, $i: ID!) { freezeInvestor(tokenId: $t, investorId: $i, frozen: true, reason: "court order") { id } }`, { t: tokenId, i: frozen.investorId });
    await waitFor('the trade in the cap table', () => w.desk.run<CapTableAnswer>(`query($t: ID!) { securityToken(id: $t) { capTable { holders { investor { id } balance } } } }`, { t: tokenId }),
      (d) => d.securityToken!.capTable!.holders.some((h) => h.investor.id === buyer.investorId && h.balance === '40'));
    // Redemption 60+40+50+20 = 170 units x 1000; coupon 200 units x 50 (the frozen holder's 1500 held).
    const owed = 170n * 1000n + 200n * 50n;
    await w.fund(treasury, owed);
    await w.bank.send(w.bank.signer.sendTransaction({ to: treasury.wallet, value: 10n ** 18n })); // gas for the paying wallet
    const wallets = { seller: seller.wallet, buyer: buyer.wallet, gb: gb.wallet, outside: outside.wallet, frozen: frozen.wallet, treasury: treasury.wallet };
    const cash = Object.fromEntries(await Promise.all(Object.entries(wallets).map(async ([k, a]) => [k, await cashOf(a)] as const)));
    const books = { treasury: BigInt((await w.balance(treasury.accountId, 'CASH')).total) };

    // An open order on the token: cancelled at the redemption (reason REDEEMED), its cash reservation released.
    await gqlOk(w.url, await w.token('ats-co', ['ATS_OPERATOR']), `mutation { admitSubscriber(org: "beta-bd", reason: "approved subscriber") { org } }`);
    const placed = await gqlOk<PlaceAnswer>(w.url, await w.token('beta-bd', ['BROKER_DEALER']), `mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { accepted rejections { code } order { id status } } }`,
      { in: { tokenId, accountId: buyer.accountId, side: 'BUY', type: 'LIMIT', timeInForce: 'GTC', price: '90', quantity: '3', clientOrderId: 'before-redemption' } });
    expect(placed.placeOrder).toMatchObject({ accepted: true, order: { status: 'OPEN' } });
    expect(BigInt((await w.balance(buyer.accountId, 'CASH')).reserved)).toBeGreaterThan(0n);

    // The service clock reaches the redemption date (no test waits a day).
    services().now = () => new Date(Date.now() + 2 * DAY);
    const done = await waitFor('the redemption paid', async () => {
      await w.provider.send('evm_mine', []);
      return (await redemption())[0];
    }, (r) => r.status === 'COMPLETED', 300_000);

    const lines = Object.fromEntries(done.holders.map((h) => [h.investorId, h]));
    expect(Object.keys(lines).sort()).toEqual([seller.investorId, buyer.investorId, gb.investorId, frozen.investorId, outside.investorId].sort());
    for (const [p, units] of [[seller.investorId, 60n], [buyer.investorId, 40n], [gb.investorId, 50n], [outside.investorId, 20n]] as const) {
      expect(lines[p]).toMatchObject({ units: String(units), gross: String(units * 1000n), status: 'REDEEMED', reason: null });
      // Return of principal: nothing withheld, with or without a form, US or foreign.
      expect(lines[p].payment).toMatchObject({ status: 'PAID', net: String(units * 1000n), withheld: '0', rateBps: 0, attempts: 1, txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/) });
      expect(lines[p].payment!.withholdingBasis).toContain('§1271');
    }
    expect(lines[outside.investorId].payment!.paidTo).toBe(outside.wallet);
    expect(lines[frozen.investorId]).toMatchObject({ units: '30', gross: '0', status: 'HELD', reason: expect.stringContaining('frozen'), payment: null });
    expect(done).toMatchObject({ units: '170', gross: '170000', unallocated: '0', lastError: null });
    expect(done.distribution).toMatchObject({ kind: 'REDEMPTION', status: 'COMPLETED', gross: '170000', withheld: '0', counts: { pending: 0, paid: 4, failed: 0, held: 0 } });
    expect(done.txHashes.length).toBe(2); // four wallets, two per batchBurn
    // The final coupon: every holder at the date, withheld as interest (the GB holder without a form 30%, the US one without a W-9 24%), the frozen one held.
    const coupon = Object.fromEntries(done.couponDistribution!.entitlements.map((e) => [e.investorId, e]));
    expect(done.couponDistribution).toMatchObject({ kind: 'COUPON', status: 'COMPLETED', gross: '10000', counts: { pending: 0, paid: 4, failed: 0, held: 1 } });
    expect(coupon[seller.investorId]).toMatchObject({ gross: '3000', rateBps: 0, status: 'PAID' });
    expect(coupon[gb.investorId]).toMatchObject({ gross: '2500', rateBps: 3000, net: '1750', status: 'PAID' });
    expect(coupon[outside.investorId]).toMatchObject({ gross: '1000', rateBps: 2400, net: '760', status: 'PAID' });
    expect(coupon[frozen.investorId]).toMatchObject({ gross: '1500', status: 'HELD', reason: expect.stringContaining('frozen') });

    // The chain: every redeemed wallet empty, the frozen one untouched; the cash moved exactly once.
    for (const p of [seller, buyer, gb]) expect(await token.balanceOf(p.wallet)).toBe(0n);
    expect(await token.balanceOf(outside.wallet)).toBe(0n);
    expect(await token.balanceOf(frozen.wallet)).toBe(30n);
    expect(await token.totalSupply()).toBe(30n);
    for (let i = 0; i < 3; i++) await w.provider.send('evm_mine', []);
    const paidNet = (p: string) => BigInt(lines[p].payment!.net) + BigInt(coupon[p].net);
    expect(await cashOf(seller.wallet)).toBe(cash.seller + paidNet(seller.investorId));
    expect(await cashOf(buyer.wallet)).toBe(cash.buyer + paidNet(buyer.investorId));
    expect(await cashOf(gb.wallet)).toBe(cash.gb + paidNet(gb.investorId));
    expect(await cashOf(outside.wallet)).toBe(cash.outside + paidNet(outside.investorId));
    expect(await cashOf(frozen.wallet)).toBe(cash.frozen);
    const total = [seller, buyer, gb].reduce((s, p) => s + paidNet(p.investorId), paidNet(outside.investorId));
    expect(await cashOf(treasury.wallet)).toBe(cash.treasury - total);
    // Custody's books follow: the holders' units debited, the paying account's cash.
    await waitFor('custody to debit the burned units', () => Promise.all([seller, buyer, gb, frozen].map((p) => w.balance(p.accountId, tokenId))),
      (b) => b.map((x) => x.total).join() === '0,0,0,30');
    await waitFor('the paying account debited', () => w.balance(treasury.accountId, 'CASH'), (b) => BigInt(b.total) === books.treasury - total && b.reserved === '0');
    const perEntitlement = await w.stack.subgraphs.custody.db.query<{ n: string }>('SELECT count(*) AS n FROM withdrawals WHERE entitlement_id IS NOT NULL GROUP BY entitlement_id');
    expect(perEntitlement.map((r) => r.n)).toEqual(Array(8).fill('1'));
    // Trading cancelled the open order (reason REDEEMED) and custody released its reservation.
    const bd = await w.token('beta-bd', ['BROKER_DEALER']);
    const order = await waitFor('the open order cancelled', () => gqlOk<{ order: Order }>(w.url, bd, `query($id: ID!) { order(id: $id) { status cancelReason } }`, { id: placed.placeOrder.order!.id }),
      (d) => d.order.status === 'CANCELLED', 60_000);
    expect(order.order).toEqual({ status: 'CANCELLED', cancelReason: 'REDEEMED' });
    await waitFor('the reservation released', () => w.balance(buyer.accountId, 'CASH'), (b) => b.reserved === '0', 60_000);
  }, 600_000);

  test('a redeemed token is retired: no issuance, no unpause, no order; the market is halted', async () => {
    const t = (await w.desk.run<{ securityToken: { status: string; paused: boolean } }>(`query($t: ID!) { securityToken(id: $t) { status paused } }`, { t: tokenId })).securityToken;
    expect(t).toEqual({ status: 'REDEEMED', paused: true });
    const issue = await gql(w.url, w.desk.token, `mutation($in: IssueTokensInput!) { issueTokens(input: $in) { status } }`,
      { in: { idempotencyKey: 'after-redemption', tokenId, investorId: seller.investorId, amount: '1' } });
    expect(codeOf(issue)).toBe('ISSUANCE.TOKEN_REDEEMED');
    expect(codeOf(await gql(w.url, w.desk.token, `mutation($t: ID!) { unpauseToken(tokenId: $t, reason: "try again") { id } }`, { t: tokenId }))).toBe('ISSUANCE.TOKEN_REDEEMED');
    const status = await waitFor('the market halted', () => gqlOk<{ marketStatus: MarketStatus }>(w.url, w.desk.token, `query($t: ID!) { marketStatus(tokenId: $t) { halted issuerPaused } }`, { t: tokenId }),
      (d) => d.marketStatus.halted);
    expect(status.marketStatus.issuerPaused).toBe(true);
    const order = await gqlOk<PlaceAnswer>(w.url, await w.token('beta-bd', ['BROKER_DEALER']), `mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { accepted rejections { code } } }`,
      { in: { tokenId, accountId: buyer.accountId, side: 'BUY', type: 'LIMIT', price: '100', quantity: '1', clientOrderId: 'after-redemption' } });
    expect(order.placeOrder.accepted).toBe(false);
    expect(order.placeOrder.rejections.map((r) => r.code)).toContain('TRADING.MARKET_HALTED');
  }, 120_000);

  test('each sees its own: the issuer every line, a broker its clients\', an investor its own, another organisation nothing', async () => {
    const broker = (await redemption(await w.token('beta-bd', ['BROKER_DEALER'])))[0];
    expect(broker).toMatchObject({ units: null, gross: null, payingAccountId: null, lastError: null });
    expect(broker.holders.map((h) => h.investorId)).toEqual([outside.investorId]);
    const own = (await redemption(await w.token('issuer-co', ['INVESTOR'], { investorId: gb.investorId })))[0];
    expect(own.holders.map((h) => [h.investorId, h.payment!.status])).toEqual([[gb.investorId, 'PAID']]);
    for (const t of [await w.token('other-co', ['ISSUER_AGENT', 'AUDITOR', 'CUSTODIAN', 'BROKER_DEALER']), await w.token('alpha-bd', ['CUSTODIAN'])]) {
      expect(await redemption(t)).toEqual([]);
    }
  }, 120_000);

  test('a pass resumed as if the process died after its burns were mined, before it recorded them, burns and pays nobody twice', async () => {
    const [r] = await redemption();
    const supply = await token.totalSupply();
    await w.stack.subgraphs.issuance.db.query(`UPDATE redemptions SET status = 'BURNING' WHERE id = $1`, [r.id]);
    await runDueRedemptions(services().redemptions);
    const again = (await redemption())[0];
    expect([again.status, again.txHashes, again.lastError]).toEqual(['COMPLETED', r.txHashes, null]);
    expect(await token.totalSupply()).toBe(supply);
    // The payment runner finds nothing due: every entitlement keeps its one attempt.
    await services().payments.kick();
    expect((await redemption())[0].holders.filter((h) => h.payment).map((h) => [h.payment!.status, h.payment!.attempts])).toEqual(Array(4).fill(['PAID', 1]));
    const perEntitlement = await w.stack.subgraphs.custody.db.query<{ n: string }>('SELECT count(*) AS n FROM withdrawals WHERE entitlement_id IS NOT NULL GROUP BY entitlement_id');
    expect(perEntitlement.map((x) => x.n)).toEqual(Array(8).fill('1'));
  }, 120_000);

  test('a held holder released once unfrozen is burned and paid once; refused while still blocked, for another organisation, twice', async () => {
    const RELEASE = `mutation($in: ReleaseRedemptionHolderInput!) { releaseRedemptionHolder(input: $in) { investorId units gross status reason releasedAt releaseReason payment { status net } } }`;
    const [r] = await redemption();
    const input = { idempotencyKey: 'release-frozen', redemptionId: r.id, investorId: frozen.investorId, reason: 'court order lifted' };
    const release = (t: string, extra: Record<string, unknown> = {}) => gql<{ releaseRedemptionHolder: RedemptionHolder }>(w.url, t, RELEASE, { in: { ...input, ...extra } });
    // Still frozen: refused, as releaseEntitlement refuses; hostile and malformed calls are typed refusals.
    expect(codeOf(await release(w.desk.token))).toBe('ISSUANCE.HOLDER_STILL_BLOCKED');
    const tries: [string, Record<string, unknown>, string][] = [
      [await w.token('other-co', ['ISSUER_AGENT']), {}, 'NOT_FOUND'],
      [await w.token('issuer-co', ['AUDITOR', 'COMPLIANCE_OFFICER']), {}, 'FORBIDDEN'],
      [await w.token('beta-bd', ['BROKER_DEALER']), {}, 'FORBIDDEN'],
      [w.desk.token, { redemptionId: 'red_x' }, 'INPUT.INVALID_ID'],
      [w.desk.token, { investorId: `inv_${'0'.repeat(27)}` }, 'INPUT.INVALID_ID'],
      [w.desk.token, { investorId: `inv_${'0'.repeat(26)}` }, 'NOT_FOUND'],
      [w.desk.token, { redemptionId: `red_${'0'.repeat(26)}` }, 'NOT_FOUND'],
      [w.desk.token, { reason: 'x' }, 'INPUT.REASON_REQUIRED'],
      [w.desk.token, { idempotencyKey: 'k'.repeat(129) }, 'INPUT.INVALID_IDEMPOTENCY_KEY'],
      [w.desk.token, { investorId: seller.investorId, idempotencyKey: 'release-seller' }, 'REDEMPTION.HOLDER_NOT_HELD'],
    ];
    for (const [t, extra, code] of tries) expect([JSON.stringify(extra), codeOf(await release(t, extra))]).toEqual([JSON.stringify(extra), code]);
    expect((await w.stack.subgraphs.issuance.db.query('SELECT 1 FROM redemption_releases')).length).toBe(0);

    // The freeze lifted (still possible on the retired token), then two releases under the key at once act once.
    await w.desk.run(`mutation($t: ID!, $i: ID!) { freezeInvestor(tokenId: $t, investorId: $i, frozen: false, reason: "court order lifted") { id } }`, { t: tokenId, i: frozen.investorId });
    await w.fund(treasury, 30_000n); // what the released holder is owed
    const cash = await cashOf(frozen.wallet);
    const both = await Promise.all([release(w.desk.token), release(w.desk.token)]);
    for (const b of both) expect(b.body.data!.releaseRedemptionHolder).toMatchObject({ units: '30', gross: '30000', status: 'REDEEMED', releaseReason: 'court order lifted', reason: expect.stringContaining('frozen') });
    expect(codeOf(await release(w.desk.token, { reason: 'another reason' }))).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    expect(codeOf(await release(w.desk.token, { idempotencyKey: 'release-frozen-2' }))).toBe('REDEMPTION.HOLDER_NOT_HELD');

    // Burned (read from the chain) and then paid, once.
    const done = await waitFor('the released holder paid', async () => {
      await w.provider.send('evm_mine', []);
      return (await redemption())[0];
    }, (x) => x.status === 'COMPLETED' && x.holders.find((h) => h.investorId === frozen.investorId)!.payment?.status === 'PAID', 120_000);
    expect(done.holders.find((h) => h.investorId === frozen.investorId)!.payment).toMatchObject({ status: 'PAID', net: '30000', withheld: '0', attempts: 1 });
    expect(done).toMatchObject({ units: '200', gross: '200000', lastError: null });
    expect(done.distribution).toMatchObject({ status: 'COMPLETED', gross: '200000', counts: { pending: 0, paid: 5, failed: 0, held: 0 } });
    expect(done.txHashes).toHaveLength(3);
    expect(await token.balanceOf(frozen.wallet)).toBe(0n);
    expect(await token.totalSupply()).toBe(0n);
    await waitFor('the payment on chain', () => cashOf(frozen.wallet), (c) => c === cash + 30_000n);
    await waitFor('custody to debit the burned units', () => w.balance(frozen.accountId, tokenId), (b) => b.total === '0');
    const audits = await w.stack.subgraphs.issuance.db.query<{ reason: string; actor: string }>("SELECT reason, actor FROM audit_log WHERE action = 'redemption.holder_released' AND subject_id = $1", [r.id]);
    expect(audits.map((a) => a.reason)).toEqual(['court order lifted']);

    // A pass resumed as if the process died after the burn was mined burns and pays nothing again.
    await w.stack.subgraphs.issuance.db.query(`UPDATE redemptions SET status = 'BURNING' WHERE id = $1`, [r.id]);
    await runDueRedemptions(services().redemptions);
    await services().payments.kick();
    expect((await redemption())[0]).toMatchObject({ status: 'COMPLETED', txHashes: done.txHashes });
    const perEntitlement = await w.stack.subgraphs.custody.db.query<{ n: string }>('SELECT count(*) AS n FROM withdrawals WHERE entitlement_id IS NOT NULL GROUP BY entitlement_id');
    expect(perEntitlement.map((x) => x.n)).toEqual(Array(9).fill('1'));
  }, 600_000);

  test('issuance killed (-9) with a batchBurn sent and not mined: restarted, it burns only what is left and pays each holder once', async () => {
    const t2 = await w.token506b('BND2');
    const holders = [[seller, 10n], [gb, 11n], [buyer, 12n]] as const;
    for (const [p, n] of holders) await w.issue(t2.tokenId, p, n, monthsAgo(13));
    await w.fund(treasury, 33n * 7n);
    const cash = await Promise.all(holders.map(([p]) => cashOf(p.wallet)));
    const query = async () => (await gqlOk<Redemptions>(w.url, w.desk.token, `query($t: ID!) { redemptions(tokenId: $t) { ${REDEMPTION} } }`, { t: t2.tokenId })).redemptions[0];

    // Issuance as its own process on the same database and port.
    await killable.spawn(w);

    await w.desk.run(ANNOUNCE, { in: { idempotencyKey: 'bnd2-redeem', tokenId: t2.tokenId, redemptionDate: new Date(Date.now() + 3000).toISOString(), pricePerUnit: '7', asset: 'CASH', payingAccountId: treasury.accountId } });
    // Blocks by hand: the pause is mined, then the first batchBurn (two of the three wallets) waits in the pool when the process dies.
    await w.provider.send('evm_setAutomine', [false]);
    try {
      await waitFor('a burn sent and not mined', async () => {
        const pending = (await w.provider.send('eth_getBlockByNumber', ['pending', false])).transactions.length as number;
        const status = (await query()).status as string;
        if (status !== 'BURNING' && pending) await w.provider.send('evm_mine', []);
        return { status, pending };
      }, (x) => x.status === 'BURNING' && x.pending > 0, 120_000);
      await killable.kill();
      await w.provider.send('evm_mine', []);
    } finally {
      await w.provider.send('evm_setAutomine', [true]);
    }
    expect((await Promise.all(holders.map(([p]) => t2.token.balanceOf(p.wallet)))).filter((b) => b === 0n)).toHaveLength(2);

    await killable.restart(w);
    const done = await waitFor('the redemption paid', async () => {
      await w.provider.send('evm_mine', []);
      return query();
    }, (r) => r.status === 'COMPLETED', 300_000);
    // The burn lost with the process is on chain; the restarted one burned only the third wallet.
    expect(done.txHashes).toHaveLength(1);
    expect(await t2.token.totalSupply()).toBe(0n);
    for (const [p] of holders) expect(await t2.token.balanceOf(p.wallet)).toBe(0n);
    for (const [i, [p, n]] of holders.entries()) {
      const line = done.holders.find((h) => h.investorId === p.investorId);
      expect(line).toMatchObject({ units: String(n), status: 'REDEEMED', payment: { status: 'PAID', net: String(n * 7n), attempts: 1 } });
      await waitFor('the payment on chain', () => cashOf(p.wallet), (c) => c === cash[i] + n * 7n);
    }
    // Every payment of the file's two redemptions (9 before, 3 now) is one withdrawal at custody.
    const rows = await w.stack.subgraphs.custody.db.query<{ n: string }>('SELECT count(*) AS n FROM withdrawals WHERE entitlement_id IS NOT NULL GROUP BY entitlement_id');
    expect(rows.map((r) => r.n)).toEqual(Array(12).fill('1'));
  }, 600_000);
});
