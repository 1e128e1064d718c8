import { complianceConfigFrom } from '../config.js';
import { applies, investor, issuance, nonAccredited, resultOf, token, trade } from '../fixtures.js';
import type { HolderCounts, PartySnapshot, TransferInput } from '../types.js';

const counts = (total: number, nonAccreditedCount = 0, usPersons = total): HolderCounts => ({ total, nonAccredited: nonAccreditedCount, usPersons });
/** A sale of 100 of the seller's 1,000 to `to`, with the given counts before the transfer. */
const sale = (holders: HolderCounts, to: PartySnapshot = investor('inv_buyer'), extra: Partial<TransferInput> = {}): TransferInput =>
  trade({ holders, to, ...extra });

describe('Exchange Act 12(g) holder caps', () => {
  const TOTAL = 'HOLDER_CAP_12G_TOTAL';
  const NON_ACCREDITED = 'HOLDER_CAP_12G_NON_ACCREDITED';

  test('a new holder may bring the token to 1,999 holders of record', () => {
    const r = resultOf(sale(counts(1_998)), TOTAL);
    expect(r.passed).toBe(true);
    expect(r.currentValue).toBe('1,999');
    expect(r.limit).toBe('1,999');
    expect(r.regulation).toBe('Exchange Act 12(g)(1)(A) (15 U.S.C. 78l(g)(1)(A))');
  });

  test('a new holder may not bring the token to the 2,000 that require registration', () => {
    const r = resultOf(sale(counts(1_999)), TOTAL);
    expect(r.passed).toBe(false);
    expect(r.currentValue).toBe('2,000');
    expect(r.message).toContain('2,000 holders of record at which Section 12(g) requires registration');
  });

  test('at the threshold a transfer to an existing holder, or one where the seller sells out, adds no holder', () => {
    expect(resultOf(sale(counts(1_999), investor('inv_buyer', { balance: 5n })), TOTAL).passed).toBe(true);
    const sellsOut = sale(counts(1_999), investor('inv_buyer'), { amount: 1_000n });
    const r = resultOf(sellsOut, TOTAL);
    expect(r.passed).toBe(true);
    expect(r.currentValue).toBe('1,999');
  });

  test('a count already over the cap does not block a transfer that does not raise it', () => {
    const r = resultOf(sale(counts(2_100), investor('inv_buyer', { balance: 5n })), TOTAL);
    expect(r.passed).toBe(true);
    expect(r.message).toContain('does not add');
  });

  test('the 500 non-accredited threshold counts only a new non-accredited holder', () => {
    expect(resultOf(sale(counts(600, 498), nonAccredited('inv_buyer')), NON_ACCREDITED).passed).toBe(true);
    const r = resultOf(sale(counts(600, 499), nonAccredited('inv_buyer')), NON_ACCREDITED);
    expect(r.passed).toBe(false);
    expect(r.currentValue).toBe('500');
    expect(resultOf(sale(counts(600, 499), investor('inv_buyer')), NON_ACCREDITED).passed).toBe(true);
  });

  test('a non-accredited seller selling out to a non-accredited buyer leaves the count unchanged', () => {
    const input = sale(counts(600, 499), nonAccredited('inv_buyer'), { amount: 1_000n, from: nonAccredited('inv_seller', { balance: 1_000n }) });
    expect(resultOf(input, NON_ACCREDITED).currentValue).toBe('499');
  });

  test('the caps bind primary issuance and forced transfers too', () => {
    expect(resultOf(issuance({ holders: counts(1_999) }), TOTAL).passed).toBe(false);
    expect(resultOf(sale(counts(1_999), investor('inv_buyer'), { kind: 'FORCED_TRANSFER' }), TOTAL).passed).toBe(false);
  });

  test('Reg CF and Reg A Tier 2 holders are excluded by default, unless the issuer applies the caps anyway', () => {
    expect(applies(sale(counts(1_999), investor('inv_buyer'), { token: token({ exemption: 'REG_CF' }) }), TOTAL)).toBe(false);
    expect(applies(sale(counts(1_999), investor('inv_buyer'), { token: token({ exemption: 'REG_A_TIER2' }) }), TOTAL)).toBe(false);
    const opted = token({ exemption: 'REG_CF' }, { apply12gHolderCaps: true });
    expect(resultOf(sale(counts(1_999), investor('inv_buyer'), { token: opted }), TOTAL).passed).toBe(false);
    const optedOut = token({ exemption: 'REG_D_506B' }, { apply12gHolderCaps: false });
    expect(applies(sale(counts(1_999), investor('inv_buyer'), { token: optedOut }), TOTAL)).toBe(false);
  });

  test('the thresholds come from configuration', () => {
    const config = complianceConfigFrom({ section12g: { holdersOfRecordThreshold: 100 } });
    expect(resultOf(sale(counts(99)), TOTAL, config).passed).toBe(false);
  });
});

