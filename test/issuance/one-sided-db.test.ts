import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { RULE_CODES } from '../../subgraphs/issuance/domain/compliance/index.js';
import { eligibilityMany, transferEligibility } from '../../subgraphs/issuance/eligibility.js';
import { calls } from '../../subgraphs/kit/contracts/calls.js';
import type { SnapshotRequest } from '../../subgraphs/issuance/snapshot.js';
import type { Db } from '../../subgraphs/kit/db/index.js';
import { dbLabel } from '../support/db.js';
import { AT, failedCodes, openIssuanceDb, Scenario, utc } from './support-db.js';

/**
 * Trading asks about one party of a secondary trade at order entry (the
 * counterparty is not known until the order matches): the snapshot reads
 * only that party, and the answer says which rules it could not decide.
 */
describe(`transferEligibility about one party alone, through the database snapshot (${dbLabel()})`, () => {
  let db: Db;
  let cleanup: () => Promise<void>;
  beforeAll(async () => { ({ db, cleanup } = await openIssuanceDb()); });
  afterAll(async () => { await cleanup?.(); });

  const ask = (s: Scenario, r: Partial<SnapshotRequest>) => transferEligibility(db, s.config, {
    tokenId: s.tokenId, fromInvestorId: null, toInvestorId: null, amount: 100n, at: AT, kind: 'SECONDARY_TRADE', ...r,
  });

  test('a seller whose lots are still in their Rule 144 holding period is refused with the date enough of them mature, and the buyer\'s rules are not evaluated', async () => {
    const s = await Scenario.create(db, { exemption: 'REG_D_506B' });
    await s.investor('seller');
    await s.holds('seller', [{ amount: 300n, acquired: '2024-01-01' }, { amount: 700n, acquired: '2025-03-01' }], { frozenAmount: 950n });
    const e = await ask(s, { fromInvestorId: s.idOf('seller'), amount: 500n });
    expect(e).toMatchObject({ allowed: false, missingParty: 'RECEIVER', evaluatedAt: AT });
    expect(failedCodes(e)).toEqual(['RULE_144_HOLDING_PERIOD', 'FREE_BALANCE_SENDER']);
    expect(e.results.find((r) => r.code === 'RULE_144_HOLDING_PERIOD')).toMatchObject({ currentValue: '300', limit: '500', blockingUntil: utc('2026-03-01') });
    expect(e.notEvaluated).toEqual(['KYC_VALID_RECEIVER', 'AML_CLEAR_RECEIVER', 'COUNTRY_NOT_SANCTIONED_RECEIVER', 'WALLET_NOT_FROZEN_RECEIVER', 'RECEIVER_NOT_LIQUIDATE_ONLY']);
    expect([...e.results.map((r) => r.code), ...e.notApplicable, ...e.notEvaluated].sort()).toEqual([...RULE_CODES].sort());
    // Once the lots mature and the freeze is lifted, only the seller's credentials, lapsed meanwhile, still refuse it.
    await s.controls('seller', { frozenAmount: 0n });
    const later = await ask(s, { fromInvestorId: s.idOf('seller'), amount: 500n, at: utc('2026-03-01') });
    expect(failedCodes(later)).toEqual(['KYC_VALID_SENDER', 'AML_CLEAR_SENDER']);
  });

  test('a buyer asked about alone is refused by the Reg S distribution compliance period with its end, and the seller\'s rules are not evaluated', async () => {
    const s = await Scenario.create(db, { exemption: 'REG_S', regS: { category: 'CATEGORY_2', securityType: 'EQUITY', periodStart: '2025-06-01' } });
    await s.investor('buyer');
    await s.controls('buyer', { liquidateOnly: true });
    const e = await ask(s, { toInvestorId: s.idOf('buyer') });
    expect(e).toMatchObject({ allowed: false, missingParty: 'SENDER' });
    expect(failedCodes(e)).toEqual(['REG_S_DISTRIBUTION_COMPLIANCE_PERIOD', 'RECEIVER_NOT_LIQUIDATE_ONLY']);
    expect(e.results.find((r) => r.code === 'REG_S_DISTRIBUTION_COMPLIANCE_PERIOD')?.blockingUntil).toEqual(utc('2025-07-11'));
    expect(e.notEvaluated).toEqual(expect.arrayContaining(['KYC_VALID_SENDER', 'FREE_BALANCE_SENDER']));
  });

  test('many questions in one call get the answers the single calls give, in order, a bad question its own typed error', async () => {
    const s = await Scenario.create(db, { exemption: 'REG_D_506B' });
    await s.investor('seller');
    await s.investor('buyer');
    await s.holds('seller', [{ amount: 300n, acquired: '2024-01-01' }, { amount: 700n, acquired: '2025-03-01' }]);
    const wire = [
      { tokenId: s.tokenId, fromInvestorId: s.idOf('seller'), toInvestorId: null, amount: '500', kind: 'SECONDARY_TRADE', at: AT.toISOString() },
      { tokenId: s.tokenId, fromInvestorId: null, toInvestorId: s.idOf('buyer'), amount: '500', kind: 'SECONDARY_TRADE', at: AT.toISOString() },
      { tokenId: s.tokenId, fromInvestorId: null, toInvestorId: null, amount: '5', kind: 'SECONDARY_TRADE', at: AT.toISOString() },
      { tokenId: s.tokenId, fromInvestorId: s.idOf('seller'), toInvestorId: null, amount: '500', kind: 'SECONDARY_TRADE', at: AT.toISOString(), price: '1.234' },
    ];
    const { questions } = calls.issuance.transferEligibilityMany.request.parse({ questions: wire });
    const answers = await eligibilityMany(db, s.config, questions);
    expect(answers[0]).toEqual({ ok: true, value: await ask(s, { fromInvestorId: s.idOf('seller'), amount: 500n }) });
    expect(answers[1]).toEqual({ ok: true, value: await ask(s, { toInvestorId: s.idOf('buyer'), amount: 500n }) });
    expect(answers[2]).toMatchObject({ ok: false, error: { code: 'INPUT.INVALID_TRANSFER_KIND' } });
    expect(answers[3]).toMatchObject({ ok: false, error: { code: 'INPUT.INVALID_PRICE' } });
    // The reply parses as the callers read it.
    expect(calls.issuance.transferEligibilityMany.reply.parse({ answers: JSON.parse(JSON.stringify(answers)) }).answers).toHaveLength(4);
    // A malformed or oversized list is refused whole.
    for (const bad of [{ questions: [] }, { questions: [{ ...wire[0], amount: 5 }] }, { questions: Array.from({ length: 501 }, () => wire[0]) }]) {
      expect(calls.issuance.transferEligibilityMany.request.safeParse(bad).success).toBe(false);
    }
  });

  test('a batch reads each kind of row once for all its questions, and each answer is still the single call\'s: parties at their own instants, affiliates, controls, lots', async () => {
    const s = await Scenario.create(db, { exemption: 'REG_D_506B' });
    const names = Array.from({ length: 12 }, (_, i) => `p${i}`);
    for (const n of names) await s.investor(n);
    for (const [i, n] of names.entries()) await s.holds(n, [{ amount: 100n * BigInt(i + 1), acquired: i % 2 ? '2024-01-01' : '2025-03-01' }], { frozenAmount: i % 3 === 0 ? 50n : 0n, walletFrozen: i === 5 });
    await s.affiliate('p2', '2024-01-01', '2025-05-01'); // a former affiliate at AT (three months back), not a year later
    await s.controls('p7', { liquidateOnly: true });
    const later = utc('2026-06-15');
    const questions = names.flatMap((n, i) => [
      { tokenId: s.tokenId, fromInvestorId: s.idOf(n), toInvestorId: null, amount: 40n + BigInt(i), kind: 'SECONDARY_TRADE' as const, at: i % 2 ? AT : later },
      { tokenId: s.tokenId, fromInvestorId: null, toInvestorId: s.idOf(n), amount: 10n, kind: 'SECONDARY_TRADE' as const, at: AT },
    ]);
    questions.push({ tokenId: s.tokenId, fromInvestorId: s.idOf('p2'), toInvestorId: null, amount: 40n, kind: 'SECONDARY_TRADE', at: AT });
    questions.push({ tokenId: s.tokenId, fromInvestorId: 'inv_00000000000000000000000000', toInvestorId: null, amount: 1n, kind: 'SECONDARY_TRADE', at: AT });
    let statements = 0;
    const counted = { query: (sql: string, params?: unknown[]) => { statements++; return db.query(sql, params); }, exec: (sql: string) => db.exec(sql) } as Db;
    const answers = await eligibilityMany(counted, s.config, questions.map((q) => ({ ...q, price: null, currency: null, occasion: null })));
    const batched = statements;
    statements = 0;
    const single = await Promise.all(questions.map((q) => transferEligibility(counted, s.config, q).then((value) => ({ ok: true, value }), (e) => ({ ok: false, code: e.extensions?.code }))));
    expect(answers.map((a) => (a.ok ? a : { ok: false, code: a.error.code }))).toEqual(single);
    expect(single.at(-1)).toEqual({ ok: false, code: 'NOT_FOUND' });
    expect(answers.filter((a) => a.ok && !a.value.allowed).length).toBeGreaterThan(3); // the frozen, liquidate-only, held and affiliate cases refuse
    // 26 questions: a handful of statements (one per kind of row and stage; a token with its holder counts, a holding's
    // controls with its position), where one by one they take several each.
    expect(batched).toBeLessThanOrEqual(6);
    expect(statements).toBeGreaterThan(4 * questions.length);
  });

  test('a question without a party it needs is refused as a bad question, not answered', async () => {
    const s = await Scenario.create(db, { exemption: 'REG_D_506C' });
    await s.investor('a');
    await s.investor('b');
    const code = (r: Partial<SnapshotRequest>) => ask(s, r).then(() => 'answered', (e) => e.extensions?.code);
    expect(await code({})).toBe('INPUT.INVALID_TRANSFER_KIND');
    expect(await code({ kind: 'PRIMARY_ISSUANCE', fromInvestorId: null, toInvestorId: null })).toBe('INPUT.INVALID_TRANSFER_KIND');
    expect(await code({ kind: 'FORCED_TRANSFER', fromInvestorId: s.idOf('a') })).toBe('INPUT.INVALID_TRANSFER_KIND');
    expect(await code({ kind: 'FORCED_TRANSFER', toInvestorId: s.idOf('b') })).toBe('INPUT.INVALID_TRANSFER_KIND');
    expect(await code({ fromInvestorId: 'inv_00000000000000000000000000' })).toBe('NOT_FOUND');
    expect(await code({ fromInvestorId: s.idOf('a'), toInvestorId: s.idOf('b') })).toBe('answered');
  });
});
