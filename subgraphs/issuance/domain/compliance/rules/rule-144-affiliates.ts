/**
 * Rule 144's conditions on an affiliate's sales (17 CFR 230.144(e), (h)),
 * decided by the sender alone, for secondary trades. An affiliate here is a
 * sender recorded as one at the instant or within the lookback before it
 * (230.144(b)(1): a non-affiliate is one that has not been an affiliate
 * during the three months preceding the sale); the snapshot resolves that.
 *
 * - Volume: the units sold in any three months, this sale included, may not
 *   exceed the greater of 1% of the outstanding class (the token's supply)
 *   or the average weekly volume over the four weeks before the sale (the
 *   units transferred between investors as the books record them).
 * - Form 144: above 5,000 units or $50,000 in the window a notice must be
 *   filed when the order is placed; it does not block the transfer, so the
 *   rule passes and the evaluation lists the filing as required.
 *
 * Not checked: current public information (144(c)), manner of sale (144(f),
 * (g)), aggregation with persons acting in concert (144(e)(3)).
 */
import type { ComplianceConfig } from '../config.js';
import { formatBps, formatPeriod, formatUnits, formatUsd } from '../format.js';
import type { Outcome, Rule } from '../rule.js';
import type { TransferInput } from '../types.js';

const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const isSale = (input: TransferInput): boolean => input.kind === 'SECONDARY_TRADE' && (input.occasion ?? 'SALE') === 'SALE';

/** Outcome for a sender the conditions do not reach; undefined when they do. */
function notReached(input: TransferInput, what: string): Outcome | undefined {
  const from = input.from!;
  if (from.issuerRelation === 'ISSUER') return { passed: true, message: `The issuer is selling its own tokens, which is not a resale: ${what} does not apply.` };
  if (from.issuerRelation !== 'AFFILIATE') {
    return { passed: true, message: `The sender is not an affiliate of the issuer (nor was one in the lookback before the sale), so ${what} does not apply.` };
  }
  return undefined;
}

/** Units sold in the window with this sale, and the volume limit with how it was reached. */
export function affiliateVolume(input: TransferInput, config: ComplianceConfig): { sold: bigint; limit: bigint; basis: string } {
  const c = config.rule144;
  const sales = input.affiliateSales ?? { soldInWindow: 0n, recentVolume: 0n };
  const share = (input.token.totalSupply * BigInt(c.affiliateVolumeOutstandingBps)) / 10_000n;
  const weekly = sales.recentVolume / BigInt(c.affiliateVolumeWeeks);
  const units = (v: bigint) => formatUnits(v, input.token.decimals);
  const basis = share >= weekly
    ? `${formatBps(c.affiliateVolumeOutstandingBps)} of the ${units(input.token.totalSupply)} outstanding (the average weekly volume over ${c.affiliateVolumeWeeks} weeks being ${units(weekly)})`
    : `the average weekly volume over ${c.affiliateVolumeWeeks} weeks (${formatBps(c.affiliateVolumeOutstandingBps)} of the outstanding being ${units(share)})`;
  return { sold: sales.soldInWindow + input.amount, limit: max(share, weekly), basis };
}

/** A condition on an affiliate's sale: decided on the sender alone, passed for a sender it does not reach. */
function affiliateCondition(
  code: Rule['code'], regulation: string, what: string,
  decide: (input: TransferInput, config: ComplianceConfig, units: (v: bigint) => string) => Outcome,
): Rule {
  return {
    code,
    regulation,
    appliesTo: isSale,
    check: (input, config) => (input.from ? notReached(input, what) ?? decide(input, config, (v) => formatUnits(v, input.token.decimals)) : undefined),
  };
}

export const rule144AffiliateVolumeLimit = affiliateCondition(
  'RULE_144_AFFILIATE_VOLUME_LIMIT', '17 CFR 230.144(e)(1)', "Rule 144's volume limit",
  (input, config, units) => {
    const { sold, limit, basis } = affiliateVolume(input, config);
    const window = formatPeriod(config.rule144.affiliateVolumeWindow);
    const passed = sold <= limit;
    return {
      passed,
      message: passed
        ? `The affiliate's sales in ${window}, this one included, come to ${units(sold)}, within the limit of ${units(limit)}: ${basis}.`
        : `The affiliate's sales in ${window}, this one included, would come to ${units(sold)}, over the limit of ${units(limit)}: ${basis}.`,
      currentValue: units(sold),
      limit: units(limit),
    };
  },
);

export const rule144Form144Notice = affiliateCondition(
  'RULE_144_FORM_144_NOTICE', '17 CFR 230.144(h)', 'the Form 144 notice',
  (input, config, units) => {
    const c = config.rule144;
    const { sold } = affiliateVolume(input, config);
    const unitsThreshold = c.form144ThresholdUnits * 10n ** BigInt(input.token.decimals);
    // Earlier sales' prices are not on the books: the window is valued at this sale's price per unit.
    const value = input.priceCents === undefined ? undefined : (input.priceCents * sold) / input.amount;
    const window = formatPeriod(c.affiliateVolumeWindow);
    const overUnits = sold > unitsThreshold;
    const overValue = value !== undefined && value > c.form144ValueThresholdCents;
    const measured = `${units(sold)} units${value !== undefined ? ` worth ${formatUsd(value)}` : ''} in ${window}`;
    const thresholds = `${units(unitsThreshold)} units or ${formatUsd(c.form144ValueThresholdCents)}`;
    if (overUnits || overValue) {
      return {
        passed: true,
        message: `A notice on Form 144 must be filed with the SEC when the sell order is placed: ${measured}, above ${thresholds}.`,
        currentValue: units(sold),
        limit: units(unitsThreshold),
        requiredFiling: { form: 'FORM_144', message: `The affiliate's sales come to ${measured}, above ${thresholds}: file Form 144 concurrently with placing the sell order.` },
      };
    }
    const unpriced = value === undefined ? ' The question gave no price, so only the units were compared; ask with a price to compare the value too.' : '';
    return { passed: true, message: `No Form 144 notice is required: ${measured}, not above ${thresholds}.${unpriced}`, currentValue: units(sold), limit: units(unitsThreshold) };
  },
);

export const rule144AffiliateRules: readonly Rule[] = [rule144AffiliateVolumeLimit, rule144Form144Notice];
