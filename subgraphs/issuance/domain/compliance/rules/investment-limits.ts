/**
 * Investment limits for non-accredited purchasers in an offering, so they
 * apply to primary issuance only. Accredited investors have none (Reg CF
 * since the 2021 amendments; Reg A by 230.251(d)(2)(i)(C)).
 *
 * Income or net worth that was not recorded counts as zero: for Reg CF that
 * leaves the $2,500 floor, for Reg A Tier 2 a limit of zero (fail closed).
 */
import type { ComplianceConfig } from '../config.js';
import { formatBps, formatInstant, formatPeriod, formatUsd } from '../format.js';
import { isPrimary, type Outcome, type Rule } from '../rule.js';
import { addPeriod } from '../time.js';
import type { PartySnapshot } from '../types.js';

const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);
const bps = (value: bigint, points: number): bigint => (value * BigInt(points)) / 10_000n;

function incomeAndNetWorth(p: PartySnapshot): { income: bigint; netWorth: bigint; greater: bigint } {
  const income = p.annualIncomeCents ?? 0n;
  const netWorth = p.netWorthCents ?? 0n;
  return { income, netWorth, greater: max(income, netWorth) };
}

/** 17 CFR 227.100(a)(2), with the figures from configuration, and a sentence saying which branch applied. */
export function regCfInvestmentLimit(p: PartySnapshot, config: ComplianceConfig): { limitCents: bigint; basis: string } {
  const c = config.regCf;
  const { income, netWorth, greater } = incomeAndNetWorth(p);
  const threshold = formatUsd(c.incomeOrNetWorthThresholdCents);
  if (income < c.incomeOrNetWorthThresholdCents || netWorth < c.incomeOrNetWorthThresholdCents) {
    return {
      limitCents: max(c.investmentFloorCents, bps(greater, c.lowerInvestmentBps)),
      basis: `the greater of ${formatUsd(c.investmentFloorCents)} or ${formatBps(c.lowerInvestmentBps)} of the greater of annual income or net worth, as one of them is below ${threshold}`,
    };
  }
  return {
    limitCents: min(c.investmentCapCents, bps(greater, c.higherInvestmentBps)),
    basis: `${formatBps(c.higherInvestmentBps)} of the greater of annual income or net worth, both being at least ${threshold}, capped at ${formatUsd(c.investmentCapCents)}`,
  };
}

const accreditedOutcome = (regime: string): Outcome => ({
  passed: true,
  message: `The purchaser is an accredited investor, which has no ${regime} investment limit.`,
});

export const regCfInvestmentLimitRule: Rule = {
  code: 'REG_CF_INVESTMENT_LIMIT',
  regulation: '17 CFR 227.100(a)(2)',
  appliesTo: (input) => isPrimary(input) && input.token.exemption === 'REG_CF',
  check(input, config, effects) {
    if (!input.to) return undefined;
    if (effects.receiverAccredited) return accreditedOutcome('Reg CF');
    const window = config.regCf.investmentWindow;
    const price = input.priceCents!;
    const { limitCents, basis } = regCfInvestmentLimit(input.to, config);
    // An investment counts until the window has passed since it was made, so
    // the instant it drops out is also the instant the limit frees up.
    const counting = (input.receiverPriorInvestments ?? [])
      .map((inv) => ({ amount: inv.amountCents, dropsAt: addPeriod(inv.at, window), madeAt: inv.at }))
      .filter((inv) => inv.madeAt.getTime() <= input.at.getTime() && input.at.getTime() < inv.dropsAt.getTime())
      .sort((a, b) => a.dropsAt.getTime() - b.dropsAt.getTime());
    let total = price + counting.reduce((sum, inv) => sum + inv.amount, 0n);
    const currentValue = formatUsd(total);
    const limit = formatUsd(limitCents);
    const span = formatPeriod(window);
    if (total <= limitCents) {
      return { passed: true, message: `With this purchase of ${formatUsd(price)} the investor's Reg CF investments over the last ${span} total ${currentValue}, within its limit of ${limit} (${basis}).`, currentValue, limit };
    }
    let blockingUntil: Date | undefined;
    if (price <= limitCents) {
      for (const inv of counting) {
        total -= inv.amount;
        if (total <= limitCents) { blockingUntil = inv.dropsAt; break; }
      }
    }
    const when = blockingUntil
      ? ` Enough earlier investments fall out of the last ${span} on ${formatInstant(blockingUntil)}.`
      : price > limitCents ? ' The purchase alone exceeds the limit.' : '';
    return {
      passed: false,
      message: `This purchase of ${formatUsd(price)} would bring the investor's Reg CF investments over the last ${span} to ${currentValue}, above its limit of ${limit} (${basis}).${when}`,
      currentValue,
      limit,
      blockingUntil,
    };
  },
};

/**
 * 230.251(d)(2)(i)(C): the aggregate purchase price in the offering is at
 * most 10% of the greater of annual income or net worth (natural persons),
 * or of revenue or net assets (entities, recorded in the same fields). The
 * limit is per offering, not over a rolling window: every prior purchase in
 * the offering counts. Not applied to exchange-listed securities (D).
 */
export const regATier2InvestmentLimitRule: Rule = {
  code: 'REG_A_TIER2_INVESTMENT_LIMIT',
  regulation: 'Reg A Tier 2 (17 CFR 230.251(d)(2)(i)(C))',
  appliesTo: (input) => isPrimary(input) && input.token.exemption === 'REG_A_TIER2' && !input.token.listedOnNationalExchange,
  check(input, config, effects) {
    if (!input.to) return undefined;
    if (effects.receiverAccredited) return accreditedOutcome('Reg A Tier 2');
    const points = config.regATier2.investmentLimitBps;
    const price = input.priceCents!;
    const { greater } = incomeAndNetWorth(input.to);
    const limitCents = bps(greater, points);
    const basis = input.to.type === 'ENTITY'
      ? `${formatBps(points)} of the greater of annual revenue or net assets`
      : `${formatBps(points)} of the greater of annual income or net worth`;
    const total = price + (input.receiverPriorInvestments ?? []).reduce((sum, inv) => sum + inv.amountCents, 0n);
    const currentValue = formatUsd(total);
    const limit = formatUsd(limitCents);
    const passed = total <= limitCents;
    const unknown = input.to.annualIncomeCents === null && input.to.netWorthCents === null ? ' Neither figure is recorded for this investor.' : '';
    return {
      passed,
      message: passed
        ? `With this purchase of ${formatUsd(price)} the investor's purchases in this offering total ${currentValue}, within its limit of ${limit} (${basis}).`
        : `This purchase of ${formatUsd(price)} would bring the investor's purchases in this offering to ${currentValue}, above its limit of ${limit} (${basis}).${unknown}`,
      currentValue,
      limit,
    };
  },
};

export const investmentLimitRules: readonly Rule[] = [regCfInvestmentLimitRule, regATier2InvestmentLimitRule];
