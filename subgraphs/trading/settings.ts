import { ConfigError, int, json, list, oneOf, str, type Setting } from '../kit/config.js';
import { parseTradingHours, type TradingHours } from './domain/hours.js';
import type { StpMode } from './domain/index.js';
import { STP_MODES } from './domain/stp-modes.js';
import { isId } from '../kit/inputs.js';

/** A positive integer of any size, as a decimal string in the environment (never a JS number). */
const units = (doc: string, def: bigint, min = 1n): Setting<bigint> => ({
  doc,
  default: def,
  parse(raw, name) {
    if (!/^\d{1,30}$/.test(raw) || BigInt(raw) < min) throw new ConfigError(name, `must be an integer >= ${min}, got "${raw}"`);
    return BigInt(raw);
  },
});

const hours = (doc: string, def: string): Setting<TradingHours> => ({
  doc,
  default: parseTradingHours(def),
  parse(raw, name) {
    try {
      return parseTradingHours(raw);
    } catch (e) {
      throw new ConfigError(name, (e as Error).message);
    }
  },
});

/** Per-token overrides of the venue rules: {"tok_...": {"tickSize": "5", "lotSize": "10", "priceBandBps": 500}}. */
export interface TokenRuleOverrides { tickSize?: bigint; lotSize?: bigint; tickValue?: bigint; priceBandBps?: number; maxOrderQuantity?: bigint }

function tokenOverrides(v: unknown): Record<string, TokenRuleOverrides> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('must be an object keyed by token id');
  const out: Record<string, TokenRuleOverrides> = {};
  for (const [tokenId, o] of Object.entries(v as Record<string, Record<string, unknown>>)) {
    if (!isId(tokenId, 'tok')) throw new Error(`"${tokenId}" is not a token id`);
    const big = (k: string) => {
      const x = o[k];
      if (x === undefined) return undefined;
      if (typeof x !== 'string' || !/^[1-9]\d{0,29}$/.test(x)) throw new Error(`${tokenId}.${k} must be a positive integer as a string`);
      return BigInt(x);
    };
    const band = o.priceBandBps;
    if (band !== undefined && (!Number.isInteger(band) || (band as number) < 0 || (band as number) > 1_000_000)) throw new Error(`${tokenId}.priceBandBps must be an integer 0..1000000`);
    out[tokenId] = { tickSize: big('tickSize'), lotSize: big('lotSize'), tickValue: big('tickValue'), maxOrderQuantity: big('maxOrderQuantity'), priceBandBps: band as number | undefined };
  }
  return out;
}

/**
 * The venue's rulebook and the trading process's knobs. Prices are integers
 * in price units (a multiple of the tick size), quantities integers in the
 * token's base units (a multiple of the lot size); the cash of a trade is
 * price x quantity x tick value, in the cash asset's base units.
 */
