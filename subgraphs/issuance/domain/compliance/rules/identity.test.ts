import { complianceConfigFrom } from '../config.js';
import { applies, investor, issuance, resultOf, trade, utc } from '../fixtures.js';
import type { PartySnapshot } from '../types.js';

describe('KYC valid and unexpired', () => {
  const approved = (approvedAt: string, expiresAt: string | null = null): PartySnapshot['kyc'] =>
    ({ status: 'APPROVED', approvedAt: utc(approvedAt), expiresAt: expiresAt ? utc(expiresAt) : null });

  test('an approval with no expiry lasts 12 months: valid one second before, expired at the instant', () => {
    const to = investor('inv_buyer', { kyc: approved('2024-06-15T12:00:00Z') });
    const expired = resultOf(trade({ to }), 'KYC_VALID_RECEIVER');
    expect(expired.passed).toBe(false);
    expect(expired.currentValue).toBe('EXPIRED');
    expect(expired.limit).toBe('2025-06-15T12:00:00.000Z');
    expect(expired.blockingUntil).toBeUndefined();
    expect(resultOf(trade({ to, at: utc('2025-06-15T11:59:59Z') }), 'KYC_VALID_RECEIVER').passed).toBe(true);
  });

  test('an explicit expiry wins, and the default validity comes from configuration', () => {
    const to = investor('inv_buyer', { kyc: approved('2024-01-01', '2026-01-01') });
    expect(resultOf(trade({ to }), 'KYC_VALID_RECEIVER').passed).toBe(true);
    const short = complianceConfigFrom({ kyc: { validity: { months: 3 } } });
    expect(resultOf(trade(), 'KYC_VALID_RECEIVER', short).passed).toBe(false);
  });

  test('a pending or rejected KYC fails, with the status as the current value', () => {
    for (const status of ['PENDING', 'REJECTED'] as const) {
      const r = resultOf(trade({ to: investor('inv_buyer', { kyc: { status, approvedAt: null, expiresAt: null } }) }), 'KYC_VALID_RECEIVER');
      expect(r.passed).toBe(false);
      expect(r.currentValue).toBe(status);
    }
  });

  test('an approval dated after the evaluation instant did not exist yet', () => {
    const to = investor('inv_buyer', { kyc: approved('2025-07-01') });
    expect(resultOf(trade({ to }), 'KYC_VALID_RECEIVER').currentValue).toBe('NOT_YET_APPROVED');
  });

  test('both parties are checked on a trade, only the receiver on an issuance or a forced transfer', () => {
    const seller = investor('inv_seller', { balance: 1_000n, kyc: approved('2023-01-01') });
    expect(resultOf(trade({ from: seller }), 'KYC_VALID_SENDER').passed).toBe(false);
    expect(applies(issuance(), 'KYC_VALID_SENDER')).toBe(false);
    expect(applies(trade({ kind: 'FORCED_TRANSFER', from: seller }), 'KYC_VALID_SENDER')).toBe(false);
    expect(applies(trade({ kind: 'FORCED_TRANSFER' }), 'KYC_VALID_RECEIVER')).toBe(true);
  });
});

describe('AML screening clear and recent', () => {
  test('a clear screening is relied on for 30 days, to the second', () => {
    const to = investor('inv_buyer', { aml: { status: 'CLEAR', screenedAt: utc('2025-05-16T12:00:00Z') } });
    const stale = resultOf(trade({ to }), 'AML_CLEAR_RECEIVER');
    expect(stale.passed).toBe(false);
    expect(stale.currentValue).toBe('STALE');
    expect(stale.regulation).toContain('OFAC');
    expect(resultOf(trade({ to, at: utc('2025-06-15T11:59:59Z') }), 'AML_CLEAR_RECEIVER').passed).toBe(true);
  });

  test('a potential or confirmed match, a pending screening or none at all fails', () => {
    for (const aml of [
      { status: 'POTENTIAL_MATCH', screenedAt: utc('2025-06-10') },
      { status: 'CONFIRMED_MATCH', screenedAt: utc('2025-06-10') },
      { status: 'PENDING', screenedAt: null },
      { status: 'CLEAR', screenedAt: null },
    ] as const) {
      expect(resultOf(trade({ to: investor('inv_buyer', { aml }) }), 'AML_CLEAR_RECEIVER').passed).toBe(false);
    }
  });

  test('the sender is screened on trades and forced transfers, since sanctioned property may not be moved', () => {
    const seller = investor('inv_seller', { balance: 1_000n, aml: { status: 'CONFIRMED_MATCH', screenedAt: utc('2025-06-10') } });
    expect(resultOf(trade({ from: seller }), 'AML_CLEAR_SENDER').passed).toBe(false);
    expect(resultOf(trade({ from: seller, kind: 'FORCED_TRANSFER' }), 'AML_CLEAR_SENDER').passed).toBe(false);
    expect(applies(issuance(), 'AML_CLEAR_SENDER')).toBe(false);
  });
});
