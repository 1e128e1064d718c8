import { describe, expect, test } from '@jest/globals';
import { dayOrdersPlacedBefore, isOpen, parseTradingHours } from '../../subgraphs/trading/domain/hours.js';
import { band, marketProtection, sizeAndPriceReasons } from '../../subgraphs/trading/rules.js';

describe('trading hours and instrument rules', () => {
  const nyse = parseTradingHours('Mon-Fri 09:30-16:00 America/New_York');

  test('a session is open on its weekdays between open and close, in its own time zone (daylight saving included)', () => {
    expect(isOpen(nyse, new Date('2026-07-06T13:29:00Z'))).toBe(false); // Monday 09:29 EDT
    expect(isOpen(nyse, new Date('2026-07-06T13:30:00Z'))).toBe(true);
    expect(isOpen(nyse, new Date('2026-01-05T14:30:00Z'))).toBe(true); // Monday 09:30 EST
    expect(isOpen(nyse, new Date('2026-01-05T21:00:00Z'))).toBe(false); // 16:00 EST: closed
    expect(isOpen(nyse, new Date('2026-07-04T15:00:00Z'))).toBe(false); // Saturday
  });

  test('DAY orders placed before the session in progress have expired; when closed, all have', () => {
    expect(dayOrdersPlacedBefore(nyse, new Date('2026-07-06T15:00:00Z')).toISOString()).toBe('2026-07-06T13:30:00.000Z');
    expect(dayOrdersPlacedBefore(nyse, new Date('2026-01-05T15:00:00Z')).toISOString()).toBe('2026-01-05T14:30:00.000Z');
    const evening = new Date('2026-07-06T22:00:00Z');
    expect(dayOrdersPlacedBefore(nyse, evening)).toEqual(evening);
    const always = parseTradingHours('Mon-Sun 00:00-24:00 UTC');
    expect(dayOrdersPlacedBefore(always, new Date('2026-07-06T15:00:00Z')).toISOString()).toBe('2026-07-06T00:00:00.000Z');
  });

  test('malformed trading hours are refused with the reason', () => {
    expect(() => parseTradingHours('weekdays 9-5')).toThrow(/must look like/);
    expect(() => parseTradingHours('Mon-Fri 16:00-09:30 UTC')).toThrow(/close after it opens/);
    expect(() => parseTradingHours('Mon-Fri 09:30-16:00 Mars/Olympus')).toThrow(/time zone/);
    expect(parseTradingHours('Fri-Mon 10:00-14:00 UTC').days).toEqual([1, 5, 6, 7]);
  });

  test('tick, lot, size and band checks report every failure; a market order is collared on the tick grid', () => {
    const r = { tickSize: 5n, lotSize: 10n, tickValue: 1n, maxOrderQuantity: 1000n, priceBandBps: 500 };
    expect(sizeAndPriceReasons(r, 113n, 2005n, 100n).map((x) => x.code)).toEqual(['TRADING.PRICE_OFF_TICK', 'TRADING.QUANTITY_OFF_LOT', 'TRADING.QUANTITY_ABOVE_MAXIMUM', 'TRADING.PRICE_OUTSIDE_BAND']);
    expect(sizeAndPriceReasons(r, 105n, 10n, 100n)).toEqual([]);
    expect(band(null, 500)).toBeNull();
    const venue = { marketCollarBps: 1000 } as never;
    expect(marketProtection('BUY', r, venue, 103n, null)).toBe(105n); // 103 + 5% = 108.15 -> 108 -> down to the tick: 105
    expect(marketProtection('SELL', r, venue, 103n, null)).toBe(100n); // 103 - 5 = 98 -> up to the tick: 100
    expect(marketProtection('BUY', r, venue, null, 200n)).toBe(220n); // no trade yet: 10% collar around the best offer
  });
});
