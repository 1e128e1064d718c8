import { complianceConfigFrom } from '../config.js';
import { evaluateTransfer } from '../engine.js';
import { applies, investor, issuance, resultOf, token, trade } from '../fixtures.js';
import type { TransferInput } from '../types.js';

const evaluateCodes = (input: TransferInput): string[] => evaluateTransfer(input).results.map((r) => r.code);

const inCountry = (id: string, jurisdiction: string, balance = 0n) => investor(id, { jurisdiction, usPerson: jurisdiction === 'US', balance });

describe('sanctioned jurisdictions', () => {
  test('no party may be in a comprehensively sanctioned country, whatever the kind of transfer', () => {
    const r = resultOf(trade({ to: inCountry('inv_buyer', 'IR') }), 'COUNTRY_NOT_SANCTIONED_RECEIVER');
    expect(r.passed).toBe(false);
    expect(r.currentValue).toBe('IR');
    expect(r.regulation).toBe('OFAC sanctions (31 CFR Chapter V)');
    expect(resultOf(trade({ from: inCountry('inv_seller', 'KP', 1_000n) }), 'COUNTRY_NOT_SANCTIONED_SENDER').passed).toBe(false);
    expect(resultOf(trade({ kind: 'FORCED_TRANSFER', from: inCountry('inv_seller', 'CU', 1_000n) }), 'COUNTRY_NOT_SANCTIONED_SENDER').passed).toBe(false);
    expect(resultOf(issuance({ to: inCountry('inv_buyer', 'CU') }), 'COUNTRY_NOT_SANCTIONED_RECEIVER').passed).toBe(false);
  });

  test('the list comes from configuration', () => {
    const config = complianceConfigFrom({ sanctionedCountries: ['RU'] });
    expect(resultOf(trade({ to: inCountry('inv_buyer', 'RU') }), 'COUNTRY_NOT_SANCTIONED_RECEIVER', config).passed).toBe(false);
    expect(resultOf(trade({ to: inCountry('inv_buyer', 'IR') }), 'COUNTRY_NOT_SANCTIONED_RECEIVER', config).passed).toBe(true);
  });
});

describe('issuer country lists', () => {
  const policy = { blockedCountries: ['RU', 'BY'], allowedCountries: ['US', 'GB', 'RU'] };

  test('a blocked country fails on either side', () => {
    const t = token({}, policy);
    expect(resultOf(trade({ token: t, to: inCountry('inv_buyer', 'RU') }), 'COUNTRY_NOT_BLOCKED_RECEIVER').passed).toBe(false);
    expect(resultOf(trade({ token: t, from: inCountry('inv_seller', 'BY', 1_000n) }), 'COUNTRY_NOT_BLOCKED_SENDER').passed).toBe(false);
    expect(resultOf(trade({ token: t }), 'COUNTRY_NOT_BLOCKED_RECEIVER').passed).toBe(true);
  });

  test('with an allow list the receiver must be in one of its countries; the sender need not be', () => {
    const t = token({}, policy);
    const r = resultOf(trade({ token: t, to: inCountry('inv_buyer', 'FR') }), 'COUNTRY_ALLOWED_RECEIVER');
    expect(r.passed).toBe(false);
    expect(r.limit).toBe('US, GB, RU');
    expect(resultOf(trade({ token: t, to: inCountry('inv_buyer', 'GB') }), 'COUNTRY_ALLOWED_RECEIVER').passed).toBe(true);
    expect(evaluateCodes(trade({ token: t, from: inCountry('inv_seller', 'FR', 1_000n) }))).not.toContain('COUNTRY_ALLOWED_SENDER');
  });

  test('without lists the policy rules are not reported, and a forced transfer overrides them', () => {
    expect(applies(trade(), 'COUNTRY_NOT_BLOCKED_RECEIVER')).toBe(false);
    expect(applies(trade({ token: token({}, { allowedCountries: [] }) }), 'COUNTRY_ALLOWED_RECEIVER')).toBe(false);
    expect(applies(trade({ token: token({}, policy), kind: 'FORCED_TRANSFER' }), 'COUNTRY_NOT_BLOCKED_RECEIVER')).toBe(false);
    expect(applies(trade({ token: token({}, policy), kind: 'FORCED_TRANSFER' }), 'COUNTRY_ALLOWED_RECEIVER')).toBe(false);
  });
});
