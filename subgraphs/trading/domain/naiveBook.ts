/**
 * Test oracle: a deliberately naive order book (one array, sort on every
 * match, FOK decided by simulating on a copy) with the same rules as
 * `OrderBook`, reporting outcomes in a simplified form. Used by the randomized
 * property test; not for production.
 */
import type { CancelReason, NewOrder, ReplaceRequest, Side, StpMode, TimeInForce } from './types.js';

export type Outcome =
  | { k: 'reject'; id: string; reasons: string[] }
  | { k: 'trade'; taker: string; maker: string; price: bigint; qty: bigint }
  | { k: 'stp'; mode: string; taker: string; maker: string; qty: bigint }
  | { k: 'cancel'; id: string; qty: bigint; reason: CancelReason }
  | { k: 'rest'; id: string; remaining: bigint }
  | { k: 'replace'; id: string; kept: boolean; remaining: bigint }
  | { k: 'expire'; id: string; qty: bigint };

export interface NaiveOrder {
  id: string;
  owner: string;
  side: Side;
  price: bigint;
  remaining: bigint;
  filled: bigint;
  tif: TimeInForce;
  postOnly: boolean;
  stp: StpMode;
  prio: number;
  placedAt: number;
  market: boolean;
}

export class NaiveBook {
  resting: NaiveOrder[] = [];
  private prio = 0;
  constructor(private readonly defaultStp: StpMode = 'CANCEL_NEWEST') {}

  private static crosses(t: NaiveOrder, o: NaiveOrder): boolean {
    if (o.side === t.side) return false;
    if (t.market) return true;
    return t.side === 'BUY' ? o.price <= t.price : o.price >= t.price;
  }

  /** Best resting order for taker t, or undefined. */
  private bestFor(t: NaiveOrder): NaiveOrder | undefined {
    const c = this.resting.filter((o) => NaiveBook.crosses(t, o));
    c.sort((a, b) => {
      if (a.price !== b.price) return (t.side === 'BUY' ? a.price < b.price : a.price > b.price) ? -1 : 1;
      return a.prio - b.prio;
    });
    return c[0];
  }

  /** Returns true when the taker was cancelled by CANCEL_NEWEST. */
  private match(t: NaiveOrder, out: Outcome[]): boolean {
    while (t.remaining > 0n) {
      const m = this.bestFor(t);
      if (m === undefined) break;
      const q = t.remaining < m.remaining ? t.remaining : m.remaining;
      if (m.owner === t.owner && t.stp !== 'NONE') {
        if (t.stp === 'CANCEL_NEWEST') {
          out.push({ k: 'stp', mode: t.stp, taker: t.id, maker: m.id, qty: 0n });
          out.push({ k: 'cancel', id: t.id, qty: t.remaining, reason: 'SELF_TRADE' });
          return true;
        }
        if (t.stp === 'CANCEL_OLDEST') {
          out.push({ k: 'stp', mode: t.stp, taker: t.id, maker: m.id, qty: 0n });
          this.resting = this.resting.filter((o) => o !== m);
          out.push({ k: 'cancel', id: m.id, qty: m.remaining, reason: 'SELF_TRADE' });
          continue;
        }
        t.remaining -= q;
        m.remaining -= q;
        out.push({ k: 'stp', mode: t.stp, taker: t.id, maker: m.id, qty: q });
      } else {
        t.remaining -= q;
        t.filled += q;
        m.remaining -= q;
        m.filled += q;
        out.push({ k: 'trade', taker: t.id, maker: m.id, price: m.price, qty: q });
      }
      if (m.remaining === 0n) this.resting = this.resting.filter((o) => o !== m);
    }
    return false;
  }

  private rest(t: NaiveOrder, out: Outcome[]): void {
    t.prio = ++this.prio;
    this.resting.push(t);
    out.push({ k: 'rest', id: t.id, remaining: t.remaining });
  }

  private clone(): NaiveBook {
    const b = new NaiveBook(this.defaultStp);
    b.resting = this.resting.map((o) => ({ ...o }));
    b.prio = this.prio;
    return b;
  }

