/**
 * An order as the book writer tracks it while it can still change: the
 * engine's view plus who owns it and what it holds at custody.
 */
import type { Side, StpMode, TimeInForce } from './index.js';

export type OrderStatus = 'PENDING_NEW' | 'OPEN' | 'PARTIALLY_FILLED' | 'FILLED' | 'CANCELLED' | 'EXPIRED' | 'REJECTED';
export const OPEN_STATUSES: readonly OrderStatus[] = ['OPEN', 'PARTIALLY_FILLED'];

/** One reservation at custody; an order has one, plus one per replace that needed more. */
export interface Tranche {
  tranche: number;
  key: string;
  accountId: string;
  asset: string;
  amount: bigint;
  /** Attributed to trades: settlement consumes it. */
  used: bigint;
  /** Given back to custody. */
  released: bigint;
}

export interface LiveOrder {
  id: string;
  tokenId: string;
  org: string;
  accountId: string;
  investorId: string | null;
  clientOrderId: string;
  side: Side;
  type: 'LIMIT' | 'MARKET';
  timeInForce: TimeInForce;
  /** The limit price, or a market order's protection price: what the engine trades up to. */
  price: bigint;
  quantity: bigint;
  filled: bigint;
  remaining: bigint;
  status: OrderStatus;
  postOnly: boolean;
  stp: StpMode;
  priority: number | null;
  acceptedAt: Date | null;
  cancelReason: string | null;
  rejectReasons: { code: string; message: string }[];
  tranches: Tranche[];
}

/** The engine's owner id: the beneficial owner (investor), so self-trade prevention spans accounts and organisations. */
export const ownerOf = (o: Pick<LiveOrder, 'investorId' | 'accountId'>): string => o.investorId ?? `account:${o.accountId}`;

export const held = (t: Tranche): bigint => t.amount - t.used - t.released;
export const heldBy = (o: LiveOrder): bigint => o.tranches.reduce((s, t) => s + held(t), 0n);

/** What the order must hold for its open quantity: tokens for a sell, cash at its price for a buy. */
export const neededFor = (o: Pick<LiveOrder, 'side' | 'remaining' | 'price'>, tickValue: bigint): bigint =>
  o.side === 'SELL' ? o.remaining : o.remaining * o.price * tickValue;

/** On the book, able to trade (OPEN or PARTIALLY_FILLED). Whether the venue is open is hours.ts isOpen. */
export const isResting = (s: OrderStatus): boolean => s === 'OPEN' || s === 'PARTIALLY_FILLED';
