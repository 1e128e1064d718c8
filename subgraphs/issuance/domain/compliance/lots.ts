/**
 * Which of the sender's tokens are free of a time-bound restriction. Every
 * lot matures on its own date; the seller may sell matured lots first
 * (specific identification), so a transfer is allowed when the matured lots
 * cover the amount, and blocked otherwise until the date enough lots have
 * matured.
 */
export interface MaturingLot {
  readonly amount: bigint;
  readonly maturesAt: Date;
}

export interface LotCoverage {
  /** Base units matured at the evaluation instant. */
  readonly matured: bigint;
  /** The first instant at which matured lots cover the amount; null if all lots together never do. */
  readonly coveredAt: Date | null;
  readonly covered: boolean;
}

export function lotCoverage(lots: readonly MaturingLot[], amount: bigint, at: Date): LotCoverage {
  const byMaturity = [...lots].sort((a, b) => a.maturesAt.getTime() - b.maturesAt.getTime());
  let matured = 0n;
  let cumulative = 0n;
  let coveredAt: Date | null = null;
  for (const lot of byMaturity) {
    if (lot.maturesAt.getTime() <= at.getTime()) matured += lot.amount;
    cumulative += lot.amount;
    if (coveredAt === null && cumulative >= amount) coveredAt = lot.maturesAt;
  }
  return { matured, coveredAt, covered: matured >= amount };
}
