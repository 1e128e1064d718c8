/**
 * Distributions, continued, through the gateway on anvil: the issuer releases a HELD entitlement once
 * its holder is unfrozen (refused while still frozen) and retries FAILED ones after
 * DISTRIBUTION_MAX_ATTEMPTS, each paid once however often or concurrently it is asked; who may ask;
 * then a record date later than the announcement, fixed once the chain has passed it: a trade
 * settled between announcement and record date counts, one after it does not. Nobody holding at a
 * later record date: the distribution lapses, on the chain's clock, or on the service clock for a
 * token not on chain.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { defaultWithholding } from '../../subgraphs/issuance/domain/withholding.js';
import { fixDueRecordDates } from '../../subgraphs/issuance/record-dates.js';
import { dbLabel } from '../support/db.js';
import { IssuerDesk } from './flow.js';
import { SettlementWorld, gql, gqlOk, monthsAgo, waitFor, type Party } from '../settlement/support.js';
import { balances, type CapTableAnswer, type Entitlement, type EntitlementCounts, type WalletsAnswer } from './answers.js';

const ANNOUNCE = `mutation($in: AnnounceDistributionInput!) { announceDistribution(input: $in) { id status fixedAt units gross counts { pending paid failed held } entitlements { id investorId } } }`;
const VIEW = `query($id: ID!) { distribution(id: $id) { status fixedAt units gross counts { pending paid failed held }
  entitlements { id investorId units net status reason attempts txHash } } }`;
type Action = 'releaseEntitlement' | 'retryEntitlement';
const ACT = (m: Action) => `mutation($in: EntitlementActionInput!) { ${m}(input: $in) { id status reason attempts } }`;

/** The parts of the answers these tests read. */
interface Figures { status: string; fixedAt: string | null; units: string | null; gross: string | null; counts: EntitlementCounts | null }
interface Announced extends Figures { id: string; entitlements: { id: string; investorId: string }[] }
interface View extends Figures { entitlements: Entitlement[] }
interface Lapsed extends Figures { lapsedReason: string | null; entitlements: { id: string }[] }
type Acted = Partial<Record<Action, Pick<Entitlement, 'id' | 'status' | 'reason' | 'attempts'>>>;

// Custody's broadcaster on and quick; two attempts before a payment stays FAILED.
const ENV = {
  CUSTODY_BROADCAST_ENABLED: 'true', CUSTODY_BROADCAST_INTERVAL_MS: '100', CUSTODY_BROADCAST_RETRY_MS: '300', CUSTODY_INDEXER_POLL_MS: '100',
  DISTRIBUTION_POLL_MS: '100', DISTRIBUTION_RETRY_MS: '300', DISTRIBUTION_MAX_ATTEMPTS: '2', DISTRIBUTION_RECORD_DATE_POLL_MS: '100',
};

