import { describe, expect, test } from '@jest/globals';
import { perUnit, proRata, withheldOf } from './entitlements.js';
import { formInForce, ratesFor, withholdingConfigFrom, withholdingFor, defaultWithholding, type TaxForm } from './withholding.js';

const sum = (xs: { gross: bigint }[]) => xs.reduce((s, x) => s + x.gross, 0n);

describe('a total split pro rata', () => {
  test('adds up to the total to the base unit, the remainder going to the largest fractions', () => {
    const a = proRata(1000n, [{ investorId: 'a', units: 100n }, { investorId: 'b', units: 50n }, { investorId: 'c', units: 25n }]);
    // 571.43, 285.71, 142.86: floors give 998, the 2 left go to c (.86) then b (.71).
    expect(a.map((x) => x.gross)).toEqual([571n, 286n, 143n]);
    expect(sum(a)).toBe(1000n);
  });

  test('never loses or doubles a unit, whatever the holdings (exhaustive over small cases)', () => {
    for (let total = 1n; total <= 40n; total++) {
      for (const units of [[1n, 1n, 1n], [7n, 3n], [1n, 2n, 3n, 4n, 5n], [10n ** 30n, 1n, 3n]]) {
        const a = proRata(total, units.map((u, i) => ({ investorId: `i${i}`, units: u })));
        expect(sum(a)).toBe(total);
        a.forEach((x, i) => {
          const exact = (total * units[i]) / units.reduce((s, u) => s + u, 0n);
          expect(x.gross === exact || x.gross === exact + 1n).toBe(true);
        });
      }
    }
  });

  test('ties go to the larger holding, then the lower investor id', () => {
    expect(proRata(1n, [{ investorId: 'b', units: 1n }, { investorId: 'a', units: 1n }]).map((x) => x.gross)).toEqual([0n, 1n]);
    expect(proRata(2n, [{ investorId: 'a', units: 1n }, { investorId: 'b', units: 2n }, { investorId: 'c', units: 3n }]).map((x) => x.gross)).toEqual([0n, 1n, 1n]);
  });

  test('refuses a total or holdings that are not positive', () => {
    expect(() => proRata(0n, [{ investorId: 'a', units: 1n }])).toThrow(RangeError);
    expect(() => proRata(1n, [])).toThrow(RangeError);
  });
});

describe('an amount per whole unit', () => {
  test('is exact for a token without decimals', () => {
    const r = perUnit(3n, 0, [{ investorId: 'a', units: 7n }, { investorId: 'b', units: 5n }]);
    expect(r.allocations.map((x) => x.gross)).toEqual([21n, 15n]);
    expect(r.unallocated).toBe(0n);
  });

  test('reports the fractions of a base unit it pays nobody', () => {
    const r = perUnit(1n, 2, [{ investorId: 'a', units: 150n }, { investorId: 'b', units: 150n }]);
    expect(r.allocations.map((x) => x.gross)).toEqual([1n, 1n]);
    expect(r.unallocated).toBe(1n); // 3 whole units x 1 = 3, paid 2
  });
});