  place(o: NewOrder): Outcome[] {
    const out: Outcome[] = [];
    const market = o.type === 'MARKET';
    const tif = o.timeInForce ?? (market ? 'IOC' : 'GTC');
    if (this.resting.some((r) => r.id === o.orderId)) return [{ k: 'reject', id: o.orderId, reasons: ['DUPLICATE_ORDER_ID'] }];
    const t: NaiveOrder = {
      id: o.orderId, owner: o.ownerId, side: o.side, price: o.price ?? 0n, remaining: o.quantity, filled: 0n, tif,
      postOnly: o.postOnly === true, stp: o.stp ?? this.defaultStp, prio: 0, placedAt: o.placedAt ?? 0, market,
    };
    if (market && !this.resting.some((r) => r.side !== t.side)) return [{ k: 'reject', id: t.id, reasons: ['NO_LIQUIDITY'] }];
    if (t.postOnly && this.resting.some((r) => NaiveBook.crosses(t, r))) return [{ k: 'reject', id: t.id, reasons: ['POST_ONLY_WOULD_CROSS'] }];
    if (tif === 'FOK') {
      const sim = this.clone();
      const st = { ...t };
      sim.match(st, []);
      if (st.filled !== t.remaining) return [{ k: 'reject', id: t.id, reasons: ['FOK_NOT_FILLABLE'] }];
    }
    const stopped = this.match(t, out);
    if (!stopped && t.remaining > 0n) {
      if (tif === 'GTC' || tif === 'DAY') this.rest(t, out);
      else out.push({ k: 'cancel', id: t.id, qty: t.remaining, reason: market ? 'NO_LIQUIDITY' : 'IOC_REMAINDER' });
    }
    return out;
  }

  cancel(id: string): Outcome[] {
    const o = this.resting.find((r) => r.id === id);
    if (o === undefined) return [{ k: 'reject', id, reasons: ['UNKNOWN_ORDER'] }];
    this.resting = this.resting.filter((r) => r !== o);
    return [{ k: 'cancel', id, qty: o.remaining, reason: 'USER' }];
  }

  replace(id: string, req: ReplaceRequest): Outcome[] {
    const o = this.resting.find((r) => r.id === id);
    if (o === undefined) return [{ k: 'reject', id, reasons: ['UNKNOWN_ORDER'] }];
    const out: Outcome[] = [];
    const newPrice = req.price ?? o.price;
    const oldQty = o.filled + o.remaining;
    const newQty = req.quantity ?? oldQty;
    const priceChanged = newPrice !== o.price;
    if (priceChanged && o.postOnly && this.resting.some((r) => NaiveBook.crosses({ ...o, price: newPrice }, r))) {
      return [{ k: 'reject', id, reasons: ['POST_ONLY_WOULD_CROSS'] }];
    }
    if (newQty <= o.filled) {
      this.resting = this.resting.filter((r) => r !== o);
      return [{ k: 'cancel', id, qty: o.remaining, reason: 'REPLACED_TO_FILLED' }];
    }
    o.remaining = newQty - o.filled;
    if (!priceChanged && newQty <= oldQty) {
      out.push({ k: 'replace', id, kept: true, remaining: o.remaining });
      return out;
    }
    this.resting = this.resting.filter((r) => r !== o);
    o.price = newPrice;
    out.push({ k: 'replace', id, kept: false, remaining: o.remaining });
    const stopped = this.match(o, out);
    if (!stopped && o.remaining > 0n) this.rest(o, out);
    return out;
  }

  expireDay(before?: number): Outcome[] {
    const due = this.resting.filter((o) => o.tif === 'DAY' && (before === undefined || o.placedAt < before)).sort((a, b) => a.prio - b.prio);
    this.resting = this.resting.filter((o) => !due.includes(o));
    return due.map((o) => ({ k: 'expire', id: o.id, qty: o.remaining }));
  }

  /** Resting orders by side, price (best first) and time priority. */
  book(): { id: string; side: Side; price: bigint; remaining: bigint; filled: bigint }[] {
    const sorted = [...this.resting].sort((a, b) => {
      if (a.side !== b.side) return a.side === 'BUY' ? -1 : 1;
      if (a.price !== b.price) return (a.side === 'BUY' ? a.price > b.price : a.price < b.price) ? -1 : 1;
      return a.prio - b.prio;
    });
    return sorted.map((o) => ({ id: o.id, side: o.side, price: o.price, remaining: o.remaining, filled: o.filled }));
  }
}
