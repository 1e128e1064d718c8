import { applies, investor, issuance, lot, resultOf, token, trade, utc } from '../fixtures.js';
import type { RegSTerms, TransferInput } from '../types.js';

const RULE = 'REG_S_DISTRIBUTION_COMPLIANCE_PERIOD';
const START = utc('2025-06-01');
const usBuyer = investor('inv_us', { usPerson: true });
const foreignBuyer = investor('inv_fr', { usPerson: false, jurisdiction: 'FR' });

const regS = (terms: Partial<RegSTerms>, issuerReportingSince: Date | null = null) => token({
  exemption: 'REG_S',
  issuerReportingSince,
  regS: { category: 'CATEGORY_3', securityType: 'EQUITY', domesticIssuer: false, distributionCompliancePeriodStart: START, ...terms },
});
const transfer = (at: string, t: ReturnType<typeof regS>, extra: Partial<TransferInput> = {}): TransferInput =>
  trade({ at: utc(at), token: t, to: usBuyer, senderLots: [lot(1_000n, '2025-06-01')], ...extra });

describe('Reg S distribution compliance period', () => {
  test('Category 1 has no period, so a U.S. person may receive at once', () => {
    const r = resultOf(transfer('2025-06-01T00:00:01Z', regS({ category: 'CATEGORY_1' })), RULE);
    expect(r.passed).toBe(true);
    expect(r.message).toContain('no distribution compliance period');
    expect(r.regulation).toBe('Reg S (17 CFR 230.903(b))');
  });

  test('Category 2 blocks U.S. persons for 40 days, up to the second the period ends', () => {
    const t = regS({ category: 'CATEGORY_2' });
    const r = resultOf(transfer('2025-07-10T23:59:59Z', t), RULE);
    expect(r.passed).toBe(false);
    expect(r.blockingUntil).toEqual(utc('2025-07-11T00:00:00Z'));
    expect(resultOf(transfer('2025-07-11T00:00:00Z', t), RULE).passed).toBe(true);
  });

  test('a non-U.S. person may receive during the period', () => {
    const r = resultOf(transfer('2025-06-02', regS({ category: 'CATEGORY_2' }), { to: foreignBuyer }), RULE);
    expect(r.passed).toBe(true);
    expect(r.currentValue).toBe('non-U.S. person');
  });

  test('Category 3 debt has a 40-day period', () => {
    const r = resultOf(transfer('2025-07-01', regS({ securityType: 'DEBT' })), RULE);
    expect(r.blockingUntil).toEqual(utc('2025-07-11'));
  });

  test('Category 3 equity of a non-reporting issuer has a one-year period', () => {
    const r = resultOf(transfer('2026-05-31T23:59:59Z', regS({})), RULE);
    expect(r.passed).toBe(false);
    expect(r.blockingUntil).toEqual(utc('2026-06-01'));
    expect(resultOf(transfer('2026-06-01', regS({})), RULE).passed).toBe(true);
  });

  test('Category 3 equity of an issuer reporting when the offering began has a six-month period', () => {
    const reporting = regS({}, utc('2020-01-01'));
    expect(resultOf(transfer('2025-11-30T23:59:59Z', reporting), RULE).blockingUntil).toEqual(utc('2025-12-01'));
    expect(resultOf(transfer('2025-12-01', reporting), RULE).passed).toBe(true);
    const reportingLater = regS({}, utc('2025-07-01'));
    expect(resultOf(transfer('2025-12-01', reportingLater), RULE).blockingUntil).toEqual(utc('2026-06-01'));
  });

  test('the period also governs the primary sale', () => {
    const r = resultOf(issuance({ at: utc('2025-06-02'), token: regS({ category: 'CATEGORY_2' }), to: usBuyer }), RULE);
    expect(r.passed).toBe(false);
  });

  test('equity of a domestic issuer is also restricted under Rule 144 after the period', () => {
    const domestic = regS({ domesticIssuer: true });
    const input = transfer('2026-06-01', domestic, { senderLots: [lot(1_000n, '2025-06-01')] });
    expect(resultOf(input, RULE).passed).toBe(true);
    expect(resultOf(input, 'RULE_144_HOLDING_PERIOD').passed).toBe(true);
    expect(resultOf(transfer('2026-05-01', domestic, { to: foreignBuyer }), 'RULE_144_HOLDING_PERIOD').passed).toBe(false);
  });

  test('it applies to Reg S tokens only', () => {
    expect(applies(trade(), RULE)).toBe(false);
  });
});
