/**
 * The venue's published rulebook (from configuration) and the checks that
 * need nothing but the rules, the order and the last price. Plain functions.
 */
import type { StpMode } from './domain/index.js';
import type { TradingHours } from './domain/hours.js';
import type { TokenRuleOverrides, TradingConfig } from './settings.js';

export { STP_MODES } from './domain/stp-modes.js';
export const ORDER_TYPES = ['LIMIT', 'MARKET'] as const;
export const TIMES_IN_FORCE = ['GTC', 'DAY', 'IOC', 'FOK'] as const;

export interface InstrumentRules {
  tickSize: bigint;
  lotSize: bigint;
  tickValue: bigint;
  maxOrderQuantity: bigint;
  priceBandBps: number;
}

export interface VenueRules extends InstrumentRules {
  name: string;
  hours: TradingHours;
  marketCollarBps: number;
  makerFeeBps: number;
  takerFeeBps: number;
  stpMode: StpMode;
  cashAsset: string;
  overrides: Record<string, TokenRuleOverrides>;
}

export function venueRulesOf(c: TradingConfig): VenueRules {
  return {
    name: c.TRADING_VENUE_NAME,
    hours: c.TRADING_HOURS,
    tickSize: c.TRADING_TICK_SIZE,
    lotSize: c.TRADING_LOT_SIZE,
    tickValue: c.TRADING_TICK_VALUE,
    maxOrderQuantity: c.TRADING_MAX_ORDER_QUANTITY,
    priceBandBps: c.TRADING_PRICE_BAND_BPS,
    marketCollarBps: c.TRADING_MARKET_COLLAR_BPS,
    makerFeeBps: c.TRADING_FEE_MAKER_BPS,
    takerFeeBps: c.TRADING_FEE_TAKER_BPS,
    stpMode: c.TRADING_STP_MODE,
    cashAsset: c.TRADING_CASH_ASSET,
    overrides: c.TRADING_TOKEN_RULES,
  };
}

export function instrumentRules(v: VenueRules, tokenId: string): InstrumentRules {
  const o = v.overrides[tokenId] ?? {};
  return {
    tickSize: o.tickSize ?? v.tickSize,
    lotSize: o.lotSize ?? v.lotSize,
    tickValue: o.tickValue ?? v.tickValue,
    maxOrderQuantity: o.maxOrderQuantity ?? v.maxOrderQuantity,
    priceBandBps: o.priceBandBps ?? v.priceBandBps,
  };
}

/** A refusal reason, as the client sees it. */
export interface Reason {
  code: string;
  message: string;
  regulation?: string;
  blockingUntil?: string;
}

export const reason = (code: string, message: string, extra: Partial<Reason> = {}): Reason => ({ code, message, ...extra });

/** Price band [low, high] around a reference price; null when there is no reference. */
export function band(reference: bigint | null, bps: number): { low: bigint; high: bigint } | null {
  if (reference === null) return null;
  const d = (reference * BigInt(bps)) / 10_000n;
  return { low: reference - d > 0n ? reference - d : 1n, high: reference + d };
}

/** Tick, lot, size and band checks of a limit price and a quantity (every failing one). */
export function sizeAndPriceReasons(r: InstrumentRules, price: bigint | null, quantity: bigint, lastPrice: bigint | null): Reason[] {
  const out: Reason[] = [];
  if (price !== null && price % r.tickSize !== 0n) out.push(reason('TRADING.PRICE_OFF_TICK', `price ${price} is not a multiple of the tick size ${r.tickSize}`));
  if (quantity % r.lotSize !== 0n) out.push(reason('TRADING.QUANTITY_OFF_LOT', `quantity ${quantity} is not a multiple of the lot size ${r.lotSize}`));
  if (quantity > r.maxOrderQuantity) out.push(reason('TRADING.QUANTITY_ABOVE_MAXIMUM', `quantity ${quantity} is above the largest order of ${r.maxOrderQuantity}`));
  const b = price === null ? null : band(lastPrice, r.priceBandBps);
  if (b && price !== null && (price < b.low || price > b.high)) {
    out.push(reason('TRADING.PRICE_OUTSIDE_BAND', `price ${price} is outside the band ${b.low}..${b.high} (${r.priceBandBps} bps around the last price ${lastPrice})`));
  }
  return out;
}

/** The worst price a market order may trade at: the band around the last price, else the collar around the best opposite price. */
export function marketProtection(side: 'BUY' | 'SELL', r: InstrumentRules, v: VenueRules, lastPrice: bigint | null, bestOpposite: bigint | null): bigint | null {
  const b = lastPrice !== null ? band(lastPrice, r.priceBandBps) : band(bestOpposite, v.marketCollarBps);
  if (!b) return null;
  const p = side === 'BUY' ? b.high : b.low;
  // Stay on the tick grid, on the conservative side.
  const snapped = side === 'BUY' ? p - (p % r.tickSize) : p + ((r.tickSize - (p % r.tickSize)) % r.tickSize);
  return snapped > 0n ? snapped : r.tickSize;
}

/** Cash a buy holds per token base unit at a price. */
export const cashPerUnit = (price: bigint, r: Pick<InstrumentRules, 'tickValue'>): bigint => price * r.tickValue;

/** Fee in cash base units, rounded up. */
export const feeOf = (cash: bigint, bps: number): bigint => (cash * BigInt(bps) + 9_999n) / 10_000n;