describe('withholding', () => {
  const rates = ratesFor(defaultWithholding, 'tok_x', 'DIVIDEND');
  const form = (f: TaxForm['form'], treatyCountry: string | null = null, signedAt = new Date('2025-06-01T00:00:00Z'), expiresAt: Date | null = null): TaxForm => ({ form: f, treatyCountry, signedAt, expiresAt });
  const at = new Date('2026-12-01T00:00:00Z');

  test('rounds half up to the base unit and keeps gross = withheld + net', () => {
    expect(withheldOf(286n, 1500)).toBe(43n); // 42.9
    expect(withheldOf(10n, 1500)).toBe(2n); // 1.5
    expect(withheldOf(10n, 1400)).toBe(1n); // 1.4
    expect(withheldOf(5n, 0)).toBe(0n);
    expect(() => withheldOf(5n, 10_001)).toThrow(RangeError);
  });

  test('a US person: none with a W-9, backup withholding without (IRC §3406)', () => {
    const us = { type: 'INDIVIDUAL' as const, jurisdiction: 'US', usPerson: true };
    expect(withholdingFor('DIVIDEND', rates, us, formInForce(us, [form('W9')], at))).toMatchObject({ rateBps: 0, form: 'W9' });
    expect(withholdingFor('DIVIDEND', rates, us, null)).toMatchObject({ rateBps: 2400, basis: expect.stringContaining('§3406') });
  });

  test('a foreign holder: 30% (§1441 / §1442) unless a W-8 claims its country\'s treaty rate', () => {
    const gb = { type: 'INDIVIDUAL' as const, jurisdiction: 'GB', usPerson: false };
    const de = { type: 'ENTITY' as const, jurisdiction: 'DE', usPerson: false };
    expect(withholdingFor('DIVIDEND', rates, gb, formInForce(gb, [form('W8BEN', 'GB')], at))).toMatchObject({ rateBps: 1500, basis: expect.stringContaining('treaty rate of GB') });
    expect(withholdingFor('DIVIDEND', rates, gb, null)).toMatchObject({ rateBps: 3000, basis: expect.stringContaining('§1441') });
    expect(withholdingFor('DIVIDEND', rates, de, null)).toMatchObject({ rateBps: 3000, basis: expect.stringContaining('§1442') });
    // A W-8BEN claiming another country's treaty, or the wrong form for an entity, gives no treaty rate.
    expect(withholdingFor('DIVIDEND', rates, gb, formInForce(gb, [form('W8BEN', 'FR')], at))).toMatchObject({ rateBps: 3000 });
    expect(formInForce(de, [form('W8BEN', 'DE')], at)).toBeNull();
  });

  test('a form counts from its signature to its expiry (default: the end of the third calendar year after signing)', () => {
    const gb = { type: 'INDIVIDUAL' as const, jurisdiction: 'GB', usPerson: false };
    expect(formInForce(gb, [form('W8BEN', 'GB', new Date('2022-03-01T00:00:00Z'))], new Date('2025-12-31T23:59:59Z'))).not.toBeNull();
    expect(formInForce(gb, [form('W8BEN', 'GB', new Date('2022-03-01T00:00:00Z'))], new Date('2026-01-01T00:00:00Z'))).toBeNull();
    expect(formInForce(gb, [form('W8BEN', 'GB', new Date('2026-03-01T00:00:00Z'), new Date('2026-06-01T00:00:00Z'))], at)).toBeNull();
    expect(formInForce(gb, [form('W8BEN', 'GB', new Date('2027-01-01T00:00:00Z'))], at)).toBeNull();
  });

  test('coupons: portfolio interest for a foreign holder with a W-8; returns of capital: none', () => {
    const jp = { type: 'INDIVIDUAL' as const, jurisdiction: 'JP', usPerson: false };
    const coupon = ratesFor(defaultWithholding, 'tok_x', 'COUPON');
    expect(withholdingFor('COUPON', coupon, jp, form('W8BEN'))).toMatchObject({ rateBps: 0, basis: expect.stringContaining('§871(h)') });
    expect(withholdingFor('COUPON', coupon, jp, null)).toMatchObject({ rateBps: 3000 });
    expect(withholdingFor('RETURN_OF_CAPITAL', ratesFor(defaultWithholding, 'tok_x', 'RETURN_OF_CAPITAL'), jp, null)).toMatchObject({ rateBps: 0, basis: expect.stringContaining('§301(c)(2)') });
  });

  test('rates are configuration: defaults and per-token overrides, checked when read', () => {
    const c = withholdingConfigFrom({ defaults: { DIVIDEND: { treaty: { JP: 500 } } }, tokens: { tok_a: { DIVIDEND: { foreignNoForm: 2000, treaty: { GB: 0 } } } } });
    expect(ratesFor(c, 'tok_a', 'DIVIDEND')).toMatchObject({ foreignNoForm: 2000, usNoForm: 2400, treaty: expect.objectContaining({ GB: 0, JP: 500, DE: 1500 }) });
    expect(ratesFor(c, 'tok_b', 'DIVIDEND')).toMatchObject({ foreignNoForm: 3000, treaty: expect.objectContaining({ GB: 1500 }) });
    expect(() => withholdingConfigFrom({ defaults: { DIVIDEND: { usNoForm: 10_001 } } })).toThrow(/0 to 10000/);
    expect(() => withholdingConfigFrom({ defaults: { BONUS: {} } })).toThrow(/unknown distribution kind/);
    expect(() => withholdingConfigFrom({ tokens: { tok_a: { COUPON: { treaty: { gbr: 0 } } } } })).toThrow(/alpha-2/);
    expect(() => withholdingConfigFrom({ defaults: { DIVIDEND: { usWithForm: 1.5 } } })).toThrow(/integer/);
  });
});
