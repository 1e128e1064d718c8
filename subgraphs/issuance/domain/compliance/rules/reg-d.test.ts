import { complianceConfigFrom } from '../config.js';
import { applies, investor, issuance, nonAccredited, resultOf, token, trade, utc } from '../fixtures.js';
import type { OfferingCounts, PartySnapshot } from '../types.js';

describe('Reg D 506(c): accredited investors only', () => {
  const RULE = 'REG_D_506C_ACCREDITED_ONLY';
  const to = (accreditation: PartySnapshot['accreditation']) => investor('inv_buyer', { accreditation });

  test('a purchaser with verified, unexpired accreditation may buy', () => {
    const r = resultOf(issuance(), RULE);
    expect(r.passed).toBe(true);
    expect(r.regulation).toBe('Reg D 506(c) (17 CFR 230.506(c))');
  });

  test('a non-accredited purchaser may not buy', () => {
    expect(resultOf(issuance({ to: nonAccredited('inv_buyer') }), RULE).passed).toBe(false);
    expect(resultOf(issuance({ to: to({ accredited: false, method: 'INCOME', verifiedAt: utc('2025-05-01'), expiresAt: null }) }), RULE).passed).toBe(false);
  });

  test('self-certification is not verification', () => {
    const r = resultOf(issuance({ to: to({ accredited: true, method: 'SELF_CERTIFIED', verifiedAt: utc('2025-05-01'), expiresAt: null }) }), RULE);
    expect(r.passed).toBe(false);
    expect(r.message).toContain('reasonable steps');
  });

  test('a verification with no expiry lasts 90 days, to the second', () => {
    const verified = to({ accredited: true, method: 'NET_WORTH', verifiedAt: utc('2025-03-17T12:00:00Z'), expiresAt: null });
    const expired = resultOf(issuance({ to: verified }), RULE); // evaluated at 2025-06-15T12:00Z = verified + 90 days
    expect(expired.passed).toBe(false);
    expect(expired.limit).toBe('2025-06-15T12:00:00.000Z');
    expect(resultOf(issuance({ to: verified, at: utc('2025-06-15T11:59:59Z') }), RULE).passed).toBe(true);
  });

  test('an explicit expiry date wins over the default validity', () => {
    const letter = to({ accredited: true, method: 'THIRD_PARTY_LETTER', verifiedAt: utc('2025-01-01'), expiresAt: utc('2025-12-31') });
    expect(resultOf(issuance({ to: letter }), RULE).passed).toBe(true);
  });

  test('it governs the offering, not resales, and only 506(c) offerings', () => {
    expect(applies(trade({ to: nonAccredited('inv_buyer') }), RULE)).toBe(false);
    expect(applies(issuance({ token: token({ exemption: 'REG_D_506B' }), offering: { nonAccreditedPurchasers: 0, receiverAlreadyPurchased: false } }), RULE)).toBe(false);
  });
});

describe('Reg D 506(b): at most 35 non-accredited purchasers', () => {
  const RULE = 'REG_D_506B_NON_ACCREDITED_PURCHASERS';
  const offering506b = (offering: OfferingCounts, to: PartySnapshot = nonAccredited('inv_buyer')) =>
    issuance({ token: token({ exemption: 'REG_D_506B' }), offering, to });

  test('the 35th non-accredited purchaser may buy', () => {
    const r = resultOf(offering506b({ nonAccreditedPurchasers: 34, receiverAlreadyPurchased: false }), RULE);
    expect(r.passed).toBe(true);
    expect(r.currentValue).toBe('35');
    expect(r.limit).toBe('35');
    expect(r.regulation).toBe('Reg D 506(b) (17 CFR 230.506(b)(2)(i))');
  });

  test('a 36th non-accredited purchaser may not', () => {
    const r = resultOf(offering506b({ nonAccreditedPurchasers: 35, receiverAlreadyPurchased: false }), RULE);
    expect(r.passed).toBe(false);
    expect(r.currentValue).toBe('36');
  });

  test('a non-accredited investor who already purchased is already counted and may buy again', () => {
    expect(resultOf(offering506b({ nonAccreditedPurchasers: 35, receiverAlreadyPurchased: true }), RULE).passed).toBe(true);
  });

  test('accredited purchasers are not counted', () => {
    expect(resultOf(offering506b({ nonAccreditedPurchasers: 35, receiverAlreadyPurchased: false }, investor('inv_buyer')), RULE).passed).toBe(true);
  });

  test('the cap comes from configuration', () => {
    const config = complianceConfigFrom({ rule506b: { maxNonAccreditedPurchasers: 10 } });
    expect(resultOf(offering506b({ nonAccreditedPurchasers: 10, receiverAlreadyPurchased: false }), RULE, config).passed).toBe(false);
  });
});
