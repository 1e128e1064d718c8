/**
 * Cash in lieu of a split's fractions through the gateway on anvil, paid from the issuer's custody
 * account: issuance killed (-9) after it fixed the cash (the split's books applied) and before any of
 * it was paid; restarted, it pays each holder once. Then a second split whose cash meets a paying
 * account short of funds (FAILED after DISTRIBUTION_MAX_ATTEMPTS, paid once by retryEntitlement) and
 * a frozen holder (HELD, paid once by releaseEntitlement after the freeze is lifted).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Contract } from 'ethers';
import { dbLabel } from '../support/db.js';
import { KillableIssuance } from './killable-issuance.js';
import { SettlementWorld, gql, monthsAgo, waitFor, type Party } from '../settlement/support.js';
import type { Entitlement } from './answers.js';

const SPLIT = `id status lastError holders { investorId before after cashInLieu cashInLieuStatus cashInLieuWithheld cashInLieuTxHash }
  cashInLieuDistribution { id entitlements { id investorId net status reason attempts } }`;

/** The parts of the answers these tests read. */
interface Split {
  id: string; status: string; lastError: string | null;
  holders: { investorId: string; before: string; after: string; cashInLieu: string; cashInLieuStatus: string; cashInLieuWithheld: string | null; cashInLieuTxHash: string | null }[];
  cashInLieuDistribution: { id: string; entitlements: Pick<Entitlement, 'id' | 'investorId' | 'net' | 'status' | 'reason' | 'attempts'>[] } | null;
}

const ENV = {
  CUSTODY_BROADCAST_ENABLED: 'true', CUSTODY_BROADCAST_INTERVAL_MS: '100', CUSTODY_BROADCAST_RETRY_MS: '300', CUSTODY_INDEXER_POLL_MS: '100',
  DISTRIBUTION_POLL_MS: '100', DISTRIBUTION_RETRY_MS: '300', DISTRIBUTION_MAX_ATTEMPTS: '2', SPLIT_POLL_MS: '100',
};