describe('Investment Company Act 3(c)(1) holder cap', () => {
  const RULE = 'HOLDER_CAP_3C1';
  const fund = (qualifyingVentureCapitalFund = false) => token({ exemption: 'REG_D_506B' }, { fund3c1: { qualifyingVentureCapitalFund } });

  test('a fund may have exactly 100 beneficial owners, not 101', () => {
    const ok = resultOf(sale(counts(99), investor('inv_buyer'), { token: fund() }), RULE);
    expect(ok.passed).toBe(true);
    expect(ok.currentValue).toBe('100');
    expect(ok.regulation).toBe('Investment Company Act 3(c)(1) (15 U.S.C. 80a-3(c)(1))');
    expect(resultOf(sale(counts(100), investor('inv_buyer'), { token: fund() }), RULE).passed).toBe(false);
  });

  test('a qualifying venture capital fund may have 250', () => {
    expect(resultOf(sale(counts(249), investor('inv_buyer'), { token: fund(true) }), RULE).passed).toBe(true);
    expect(resultOf(sale(counts(250), investor('inv_buyer'), { token: fund(true) }), RULE).passed).toBe(false);
  });

  test('it applies only to tokens of a 3(c)(1) fund', () => {
    expect(applies(sale(counts(100)), RULE)).toBe(false);
  });
});

describe('issuer holder caps', () => {
  test('the issuer may cap the number of holders', () => {
    const t = token({}, { maxHolders: 51 });
    expect(resultOf(sale(counts(50), investor('inv_buyer'), { token: t }), 'POLICY_MAX_HOLDERS').passed).toBe(true);
    const r = resultOf(sale(counts(51), investor('inv_buyer'), { token: t }), 'POLICY_MAX_HOLDERS');
    expect(r.passed).toBe(false);
    expect(r.regulation).toBe('issuer policy');
  });

  test('the issuer may cap U.S. holders, and a non-U.S. buyer does not add to them', () => {
    const t = token({}, { maxUsHolders: 299 });
    expect(resultOf(sale(counts(400, 0, 299), investor('inv_buyer'), { token: t }), 'POLICY_MAX_US_HOLDERS').passed).toBe(false);
    const foreign = investor('inv_buyer', { usPerson: false, jurisdiction: 'DE' });
    expect(resultOf(sale(counts(400, 0, 299), foreign, { token: t }), 'POLICY_MAX_US_HOLDERS').passed).toBe(true);
  });

  test('a forced transfer overrides the issuer\'s own caps', () => {
    const t = token({}, { maxHolders: 50, maxUsHolders: 50 });
    const forced = sale(counts(50), investor('inv_buyer'), { token: t, kind: 'FORCED_TRANSFER' });
    expect(applies(forced, 'POLICY_MAX_HOLDERS')).toBe(false);
    expect(applies(forced, 'POLICY_MAX_US_HOLDERS')).toBe(false);
  });
});
