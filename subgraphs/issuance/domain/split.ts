/**
 * Splits and reverse splits: numerator new units for every denominator old
 * ones (2:1 doubles, 1:10 divides by ten). Each holder's new balance is its
 * old one scaled and rounded down; the fraction left over is paid in cash at
 * the announced price per new unit. Each lot scales with the holder, keeping
 * its dates (the Rule 144 holding period does not restart). No I/O.
 */

export interface Ratio { numerator: bigint; denominator: bigint }

export interface HolderSplit {
  before: bigint;
  after: bigint;
  /** The fraction of a new unit left over, as fractionNumerator / denominator. */
  fractionNumerator: bigint;
  /** Cash in lieu of the fraction, in the cash asset's base units (rounded down). */
  cashInLieu: bigint;
}

export function splitHolder(balance: bigint, r: Ratio, cashInLieuPrice: bigint): HolderSplit {
  const scaled = balance * r.numerator;
  const fractionNumerator = scaled % r.denominator;
  return { before: balance, after: scaled / r.denominator, fractionNumerator, cashInLieu: (fractionNumerator * cashInLieuPrice) / r.denominator };
}

/**
 * The holder's new balance spread over its lots in proportion: each lot gets
 * its scaled amount rounded down, and the units that rounding left (fewer than
 * the lots) go one each to the lots with the largest dropped fractions, the
 * oldest first on a tie. The result sums to `after` exactly.
 */
export function splitLots(lots: readonly bigint[], r: Ratio, after: bigint): bigint[] {
  const exact = lots.map((l) => l * r.numerator);
  const out = exact.map((e) => e / r.denominator);
  let left = after - out.reduce((s, x) => s + x, 0n);
  const order = exact.map((e, i) => ({ i, rem: e % r.denominator })).sort((a, b) => (a.rem === b.rem ? a.i - b.i : a.rem > b.rem ? -1 : 1));
  for (const { i } of order) {
    if (left <= 0n) break;
    out[i] += 1n;
    left -= 1n;
  }
  return out;
}

/**
 * Where the chain moves a holder's difference: a split mints it to the wallet
 * holding the most; a reverse split burns from the wallets holding the most
 * first. Returns each wallet's target balance.
 */
export function walletTargets(wallets: readonly { address: string; balance: bigint }[], delta: bigint): { address: string; before: bigint; target: bigint }[] {
  const sorted = [...wallets].sort((a, b) => (a.balance === b.balance ? (a.address < b.address ? -1 : 1) : a.balance > b.balance ? -1 : 1));
  const out = sorted.map((w) => ({ address: w.address, before: w.balance, target: w.balance }));
  if (!out.length) return out;
  if (delta >= 0n) {
    out[0].target += delta;
    return out;
  }
  let burn = -delta;
  for (const w of out) {
    const take = w.before < burn ? w.before : burn;
    w.target -= take;
    burn -= take;
  }
  return out;
}

export class SplitInputError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** A ratio other than 1:1, with both sides positive and within the configured largest factor. */
export function checkRatio(r: Ratio, maxFactor: bigint): Ratio {
  if (r.numerator <= 0n || r.denominator <= 0n) throw new SplitInputError('INVALID_RATIO', 'numerator and denominator must be positive');
  if (r.numerator === r.denominator) throw new SplitInputError('INVALID_RATIO', 'a 1:1 split changes nothing');
  if (r.numerator > maxFactor || r.denominator > maxFactor) throw new SplitInputError('RATIO_TOO_LARGE', `numerator and denominator may be at most ${maxFactor} (SPLIT_MAX_FACTOR)`);
  return r;
}

/** The per-unit limits of a token's policy (units of the token; the other limits are counts, shares or dates, which a split leaves alone). */
/** The largest cap the compliance module holds (contracts/TokenstackRulesModule.sol keeps it in a uint128). */
const MAX_CAP = (1n << 128n) - 1n;
export interface UnitLimits { maxBalance?: string; minHolding?: string }

/**
 * The per-unit limits scaled by the ratio, rounded in the holders' favour: a
 * ceiling up (maxBalance: a holder at the old cap is at most at the new one),
 * a floor down (minHolding: a holder at the old minimum stays at or above the
 * new one). A minimum that rounds to 0 is dropped (no minimum); a cap past
 * what the chain's module holds (uint128) stays at its largest value.
 */
export function scaleUnitLimits(p: UnitLimits, r: Ratio): UnitLimits {
  const out: UnitLimits = {};
  if (p.maxBalance !== undefined) {
    const max = (BigInt(p.maxBalance) * r.numerator + r.denominator - 1n) / r.denominator;
    out.maxBalance = (max > MAX_CAP ? MAX_CAP : max).toString();
  }
  if (p.minHolding !== undefined) {
    const min = (BigInt(p.minHolding) * r.numerator) / r.denominator;
    if (min > 0n) out.minHolding = min.toString();
  }
  return out;
}
