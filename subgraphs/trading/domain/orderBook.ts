/**
 * In-memory price-time priority matching engine: one `OrderBook` per
 * instrument, single writer, no I/O. Every call returns the deterministic list
 * of events it caused, each with a per-book sequence number, so the caller can
 * journal and publish them; the same inputs in the same order always give the
 * same events.
 *
 * Layout: each side keeps its price levels in an array sorted worst to best
 * (best at the end, so the best level is O(1) and consuming it is a pop) plus a
 * Map from tick to level; each level is a doubly linked FIFO of orders, and a
 * Map from order id to order makes cancel O(1).
 */
import type {
  AcceptedEvent,
  BookEvent,
  BookOptions,
  BookSnapshot,
  CancelReason,
  CancelledEvent,
  LevelView,
  NewOrder,
  OrderView,
  RejectReason,
  RejectedEvent,
  ReplaceRequest,
  RequestKind,
  RestingOrder,
  RestingTimeInForce,
  RestoreOptions,
  Side,
  StpMode,
  TimeInForce,
} from './types.js';

/** Largest price in ticks (prices are indexed by a JS number internally, exact up to 2^53-1). */
export const MAX_PRICE = 9007199254740991n;

const STP_MODES: ReadonlySet<string> = new Set(['CANCEL_NEWEST', 'CANCEL_OLDEST', 'DECREMENT', 'NONE']);
const TIFS: ReadonlySet<string> = new Set(['GTC', 'DAY', 'IOC', 'FOK']);

class Order {
  priority = 0;
  level: Level | null = null;
  prev: Order | null = null;
  next: Order | null = null;
  constructor(
    readonly id: string,
    readonly owner: string,
    readonly side: Side,
    public price: bigint,
    public key: number,
    public remaining: bigint,
    public filled: bigint,
    readonly tif: TimeInForce,
    readonly postOnly: boolean,
    readonly stp: StpMode,
    readonly placedAt: number,
  ) {}
}

class Level {
  quantity = 0n;
  count = 0;
  head: Order | null = null;
  tail: Order | null = null;
  /** Call stamp of the last LEVEL-event registration. */
  mark = 0;
  constructor(
    readonly side: Side,
    readonly price: bigint,
    readonly key: number,
  ) {}
}

const NO_LEVEL = new Level('BUY', 0n, 0);

/** One side's price levels: sorted array (worst … best) + Map by tick. */
class BookSide {
  readonly levels: Level[] = [];
  readonly byKey = new Map<number, Level>();
  readonly isBid: boolean;
  constructor(readonly side: Side) {
    this.isBid = side === 'BUY';
  }

  best(): Level | undefined {
    return this.levels.length > 0 ? this.levels[this.levels.length - 1] : undefined;
  }

  /** Index of the first level not worse than `key`. */
  private lowerBound(key: number): number {
    const a = this.levels;
    let lo = 0;
    let hi = a.length;
    if (this.isBid) {
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (a[mid].key < key) lo = mid + 1;
        else hi = mid;
      }
    } else {
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (a[mid].key > key) lo = mid + 1;
        else hi = mid;
      }
    }
    return lo;
  }

  level(key: number, price: bigint): Level {
    let l = this.byKey.get(key);
    if (l === undefined) {
      l = new Level(this.side, price, key);
      this.byKey.set(key, l);
      const i = this.lowerBound(key);
      if (i === this.levels.length) this.levels.push(l);
      else this.levels.splice(i, 0, l);
    }
    return l;
  }

  drop(l: Level): void {
    this.byKey.delete(l.key);
    const a = this.levels;
    if (a[a.length - 1] === l) a.pop();
    else a.splice(this.lowerBound(l.key), 1);
  }
}

function isSide(s: unknown): s is Side {
  return s === 'BUY' || s === 'SELL';
}
function validPrice(p: unknown): p is bigint {
  return typeof p === 'bigint' && p >= 1n && p <= MAX_PRICE;
}
function validQuantity(q: unknown): q is bigint {
  return typeof q === 'bigint' && q > 0n;
}
function nonEmptyString(s: unknown): s is string {
  return typeof s === 'string' && s.length > 0;
}

