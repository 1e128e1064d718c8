import { complianceConfigFrom } from '../config.js';
import { applies, AT, investor, issuance, lot, nonAccredited, resultOf, token, trade, utc } from '../fixtures.js';
import type { PartySnapshot, TransferInput } from '../types.js';

const regCf = token({ exemption: 'REG_CF' });
const stranger = nonAccredited('inv_buyer');

describe('Reg CF resale restriction', () => {
  const RULE = 'REG_CF_RESALE_RESTRICTION';
  const resale = (at: string, to: PartySnapshot, extra: Partial<TransferInput> = {}): TransferInput =>
    trade({ at: utc(at), token: regCf, to, senderLots: [lot(1_000n, '2025-01-01')], ...extra });

  test('within a year of issue a purchaser may not transfer to a non-accredited stranger', () => {
    const r = resultOf(resale('2025-06-15T12:00:00Z', stranger), RULE);
    expect(r.passed).toBe(false);
    expect(r.regulation).toBe('17 CFR 227.501');
    expect(r.blockingUntil).toEqual(utc('2026-01-01'));
  });

  test('the restriction ends one year to the day after issue; one second earlier it still blocks', () => {
    expect(resultOf(resale('2026-01-01T00:00:00Z', stranger), RULE).passed).toBe(true);
    const r = resultOf(resale('2025-12-31T23:59:59Z', stranger), RULE);
    expect(r.passed).toBe(false);
    expect(r.blockingUntil).toEqual(utc('2026-01-01T00:00:00Z'));
  });

  test('the year runs from when the lot was issued, not from when a later holder bought it', () => {
    const bought = lot(1_000n, '2025-05-01', { issuedAt: utc('2024-01-01') });
    expect(resultOf(resale('2025-06-15T12:00:00Z', stranger, { senderLots: [bought] }), RULE).passed).toBe(true);
  });

  test('a transfer to the issuer, to an accredited investor or to a family member is allowed within the year', () => {
    const cases: PartySnapshot[] = [
      nonAccredited('inv_issuer', { issuerRelation: 'ISSUER' }),
      investor('inv_accredited'),
      nonAccredited('inv_child', { relationToCounterparty: 'CHILD' }),
      nonAccredited('inv_sister_in_law', { relationToCounterparty: 'SIBLING_IN_LAW' }),
      nonAccredited('inv_trust', { relationToCounterparty: 'TRUST_CONTROLLED_BY_PURCHASER' }),
    ];
    for (const to of cases) {
      const r = resultOf(resale('2025-06-15T12:00:00Z', to), RULE);
      expect(r.passed).toBe(true);
      expect(r.message).toMatch(/227\.501\(a\)\((1|2|4)\)/);
    }
  });

  test('a transfer on the purchaser\'s death or divorce is allowed, but a gift to a stranger is not', () => {
    expect(resultOf(resale('2025-06-15T12:00:00Z', stranger, { occasion: 'INHERITANCE' }), RULE).passed).toBe(true);
    expect(resultOf(resale('2025-06-15T12:00:00Z', stranger, { occasion: 'DIVORCE' }), RULE).passed).toBe(true);
    expect(resultOf(resale('2025-06-15T12:00:00Z', stranger, { occasion: 'GIFT' }), RULE).passed).toBe(false);
  });

  test('an accreditation that has expired does not make the receiver an exception', () => {
    const lapsed = investor('inv_lapsed', { accreditation: { accredited: true, method: 'INCOME', verifiedAt: utc('2024-01-01'), expiresAt: utc('2025-01-01') } });
    expect(resultOf(resale('2025-06-15T12:00:00Z', lapsed), RULE).passed).toBe(false);
  });

  test('it applies to Reg CF resales only', () => {
    expect(applies(issuance({ token: regCf }), RULE)).toBe(false);
    expect(applies(trade({ token: token({ exemption: 'REG_D_506B' }) }), RULE)).toBe(false);
  });
});

