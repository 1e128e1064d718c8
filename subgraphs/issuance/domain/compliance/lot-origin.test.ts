import { describe, expect, test } from '@jest/globals';
import { defaultComplianceConfig as config } from './config.js';
import { evaluateTransfer } from './engine.js';
import { AT, lot, token, trade, utc } from './fixtures.js';
import { receivedLot, untracedLot, type LotOrigin } from './lot-origin.js';
import { addDaysUtc, addMonthsUtc } from './time.js';
import type { IssuerRelation, TransferOccasion } from './types.js';

const DAY = 86_400_000;
const restrictedToken = token({ exemption: 'REG_D_506B' });
/** The seller's lot: issued on 2024-06-15 12:00, so its 12-month period ends exactly at AT. */
const sellerLot: LotOrigin = { holdingPeriodStart: utc('2024-06-15T12:00:00Z'), issuedAt: utc('2024-06-15T12:00:00Z'), restricted: true };
const receive = (at: Date, senderRelation: IssuerRelation = 'NONE', occasion?: TransferOccasion, source = sellerLot) =>
  receivedLot(source, { at, senderRelation, occasion, token: restrictedToken }, config);
/** May the holder of `held` resell 10 at `at`? */
const mayResell = (held: LotOrigin, at: Date) => {
  const e = evaluateTransfer(trade({
    at, amount: 10n, token: restrictedToken,
    senderLots: [lot(10n, '2025-01-01', { acquiredAt: held.holdingPeriodStart, ...held })],
  }), config);
  return e.results.find((r) => r.code === 'RULE_144_HOLDING_PERIOD')!;
};

describe('a received lot carries where its Rule 144 holding period started (17 CFR 230.144(d)(1))', () => {
  test('from a non-affiliate past its holding period: free, at the instant and after; the day before it tacks and is still restricted', () => {
    expect(receive(AT)).toEqual({ ...sellerLot, restricted: false });
    expect(receive(new Date(AT.getTime() + DAY))).toEqual({ ...sellerLot, restricted: false });
    const early = receive(new Date(AT.getTime() - DAY));
    expect(early).toEqual(sellerLot);
    // The tacked lot matures when the seller's would have, not a year after the purchase.
    expect(mayResell(early, new Date(AT.getTime() - 1))).toMatchObject({ passed: false, blockingUntil: AT });
    expect(mayResell(early, AT).passed).toBe(true);
  });

  test('a venue buyer from a seller past the holding period may resell at once', () => {
    const bought = receive(AT);
    expect(mayResell(bought, new Date(AT.getTime() + 1)).passed).toBe(true);
  });

  test('a lot freed once stays free, even if its period would run longer under a later reading', () => {
    const free = { ...sellerLot, holdingPeriodStart: AT, restricted: false };
    expect(receive(AT, 'NONE', 'SALE', free).restricted).toBe(false);
    expect(mayResell(free, new Date(AT.getTime() + 1)).passed).toBe(true);
  });

  test('a buyer from an affiliate starts a new period: refused the day before its end, allowed at the instant and the day after', () => {
    const bought = receive(AT, 'AFFILIATE');
    expect(bought).toEqual({ holdingPeriodStart: AT, issuedAt: sellerLot.issuedAt, restricted: true });
    const end = addMonthsUtc(AT, 12);
    expect(mayResell(bought, addDaysUtc(end, -1))).toMatchObject({ passed: false, blockingUntil: end });
    expect(mayResell(bought, end).passed).toBe(true);
    expect(mayResell(bought, addDaysUtc(end, 1)).passed).toBe(true);
  });

  test('tokens from the issuer itself are a new acquisition, issued at the transfer', () => {
    expect(receive(AT, 'ISSUER')).toEqual({ holdingPeriodStart: AT, issuedAt: AT, restricted: true });
  });

  test.each(['GIFT', 'INHERITANCE', 'FAMILY_TRUST', 'DIVORCE'] as const)('a receiver by %s tacks the giver\'s period, even from an affiliate (230.144(d)(3))', (occasion) => {
    const young: LotOrigin = { ...sellerLot, holdingPeriodStart: utc('2025-03-01') };
    const got = receive(AT, 'AFFILIATE', occasion, young);
    expect(got).toEqual(young);
    expect(mayResell(got, new Date(utc('2026-03-01').getTime() - DAY))).toMatchObject({ passed: false, blockingUntil: utc('2026-03-01') });
    expect(mayResell(got, utc('2026-03-01')).passed).toBe(true);
  });

  test('securities that are not restricted (Reg CF, Reg A) keep their issue date for the Reg CF year and are never restricted', () => {
    const cf = receivedLot(sellerLot, { at: AT, senderRelation: 'AFFILIATE', token: token({ exemption: 'REG_CF' }) }, config);
    expect(cf).toEqual({ ...sellerLot, restricted: false });
  });

  test('untraced tokens are restricted from now, to stay on the safe side', () => {
    expect(untracedLot(AT, restrictedToken)).toEqual({ holdingPeriodStart: AT, issuedAt: AT, restricted: true });
    expect(untracedLot(AT, token({ exemption: 'REG_A_TIER2' })).restricted).toBe(false);
  });
});