export class OrderBook {
  readonly instrumentId: string | undefined;
  private readonly bids = new BookSide('BUY');
  private readonly asks = new BookSide('SELL');
  /** Live (resting) orders; insertion order is priority order. */
  private readonly orders = new Map<string, Order>();
  /** Resting DAY orders, in priority order. */
  private readonly dayOrders = new Set<Order>();
  private readonly defaultStp: StpMode;
  private readonly levelEvents: boolean;
  private seq = 0;
  private mark = 0;
  private readonly touched: Level[] = [];
  private touchedCount = 0;

  constructor(options: BookOptions = {}) {
    const stp = options.stp ?? 'CANCEL_NEWEST';
    if (!STP_MODES.has(stp)) throw new TypeError(`unknown self-trade prevention mode ${String(stp)}`);
    this.instrumentId = options.instrumentId;
    this.defaultStp = stp;
    this.levelEvents = options.levelEvents ?? true;
  }

  /** Rebuilds a book from its resting orders (see `restore`). */
  static fromRestingOrders(orders: readonly RestingOrder[], restore: RestoreOptions = {}, options: BookOptions = {}): OrderBook {
    const book = new OrderBook(options);
    book.restore(orders, restore);
    return book;
  }

  // ---------------------------------------------------------------- reads

  /** Sequence number of the last event emitted (0 before any). */
  get lastEventSeq(): number {
    return this.seq;
  }
  /** Number of resting orders. */
  get orderCount(): number {
    return this.orders.size;
  }
  /** Number of price levels, both sides. */
  get levelCount(): number {
    return this.bids.levels.length + this.asks.levels.length;
  }

  bestBid(): LevelView | null {
    const l = this.bids.best();
    return l === undefined ? null : { price: l.price, quantity: l.quantity, orders: l.count };
  }
  bestAsk(): LevelView | null {
    const l = this.asks.best();
    return l === undefined ? null : { price: l.price, quantity: l.quantity, orders: l.count };
  }

  getOrder(orderId: string): OrderView | undefined {
    const o = this.orders.get(orderId);
    return o === undefined ? undefined : view(o);
  }

  /** Every resting order, oldest priority first: feed it to `restore` to rebuild the book. */
  restingOrders(): OrderView[] {
    const out: OrderView[] = [];
    for (const o of this.orders.values()) out.push(view(o));
    return out;
  }

  /** Aggregated levels, best first, at most `depth` per side. */
  snapshot(depth = Number.POSITIVE_INFINITY): BookSnapshot {
    const side = (s: BookSide): LevelView[] => {
      const out: LevelView[] = [];
      for (let i = s.levels.length - 1; i >= 0 && out.length < depth; i--) {
        const l = s.levels[i];
        out.push({ price: l.price, quantity: l.quantity, orders: l.count });
      }
      return out;
    };
    return { instrumentId: this.instrumentId, bids: side(this.bids), asks: side(this.asks), lastEventSeq: this.seq };
  }

  // ---------------------------------------------------------------- commands

