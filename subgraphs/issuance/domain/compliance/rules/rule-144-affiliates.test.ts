import { describe, expect, test } from '@jest/globals';
import { complianceConfigFrom, defaultComplianceConfig } from '../config.js';
import { evaluateTransfer } from '../engine.js';
import { investor, lot, resultOf, token, trade } from '../fixtures.js';
import type { AffiliateSales, TransferInput } from '../types.js';

const VOLUME = 'RULE_144_AFFILIATE_VOLUME_LIMIT';
const FORM_144 = 'RULE_144_FORM_144_NOTICE';

/** An affiliate selling `amount` of a 100,000-unit token (1% = 1,000), having sold `sales.soldInWindow` in the last three months. */
const affiliateSale = (amount: bigint, sales: AffiliateSales = { soldInWindow: 0n, recentVolume: 0n }, extra: Partial<TransferInput> = {}) => trade({
  amount,
  token: token({ totalSupply: 100_000n }),
  from: investor('inv_affiliate', { issuerRelation: 'AFFILIATE', balance: 20_000n }),
  senderLots: [lot(20_000n, '2023-01-01')],
  affiliateSales: sales,
  ...extra,
});

describe('Rule 144 volume limit for an affiliate\'s sales (17 CFR 230.144(e)(1))', () => {
  test('1% of the outstanding class: at the limit it passes, one unit over it fails, with value, limit and citation', () => {
    const at = resultOf(affiliateSale(400n, { soldInWindow: 600n, recentVolume: 0n }), VOLUME);
    expect(at).toMatchObject({ passed: true, currentValue: '1,000', limit: '1,000', regulation: '17 CFR 230.144(e)(1)' });
    const over = resultOf(affiliateSale(401n, { soldInWindow: 600n, recentVolume: 0n }), VOLUME);
    expect(over).toMatchObject({ passed: false, currentValue: '1,001', limit: '1,000' });
    expect(over.message).toContain('1% of the 100,000 outstanding');
  });

  test('the average weekly volume over four weeks, where it is greater', () => {
    // 8,004 units in four weeks: 2,001 a week, above the 1,000 of 1%.
    expect(resultOf(affiliateSale(2_001n, { soldInWindow: 0n, recentVolume: 8_004n }), VOLUME)).toMatchObject({ passed: true, limit: '2,001' });
    const over = resultOf(affiliateSale(2_002n, { soldInWindow: 0n, recentVolume: 8_004n }), VOLUME);
    expect(over).toMatchObject({ passed: false, limit: '2,001' });
    expect(over.message).toContain('average weekly volume over 4 weeks');
  });

  test('the figures are configuration', () => {
    const config = complianceConfigFrom({ rule144: { affiliateVolumeOutstandingBps: 200 } });
    expect(resultOf(affiliateSale(2_000n), VOLUME, config).passed).toBe(true);
    expect(() => complianceConfigFrom({ rule144: { affiliateVolumeWeeks: 0 } })).toThrow('affiliateVolumeWeeks');
  });

  test('a non-affiliate, the issuer, a gift and a forced transfer are not an affiliate\'s sale', () => {
    expect(resultOf(trade({ amount: 900n }), VOLUME)).toMatchObject({ passed: true });
    expect(resultOf(trade({ amount: 900n }), VOLUME).message).toContain('not an affiliate');
    expect(resultOf(affiliateSale(5_000n, undefined, { from: investor('inv_issuer', { issuerRelation: 'ISSUER', balance: 20_000n }) }), VOLUME).passed).toBe(true);
    const gift = evaluateTransfer(affiliateSale(5_000n, undefined, { occasion: 'GIFT' }));
    expect(gift.notApplicable).toEqual(expect.arrayContaining([VOLUME, FORM_144]));
    const forced = evaluateTransfer(affiliateSale(5_000n, undefined, { kind: 'FORCED_TRANSFER' }));
    expect(forced.notApplicable).toEqual(expect.arrayContaining([VOLUME, FORM_144]));
  });

  test('a sell order (the buyer not known yet) is decided on the affiliate alone', () => {
    const e = evaluateTransfer(affiliateSale(1_001n, undefined, { to: null }));
    expect(e.results.find((r) => r.code === VOLUME)).toMatchObject({ passed: false });
    expect(e.notEvaluated).not.toContain(VOLUME);
  });
});

describe('Form 144 notice for an affiliate\'s sales (17 CFR 230.144(h))', () => {
  const big = (amount: bigint, soldInWindow: bigint, priceCents?: bigint) =>
    evaluateTransfer(affiliateSale(amount, { soldInWindow, recentVolume: 10_000_000n }, { token: token({ totalSupply: 10_000_000n }), priceCents }));

  test('5,000 units in three months need no notice; one unit more does, as a required filing that does not block', () => {
    const at = big(100n, 4_900n);
    expect(at.requiredFilings).toEqual([]);
    expect(at.results.find((r) => r.code === FORM_144)).toMatchObject({ passed: true, currentValue: '5,000', limit: '5,000' });
    const over = big(101n, 4_900n);
    expect(over.allowed).toBe(true);
    expect(over.requiredFilings).toEqual([expect.objectContaining({ code: FORM_144, form: 'FORM_144', regulation: '17 CFR 230.144(h)' })]);
  });

  test('$50,000 in three months needs no notice; one cent more does (earlier sales valued at this sale\'s price)', () => {
    // 100 units, 100 sold before: 200 units at $250 each is $50,000.
    expect(big(100n, 100n, 25_000_00n).requiredFilings).toEqual([]);
    expect(big(100n, 100n, 25_000_01n).requiredFilings).toHaveLength(1);
    expect(big(100n, 100n).results.find((r) => r.code === FORM_144)!.message).toContain('no price');
  });

  test('a non-affiliate never needs one', () => {
    expect(evaluateTransfer(trade({ amount: 900n, priceCents: 1_000_000_00n })).requiredFilings).toEqual([]);
  });

  test('thresholds scale with the token\'s decimals', () => {
    const e = evaluateTransfer(affiliateSale(5_000_00n, { soldInWindow: 0n, recentVolume: 0n }, {
      token: token({ totalSupply: 1_000_000_000n, decimals: 2 }), from: investor('inv_affiliate', { issuerRelation: 'AFFILIATE', balance: 10_000_00n }),
      senderLots: [lot(10_000_00n, '2023-01-01')],
    }), defaultComplianceConfig);
    expect(e.requiredFilings).toEqual([]);
  });
});
