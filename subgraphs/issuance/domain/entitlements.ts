/**
 * The arithmetic of a distribution, in exact integers (asset base units). No I/O.
 *
 * - A total split pro rata: each holder gets floor(total x units / all units); the base units left
 *   over (fewer than the number of holders) go one each to the largest fractional remainders
 *   (Hamilton's largest-remainder method), ties to the larger holding, then to the lower investor
 *   id. The shares add up to the total exactly: nothing lost, nothing paid twice.
 * - An amount per whole unit: each holder gets floor(units x amount / 10^decimals); fractions of a
 *   base unit are paid to nobody and reported as `unallocated` (0 when the token has no decimals).
 * - Withholding: gross x rate (basis points), rounded half up to the base unit; net = gross - withheld.
 */
export interface HolderUnits { investorId: string; units: bigint }
export interface Allocation { investorId: string; units: bigint; gross: bigint }

export function proRata(total: bigint, holders: readonly HolderUnits[]): Allocation[] {
  if (total <= 0n) throw new RangeError('total must be positive');
  const all = holders.reduce((s, h) => s + h.units, 0n);
  if (all <= 0n) throw new RangeError('no units of record');
  const shares = holders.map((h) => ({ ...h, gross: (total * h.units) / all, rest: (total * h.units) % all }));
  let left = total - shares.reduce((s, h) => s + h.gross, 0n);
  const order = [...shares].sort((a, b) => (a.rest !== b.rest ? (a.rest > b.rest ? -1 : 1) : a.units !== b.units ? (a.units > b.units ? -1 : 1) : a.investorId < b.investorId ? -1 : 1));
  for (const s of order) {
    if (left === 0n) break;
    s.gross += 1n;
    left -= 1n;
  }
  return shares.map(({ investorId, units, gross }) => ({ investorId, units, gross }));
}

export function perUnit(amountPerUnit: bigint, decimals: number, holders: readonly HolderUnits[]): { allocations: Allocation[]; unallocated: bigint } {
  if (amountPerUnit <= 0n) throw new RangeError('amount per unit must be positive');
  const scale = 10n ** BigInt(decimals);
  const allocations = holders.map((h) => ({ investorId: h.investorId, units: h.units, gross: (h.units * amountPerUnit) / scale }));
  const exact = holders.reduce((s, h) => s + h.units * amountPerUnit, 0n);
  const paid = allocations.reduce((s, a) => s + a.gross, 0n) * scale;
  return { allocations, unallocated: (exact - paid) / scale };
}

/** Tax withheld on a gross amount at a rate in basis points, rounded half up to the base unit. */
export function withheldOf(gross: bigint, rateBps: number): bigint {
  if (!Number.isInteger(rateBps) || rateBps < 0 || rateBps > 10_000) throw new RangeError('rate must be 0 to 10000 basis points');
  return (gross * BigInt(rateBps) + 5_000n) / 10_000n;
}