  /**
   * Places an order. Events: REJECTED alone (nothing changed), or ACCEPTED,
   * then TRADE / SELF_TRADE_PREVENTED / CANCELLED (resting orders removed by
   * CANCEL_OLDEST), then RESTED or CANCELLED for the remainder if any, then
   * LEVEL events.
   */
  place(o: NewOrder): BookEvent[] {
    const ev: BookEvent[] = [];
    this.begin();
    const reasons = this.validate(o);
    if (reasons !== null) {
      ev.push(this.rejected('PLACE', o.orderId, reasons));
      return ev;
    }
    const isMarket = o.type === 'MARKET';
    const tif: TimeInForce = o.timeInForce ?? (isMarket ? 'IOC' : 'GTC');
    const stp = o.stp ?? this.defaultStp;
    const side = o.side;
    const buy = side === 'BUY';
    const key = isMarket ? (buy ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY) : Number(o.price);
    const best = (buy ? this.asks : this.bids).best();
    if (isMarket && best === undefined) {
      ev.push(this.rejected('PLACE', o.orderId, ['NO_LIQUIDITY']));
      return ev;
    }
    if (o.postOnly === true && best !== undefined && (buy ? best.key <= key : best.key >= key)) {
      ev.push(this.rejected('PLACE', o.orderId, ['POST_ONLY_WOULD_CROSS']));
      return ev;
    }
    if (tif === 'FOK' && !this.fokFillable(side, key, o.quantity, o.ownerId, stp)) {
      ev.push(this.rejected('PLACE', o.orderId, ['FOK_NOT_FILLABLE']));
      return ev;
    }
    const price = isMarket ? 0n : (o.price as bigint);
    const t = new Order(o.orderId, o.ownerId, side, price, key, o.quantity, 0n, tif, o.postOnly === true, stp, o.placedAt ?? 0);
    const accepted: AcceptedEvent = {
      type: 'ACCEPTED',
      seq: ++this.seq,
      orderId: t.id,
      ownerId: t.owner,
      side,
      orderType: o.type,
      timeInForce: tif,
      price: isMarket ? null : price,
      quantity: o.quantity,
      postOnly: t.postOnly,
      stp,
    };
    ev.push(accepted);
    const stopped = this.match(t, key, ev);
    if (!stopped && t.remaining > 0n) {
      if (tif === 'GTC' || tif === 'DAY') this.rest(t, ev);
      else ev.push(this.cancelled(t, isMarket ? null : price, t.remaining, isMarket ? 'NO_LIQUIDITY' : 'IOC_REMAINDER'));
    }
    this.flush(ev);
    return ev;
  }

  /** Cancels a resting order: O(1). Events: CANCELLED + LEVEL, or REJECTED (UNKNOWN_ORDER). */
  cancel(orderId: string): BookEvent[] {
    const ev: BookEvent[] = [];
    this.begin();
    const o = this.orders.get(orderId);
    if (o === undefined) {
      ev.push(this.rejected('CANCEL', orderId, ['UNKNOWN_ORDER']));
      return ev;
    }
    const q = o.remaining;
    this.unrest(o);
    ev.push(this.cancelled(o, o.price, q, 'USER'));
    this.flush(ev);
    return ev;
  }

  /**
   * Changes price and/or total quantity (filled part included) of a resting
   * order. Keeps time priority when only the size shrinks at the same price;
   * otherwise the order goes to the back: at a new price it re-enters as a
   * taker (it may trade) and rests with a new priority. A quantity at or below
   * the filled quantity cancels (REPLACED_TO_FILLED). A post-only order whose
   * new price would cross is rejected and left unchanged.
   */
  replace(orderId: string, req: ReplaceRequest): BookEvent[] {
    const ev: BookEvent[] = [];
    this.begin();
    const o = this.orders.get(orderId);
    const reasons: RejectReason[] = [];
    if (o === undefined) reasons.push('UNKNOWN_ORDER');
    if (req.price === undefined && req.quantity === undefined) reasons.push('NOTHING_TO_REPLACE');
    if (req.price !== undefined && !validPrice(req.price)) reasons.push('INVALID_PRICE');
    if (req.quantity !== undefined && !validQuantity(req.quantity)) reasons.push('INVALID_QUANTITY');
    if (o === undefined || reasons.length > 0) {
      ev.push(this.rejected('REPLACE', orderId, reasons));
      return ev;
    }
    const oldPrice = o.price;
    const newPrice = req.price ?? oldPrice;
    const newKey = Number(newPrice);
    const oldQty = o.filled + o.remaining;
    const newQty = req.quantity ?? oldQty;
    const priceChanged = newPrice !== oldPrice;
    if (priceChanged && o.postOnly) {
      const best = (o.side === 'BUY' ? this.asks : this.bids).best();
      if (best !== undefined && (o.side === 'BUY' ? best.key <= newKey : best.key >= newKey)) {
        ev.push(this.rejected('REPLACE', orderId, ['POST_ONLY_WOULD_CROSS']));
        return ev;
      }
    }
    if (newQty <= o.filled) {
      const q = o.remaining;
      this.unrest(o);
      ev.push(this.cancelled(o, o.price, q, 'REPLACED_TO_FILLED'));
      this.flush(ev);
      return ev;
    }
    const newRemaining = newQty - o.filled;
    const lvl = o.level as Level;
    if (!priceChanged && newQty <= oldQty) {
      // Shrinks in place: keeps its time priority.
      if (newRemaining !== o.remaining) {
        lvl.quantity -= o.remaining - newRemaining;
        o.remaining = newRemaining;
        this.touch(lvl);
      }
      ev.push(this.replaced(o, oldPrice, oldQty, true));
      this.flush(ev);
      return ev;
    }
    if (!priceChanged) {
      // Grows at the same price: to the back of its level.
      this.remove(o, lvl);
      o.remaining = newRemaining;
      ev.push(this.replaced(o, oldPrice, oldQty, false));
      this.rest(o, ev);
      this.flush(ev);
      return ev;
    }
    // New price: out of the book, re-enters as a taker.
    this.unrest(o);
    o.price = newPrice;
    o.key = newKey;
    o.remaining = newRemaining;
    ev.push(this.replaced(o, oldPrice, oldQty, false));
    const stopped = this.match(o, newKey, ev);
    if (!stopped && o.remaining > 0n) this.rest(o, ev);
    this.flush(ev);
    return ev;
  }

