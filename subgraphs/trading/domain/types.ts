/**
 * Types of the in-memory matching engine: inputs, resting-order views and the
 * events every call returns. Prices are integer ticks and quantities integer
 * base units, both `bigint`; nothing here is a JS `number` amount.
 */

export type Side = 'BUY' | 'SELL';
export type OrderType = 'LIMIT' | 'MARKET';
/** GTC and DAY rest; IOC and FOK never rest. DAY orders leave with `expireDay`. */
export type TimeInForce = 'GTC' | 'DAY' | 'IOC' | 'FOK';
/** Time in force of an order that can rest in the book. */
export type RestingTimeInForce = 'GTC' | 'DAY';
/**
 * Self-trade prevention, applied when an incoming (taker) order meets a resting
 * order of the same `ownerId`; the taker's mode decides.
 * - CANCEL_NEWEST: the taker's remainder is cancelled, the resting order stays.
 * - CANCEL_OLDEST: the resting order is cancelled, matching continues.
 * - DECREMENT: both are reduced by the smaller remaining quantity, no trade.
 * - NONE: no prevention (the two trade with each other).
 */
export type StpMode = 'CANCEL_NEWEST' | 'CANCEL_OLDEST' | 'DECREMENT' | 'NONE';

export interface NewOrder {
  /** Unique among the book's live orders (the engine forgets orders once they are closed). */
  orderId: string;
  /** Beneficial owner / account: self-trade prevention compares it. */
  ownerId: string;
  side: Side;
  type: OrderType;
  /** Default GTC for LIMIT, IOC for MARKET. MARKET accepts IOC or FOK only. */
  timeInForce?: TimeInForce;
  /** Ticks, required for LIMIT, absent for MARKET. 1 ≤ price ≤ 2^53-1. */
  price?: bigint;
  /** Base units, > 0. */
  quantity: bigint;
  /** LIMIT GTC/DAY only: rejected (never repriced) when it would cross. */
  postOnly?: boolean;
  /** Overrides the book's default mode for this order (when it is the taker). */
  stp?: StpMode;
  /** Caller's timestamp (e.g. epoch ms), kept for `expireDay(before)`. The engine never reads a clock. */
  placedAt?: number;
}

/** `quantity` is the new total order quantity, filled part included (as FIX OrderQty). */
export interface ReplaceRequest {
  price?: bigint;
  quantity?: bigint;
}

export interface BookOptions {
  /** Informational; copied into snapshots. */
  instrumentId?: string;
  /** Default self-trade prevention mode for orders that give none. Default CANCEL_NEWEST. */
  stp?: StpMode;
  /** Emit LEVEL events (aggregated level after each change) at the end of each call. Default true. */
  levelEvents?: boolean;
}

/** A resting order as the engine sees it, also the input of `restore`. */
export interface RestingOrder {
  orderId: string;
  ownerId: string;
  side: Side;
  price: bigint;
  /** Open quantity, > 0. */
  remaining: bigint;
  /** Quantity already traded (0n when absent); `quantity = filled + remaining`. */
  filled?: bigint;
  timeInForce: RestingTimeInForce;
  postOnly?: boolean;
  stp?: StpMode;
  /** Time priority inside the price level: smaller is older. The `priority` of the RESTED/REPLACED event. */
  priority: number;
  placedAt?: number;
}

export interface OrderView {
  orderId: string;
  ownerId: string;
  side: Side;
  price: bigint;
  /** filled + remaining (shrinks with STP decrements and replaces). */
  quantity: bigint;
  filled: bigint;
  remaining: bigint;
  timeInForce: RestingTimeInForce;
  postOnly: boolean;
  stp: StpMode;
  priority: number;
  placedAt: number;
}

export interface LevelView {
  price: bigint;
  quantity: bigint;
  orders: number;
}

export interface BookSnapshot {
  instrumentId: string | undefined;
  /** Best first: bids high to low. */
  bids: LevelView[];
  /** Best first: asks low to high. */
  asks: LevelView[];
  lastEventSeq: number;
}

export interface RestoreOptions {
  /** Sequence number of the last event the book emitted before it stopped; the next event gets +1. */
  lastEventSeq?: number;
}

export type RejectReason =
  | 'INVALID_ORDER_ID'
  | 'DUPLICATE_ORDER_ID'
  | 'INVALID_OWNER'
  | 'INVALID_SIDE'
  | 'INVALID_ORDER_TYPE'
  | 'INVALID_TIME_IN_FORCE'
  | 'INVALID_QUANTITY'
  | 'INVALID_PRICE'
  | 'PRICE_REQUIRED'
  | 'PRICE_NOT_ALLOWED'
  | 'INVALID_STP_MODE'
  | 'POST_ONLY_NOT_ALLOWED'
  | 'POST_ONLY_WOULD_CROSS'
  | 'NO_LIQUIDITY'
  | 'FOK_NOT_FILLABLE'
  | 'UNKNOWN_ORDER'
  | 'NOTHING_TO_REPLACE';