export const tradingSettings = {
  TRADING_VENUE_NAME: str('name of the venue in the published rulebook', 'tokenstack ATS'),
  TRADING_OPERATOR_ORGS: list('organisations that operate the venue (comma-separated): only their ATS_OPERATOR users admit and suspend subscribers, halt and resume, cancel any order and see every organisation\'s orders, trades and alerts; an ATS_OPERATOR of any other organisation has no venue powers'),
  TRADING_HOURS: hours('trading hours: "<Mon-Fri|Mon,Wed,...> <HH:MM>-<HH:MM> <IANA time zone>"; DAY orders expire when the session ends', 'Mon-Sun 00:00-24:00 UTC'),
  TRADING_TICK_SIZE: units('smallest price increment, in price units', 1n),
  TRADING_LOT_SIZE: units('quantity increment, in token base units', 1n),
  TRADING_TICK_VALUE: units('cash base units per price unit per token base unit (cash = price x quantity x tick value)', 1n),
  TRADING_MAX_ORDER_QUANTITY: units('largest quantity of one order, in token base units', 1_000_000_000_000n),
  TRADING_PRICE_BAND_BPS: int('price band around the last trade price, in basis points (limit orders outside are refused; market orders are collared to it)', 1000, 0, 1_000_000),
  TRADING_MARKET_COLLAR_BPS: int('collar of a market order when the token has not traded yet, around the best opposite price, in basis points', 1000, 0, 1_000_000),
  TRADING_FEE_MAKER_BPS: int('fee of the resting side of a trade, basis points of its cash (reported on each trade; collected at settlement)', 0, 0, 10_000),
  TRADING_FEE_TAKER_BPS: int('fee of the incoming side of a trade, basis points of its cash (reported on each trade; collected at settlement)', 0, 0, 10_000),
  TRADING_STP_MODE: oneOf<StpMode>('default self-trade prevention (orders of one beneficial owner meeting)', STP_MODES, 'CANCEL_NEWEST'),
  TRADING_CASH_ASSET: str('custody asset a buy order reserves', 'CASH'),
  TRADING_TOKEN_RULES: json('per-token overrides of tick size, lot size, tick value, price band and max quantity (JSON; see README)', tokenOverrides, {}),
  TRADING_BATCH_MAX: int('most commands one book writer journals in one transaction', 64, 1, 10_000),
  TRADING_BOOK_POLL_MS: int('how often a trading process looks for books without a writer, queued commands, DAY orders to expire and releases to retry', 500, 20),
  TRADING_PENDING_TIMEOUT_MS: int('an order still being checked after this long (its process died) is rejected and its reservation released', 60_000, 1_000),
  TRADING_PEER_CACHE_MS: int('how long token and account facts from issuance and custody are cached (eligibility and balances are never cached; a token is dropped when the issuer pauses or unpauses it)', 5_000, 0),
  TRADING_PEER_BATCH_MAX: int('most eligibility questions (to issuance) or reservations (to custody) one batch call carries; orders checked at the same time share a call', 200, 1, 500),
  TRADING_PEER_BATCH_IN_FLIGHT: int('batch calls of each kind in flight at once; further orders wait and leave together in the next call', 2, 1, 64),
  TRADING_MAX_UNSETTLED: int('fills of one token not yet settled (no final status on settlement\'s feed) at which its new orders are refused, retryably (TRADING.SETTLEMENT_BACKLOG), until settlement catches up; 0 = no bound', 1000, 0, 1_000_000),
  TRADING_LAYERING_ORDERS: int('surveillance: cancelled orders at distinct prices on one side, with a fill on the other side, that make a layering alert', 3, 2),
  TRADING_LAYERING_WINDOW_MS: int('surveillance: the window of the layering pattern', 60_000, 1_000),
};

export interface TradingConfig {
  TRADING_VENUE_NAME: string;
  TRADING_OPERATOR_ORGS: string[];
  TRADING_HOURS: TradingHours;
  TRADING_TICK_SIZE: bigint;
  TRADING_LOT_SIZE: bigint;
  TRADING_TICK_VALUE: bigint;
  TRADING_MAX_ORDER_QUANTITY: bigint;
  TRADING_PRICE_BAND_BPS: number;
  TRADING_MARKET_COLLAR_BPS: number;
  TRADING_FEE_MAKER_BPS: number;
  TRADING_FEE_TAKER_BPS: number;
  TRADING_STP_MODE: StpMode;
  TRADING_CASH_ASSET: string;
  TRADING_TOKEN_RULES: Record<string, TokenRuleOverrides>;
  TRADING_BATCH_MAX: number;
  TRADING_BOOK_POLL_MS: number;
  TRADING_PENDING_TIMEOUT_MS: number;
  TRADING_PEER_CACHE_MS: number;
  TRADING_PEER_BATCH_MAX: number;
  TRADING_PEER_BATCH_IN_FLIGHT: number;
  TRADING_MAX_UNSETTLED: number;
  TRADING_LAYERING_ORDERS: number;
  TRADING_LAYERING_WINDOW_MS: number;
}