  /**
   * End-of-session sweep: expires resting DAY orders placed before `before`
   * (compared with their `placedAt`), or all DAY orders when `before` is
   * omitted. Events: EXPIRED per order (priority order), then LEVEL.
   */
  expireDay(before?: number): BookEvent[] {
    const ev: BookEvent[] = [];
    this.begin();
    const due: Order[] = [];
    for (const o of this.dayOrders) if (before === undefined || o.placedAt < before) due.push(o);
    for (const o of due) {
      const q = o.remaining;
      this.unrest(o);
      ev.push({ type: 'EXPIRED', seq: ++this.seq, orderId: o.id, ownerId: o.owner, side: o.side, price: o.price, expiredQuantity: q });
    }
    this.flush(ev);
    return ev;
  }

  /** Cancels every resting order matching the filter (all when none), in priority order. */
  cancelAll(filter: { ownerId?: string; side?: Side } = {}, reason: Extract<CancelReason, 'USER' | 'OPERATOR'> = 'USER'): BookEvent[] {
    const ev: BookEvent[] = [];
    this.begin();
    const due: Order[] = [];
    for (const o of this.orders.values()) {
      if (filter.ownerId !== undefined && o.owner !== filter.ownerId) continue;
      if (filter.side !== undefined && o.side !== filter.side) continue;
      due.push(o);
    }
    for (const o of due) {
      const q = o.remaining;
      this.unrest(o);
      ev.push(this.cancelled(o, o.price, q, reason));
    }
    this.flush(ev);
    return ev;
  }

