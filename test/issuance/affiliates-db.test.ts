import { describe, expect, test } from '@jest/globals';
import { addDaysUtc, addMonthsUtc } from '../../subgraphs/issuance/domain/compliance/index.js';
import { dbLabel } from '../support/db.js';
import { AT, JUST_BEFORE, Scenario, useIssuanceDb, utc } from './support-db.js';

/**
 * Affiliates of the issuer, recorded with dates, through the tables: who
 * sells as an affiliate at an instant (Rule 144(b)(1)'s three months after
 * it ends), what its buyers' lots become, and Rule 144(e)'s volume limit
 * and Form 144 notice from the books. Boundaries: the day before, the
 * instant, the day after.
 */
describe(`affiliates of the issuer, with dates (${dbLabel()})`, () => {
  const it = useIssuanceDb();
  const VOLUME = 'RULE_144_AFFILIATE_VOLUME_LIMIT';
  /** The affiliation ended exactly three months before AT. */
  const ENDED = utc('2025-03-15T12:00:00Z');

  async function market() {
    // 100,000 outstanding: 1% is 1,000.
    const s = await Scenario.create(it.db, { exemption: 'REG_D_506C', otherSupply: 98_000n });
    await s.investor('officer');
    await s.investor('buyer');
    await s.investor('next');
    await s.holds('officer', [{ amount: 2_000n, acquired: '2023-01-01' }]);
    await s.affiliate('officer', '2024-01-01', ENDED);
    return s;
  }
  const sells = (s: Scenario, amount: bigint, at: Date) => s.rule(VOLUME, { from: 'officer', to: 'buyer', amount, at });

  test('a former affiliate sells as one for three months after the affiliation ends (230.144(b)(1)): the day before, the instant, the day after', async () => {
    const s = await market();
    expect(await sells(s, 1_001n, addDaysUtc(AT, -1))).toMatchObject({ passed: false, currentValue: '1,001', limit: '1,000' });
    expect(await sells(s, 1_001n, JUST_BEFORE(AT))).toMatchObject({ passed: false });
    expect(await sells(s, 1_001n, AT)).toMatchObject({ passed: true, message: expect.stringContaining('not an affiliate') });
    expect((await sells(s, 1_001n, addDaysUtc(AT, 1))).passed).toBe(true);
    // Before the affiliation began the officer was not one either.
    expect((await sells(s, 1_001n, utc('2023-12-31'))).passed).toBe(true);
  });

  test('a buyer from an affiliate starts a new period; a buyer at the instant the affiliation ended tacks', async () => {
    const s = await market();
    await s.chainTransfer('officer', 'buyer', 100n, addDaysUtc(ENDED, -1));
    await s.chainTransfer('officer', 'next', 100n, ENDED);
    expect((await s.lots('buyer'))[0]).toMatchObject({ restricted: true, holding_period_start: addDaysUtc(ENDED, -1) });
    expect((await s.lots('next'))[0]).toMatchObject({ restricted: false, holding_period_start: utc('2023-01-01') });
    const end = addMonthsUtc(addDaysUtc(ENDED, -1), 12);
    const resale = (at: Date) => s.rule('RULE_144_HOLDING_PERIOD', { from: 'buyer', to: 'next', amount: 10n, at });
    expect(await resale(addDaysUtc(end, -1))).toMatchObject({ passed: false, blockingUntil: end });
    expect((await resale(end)).passed).toBe(true);
    expect((await resale(addDaysUtc(end, 1))).passed).toBe(true);
    expect((await s.rule('RULE_144_HOLDING_PERIOD', { from: 'next', to: 'buyer', amount: 10n, at: addDaysUtc(ENDED, 1) })).passed).toBe(true);
  });

  test('the 1% volume limit counts the affiliate\'s sales in the three months before: at the limit and one unit over, and a sale drops out after three months', async () => {
    const s = await Scenario.create(it.db, { exemption: 'REG_D_506C', otherSupply: 98_000n });
    await s.investor('officer');
    await s.investor('buyer');
    await s.holds('officer', [{ amount: 2_000n, acquired: '2023-01-01' }]);
    await s.affiliate('officer', '2024-01-01');
    const sold = utc('2025-05-01');
    await s.chainTransfer('officer', 'buyer', 600n, sold); // within the window at AT
    expect(await sells(s, 400n, AT)).toMatchObject({ passed: true, currentValue: '1,000', limit: '1,000' });
    expect(await sells(s, 401n, AT)).toMatchObject({ passed: false, currentValue: '1,001', limit: '1,000' });
    // The weekly volume: 600 in the four weeks before 2025-05-02 is 150 a week, below 1%.
    expect(await sells(s, 401n, utc('2025-05-02'))).toMatchObject({ passed: false, limit: '1,000' });
    // The 600 count until three months have passed since they were sold.
    const out = addMonthsUtc(sold, 3);
    expect(await sells(s, 401n, addDaysUtc(out, -1))).toMatchObject({ passed: false });
    expect(await sells(s, 1_000n, out)).toMatchObject({ passed: true, currentValue: '1,000' });
    expect((await sells(s, 1_000n, addDaysUtc(out, 1))).passed).toBe(true);
  });

  test('a Form 144 notice is reported as a required filing above 5,000 units in three months, and the transfer stays allowed', async () => {
    const s = await Scenario.create(it.db, { exemption: 'REG_D_506C', otherSupply: 10_000_000n });
    await s.investor('officer', { issuerRelation: 'AFFILIATE' });
    await s.investor('buyer');
    await s.holds('officer', [{ amount: 20_000n, acquired: '2023-01-01' }]);
    await s.chainTransfer('officer', 'buyer', 4_900n, utc('2025-06-01'));
    const at = await s.check({ from: 'officer', to: 'buyer', amount: 100n });
    expect(at.requiredFilings).toEqual([]);
    const over = await s.check({ from: 'officer', to: 'buyer', amount: 101n });
    expect(over.allowed).toBe(true);
    expect(over.requiredFilings).toEqual([expect.objectContaining({ code: 'RULE_144_FORM_144_NOTICE', form: 'FORM_144', regulation: '17 CFR 230.144(h)' })]);
  });

  describe('the occasion of a transfer (17 CFR 230.144(d)(3))', () => {
    /** An affiliate whose lot, issued on 2025-03-01, completes its period on 2026-03-01. */
    async function giver() {
      const s = await Scenario.create(it.db, { exemption: 'REG_D_506C' });
      await s.investor('officer', { issuerRelation: 'AFFILIATE' });
      await s.investor('donee');
      await s.investor('buyer');
      await s.holds('officer', [{ amount: 500n, acquired: '2025-03-01' }]);
      return s;
    }
    const MATURES = utc('2026-03-01');
    const resale = (s: Scenario, at: Date) => s.rule('RULE_144_HOLDING_PERIOD', { from: 'donee', to: 'buyer', amount: 10n, at });

    test('a donee tacks the giver\'s period, even from an affiliate: refused the day before it ends, allowed at the instant and the day after', async () => {
      const s = await giver();
      await s.chainTransfer('officer', 'donee', 100n, AT, { occasion: 'GIFT' });
      expect((await s.lots('donee'))[0]).toMatchObject({ holding_period_start: utc('2025-03-01'), restricted: true });
      expect(await resale(s, addDaysUtc(MATURES, -1))).toMatchObject({ passed: false, blockingUntil: MATURES });
      expect((await resale(s, MATURES)).passed).toBe(true);
      expect((await resale(s, addDaysUtc(MATURES, 1))).passed).toBe(true);
    });

    test('an occasion recorded after the indexer saw the transaction re-derives the receiver\'s lot, once', async () => {
      const s = await giver();
      const tx = await s.chainTransfer('officer', 'donee', 100n, AT);
      // As a sale by an affiliate: a new period from AT.
      expect((await s.lots('donee'))[0]).toMatchObject({ holding_period_start: AT });
      await s.recordOccasion(tx, 'officer', 'donee', 'INHERITANCE');
      await s.recordOccasion(tx, 'officer', 'donee', 'INHERITANCE');
      expect(await s.lots('donee')).toEqual([expect.objectContaining({ remaining: '100', holding_period_start: utc('2025-03-01'), restricted: true })]);
      expect((await resale(s, MATURES)).passed).toBe(true);
    });

    test('a sale by the same affiliate at the same instant starts a new period', async () => {
      const s = await giver();
      await s.chainTransfer('officer', 'donee', 100n, AT, { occasion: 'SALE' });
      expect(await resale(s, MATURES)).toMatchObject({ passed: false, blockingUntil: addMonthsUtc(AT, 12) });
    });
  });
});
