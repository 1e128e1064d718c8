import { complianceConfigFrom, defaultComplianceConfig } from './config.js';
import { ComplianceInputError } from './errors.js';

describe('compliance configuration', () => {
  test('the defaults are today\'s regulatory figures', () => {
    const c = defaultComplianceConfig;
    expect(c.rule144.nonReportingIssuerHoldingPeriod).toEqual({ months: 12 });
    expect(c.rule144.reportingIssuerHoldingPeriod).toEqual({ months: 6 });
    expect(c.rule144.reportingHistoryRequired).toEqual({ days: 90 });
    expect(c.regCf.resaleRestriction).toEqual({ months: 12 });
    expect(c.regCf.investmentFloorCents).toBe(2_500_00n);
    expect(c.regCf.incomeOrNetWorthThresholdCents).toBe(124_000_00n);
    expect(c.regCf.investmentCapCents).toBe(124_000_00n);
    expect([c.regCf.lowerInvestmentBps, c.regCf.higherInvestmentBps]).toEqual([500, 1_000]);
    expect(c.regATier2.investmentLimitBps).toBe(1_000);
    expect(c.regS).toEqual({
      category1: {}, category2: { days: 40 }, category3Debt: { days: 40 },
      category3Equity: { months: 12 }, category3EquityReportingIssuer: { months: 6 },
    });
    expect(c.section12g).toEqual({ holdersOfRecordThreshold: 2_000, nonAccreditedHoldersThreshold: 500 });
    expect(c.section3c1).toEqual({ maxHolders: 100, maxHoldersQualifyingVentureCapitalFund: 250 });
    expect(c.rule506b.maxNonAccreditedPurchasers).toBe(35);
    expect(c.rule144).toMatchObject({
      formerAffiliateLookback: { months: 3 }, affiliateVolumeWindow: { months: 3 }, affiliateVolumeOutstandingBps: 100, affiliateVolumeWeeks: 4,
      form144ThresholdUnits: 5_000n, form144ValueThresholdCents: 50_000_00n,
    });
  });

  test('the defaults cannot be changed in place', () => {
    expect(Object.isFrozen(defaultComplianceConfig.regCf)).toBe(true);
    expect(() => {
      (defaultComplianceConfig.section12g as { holdersOfRecordThreshold: number }).holdersOfRecordThreshold = 5;
    }).toThrow(TypeError);
  });

  test('an override changes only the fields it names, and lists are replaced whole', () => {
    const c = complianceConfigFrom({ regCf: { investmentCapCents: 130_000_00n }, sanctionedCountries: ['KP'] });
    expect(c.regCf.investmentCapCents).toBe(130_000_00n);
    expect(c.regCf.investmentFloorCents).toBe(2_500_00n);
    expect(c.sanctionedCountries).toEqual(['KP']);
    expect(c.rule144).toEqual(defaultComplianceConfig.rule144);
    expect(defaultComplianceConfig.regCf.investmentCapCents).toBe(124_000_00n);
  });

  test('a negative, fractional or out-of-range figure is refused with the field named', () => {
    const fieldOf = (f: () => unknown): string | undefined => {
      try { f(); } catch (e) { return e instanceof ComplianceInputError ? e.field : 'not a ComplianceInputError'; }
      return undefined;
    };
    expect(fieldOf(() => complianceConfigFrom({ regCf: { investmentFloorCents: -1n } }))).toBe('config.regCf.investmentFloorCents');
    expect(fieldOf(() => complianceConfigFrom({ rule506b: { maxNonAccreditedPurchasers: 35.5 } }))).toBe('config.rule506b.maxNonAccreditedPurchasers');
    expect(fieldOf(() => complianceConfigFrom({ regATier2: { investmentLimitBps: 10_001 } }))).toBe('config.regATier2.investmentLimitBps');
    expect(fieldOf(() => complianceConfigFrom({ kyc: { validity: { months: -1 } } }))).toBe('config.kyc.validity.months');
    // A unit or money figure given as a JSON number is refused, not silently mixed with bigints.
    expect(fieldOf(() => complianceConfigFrom({ rule144: { form144ThresholdUnits: 5000 as unknown as bigint } }))).toBe('config.rule144.form144ThresholdUnits');
    expect(fieldOf(() => complianceConfigFrom({ section12g: { holdersOfRecordThreshold: 0 } }))).toBe('config.section12g.holdersOfRecordThreshold');
    expect(fieldOf(() => complianceConfigFrom({ sanctionedCountries: ['XX'] }))).toBe('config.sanctionedCountries[0]');
  });
});