  /**
   * Rebuilds an empty book from resting orders (any order; they are sorted by
   * `priority`, which must be unique). Emits no event. Throws (leaving the book
   * empty) on invalid, duplicate or crossed input. The next event's seq is
   * max(lastEventSeq, highest priority) + 1.
   */
  restore(orders: readonly RestingOrder[], options: RestoreOptions = {}): void {
    if (this.orders.size > 0 || this.seq > 0) throw new Error('restore needs a new, empty book');
    const sorted = [...orders].sort((a, b) => a.priority - b.priority);
    const ids = new Set<string>();
    let maxBid = Number.NEGATIVE_INFINITY;
    let minAsk = Number.POSITIVE_INFINITY;
    let lastPriority = Number.NEGATIVE_INFINITY;
    for (const r of sorted) {
      const where = `restore: order ${String(r.orderId)}`;
      if (!nonEmptyString(r.orderId)) throw new Error(`${where}: invalid orderId`);
      if (ids.has(r.orderId)) throw new Error(`${where}: duplicate orderId`);
      ids.add(r.orderId);
      if (!nonEmptyString(r.ownerId)) throw new Error(`${where}: invalid ownerId`);
      if (!isSide(r.side)) throw new Error(`${where}: invalid side`);
      if (!validPrice(r.price)) throw new Error(`${where}: invalid price`);
      if (!validQuantity(r.remaining)) throw new Error(`${where}: remaining must be a positive bigint`);
      if (r.filled !== undefined && (typeof r.filled !== 'bigint' || r.filled < 0n)) throw new Error(`${where}: invalid filled`);
      if (r.timeInForce !== 'GTC' && r.timeInForce !== 'DAY') throw new Error(`${where}: only GTC and DAY orders rest`);
      if (r.stp !== undefined && !STP_MODES.has(r.stp)) throw new Error(`${where}: invalid stp mode`);
      if (!Number.isSafeInteger(r.priority)) throw new Error(`${where}: priority must be a safe integer`);
      if (r.priority === lastPriority) throw new Error(`${where}: duplicate priority ${r.priority}`);
      lastPriority = r.priority;
      const key = Number(r.price);
      if (r.side === 'BUY') maxBid = Math.max(maxBid, key);
      else minAsk = Math.min(minAsk, key);
    }
    if (maxBid >= minAsk) throw new Error(`restore: crossed book (best bid ${maxBid} >= best ask ${minAsk})`);
    for (const r of sorted) {
      const o = new Order(
        r.orderId, r.ownerId, r.side, r.price, Number(r.price), r.remaining, r.filled ?? 0n,
        r.timeInForce, r.postOnly === true, r.stp ?? this.defaultStp, r.placedAt ?? 0,
      );
      o.priority = r.priority;
      const lvl = (r.side === 'BUY' ? this.bids : this.asks).level(o.key, o.price);
      this.append(o, lvl);
    }
    const last = options.lastEventSeq ?? 0;
    this.seq = Math.max(last, sorted.length > 0 ? sorted[sorted.length - 1].priority : 0);
  }

  // ---------------------------------------------------------------- internals

  private begin(): void {
    this.mark++;
    this.touchedCount = 0;
  }

  private touch(l: Level): void {
    if (l.mark !== this.mark) {
      l.mark = this.mark;
      if (this.levelEvents) this.touched[this.touchedCount++] = l;
    }
  }

  private flush(ev: BookEvent[]): void {
    const t = this.touched;
    const n = this.touchedCount;
    for (let i = 0; i < n; i++) {
      const l = t[i];
      t[i] = NO_LEVEL; // do not keep dropped levels alive
      ev.push({ type: 'LEVEL', seq: ++this.seq, side: l.side, price: l.price, quantity: l.quantity, orders: l.count });
    }
    this.touchedCount = 0;
  }

  /** Null when the order is well-formed; otherwise every reason. The fast path allocates nothing. */
  private validate(o: NewOrder): RejectReason[] | null {
    const type = o.type;
    const tif = o.timeInForce;
    const isLimit = type === 'LIMIT';
    if (
      nonEmptyString(o.orderId) && !this.orders.has(o.orderId) && nonEmptyString(o.ownerId) && isSide(o.side) &&
      (isLimit || type === 'MARKET') && validQuantity(o.quantity) &&
      (isLimit ? validPrice(o.price) : o.price === undefined) &&
      (tif === undefined || (isLimit ? TIFS.has(tif) : tif === 'IOC' || tif === 'FOK')) &&
      (o.stp === undefined || STP_MODES.has(o.stp)) &&
      (o.postOnly !== true || (isLimit && tif !== 'IOC' && tif !== 'FOK'))
    ) return null;
    return this.reasons(o);
  }