describe(`distribution follow-ups through the gateway (anvil, ${dbLabel()})`, () => {
  let w: SettlementWorld;
  let tokenId: string;
  let a: Party; let b: Party; let treasury: Party; let buyer: Party; let late: Party;
  let outside: { investorId: string; wallet: string };
  const cashOf = async (address: string) => BigInt(await w.cash.balanceOf(address));
  const mine = () => w.provider.send('evm_mine', []);
  const view = async (id: string) => (await w.desk.run<{ distribution: View | null }>(VIEW, { id })).distribution!;
  const act = (m: Action, token: string, input: Record<string, unknown>) => gql<Acted>(w.url, token, ACT(m), { in: input });
  const code = (r: { body: { errors?: { extensions?: Record<string, unknown> }[] } }) => r.body.errors?.[0]?.extensions?.code;
  const base = (key: string, extra: Record<string, unknown> = {}) => ({
    idempotencyKey: key, tokenId, kind: 'DIVIDEND', recordDate: new Date(Date.now() - 1000).toISOString(), paymentDate: new Date().toISOString(),
    asset: 'CASH', payingAccountId: treasury.accountId, excludeIssuer: true, ...extra,
  });
  const freeze = (i: string, frozen: boolean) => w.desk.run(`mutation($t: ID!, $i: ID!, $f: Boolean!) { freezeInvestor(tokenId: $t, investorId: $i, frozen: $f, reason: "court order") { id } }`, { t: tokenId, i, f: frozen });
  const payments = async (entitlementId: string) => (await w.stack.subgraphs.custody.db.query<{ status: string }>('SELECT status FROM withdrawals WHERE entitlement_id = $1', [entitlementId])).map((r) => r.status);

  beforeAll(async () => {
    // The last test moves the chain's clock an hour ahead: DvP consents must outlive that.
    w = await SettlementWorld.start({ SETTLEMENT_CONSENT_TTL_SECONDS: '86400' }, { subgraphEnv: ENV });
    ({ tokenId } = await w.token506b('DFUP'));
    a = await w.party('Followup A', 'alpha-bd');
    b = await w.party('Followup B', 'beta-bd');
    treasury = await w.party('Followup Treasury', 'alpha-bd');
    buyer = await w.party('Followup Buyer', 'beta-bd');
    late = await w.party('Followup Late Buyer', 'beta-bd');
    await w.stack.subgraphs.issuance.db.query("UPDATE investors SET issuer_relation = 'ISSUER' WHERE id = $1", [treasury.investorId]);
    const broker = new IssuerDesk(w.stack, await w.token('beta-bd', ['BROKER_DEALER']));
    const o = await broker.onboard('Followup Outside', { accredited: true });
    outside = { investorId: o.id, wallet: o.wallet };
    await waitFor('the outside wallet on chain', () => broker.run<WalletsAnswer>(`query($i: ID!) { investor(id: $i) { wallets { registeredOnChain } } }`, { i: o.id }),
      (d) => !!d.investor?.wallets?.[0]?.registeredOnChain);
    for (const [p, n] of [[a, 100n], [b, 50n], [treasury, 10n]] as const) await w.issue(tokenId, p, n, monthsAgo(13));
    expect((await w.desk.issue(tokenId, outside.investorId, '25', monthsAgo(13))).status).toBe('DONE');
    await w.fund(treasury, 10_000n);
    await w.bank.send(w.bank.signer.sendTransaction({ to: treasury.wallet, value: 10n ** 18n })); // gas for the paying wallet
  }, 900_000);
  afterAll(async () => w?.stop());

  test('a HELD entitlement: release refused while the holder is frozen, then released and paid once; replays and a concurrent second release pay nothing more; who may release', async () => {
    await freeze(b.investorId, true);
    const d = (await w.desk.run<{ announceDistribution: Announced }>(ANNOUNCE, { in: base('rel-1', { totalAmount: '700' }) })).announceDistribution;
    const held = await waitFor('paid and held', () => view(d.id), (x) => x.counts!.paid === 2 && x.counts!.held === 1, 180_000);
    const ent = held.entitlements.find((e) => e.investorId === b.investorId)!;
    expect(ent).toMatchObject({ status: 'HELD', reason: expect.stringContaining('frozen') });

    // Still frozen: refused with the reason, nothing changes.
    const still = await act('releaseEntitlement', w.desk.token, { idempotencyKey: 'rel-still', entitlementId: ent.id, reason: 'holder says unfrozen' });
    expect([code(still), still.body.errors?.[0]?.extensions?.holdReason]).toEqual(['ISSUANCE.HOLDER_STILL_BLOCKED', expect.stringContaining('frozen')]);
    expect((await view(d.id)).entitlements.find((e) => e.id === ent.id)!.status).toBe('HELD');

    // Who may not, and bad input: typed refusals, nothing changes.
    const input = { idempotencyKey: 'rel-hostile', entitlementId: ent.id, reason: 'not mine to release' };
    for (const [token, input2, expected, who] of [
      [await w.token('other-co', ['ISSUER_AGENT', 'BROKER_DEALER', 'COMPLIANCE_OFFICER']), input, 'NOT_FOUND', "another organisation's issuer agent"],
      [await w.token('beta-bd', ['BROKER_DEALER', 'COMPLIANCE_OFFICER']), input, 'FORBIDDEN', 'a broker-dealer'],
      [await w.token('issuer-co', ['INVESTOR'], { investorId: b.investorId }), input, 'FORBIDDEN', 'the holder itself'],
      [await w.token('issuer-co', ['AUDITOR', 'COMPLIANCE_OFFICER']), input, 'FORBIDDEN', "the issuer's auditor"],
      [w.desk.token, { ...input, entitlementId: 'not-an-id' }, 'INPUT.INVALID_ID', 'a malformed id'],
      [w.desk.token, { ...input, entitlementId: `ent_${'0'.repeat(26)}` }, 'NOT_FOUND', 'an unknown id'],
      [w.desk.token, { ...input, entitlementId: d.id }, 'INPUT.INVALID_ID', 'a distribution id'],
      [w.desk.token, { ...input, reason: 'x' }, 'INPUT.REASON_REQUIRED', 'no reason'],
      [w.desk.token, { ...input, reason: 'y'.repeat(1001) }, 'INPUT.REASON_REQUIRED', 'an oversized reason'],
      [w.desk.token, { ...input, idempotencyKey: 'k'.repeat(129) }, 'INPUT.INVALID_IDEMPOTENCY_KEY', 'an oversized key'],
    ] as const) {
      const r = await act('releaseEntitlement', token, input2);
      expect([who, code(r)]).toEqual([who, expected]);
    }
    const retryHeld = await act('retryEntitlement', w.desk.token, { idempotencyKey: 'retry-held', entitlementId: ent.id, reason: 'pay it anyway' });
    expect(code(retryHeld)).toBe('ISSUANCE.ENTITLEMENT_NOT_FAILED');
    expect((await view(d.id)).entitlements.find((e) => e.id === ent.id)!.status).toBe('HELD');

    // Unfrozen: two releases at once, with different keys, act once.
    await freeze(b.investorId, false);
    const before = await cashOf(b.wallet);
    const both = await Promise.all(['rel-ok-1', 'rel-ok-2'].map((k) => act('releaseEntitlement', w.desk.token, { idempotencyKey: k, entitlementId: ent.id, reason: 'court order lifted' })));
    expect(both.map(code).sort((x, y) => String(x).localeCompare(String(y)))).toEqual(['ISSUANCE.ENTITLEMENT_NOT_HELD', undefined]);
    const winner = both.find((r) => !r.body.errors)!;
    expect(winner.body.data!.releaseEntitlement).toMatchObject({ id: ent.id, status: 'PENDING', reason: null });
    const key = both[0].body.errors ? 'rel-ok-2' : 'rel-ok-1';
    const paid = await waitFor('the released entitlement paid', async () => {
      await mine();
      return (await view(d.id)).entitlements.find((e) => e.id === ent.id)!;
    }, (e) => e.status === 'PAID', 180_000);
    expect(paid).toMatchObject({ txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/), attempts: 1 });

    // Replays: the same body answers the entitlement as it is, a different body is refused; nothing is paid again.
    const replay = await act('releaseEntitlement', w.desk.token, { idempotencyKey: key, entitlementId: ent.id, reason: 'court order lifted' });
    expect(replay.body.data?.releaseEntitlement).toMatchObject({ id: ent.id, status: 'PAID' });
    expect(code(await act('releaseEntitlement', w.desk.token, { idempotencyKey: key, entitlementId: ent.id, reason: 'another reason' }))).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    expect(code(await act('retryEntitlement', w.desk.token, { idempotencyKey: key, entitlementId: ent.id, reason: 'court order lifted' }))).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    expect(code(await act('releaseEntitlement', w.desk.token, { idempotencyKey: 'rel-again', entitlementId: ent.id, reason: 'court order lifted' }))).toBe('ISSUANCE.ENTITLEMENT_NOT_HELD');
    for (let i = 0; i < 3; i++) await mine();
    expect(await cashOf(b.wallet)).toBe(before + BigInt(ent.net));
    expect(await payments(ent.id)).toEqual(['COMPLETED']);
    // Audited: who, when, why.
    const log = await w.stack.subgraphs.issuance.db.query<{ action: string; actor: string; reason: string; at: Date }>(
      "SELECT action, actor, reason, at FROM audit_log WHERE subject_id = $1 AND action LIKE 'entitlement.%'", [ent.id]);
    expect(log).toEqual([{ action: 'entitlement.released', actor: expect.any(String), reason: 'court order lifted', at: expect.any(Date) }]);
    const [stored] = await w.stack.subgraphs.issuance.db.query<{ from_status: string; reason: string }>('SELECT from_status, reason FROM entitlement_actions WHERE entitlement_id = $1', [ent.id]);
    expect(stored).toEqual({ from_status: 'HELD', reason: 'court order lifted' });
  }, 600_000);

  test('payments FAILED DISTRIBUTION_MAX_ATTEMPTS times stay FAILED until the issuer retries them; a retry pays once, however often asked', async () => {
    const d = (await w.desk.run<{ announceDistribution: Announced }>(ANNOUNCE, { in: base('retry-1', { totalAmount: '1000000000' }) })).announceDistribution;
    const failed = await waitFor('payments failed twice', () => view(d.id), (x) => x.counts!.failed === 3 && x.entitlements.every((e) => e.attempts === 2), 180_000);
    for (const e of failed.entitlements) expect(e.reason).toContain('available');
    // Nothing left to try: no next attempt is scheduled.
    const scheduled = await w.stack.subgraphs.issuance.db.query("SELECT id FROM entitlements WHERE distribution_id = $1 AND next_attempt_at IS NOT NULL", [d.id]);
    expect(scheduled).toEqual([]);

    await w.fund(treasury, failed.entitlements.reduce((s, e) => s + BigInt(e.net), 0n));
    const target = failed.entitlements.find((e) => e.investorId === outside.investorId)!;
    const before = await cashOf(outside.wallet);
    // Every entitlement retried; the outside holder's twice at once, with two keys, and a replay.
    const asks = await Promise.all([
      ...failed.entitlements.map((e) => act('retryEntitlement', w.desk.token, { idempotencyKey: `retry-${e.id}`, entitlementId: e.id, reason: 'the paying account is funded' })),
      act('retryEntitlement', w.desk.token, { idempotencyKey: 'retry-again', entitlementId: target.id, reason: 'the paying account is funded' }),
      act('retryEntitlement', w.desk.token, { idempotencyKey: `retry-${target.id}`, entitlementId: target.id, reason: 'the paying account is funded' }),
    ]);
    for (const r of asks) expect(r.body.errors === undefined || code(r) === 'ISSUANCE.ENTITLEMENT_NOT_FAILED').toBe(true);
    expect(asks.slice(0, 3).every((r) => r.body.data?.retryEntitlement?.id)).toBe(true);
    const done = await waitFor('the retries paid', async () => {
      await mine();
      return view(d.id);
    }, (x) => x.status === 'COMPLETED', 180_000);
    expect(done.counts).toEqual({ pending: 0, paid: 3, failed: 0, held: 0 });
    expect(done.entitlements.every((e) => e.attempts === 3)).toBe(true);
    for (let i = 0; i < 3; i++) await mine();
    expect(await cashOf(outside.wallet)).toBe(before + BigInt(target.net));
    expect((await payments(target.id)).filter((s) => s !== 'FAILED')).toEqual(['COMPLETED']);
    expect(code(await act('retryEntitlement', w.desk.token, { idempotencyKey: 'retry-paid', entitlementId: target.id, reason: 'once more' }))).toBe('ISSUANCE.ENTITLEMENT_NOT_FAILED');
    const replay = await act('retryEntitlement', w.desk.token, { idempotencyKey: `retry-${target.id}`, entitlementId: target.id, reason: 'the paying account is funded' });
    expect(replay.body.data?.retryEntitlement).toMatchObject({ id: target.id, status: 'PAID' });
    expect(code(await act('retryEntitlement', await w.token('other-co', ['ISSUER_AGENT']), { idempotencyKey: 'intruder', entitlementId: target.id, reason: 'not mine' }))).toBe('NOT_FOUND');
  }, 600_000);

  // Last: it moves the chain's clock an hour ahead.
  test('a record date later than the announcement: awaiting it, then fixed once the chain has passed it; a trade before it counts, one after it does not', async () => {
    const chainNow = async () => new Date(Number((await w.provider.getBlock('latest'))!.timestamp) * 1000);
    const recordDate = new Date(Math.max(Date.now(), (await chainNow()).getTime()) + 3_600_000);
    const input = base('future-1', { recordDate: recordDate.toISOString(), paymentDate: new Date(recordDate.getTime() + 86_400_000).toISOString(), amountPerUnit: '2' });
    const d = (await w.desk.run<{ announceDistribution: Announced }>(ANNOUNCE, { in: input })).announceDistribution;
    expect(d).toMatchObject({ status: 'AWAITING_RECORD_DATE', fixedAt: null, units: null, gross: null, counts: { pending: 0, paid: 0, failed: 0, held: 0 }, entitlements: [] });
    expect((await w.desk.run<{ announceDistribution: Announced }>(ANNOUNCE, { in: input })).announceDistribution.id).toBe(d.id);
    expect(code(await gql(w.url, w.desk.token, ANNOUNCE, { in: { ...input, amountPerUnit: '3' } }))).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    expect(code(await gql(w.url, w.desk.token, ANNOUNCE, { in: { ...input, idempotencyKey: 'future-bad', paymentDate: new Date(recordDate.getTime() - 1000).toISOString() } })))
      .toBe('INPUT.PAYMENT_BEFORE_RECORD_DATE');
    // Its broker sees nothing of it yet (no entitlement of its clients).
    expect((await gqlOk<{ distribution: { id: string } | null }>(w.url, await w.token('beta-bd', ['BROKER_DEALER']), `query($id: ID!) { distribution(id: $id) { id } }`, { id: d.id })).distribution).toBeNull();

    // Between announcement and record date: A sells 30 to the buyer.
    await w.fund(buyer, 10_000_000_000n);
    await w.fund(late, 10_000_000_000n);
    await w.authorizeVenue('OTHER-ATS', tokenId);
    const trade = async (seller: Party, to: Party, ref: string, quantity: string) => {
      const r = await w.submit(await w.token(seller === a ? 'alpha-bd' : 'beta-bd', ['BROKER_DEALER']), { venue: 'OTHER-ATS', venueReference: ref, tokenId,
        buyerAccountId: to.accountId, sellerAccountId: seller.accountId, quantity, price: '100', tradeTime: new Date().toISOString() });
      expect(r.body.errors).toBeUndefined();
      await w.waitStatus(r.body.data!.submitExternalTrade.id, ['SETTLED']);
    };
    await trade(a, buyer, 'fup-before', '30');
    const holders = async () => balances(await w.desk.run<CapTableAnswer>(`query($t: ID!, $at: DateTime) { securityToken(id: $t) { capTable(asOf: $at) { holders { investor { id } balance } } } }`,
      { t: tokenId, at: recordDate.toISOString() }));
    await waitFor('the trade in the lots', holders, (h) => h[buyer.investorId] === '30');
    expect((await view(d.id)).status).toBe('AWAITING_RECORD_DATE'); // the chain has not passed the record date

    // The chain passes the record date; then B sells 10 to a late buyer.
    await w.provider.send('evm_increaseTime', [Math.ceil((recordDate.getTime() - (await chainNow()).getTime()) / 1000) + 5]);
    await mine();
    await trade(b, late, 'fup-after', '10');
    const fixed = await waitFor('the entitlements fixed', () => view(d.id), (x) => x.status !== 'AWAITING_RECORD_DATE', 180_000);
    expect(fixed.status).toBe('ANNOUNCED');
    const units = Object.fromEntries(fixed.entitlements.map((e) => [e.investorId, e.units]));
    // A 70 (sold 30 before), the buyer 30, B 50 (sold after), the outside holder 25; the late buyer and the issuer not.
    expect(units).toEqual({ [a.investorId]: '70', [buyer.investorId]: '30', [b.investorId]: '50', [outside.investorId]: '25' });
    expect([fixed.units, fixed.gross, fixed.counts!.pending]).toEqual(['175', '350', 4]);
    expect(new Date(fixed.fixedAt!).getTime()).toBeGreaterThan(0);
    // Fixed once: more passes (a restarted poller, two replicas at once) find nothing to fix.
    const issuance = w.stack.subgraphs.issuance;
    expect(await Promise.all([0, 1].map(() => fixDueRecordDates(issuance.db, defaultWithholding, () => new Date(), () => undefined)))).toEqual([0, 0]);
    const rows = await w.stack.subgraphs.issuance.db.query<{ n: string }>('SELECT count(*) AS n FROM entitlements WHERE distribution_id = $1', [d.id]);
    expect(rows).toEqual([{ n: '4' }]);
    const brokerView = await gqlOk<{ distribution: { status: string; units: string | null; entitlements: { investorId: string }[] } | null }>(w.url, await w.token('beta-bd', ['BROKER_DEALER']), `query($id: ID!) { distribution(id: $id) { status units entitlements { investorId } } }`, { id: d.id });
    expect(brokerView.distribution!.units).toBeNull();
    expect(brokerView.distribution!.entitlements.map((e) => e.investorId)).toEqual([outside.investorId]);
  }, 600_000);

  test('nobody held at the record date: the distribution LAPSES once the chain passes it (no entitlement, nothing paid); on a token not on chain it waits on the service clock', async () => {
    const LAPSE = `query($id: ID!) { distribution(id: $id) { status fixedAt lapsedReason units gross counts { pending paid failed held } entitlements { id } } }`;
    const chainNow = async () => new Date(Number((await w.provider.getBlock('latest'))!.timestamp) * 1000);
    // A deployed token nobody holds yet, a record date a minute ahead of the chain.
    const empty = await w.token506b('DLAP');
    const recordDate = new Date(Math.max(Date.now(), (await chainNow()).getTime()) + 60_000);
    const onChain = (await w.desk.run<{ announceDistribution: Announced }>(ANNOUNCE, { in: base('lapse-chain', { tokenId: empty.tokenId, recordDate: recordDate.toISOString(), paymentDate: new Date(recordDate.getTime() + 1000).toISOString(), totalAmount: '500' }) })).announceDistribution;
    expect(onChain.status).toBe('AWAITING_RECORD_DATE');
    // A token not on chain: no block passes its record date, the service clock does.
    const draft = await w.desk.createToken('DDRF', 'REG_D_506B');
    const later = new Date(Date.now() + 3_600_000);
    const offChain = (await w.desk.run<{ announceDistribution: Announced }>(ANNOUNCE, { in: base('lapse-draft', { tokenId: draft, recordDate: later.toISOString(), paymentDate: later.toISOString(), amountPerUnit: '1' }) })).announceDistribution;
    expect(offChain.status).toBe('AWAITING_RECORD_DATE');

    const issuance = w.stack.subgraphs.issuance;
    await w.provider.send('evm_increaseTime', [120]);
    await mine();
    const lapsed = await waitFor('the distribution lapsed', async () => (await w.desk.run<{ distribution: Lapsed | null }>(LAPSE, { id: onChain.id })).distribution!, (x) => x.status !== 'AWAITING_RECORD_DATE', 180_000);
    expect(lapsed).toMatchObject({ status: 'LAPSED', lapsedReason: expect.stringContaining('nobody held'), units: null, gross: null, counts: { pending: 0, paid: 0, failed: 0, held: 0 }, entitlements: [] });
    expect(new Date(lapsed.fixedAt!).getTime()).toBeGreaterThan(0);
    // The draft's record date is an hour ahead of the service clock: still awaiting, whatever the chain says.
    expect(await fixDueRecordDates(issuance.db, defaultWithholding, () => new Date(), () => undefined)).toBe(0);
    expect((await w.desk.run<{ distribution: Lapsed | null }>(LAPSE, { id: offChain.id })).distribution!.status).toBe('AWAITING_RECORD_DATE');
    // Once the service clock passes it, it lapses (nobody can hold a token not on chain), once, however many passes run.
    const ahead = () => new Date(later.getTime() + 1000);
    const passes = await Promise.all([0, 1].map(() => fixDueRecordDates(issuance.db, defaultWithholding, ahead, () => undefined)));
    expect(passes.reduce((a, b) => a + b, 0)).toBe(1);
    expect((await w.desk.run<{ distribution: Lapsed | null }>(LAPSE, { id: offChain.id })).distribution).toMatchObject({ status: 'LAPSED', lapsedReason: expect.stringContaining('nobody held'), entitlements: [] });
    const audits = await issuance.db.query<{ n: string }>("SELECT count(*) AS n FROM audit_log WHERE action = 'distribution.lapsed' AND details->>'distributionId' = ANY($1::text[])", [[onChain.id, offChain.id]]);
    expect(audits).toEqual([{ n: '2' }]);
  }, 600_000);
});