export type CancelReason =
  /** `cancel(orderId)` or `cancelAll`. */
  | 'USER'
  /** The unfilled remainder of an IOC (or FOK) limit order. */
  | 'IOC_REMAINDER'
  /** The unfilled remainder of a MARKET order once the other side ran out. */
  | 'NO_LIQUIDITY'
  /** Self-trade prevention (CANCEL_NEWEST: the taker; CANCEL_OLDEST: the resting order). */
  | 'SELF_TRADE'
  /** `replace` to a quantity at or below the filled quantity. */
  | 'REPLACED_TO_FILLED'
  /** `cancelAll` with an operator reason (halt, suspended subscriber). */
  | 'OPERATOR';

export type RequestKind = 'PLACE' | 'CANCEL' | 'REPLACE';

export interface AcceptedEvent {
  type: 'ACCEPTED';
  seq: number;
  orderId: string;
  ownerId: string;
  side: Side;
  orderType: OrderType;
  timeInForce: TimeInForce;
  price: bigint | null;
  quantity: bigint;
  postOnly: boolean;
  stp: StpMode;
}

/** A refused request: no state change at all. */
export interface RejectedEvent {
  type: 'REJECTED';
  seq: number;
  request: RequestKind;
  orderId: string;
  reasons: RejectReason[];
}

/** One execution between the incoming (taker) order and a resting (maker) order, at the maker's price. */
export interface TradeEvent {
  type: 'TRADE';
  seq: number;
  price: bigint;
  quantity: bigint;
  /** Side of the taker (the aggressor). */
  takerSide: Side;
  takerOrderId: string;
  takerOwnerId: string;
  makerOrderId: string;
  makerOwnerId: string;
  /** Open quantities after this trade; 0n means that order is closed (filled). */
  takerRemaining: bigint;
  makerRemaining: bigint;
}

/** The order now rests in the book with this time priority (= this event's seq). */
export interface RestedEvent {
  type: 'RESTED';
  seq: number;
  orderId: string;
  ownerId: string;
  side: Side;
  price: bigint;
  remaining: bigint;
  priority: number;
}

export interface CancelledEvent {
  type: 'CANCELLED';
  seq: number;
  orderId: string;
  ownerId: string;
  side: Side;
  price: bigint | null;
  /** Open quantity removed by this cancel (0n when nothing was open). */
  cancelledQuantity: bigint;
  reason: CancelReason;
}

export interface ReplacedEvent {
  type: 'REPLACED';
  seq: number;
  orderId: string;
  ownerId: string;
  side: Side;
  oldPrice: bigint;
  price: bigint;
  /** filled + remaining before and after. */
  oldQuantity: bigint;
  quantity: bigint;
  filled: bigint;
  remaining: bigint;
  /** True when only the size shrank at the same price. Otherwise the order re-enters as a taker and a RESTED event (new priority) follows if anything is left. */
  priorityKept: boolean;
  /** The kept priority, or null when it was lost (see the RESTED event that follows). */
  priority: number | null;
}

export interface ExpiredEvent {
  type: 'EXPIRED';
  seq: number;
  orderId: string;
  ownerId: string;
  side: Side;
  price: bigint;
  expiredQuantity: bigint;
}

/**
 * Two orders of the same owner met. For DECREMENT, `quantity` is the overlap
 * taken off both (no trade); the remainings tell whether either is closed. For
 * CANCEL_NEWEST / CANCEL_OLDEST `quantity` is 0n and a CANCELLED event follows.
 */
export interface SelfTradePreventedEvent {
  type: 'SELF_TRADE_PREVENTED';
  seq: number;
  mode: Exclude<StpMode, 'NONE'>;
  ownerId: string;
  price: bigint;
  quantity: bigint;
  takerOrderId: string;
  makerOrderId: string;
  takerRemaining: bigint;
  makerRemaining: bigint;
}

/** Aggregated level after the call (quantity 0n and orders 0 when the level disappeared). */
export interface LevelEvent {
  type: 'LEVEL';
  seq: number;
  side: Side;
  price: bigint;
  quantity: bigint;
  orders: number;
}

export type BookEvent =
  | AcceptedEvent
  | RejectedEvent
  | TradeEvent
  | RestedEvent
  | CancelledEvent
  | ReplacedEvent
  | ExpiredEvent
  | SelfTradePreventedEvent
  | LevelEvent;