  private reasons(o: NewOrder): RejectReason[] {
    const r: RejectReason[] = [];
    if (!nonEmptyString(o.orderId)) r.push('INVALID_ORDER_ID');
    else if (this.orders.has(o.orderId)) r.push('DUPLICATE_ORDER_ID');
    if (!nonEmptyString(o.ownerId)) r.push('INVALID_OWNER');
    if (!isSide(o.side)) r.push('INVALID_SIDE');
    const isMarket = o.type === 'MARKET';
    if (!isMarket && o.type !== 'LIMIT') r.push('INVALID_ORDER_TYPE');
    const tif = o.timeInForce;
    if (tif !== undefined && (!TIFS.has(tif) || (isMarket && tif !== 'IOC' && tif !== 'FOK'))) r.push('INVALID_TIME_IN_FORCE');
    if (!validQuantity(o.quantity)) r.push('INVALID_QUANTITY');
    if (isMarket) {
      if (o.price !== undefined) r.push('PRICE_NOT_ALLOWED');
    } else if (o.price === undefined) r.push('PRICE_REQUIRED');
    else if (!validPrice(o.price)) r.push('INVALID_PRICE');
    if (o.stp !== undefined && !STP_MODES.has(o.stp)) r.push('INVALID_STP_MODE');
    if (o.postOnly === true && (isMarket || tif === 'IOC' || tif === 'FOK')) r.push('POST_ONLY_NOT_ALLOWED');
    return r;
  }

  /** True when a FOK order would be filled entirely by trades, checked without touching the book. */
  private fokFillable(side: Side, limit: number, qty: bigint, owner: string, stp: StpMode): boolean {
    const buy = side === 'BUY';
    const levels = (buy ? this.asks : this.bids).levels;
    let avail = 0n;
    for (let i = levels.length - 1; i >= 0 && avail < qty; i--) {
      const l = levels[i];
      if (buy ? l.key > limit : l.key < limit) break;
      avail += l.quantity;
    }
    if (avail < qty) return false;
    if (stp === 'NONE') return true;
    // Own orders on the way: CANCEL_OLDEST skips them, the other modes stop or shrink the taker.
    let need = qty;
    for (let i = levels.length - 1; i >= 0; i--) {
      const l = levels[i];
      if (buy ? l.key > limit : l.key < limit) break;
      for (let m = l.head; m !== null; m = m.next) {
        if (m.owner === owner) {
          if (stp === 'CANCEL_OLDEST') continue;
          return false;
        }
        need -= m.remaining;
        if (need <= 0n) return true;
      }
    }
    return false;
  }

  /**
   * Matches taker `t` against the other side up to `limit` (a tick, or ±Infinity).
   * Returns true when self-trade prevention cancelled the taker (CANCEL_NEWEST).
   */
  private match(t: Order, limit: number, ev: BookEvent[]): boolean {
    const buy = t.side === 'BUY';
    const opp = buy ? this.asks : this.bids;
    const levels = opp.levels;
    const stp = t.stp;
    const owner = t.owner;
    while (t.remaining > 0n && levels.length > 0) {
      const lvl = levels[levels.length - 1];
      if (buy ? lvl.key > limit : lvl.key < limit) break;
      let m = lvl.head;
      while (m !== null) {
        const next: Order | null = m.next;
        if (m.owner === owner && stp !== 'NONE') {
          if (stp === 'CANCEL_NEWEST') {
            ev.push(this.stpEvent('CANCEL_NEWEST', t, m, 0n));
            ev.push(this.cancelled(t, Number.isFinite(t.key) ? t.price : null, t.remaining, 'SELF_TRADE'));
            return true;
          }
          this.touch(lvl);
          if (stp === 'CANCEL_OLDEST') {
            ev.push(this.stpEvent('CANCEL_OLDEST', t, m, 0n));
            const q = m.remaining;
            this.remove(m, lvl);
            ev.push(this.cancelled(m, m.price, q, 'SELF_TRADE'));
          } else {
            const q = t.remaining < m.remaining ? t.remaining : m.remaining;
            t.remaining -= q;
            m.remaining -= q;
            lvl.quantity -= q;
            ev.push(this.stpEvent('DECREMENT', t, m, q));
            if (m.remaining === 0n) this.remove(m, lvl);
          }
        } else {
          const q = t.remaining < m.remaining ? t.remaining : m.remaining;
          t.remaining -= q;
          t.filled += q;
          m.remaining -= q;
          m.filled += q;
          lvl.quantity -= q;
          this.touch(lvl);
          ev.push({
            type: 'TRADE',
            seq: ++this.seq,
            price: m.price,
            quantity: q,
            takerSide: t.side,
            takerOrderId: t.id,
            takerOwnerId: owner,
            makerOrderId: m.id,
            makerOwnerId: m.owner,
            takerRemaining: t.remaining,
            makerRemaining: m.remaining,
          });
          if (m.remaining === 0n) this.remove(m, lvl);
        }
        if (t.remaining === 0n) break;
        m = next;
      }
      if (lvl.count === 0) opp.drop(lvl);
    }
    return false;
  }