describe('Reg CF investment limit for non-accredited investors', () => {
  const RULE = 'REG_CF_INVESTMENT_LIMIT';
  const buy = (priceCents: bigint, to: PartySnapshot = stranger, extra: Partial<TransferInput> = {}): TransferInput =>
    issuance({ token: regCf, to, priceCents, ...extra });
  const prior = (at: string, amountCents: bigint) => ({ at: utc(at), amountCents });

  test('below $124,000 of income or net worth the limit is 5% of the greater of the two, at least $2,500', () => {
    // income $60,000, net worth $80,000: 5% of $80,000 = $4,000
    const ok = resultOf(buy(4_000_00n), RULE);
    expect(ok.passed).toBe(true);
    expect(ok.limit).toBe('$4,000.00');
    expect(ok.regulation).toBe('17 CFR 227.100(a)(2)');
    expect(resultOf(buy(4_000_01n), RULE).passed).toBe(false);
    const poor = nonAccredited('inv_poor', { annualIncomeCents: 30_000_00n, netWorthCents: 20_000_00n });
    expect(resultOf(buy(2_500_00n, poor), RULE).limit).toBe('$2,500.00');
    expect(resultOf(buy(2_500_01n, poor), RULE).passed).toBe(false);
  });

  test('when both income and net worth reach $124,000 the limit is 10% of the greater, capped at $124,000', () => {
    const both = nonAccredited('inv_both', { annualIncomeCents: 124_000_00n, netWorthCents: 200_000_00n });
    expect(resultOf(buy(20_000_00n, both), RULE).passed).toBe(true);
    expect(resultOf(buy(20_000_01n, both), RULE).passed).toBe(false);
    const oneCentShort = nonAccredited('inv_short', { annualIncomeCents: 123_999_99n, netWorthCents: 200_000_00n });
    expect(resultOf(buy(1n, oneCentShort), RULE).limit).toBe('$10,000.00');
    const rich = nonAccredited('inv_rich', { annualIncomeCents: 5_000_000_00n, netWorthCents: 3_000_000_00n });
    expect(resultOf(buy(1n, rich), RULE).limit).toBe('$124,000.00');
  });

  test('unrecorded income and net worth leave the $2,500 floor', () => {
    const unknown = nonAccredited('inv_unknown', { annualIncomeCents: null, netWorthCents: null });
    expect(resultOf(buy(1n, unknown), RULE).limit).toBe('$2,500.00');
  });

  test('investments of the previous 12 months count, and the block lasts until enough of them leave the window', () => {
    const r = resultOf(buy(3_000_00n, stranger, { receiverPriorInvestments: [prior('2025-01-01', 1_500_00n)] }), RULE);
    expect(r.passed).toBe(false);
    expect(r.currentValue).toBe('$4,500.00');
    expect(r.blockingUntil).toEqual(utc('2026-01-01'));
  });

  test('the window rolls: an investment made exactly 12 months before no longer counts, one a second later still does', () => {
    const old = resultOf(buy(3_000_00n, stranger, { receiverPriorInvestments: [prior('2024-06-15T12:00:00Z', 1_500_00n)] }), RULE);
    expect(AT).toEqual(utc('2025-06-15T12:00:00Z'));
    expect(old.passed).toBe(true);
    expect(old.currentValue).toBe('$3,000.00');
    const recent = resultOf(buy(3_000_00n, stranger, { receiverPriorInvestments: [prior('2024-06-15T12:00:01Z', 1_500_00n)] }), RULE);
    expect(recent.passed).toBe(false);
    expect(recent.blockingUntil).toEqual(utc('2025-06-15T12:00:01Z'));
  });

  test('with several earlier investments the block ends when the oldest ones that must go have gone', () => {
    const priors = [prior('2025-03-01', 1_000_00n), prior('2024-09-01', 1_000_00n), prior('2024-12-01', 1_000_00n)];
    // limit $4,000; $3,000 earlier + $2,500 now: $1,500 must leave, so the two oldest (Sep 1, Dec 1).
    const r = resultOf(buy(2_500_00n, stranger, { receiverPriorInvestments: priors }), RULE);
    expect(r.passed).toBe(false);
    expect(r.blockingUntil).toEqual(utc('2025-12-01'));
  });

  test('a purchase larger than the limit on its own is blocked with no date', () => {
    const r = resultOf(buy(5_000_00n), RULE);
    expect(r.passed).toBe(false);
    expect(r.blockingUntil).toBeUndefined();
  });

  test('accredited investors have no limit', () => {
    expect(resultOf(buy(1_000_000_00n, investor('inv_accredited')), RULE).passed).toBe(true);
  });

  test('the figures come from configuration', () => {
    const config = complianceConfigFrom({ regCf: { investmentFloorCents: 5_000_00n } });
    expect(resultOf(buy(4_500_00n), RULE, config).passed).toBe(true);
  });

  test('it applies to Reg CF primary issuance only', () => {
    expect(applies(trade({ token: regCf }), RULE)).toBe(false);
    expect(applies(issuance({ token: token({ exemption: 'REG_A_TIER2' }) }), RULE)).toBe(false);
  });
});

describe('Reg A Tier 2 investment limit', () => {
  const RULE = 'REG_A_TIER2_INVESTMENT_LIMIT';
  const tier2 = token({ exemption: 'REG_A_TIER2' });
  const buy = (priceCents: bigint, to: PartySnapshot = stranger, extra: Partial<TransferInput> = {}): TransferInput =>
    issuance({ token: tier2, to, priceCents, ...extra });

  test('a non-accredited natural person may invest up to 10% of the greater of income or net worth in the offering', () => {
    const r = resultOf(buy(8_000_00n), RULE);
    expect(r.passed).toBe(true);
    expect(r.limit).toBe('$8,000.00');
    expect(r.regulation).toBe('Reg A Tier 2 (17 CFR 230.251(d)(2)(i)(C))');
  });

  test('every earlier purchase in the offering counts, however old', () => {
    const r = resultOf(buy(8_000_00n, stranger, { receiverPriorInvestments: [{ at: utc('2020-01-01'), amountCents: 1n }] }), RULE);
    expect(r.passed).toBe(false);
    expect(r.currentValue).toBe('$8,000.01');
    expect(r.blockingUntil).toBeUndefined();
  });

  test('an entity\'s limit is 10% of its revenue or net assets', () => {
    const fund = nonAccredited('inv_fund', { type: 'ENTITY', annualIncomeCents: 500_000_00n, netWorthCents: 100_000_00n });
    const r = resultOf(buy(50_000_00n, fund), RULE);
    expect(r.passed).toBe(true);
    expect(r.message).toContain('revenue or net assets');
  });

  test('with neither income nor net worth recorded the purchase is refused', () => {
    const r = resultOf(buy(1n, nonAccredited('inv_unknown', { annualIncomeCents: null, netWorthCents: null })), RULE);
    expect(r.passed).toBe(false);
    expect(r.message).toContain('Neither figure is recorded');
  });

  test('accredited investors, exchange-listed securities and Tier 1 have no limit', () => {
    expect(resultOf(buy(1_000_000_00n, investor('inv_accredited')), RULE).passed).toBe(true);
    expect(applies(issuance({ token: token({ exemption: 'REG_A_TIER2', listedOnNationalExchange: true }), to: stranger }), RULE)).toBe(false);
    expect(applies(issuance({ token: token({ exemption: 'REG_A_TIER1' }), to: stranger }), RULE)).toBe(false);
  });
});
