/** Exact arithmetic of trade amounts: decimal prices, base units. No I/O, never a JS number for money. */

export class AmountError extends Error {
  constructor(readonly code: 'INVALID_PRICE' | 'CASH_NOT_REPRESENTABLE', message: string) {
    super(message);
  }
}

/** A positive decimal string as an integer and its scale ("102.50" -> 10250n, 2). */
export function parsePrice(price: string): { units: bigint; scale: number } {
  const m = /^(\d{1,40})(?:\.(\d{1,36}))?$/.exec(price.trim());
  if (!m) throw new AmountError('INVALID_PRICE', `price must be a positive decimal number, got "${price.slice(0, 40)}"`);
  const frac = m[2] ?? '';
  const units = BigInt(m[1] + frac);
  if (units <= 0n) throw new AmountError('INVALID_PRICE', 'price must be positive');
  return { units, scale: frac.length };
}

/**
 * What the buyer pays in the cash token's base units: price per whole token x
 * quantity in the token's base units, exactly; a price that would need a
 * fraction of the cash token's smallest unit is refused.
 */
export function cashAmountOf(price: string, quantity: bigint, tokenDecimals: number, cashDecimals: number): bigint {
  const { units, scale } = parsePrice(price);
  const num = units * quantity * 10n ** BigInt(cashDecimals);
  const den = 10n ** BigInt(scale + tokenDecimals);
  if (num % den !== 0n) {
    throw new AmountError('CASH_NOT_REPRESENTABLE', `price ${price} x quantity ${quantity} is not a whole number of the cash token's base units (${cashDecimals} decimals)`);
  }
  return num / den;
}
