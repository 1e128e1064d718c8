import { describe, expect, test } from '@jest/globals';
import { evaluateTransfer } from '../engine.js';
import { investor, lot, resultOf, token, trade, utc } from '../fixtures.js';
import type { PartySnapshot, TransferInput } from '../types.js';

const RULE = 'RULE_144_HOLDING_PERIOD';
/** The seller's lot completes its 12 months on 2025-06-15 12:00. */
const MATURES = utc('2025-06-15T12:00:00Z');
const DAY = 86_400_000;
const offshore = investor('inv_buyer_de', { jurisdiction: 'DE', usPerson: false });

const resale = (at: Date, to: PartySnapshot | null, allowOffshoreResales: boolean | undefined, extra: Partial<TransferInput> = {}) => trade({
  at, to, token: token({ exemption: 'REG_D_506B' }, allowOffshoreResales === undefined ? {} : { allowOffshoreResales }),
  senderLots: [lot(1_000n, '2024-06-15T12:00:00Z')], ...extra,
});

describe('offshore resales under Rule 904 (17 CFR 230.904), allowed by issuer policy', () => {
  test('off by default: an offshore buyer is refused within the holding period like any other', () => {
    expect(resultOf(resale(new Date(MATURES.getTime() - DAY), offshore, undefined), RULE)).toMatchObject({ passed: false, blockingUntil: MATURES });
  });

  test('on: a buyer outside the United States who is not a U.S. person may buy the day before the period ends, at the instant and the day after', () => {
    for (const at of [new Date(MATURES.getTime() - DAY), MATURES, new Date(MATURES.getTime() + DAY)]) {
      expect(resultOf(resale(at, offshore, true), RULE).passed).toBe(true);
    }
    expect(resultOf(resale(new Date(MATURES.getTime() - DAY), offshore, true), RULE).message).toContain('Rule 904');
  });

  test('on: a U.S. buyer, or a U.S. person living abroad, still waits for the holding period', () => {
    const before = new Date(MATURES.getTime() - DAY);
    expect(resultOf(resale(before, investor('inv_us'), true), RULE)).toMatchObject({ passed: false, blockingUntil: MATURES });
    expect(resultOf(resale(before, investor('inv_us_abroad', { jurisdiction: 'DE', usPerson: true }), true), RULE).passed).toBe(false);
    expect(resultOf(resale(MATURES, investor('inv_us'), true), RULE).passed).toBe(true);
  });

  test('on: an affiliate\'s offshore resale is not covered by the policy', () => {
    const affiliate = investor('inv_affiliate', { issuerRelation: 'AFFILIATE', balance: 1_000n });
    expect(resultOf(resale(new Date(MATURES.getTime() - DAY), offshore, true, { from: affiliate }), RULE).passed).toBe(false);
  });

  test('on: a sell order within the holding period is left to the buyer (not evaluated until it is known)', () => {
    const e = evaluateTransfer(resale(new Date(MATURES.getTime() - DAY), null, true));
    expect(e.notEvaluated).toContain(RULE);
    expect(e.allowed).toBe(false);
  });
});