describe(`cash in lieu of a split's fractions (anvil, ${dbLabel()})`, () => {
  let w: SettlementWorld;
  let tokenId: string; let token: Contract;
  let a: Party; let b: Party; let c: Party; let treasury: Party;
  const killable = new KillableIssuance();
  const cashOf = async (address: string) => BigInt(await w.cash.balanceOf(address));
  const codeOf = (r: { body: { errors?: { extensions?: Record<string, unknown> }[] } }) => r.body.errors?.[0]?.extensions?.code;
  const split = async (id: string) => (await w.desk.run<{ splits: Split[] }>(`query($t: ID!) { splits(tokenId: $t) { ${SPLIT} } }`, { t: tokenId })).splits.find((s) => s.id === id)!;
  const announce = async (key: string, denominator: string) => (await w.desk.run<{ announceSplit: { id: string } }>(`mutation($in: AnnounceSplitInput!) { announceSplit(input: $in) { id } }`, { in: {
    idempotencyKey: key, tokenId, numerator: '1', denominator, effectiveDate: new Date(Date.now() + 2000).toISOString(), cashInLieuPrice: '1000', payingAccountId: treasury.accountId,
  } })).announceSplit.id;
  const withdrawalsOf = async (entitlementIds: string[]) => (await w.stack.subgraphs.custody.db.query<{ entitlement_id: string; status: string }>(
    'SELECT entitlement_id, status FROM withdrawals WHERE entitlement_id = ANY($1::text[]) ORDER BY entitlement_id, created_at', [entitlementIds]));

  beforeAll(async () => {
    // Issuance on a database that outlives its process (the first test kills it).
    w = await SettlementWorld.start({}, { databaseUrls: { issuance: await killable.databaseUrl('split-cash') }, subgraphEnv: ENV });
    ({ tokenId, token } = await w.token506b('SCIL'));
    a = await w.party('Cash A', 'alpha-bd');
    b = await w.party('Cash B', 'beta-bd');
    c = await w.party('Cash C', 'alpha-bd');
    treasury = await w.party('Cash Treasury', 'alpha-bd');
    for (const [p, n] of [[a, 155n], [b, 253n], [c, 377n]] as const) await w.issue(tokenId, p, n, monthsAgo(13));
    await w.bank.send(w.bank.signer.sendTransaction({ to: treasury.wallet, value: 10n ** 18n })); // gas for the paying wallet
  }, 900_000);
  afterAll(async () => {
    await killable.stop();
    await w?.stop();
    await killable.drop();
  });

  test('issuance killed (-9) after fixing the cash in lieu, before paying it: restarted, it pays each holder once', async () => {
    await w.fund(treasury, 1500n); // 0.5 + 0.3 + 0.7 of a new unit at 1000
    const before = await Promise.all([a, b, c, treasury].map((p) => cashOf(p.wallet)));
    await killable.spawn(w);

    const id = await announce('scil-1for10', '10');
    // Blocks by hand: the split's pause is mined, then the books are applied with the cash fixed; nothing after that is mined before the kill.
    await w.provider.send('evm_setAutomine', [false]);
    let fixed: Split;
    try {
      fixed = await waitFor('the cash in lieu fixed', async () => {
        const s = await split(id);
        const pending = (await w.provider.send('eth_getBlockByNumber', ['pending', false])).transactions.length as number;
        if (s.status === 'ANNOUNCED' && pending) await w.provider.send('evm_mine', []);
        return s;
      }, (s) => s.status !== 'ANNOUNCED', 120_000);
      await killable.kill();
      await w.provider.send('evm_mine', []);
    } finally {
      await w.provider.send('evm_setAutomine', [true]);
    }
    // At the kill: the cash fixed, nothing of it paid (no block since).
    expect(fixed.cashInLieuDistribution!.entitlements).toHaveLength(3);
    expect(fixed.cashInLieuDistribution!.entitlements.filter((e) => e.status === 'PAID')).toEqual([]);

    await killable.restart(w);
    const done = await waitFor('the split done and its cash paid', async () => {
      await w.provider.send('evm_mine', []);
      return split(id);
    }, (s) => s.status === 'DONE' && s.holders.every((h) => h.cashInLieuStatus === 'PAID'), 300_000);
    const owed = Object.fromEntries(done.holders.map((h) => [h.investorId, [h.after, h.cashInLieu]]));
    expect(owed).toEqual({ [a.investorId]: ['15', '500'], [b.investorId]: ['25', '300'], [c.investorId]: ['37', '700'] });
    expect(await token.totalSupply()).toBe(77n);
    // Each holder paid its net once (a US person without a W-9: 24% backup withholding), on chain and at custody.
    const net = Object.fromEntries(done.cashInLieuDistribution!.entitlements.map((e) => [e.investorId, BigInt(e.net)]));
    expect(net).toEqual({ [a.investorId]: 380n, [b.investorId]: 228n, [c.investorId]: 532n });
    for (const e of done.cashInLieuDistribution!.entitlements) expect(e.attempts).toBe(1);
    const after = await waitFor('the payments on chain', () => Promise.all([a, b, c, treasury].map((p) => cashOf(p.wallet))), (x) => x[3] === before[3] - 1140n);
    expect(after.map((x, i) => x - before[i])).toEqual([380n, 228n, 532n, -1140n]);
    const rows = await withdrawalsOf(done.cashInLieuDistribution!.entitlements.map((e) => e.id));
    expect(rows).toHaveLength(3);
  }, 600_000);

  test('cash in lieu FAILED (the paying account short) is paid once by retryEntitlement; HELD (a frozen holder) once by releaseEntitlement', async () => {
    // The treasury has 360 left; nothing is added yet. B is frozen.
    await w.desk.run(`mutation($t: ID!, $i: ID!) { freezeInvestor(tokenId: $t, investorId: $i, frozen: true, reason: "court order") { id } }`, { t: tokenId, i: b.investorId });
    const before = await Promise.all([a, b, c].map((p) => cashOf(p.wallet)));
    const id = await announce('scil-1for2', '2');
    // 15, 25, 37 -> 7, 12, 18: half a new unit each, 500 gross, 380 net; A and C fail twice (760 > 360), B is held.
    const stuck = await waitFor('failed twice and held', () => split(id), (s) => s?.status === 'DONE' && s.holders.some((h) => h.cashInLieuStatus === 'HELD')
      && s.cashInLieuDistribution!.entitlements.filter((e) => e.status === 'FAILED' && e.attempts === 2).length === 2, 300_000);
    const ents = Object.fromEntries(stuck.cashInLieuDistribution!.entitlements.map((e) => [e.investorId, e]));
    expect(ents[a.investorId]).toMatchObject({ status: 'FAILED', attempts: 2, reason: expect.any(String) });
    expect(ents[c.investorId]).toMatchObject({ status: 'FAILED', attempts: 2 });
    expect(ents[b.investorId]).toMatchObject({ status: 'HELD', reason: expect.stringContaining('frozen') });
    expect(stuck.holders.map((h) => h.cashInLieuTxHash)).toEqual([null, null, null]);

    // Still frozen: the release is refused; the retries before the cash arrives fail again, nothing is paid twice.
    const act = (m: string, e: string, key: string) => gql(w.url, w.desk.token, `mutation($in: EntitlementActionInput!) { ${m}(input: $in) { id status } }`,
      { in: { idempotencyKey: key, entitlementId: e, reason: 'the treasury was topped up' } });
    expect(codeOf(await act('releaseEntitlement', ents[b.investorId].id, 'scil-rel-early'))).toBe('ISSUANCE.HOLDER_STILL_BLOCKED');
    await w.fund(treasury, 2000n);
    for (const p of [a, c]) expect((await act('retryEntitlement', ents[p.investorId].id, `scil-retry-${p.investorId}`)).body.errors).toBeUndefined();
    await w.desk.run(`mutation($t: ID!, $i: ID!) { freezeInvestor(tokenId: $t, investorId: $i, frozen: false, reason: "court order lifted") { id } }`, { t: tokenId, i: b.investorId });
    const both = await Promise.all([0, 1].map(() => act('releaseEntitlement', ents[b.investorId].id, 'scil-rel')));
    for (const r of both) expect(r.body.errors).toBeUndefined();

    const paid = await waitFor('every holder paid', () => split(id), (s) => s.holders.every((h) => h.cashInLieuStatus === 'PAID'), 300_000);
    for (const h of paid.holders) expect(h.cashInLieuTxHash).toMatch(/^0x[0-9a-f]{64}$/);
    const after = await waitFor('the payments on chain', () => Promise.all([a, b, c].map((p) => cashOf(p.wallet))), (x) => x.every((v, i) => v > before[i]));
    expect(after.map((x, i) => x - before[i])).toEqual([380n, 380n, 380n]);
    // One payment that went through per entitlement, whatever failed before it.
    const rows = await withdrawalsOf(paid.cashInLieuDistribution!.entitlements.map((e) => e.id));
    const through = rows.filter((r) => !/FAIL|REJECT|CANCEL/.test(r.status));
    expect(through.map((r) => r.entitlement_id).sort()).toEqual(paid.cashInLieuDistribution!.entitlements.map((e) => e.id).sort());
  }, 600_000);
});