  /** Appends to the tail of its level with a new priority and emits RESTED. */
  private rest(o: Order, ev: BookEvent[]): void {
    const lvl = (o.side === 'BUY' ? this.bids : this.asks).level(o.key, o.price);
    const seq = ++this.seq;
    o.priority = seq;
    this.append(o, lvl);
    this.touch(lvl);
    ev.push({ type: 'RESTED', seq, orderId: o.id, ownerId: o.owner, side: o.side, price: o.price, remaining: o.remaining, priority: seq });
  }

  private append(o: Order, lvl: Level): void {
    o.level = lvl;
    o.next = null;
    o.prev = lvl.tail;
    if (lvl.tail === null) lvl.head = o;
    else lvl.tail.next = o;
    lvl.tail = o;
    lvl.count++;
    lvl.quantity += o.remaining;
    this.orders.set(o.id, o);
    if (o.tif === 'DAY') this.dayOrders.add(o);
  }

  /** Unlinks from the level's list only (quantity and indexes untouched). */
  private unlink(o: Order, lvl: Level): void {
    const p = o.prev;
    const n = o.next;
    if (p === null) lvl.head = n;
    else p.next = n;
    if (n === null) lvl.tail = p;
    else n.prev = p;
    o.prev = null;
    o.next = null;
  }

  /** Takes a resting order out of its level and the indexes (the empty level stays). */
  private remove(o: Order, lvl: Level): void {
    this.unlink(o, lvl);
    lvl.count--;
    lvl.quantity -= o.remaining;
    o.level = null;
    this.orders.delete(o.id);
    if (o.tif === 'DAY') this.dayOrders.delete(o);
  }

  /** `remove` + drops the level when it became empty. */
  private unrest(o: Order): void {
    const lvl = o.level as Level;
    this.remove(o, lvl);
    this.touch(lvl);
    if (lvl.count === 0) (o.side === 'BUY' ? this.bids : this.asks).drop(lvl);
  }

  private rejected(request: RequestKind, orderId: string, reasons: RejectReason[]): RejectedEvent {
    return { type: 'REJECTED', seq: ++this.seq, request, orderId, reasons };
  }

  private cancelled(o: Order, price: bigint | null, q: bigint, reason: CancelReason): CancelledEvent {
    return { type: 'CANCELLED', seq: ++this.seq, orderId: o.id, ownerId: o.owner, side: o.side, price, cancelledQuantity: q, reason };
  }

  private stpEvent(mode: Exclude<StpMode, 'NONE'>, t: Order, m: Order, q: bigint): BookEvent {
    return {
      type: 'SELF_TRADE_PREVENTED',
      seq: ++this.seq,
      mode,
      ownerId: t.owner,
      price: m.price,
      quantity: q,
      takerOrderId: t.id,
      makerOrderId: m.id,
      takerRemaining: t.remaining,
      makerRemaining: m.remaining,
    };
  }

  private replaced(o: Order, oldPrice: bigint, oldQuantity: bigint, priorityKept: boolean): BookEvent {
    return {
      type: 'REPLACED',
      seq: ++this.seq,
      orderId: o.id,
      ownerId: o.owner,
      side: o.side,
      oldPrice,
      price: o.price,
      oldQuantity,
      quantity: o.filled + o.remaining,
      filled: o.filled,
      remaining: o.remaining,
      priorityKept,
      priority: priorityKept ? o.priority : null,
    };
  }
}

function view(o: Order): OrderView {
  return {
    orderId: o.id,
    ownerId: o.owner,
    side: o.side,
    price: o.price,
    quantity: o.filled + o.remaining,
    filled: o.filled,
    remaining: o.remaining,
    timeInForce: o.tif as RestingTimeInForce,
    postOnly: o.postOnly,
    stp: o.stp,
    priority: o.priority,
    placedAt: o.placedAt,
  };
}
