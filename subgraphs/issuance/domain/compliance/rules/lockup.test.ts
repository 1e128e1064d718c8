import { describe, expect, test } from '@jest/globals';
import { AT, applies, issuance, resultOf, token, trade, utc } from '../fixtures.js';

describe('the issuer lock-up', () => {
  const locked = (until: string) => token({}, { lockupUntil: utc(until) });

  test('blocks a secondary transfer until the instant it ends, and says when', () => {
    const r = resultOf(trade({ token: locked('2025-06-15T12:00:01Z') }), 'ISSUER_LOCKUP');
    expect(r).toMatchObject({ passed: false, regulation: 'issuer policy', blockingUntil: utc('2025-06-15T12:00:01Z') });
    expect(resultOf(trade({ token: locked(AT.toISOString()) }), 'ISSUER_LOCKUP').passed).toBe(true);
  });

  test('does not apply to a primary issuance or when no lock-up is set', () => {
    expect(applies(issuance({ token: locked('2030-01-01') }), 'ISSUER_LOCKUP')).toBe(false);
    expect(applies(trade(), 'ISSUER_LOCKUP')).toBe(false);
  });
});
