import { applies, investor, issuance, lot, resultOf, token, trade, utc } from '../fixtures.js';
import type { TransferInput } from '../types.js';

const RULE = 'RULE_144_HOLDING_PERIOD';
const nonReporting = token({ exemption: 'REG_D_506B', issuerReportingSince: null });
const reporting = token({ exemption: 'REG_D_506B', issuerReportingSince: utc('2020-01-01') });

const sale = (at: string, lots: TransferInput['senderLots'], extra: Partial<TransferInput> = {}): TransferInput =>
  trade({ at: utc(at), token: nonReporting, senderLots: lots, ...extra });

describe('Rule 144 holding period', () => {
  test('for a non-reporting issuer a lot may be resold 12 months to the day after acquisition', () => {
    const r = resultOf(sale('2025-06-15T12:00:00Z', [lot(1_000n, '2024-06-15T12:00:00Z')]), RULE);
    expect(r.passed).toBe(true);
    expect(r.regulation).toBe('17 CFR 230.144(d)');
    expect(r.blockingUntil).toBeUndefined();
  });

  test('one second before the 12 months are up the resale is blocked until the maturity instant', () => {
    const r = resultOf(sale('2025-06-15T11:59:59Z', [lot(1_000n, '2024-06-15T12:00:00Z')]), RULE);
    expect(r.passed).toBe(false);
    expect(r.blockingUntil).toEqual(utc('2025-06-15T12:00:00Z'));
    expect(r.currentValue).toBe('0');
    expect(r.limit).toBe('100');
    expect(r.message).toContain('12 months for an issuer not reporting');
  });

  test('a reporting issuer\'s securities may be resold after 6 months', () => {
    const lots = [lot(1_000n, '2024-12-15T12:00:00Z')];
    expect(resultOf(sale('2025-06-15T12:00:00Z', lots, { token: reporting }), RULE).passed).toBe(true);
    const blocked = resultOf(sale('2025-06-15T12:00:00Z', lots), RULE);
    expect(blocked.passed).toBe(false);
    expect(blocked.blockingUntil).toEqual(utc('2025-12-15T12:00:00Z'));
  });

  test('the 6-month period needs the issuer to have been reporting for 90 days before the sale', () => {
    const recent = token({ exemption: 'REG_D_506C', issuerReportingSince: utc('2025-05-01T00:00:00Z') });
    const r = resultOf(sale('2025-06-15T12:00:00Z', [lot(1_000n, '2024-11-01T00:00:00Z')], { token: recent }), RULE);
    expect(r.passed).toBe(false);
    // May 1 + 90 days, earlier than the 12 months of a non-reporting issuer (Nov 1).
    expect(r.blockingUntil).toEqual(utc('2025-07-30T00:00:00Z'));
    expect(resultOf(sale('2025-07-30T00:00:00Z', [lot(1_000n, '2024-11-01T00:00:00Z')], { token: recent }), RULE).passed).toBe(true);
  });

  test('a lot acquired on August 31 by a reporting issuer\'s holder matures on the last day of February', () => {
    const lots = [lot(1_000n, '2024-08-31T00:00:00Z')];
    const before = resultOf(sale('2025-02-27T23:59:59Z', lots, { token: reporting }), RULE);
    expect(before.passed).toBe(false);
    expect(before.blockingUntil).toEqual(utc('2025-02-28T00:00:00Z'));
    expect(resultOf(sale('2025-02-28T00:00:00Z', lots, { token: reporting }), RULE).passed).toBe(true);
    const leap = resultOf(sale('2024-02-28T00:00:00Z', [lot(1_000n, '2023-08-31T00:00:00Z')], { token: reporting }), RULE);
    expect(leap.blockingUntil).toEqual(utc('2024-02-29T00:00:00Z'));
  });

  test('each lot matures on its own: only matured lots cover the amount, and blocking lasts until enough have matured', () => {
    const lots = [lot(50n, '2025-01-01'), lot(60n, '2024-01-01'), lot(100n, '2025-03-01')];
    const r = resultOf(sale('2025-06-15T12:00:00Z', lots, { from: investor('inv_seller', { balance: 210n }) }), RULE);
    expect(r.passed).toBe(false);
    expect(r.currentValue).toBe('60');
    expect(r.limit).toBe('100');
    expect(r.blockingUntil).toEqual(utc('2026-01-01')); // 60 + 50 >= 100
    const small = sale('2025-06-15T12:00:00Z', lots, { amount: 60n, from: investor('inv_seller', { balance: 210n }) });
    expect(resultOf(small, RULE).passed).toBe(true);
  });

  test('an amount larger than all recorded lots is blocked with no date it would stop blocking', () => {
    const r = resultOf(sale('2026-06-15T12:00:00Z', [lot(100n, '2024-01-01')], { amount: 300n, from: investor('inv_seller', { balance: 300n }) }), RULE);
    expect(r.passed).toBe(false);
    expect(r.blockingUntil).toBeUndefined();
    expect(r.message).toContain('do not cover');
  });

  test('a holding period tacked from an earlier holder counts from its own start, not from the acquisition', () => {
    const tacked = lot(1_000n, '2025-05-01', { holdingPeriodStart: utc('2024-01-01') });
    expect(resultOf(sale('2025-06-15T12:00:00Z', [tacked]), RULE).passed).toBe(true);
  });

  test('a gift is not a sale, so the holding period does not block it', () => {
    const r = resultOf(sale('2025-06-15T12:00:00Z', [lot(1_000n, '2025-06-01')], { occasion: 'GIFT' }), RULE);
    expect(r.passed).toBe(true);
    expect(r.message).toContain('not a sale');
  });

  test('the issuer transferring its own tokens is not a resale', () => {
    const from = investor('inv_issuer', { balance: 1_000n, issuerRelation: 'ISSUER' });
    expect(resultOf(sale('2025-06-15T12:00:00Z', [lot(1_000n, '2025-06-01')], { from }), RULE).passed).toBe(true);
  });

  test('an affiliate past the holding period passes, with a note that the other Rule 144 conditions still apply', () => {
    const from = investor('inv_officer', { balance: 1_000n, issuerRelation: 'AFFILIATE' });
    const r = resultOf(sale('2025-06-15T12:00:00Z', [lot(1_000n, '2024-01-01')], { from }), RULE);
    expect(r.passed).toBe(true);
    expect(r.message).toContain('affiliate');
  });

  test('it applies to resales of Reg D and of domestic Reg S equity, and not to Reg A, Reg CF, Reg S debt or primary issuance', () => {
    const regS = (securityType: 'EQUITY' | 'DEBT', domesticIssuer: boolean) => token({
      exemption: 'REG_S',
      regS: { category: 'CATEGORY_3', securityType, domesticIssuer, distributionCompliancePeriodStart: utc('2023-01-01') },
    });
    expect(applies(trade({ token: token({ exemption: 'REG_D_506C' }) }), RULE)).toBe(true);
    expect(applies(trade({ token: regS('EQUITY', true) }), RULE)).toBe(true);
    expect(applies(trade({ token: regS('EQUITY', false) }), RULE)).toBe(false);
    expect(applies(trade({ token: regS('DEBT', true) }), RULE)).toBe(false);
    expect(applies(trade({ token: token({ exemption: 'REG_A_TIER2' }) }), RULE)).toBe(false);
    expect(applies(trade({ token: token({ exemption: 'REG_CF' }) }), RULE)).toBe(false);
    expect(applies(issuance(), RULE)).toBe(false);
    expect(applies(trade({ kind: 'FORCED_TRANSFER' }), RULE)).toBe(true);
  });
});
