import { describe, expect, test } from '@jest/globals';
import { checkRatio, scaleUnitLimits, splitHolder, splitLots, walletTargets, type SplitInputError } from './split.js';

const code = (f: () => unknown) => { try { f(); return 'none'; } catch (e) { return (e as SplitInputError).code; } };

describe('splits: holders, lots, wallets', () => {
  test('a holder is scaled and rounded down; the fraction is paid at the price per new unit, rounded down', () => {
    expect(splitHolder(333n, { numerator: 2n, denominator: 1n }, 7n)).toEqual({ before: 333n, after: 666n, fractionNumerator: 0n, cashInLieu: 0n });
    expect(splitHolder(666n, { numerator: 1n, denominator: 10n }, 5_000_000n)).toEqual({ before: 666n, after: 66n, fractionNumerator: 6n, cashInLieu: 3_000_000n });
    // 3-for-2 of 5 = 7.5; 0.5 x 3 = 1.5, rounded down to 1 base unit of cash.
    expect(splitHolder(5n, { numerator: 3n, denominator: 2n }, 3n)).toEqual({ before: 5n, after: 7n, fractionNumerator: 1n, cashInLieu: 1n });
    const big = 10n ** 60n + 7n;
    expect(splitHolder(big, { numerator: 1n, denominator: 10n }, 0n).after).toBe(10n ** 59n);
  });

  test('lots share the holder\'s new units in proportion and sum to them exactly; leftovers go to the largest dropped fractions, oldest first', () => {
    expect(splitLots([200n, 133n], { numerator: 2n, denominator: 1n }, 666n)).toEqual([400n, 266n]);
    expect(splitLots([400n, 266n], { numerator: 1n, denominator: 10n }, 66n)).toEqual([40n, 26n]);
    // 3-for-2 of 1 + 1 + 1 = 4 (of 4.5): each lot 1.5; the two oldest get the rounding.
    expect(splitLots([1n, 1n, 1n], { numerator: 3n, denominator: 2n }, 4n)).toEqual([2n, 1n, 1n]);
    expect(splitLots([5n, 9n], { numerator: 1n, denominator: 10n }, 1n)).toEqual([0n, 1n]);
  });

  test('a split mints to the largest wallet; a reverse split burns from the largest first', () => {
    const w = [{ address: '0xb', balance: 10n }, { address: '0xa', balance: 30n }];
    expect(walletTargets(w, 40n)).toEqual([{ address: '0xa', before: 30n, target: 70n }, { address: '0xb', before: 10n, target: 10n }]);
    expect(walletTargets(w, -36n)).toEqual([{ address: '0xa', before: 30n, target: 0n }, { address: '0xb', before: 10n, target: 4n }]);
    expect(walletTargets([], 5n)).toEqual([]);
  });

  test('a ratio is positive, not 1:1, and within the largest factor', () => {
    expect(checkRatio({ numerator: 2n, denominator: 1n }, 1000n)).toEqual({ numerator: 2n, denominator: 1n });
    expect(code(() => checkRatio({ numerator: 0n, denominator: 1n }, 1000n))).toBe('INVALID_RATIO');
    expect(code(() => checkRatio({ numerator: 3n, denominator: 3n }, 1000n))).toBe('INVALID_RATIO');
    expect(code(() => checkRatio({ numerator: 1n, denominator: 1001n }, 1000n))).toBe('RATIO_TOO_LARGE');
  });

  test('per-unit limits scale in the holders\' favour: a cap rounds up, a minimum rounds down (to none at 0)', () => {
    expect(scaleUnitLimits({ maxBalance: '1005', minHolding: '15' }, { numerator: 1n, denominator: 10n })).toEqual({ maxBalance: '101', minHolding: '1' });
    expect(scaleUnitLimits({ maxBalance: '1000', minHolding: '10' }, { numerator: 1n, denominator: 10n })).toEqual({ maxBalance: '100', minHolding: '1' });
    expect(scaleUnitLimits({ maxBalance: '7', minHolding: '3' }, { numerator: 3n, denominator: 2n })).toEqual({ maxBalance: '11', minHolding: '4' });
    expect(scaleUnitLimits({ minHolding: '9' }, { numerator: 1n, denominator: 10n })).toEqual({});
    expect(scaleUnitLimits({}, { numerator: 2n, denominator: 1n })).toEqual({});
    // A cap past what the compliance module holds (uint128) stays at its largest value.
    expect(scaleUnitLimits({ maxBalance: (1n << 127n).toString() }, { numerator: 1000n, denominator: 1n }).maxBalance).toBe(((1n << 128n) - 1n).toString());
  });
});
