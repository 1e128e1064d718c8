/**
 * Applies writer commands to a token's engine and turns the engine's events
 * into everything that must commit with them: the journal rows, order and
 * trade rows, reservation usage and releases, audit entries and outbox
 * events. Pure (no I/O): the writer runs a batch, then stores its effects in
 * one transaction.
 */
import type { TypedEvent } from '../kit/contracts/events.js';
import { newId } from '../kit/ids.js';
import type { BookEvent, OrderBook, TradeEvent } from './domain/index.js';
import { heldBy, held, isResting, neededFor, ownerOf, type LiveOrder, type OrderStatus, type Tranche } from './domain/live.js';
import { feeOf, reason, type InstrumentRules, type Reason } from './rules.js';

/** Who cancels: the order's owner, the venue's operator, or issuance's split or redemption of the token. */
export type CancelCause = 'USER' | 'OPERATOR' | 'SPLIT' | 'REDEEMED';

export type Command =
  | { kind: 'PLACE'; order: LiveOrder; tranche: Tranche | null; notes?: { event: string; detail: Record<string, unknown> }[] }
  | { kind: 'CANCEL'; orderId: string; reason: CancelCause; actor: string }
  | { kind: 'REPLACE'; orderId: string; price?: bigint; quantity?: bigint; tranche?: Tranche; actor: string }
  | { kind: 'EXPIRE'; before: number };

/** The order a command was about, as the batch left it (JSON-safe: it also travels in a queued command's result). */
export type OrderState = ReturnType<typeof orderJson>;
export type CommandResult = { ok: true; status: OrderStatus | null; order?: OrderState } | { ok: false; reasons: Reason[]; order?: OrderState };

export interface BookContext {
  tokenId: string;
  rules: InstrumentRules;
  makerFeeBps: number;
  takerFeeBps: number;
  cashAsset: string;
  halted: boolean;
  haltReason: string | null;
  now: Date;
}

export interface JournalRow { seq: number; type: string; orderId: string | null; payload: unknown }
export interface AuditRow { orderId: string; tokenId: string; org: string; event: string; detail: Record<string, unknown>; actor: string | null; at: Date }
export interface ReleaseRow { orderId: string; key: string; amount: bigint; idempotencyKey: string }
export interface ReservationShare { key: string; asset: string; amount: string }
export interface TradeRecord {
  id: string; tokenId: string; price: bigint; quantity: bigint; cash: bigint; aggressorSide: 'BUY' | 'SELL'; bookSeq: number;
  buy: LiveOrder; sell: LiveOrder; buyerFee: bigint; sellerFee: bigint; executedAt: Date;
  reservations: { buy: ReservationShare[]; sell: ReservationShare[] };
}
/** An event of trading's, typed by its topic (kit/contracts/events.ts). */
export type OutboxRow = TypedEvent;

export interface Effects {
  journal: JournalRow[];
  /** Final state of every order the batch touched. */
  orders: Map<string, LiveOrder>;
  trades: TradeRecord[];
  tranches: Map<string, { order: LiveOrder; t: Tranche }>;
  /** Reservation intents the batch settled (recorded as tranches or released). */
  intents: Set<string>;
  releases: ReleaseRow[];
  audit: AuditRow[];
  outbox: OutboxRow[];
  levels: Map<string, { side: 'BUY' | 'SELL'; price: bigint; quantity: bigint; orders: number }>;
  lastPrice: bigint | null;
  lastEventSeq: number;
}

export const emptyEffects = (): Effects => ({
  journal: [], orders: new Map(), trades: [], tranches: new Map(), intents: new Set(), releases: [], audit: [], outbox: [], levels: new Map(), lastPrice: null, lastEventSeq: 0,
});

const engineReason = (r: string): Reason => {
  const text: Record<string, string> = {
    POST_ONLY_WOULD_CROSS: 'a post-only order would have traded on arrival',
    FOK_NOT_FILLABLE: 'a fill-or-kill order could not be filled in full at once',
    NO_LIQUIDITY: 'nothing on the other side of the book to trade with',
    UNKNOWN_ORDER: 'the order is not resting in the book (filled, cancelled or expired)',
    NOTHING_TO_REPLACE: 'give a new price, a new quantity or both',
  };
  return reason(`TRADING.${r}`, text[r] ?? r.toLowerCase().replace(/_/g, ' '));
};

export const orderJson = (o: LiveOrder) => ({
  orderId: o.id, tokenId: o.tokenId, accountId: o.accountId, investorId: o.investorId, org: o.org, clientOrderId: o.clientOrderId,
  side: o.side, type: o.type, timeInForce: o.timeInForce, price: o.type === 'LIMIT' ? o.price.toString() : null,
  quantity: o.quantity.toString(), filled: o.filled.toString(), remaining: o.remaining.toString(), status: o.status,
  cancelReason: o.cancelReason, rejectReasons: o.rejectReasons, acceptedAt: o.acceptedAt ? new Date(o.acceptedAt).toISOString() : null,
});

/** Runs commands on one book; `effects()` is what must commit. The book and `live` are mutated. */
export class BatchRun {
  readonly fx = emptyEffects();
  private touched = new Set<LiveOrder>();
  private lastEvents: string[] = [];

  constructor(private readonly book: OrderBook, private readonly live: Map<string, LiveOrder>, private readonly ctx: BookContext) {}

  apply(cmd: Command): CommandResult {
    this.touched.clear();
    this.lastEvents = [];
    const result = this.run(cmd);
    if (cmd.kind === 'PLACE') result.order = orderJson(cmd.order);
    const seq = this.book.lastEventSeq;
    for (const o of this.touched) {
      this.reconcile(o, seq);
      this.fx.orders.set(o.id, o);
      this.fx.outbox.push({ topic: 'order.updated', key: o.id, payload: { ...orderJson(o), events: this.lastEvents, bookSeq: seq } });
      if (!isResting(o.status) && o.status !== 'PENDING_NEW') this.live.delete(o.id);
    }
    this.fx.lastEventSeq = seq;
    return result;
  }

  /** The batch's book change (one event for the whole batch) goes last. */
  finish(): Effects {
    if (this.fx.levels.size > 0) {
      this.fx.outbox.push({
        topic: 'book.changed', key: this.ctx.tokenId,
        payload: { tokenId: this.ctx.tokenId, bookSeq: this.fx.lastEventSeq, levels: [...this.fx.levels.values()].map((l) => ({ side: l.side, price: l.price.toString(), quantity: l.quantity.toString(), orders: l.orders })) },
      });
    }
    return this.fx;
  }

  private run(cmd: Command): CommandResult {
    switch (cmd.kind) {
      case 'PLACE': return this.place(cmd.order, cmd.tranche, cmd.notes ?? []);
      case 'CANCEL': return this.cancel(cmd.orderId, cmd.reason, cmd.actor);
      case 'REPLACE': return this.replace(cmd);
      case 'EXPIRE': {
        this.events(this.book.expireDay(cmd.before), null);
        return { ok: true, status: null };
      }
    }
  }

  private place(o: LiveOrder, tranche: Tranche | null, notes: { event: string; detail: Record<string, unknown> }[]): CommandResult {
    this.live.set(o.id, o);
    this.touched.add(o);
    for (const n of notes) this.audit(o, n.event, n.detail, null);
    if (tranche) this.addTranche(o, tranche);
    const refuse = (reasons: Reason[]): CommandResult => {
      o.status = 'REJECTED';
      o.remaining = 0n;
      o.rejectReasons = reasons.map((r) => ({ code: r.code, message: r.message }));
      this.audit(o, 'REJECTED', { reasons: o.rejectReasons }, null);
      return { ok: false, reasons };
    };
    if (this.ctx.halted) return refuse([reason('TRADING.MARKET_HALTED', `trading in ${this.ctx.tokenId} is halted${this.ctx.haltReason ? `: ${this.ctx.haltReason}` : ''}`)]);
    if (o.type === 'MARKET') {
      const best = o.side === 'BUY' ? this.book.bestAsk() : this.book.bestBid();
      if (!best || (o.side === 'BUY' ? best.price > o.price : best.price < o.price)) {
        return refuse([reason('TRADING.NO_LIQUIDITY', best ? `no ${o.side === 'BUY' ? 'offer' : 'bid'} within the market order's protection price ${o.price}` : `no ${o.side === 'BUY' ? 'offers' : 'bids'} in the book`)]);
      }
    }
    const events = this.book.place({
      orderId: o.id, ownerId: ownerOf(o), side: o.side, type: 'LIMIT', price: o.price, quantity: o.quantity, postOnly: o.postOnly, stp: o.stp,
      timeInForce: o.type === 'MARKET' ? (o.timeInForce === 'FOK' ? 'FOK' : 'IOC') : o.timeInForce,
      placedAt: this.ctx.now.getTime(),
    });
    const rejected = events.find((e) => e.type === 'REJECTED');
    if (rejected && rejected.type === 'REJECTED') {
      this.journal(rejected, o.id);
      return refuse(rejected.reasons.map(engineReason));
    }
    this.events(events, null);
    return { ok: true, status: o.status };
  }

  private cancel(orderId: string, why: CancelCause, actor: string): CommandResult {
    const events = this.book.cancel(orderId);
    const rejected = events.find((e) => e.type === 'REJECTED');
    if (rejected && rejected.type === 'REJECTED') {
      this.journal(rejected, orderId);
      return { ok: false, reasons: rejected.reasons.map(engineReason) };
    }
    this.events(events, why === 'USER' ? null : why, actor);
    return { ok: true, status: this.live.get(orderId)?.status ?? 'CANCELLED' };
  }

  private replace(cmd: Extract<Command, { kind: 'REPLACE' }>): CommandResult {
    const o = this.live.get(cmd.orderId);
    if (o && cmd.tranche) {
      this.addTranche(o, cmd.tranche);
      this.touched.add(o); // an unused new tranche is released by reconcile
    } else if (cmd.tranche) {
      // The order closed meanwhile: the fresh reservation goes back whole.
      this.fx.intents.add(cmd.tranche.key);
      this.fx.releases.push({ orderId: cmd.orderId, key: cmd.tranche.key, amount: cmd.tranche.amount, idempotencyKey: `${cmd.tranche.key}:rel:unused` });
    }
    if (this.ctx.halted) return { ok: false, reasons: [reason('TRADING.MARKET_HALTED', `trading in ${this.ctx.tokenId} is halted`)] };
    const events = this.book.replace(cmd.orderId, { price: cmd.price, quantity: cmd.quantity });
    const rejected = events.find((e) => e.type === 'REJECTED');
    if (rejected && rejected.type === 'REJECTED') {
      this.journal(rejected, cmd.orderId);
      return { ok: false, reasons: rejected.reasons.map(engineReason) };
    }
    this.events(events, null, cmd.actor);
    return { ok: true, status: this.live.get(cmd.orderId)?.status ?? o?.status ?? null };
  }

  private events(events: BookEvent[], cancelOverride: string | null, actor: string | null = null): void {
    for (const e of events) {
      if (e.type !== 'LEVEL') this.lastEvents.push(e.type);
      switch (e.type) {
        case 'ACCEPTED': {
          const o = this.order(e.orderId);
          o.status = 'OPEN';
          o.acceptedAt = this.ctx.now;
          this.journal(e, o.id);
          this.audit(o, 'ACCEPTED', { side: o.side, type: o.type, timeInForce: o.timeInForce, price: o.price.toString(), quantity: o.quantity.toString(), stp: e.stp }, actor);
          break;
        }
        case 'TRADE':
          this.journal(e, e.takerOrderId);
          this.trade(e);
          break;
        case 'RESTED': {
          const o = this.order(e.orderId);
          o.priority = e.priority;
          o.remaining = e.remaining;
          o.status = o.filled > 0n ? 'PARTIALLY_FILLED' : 'OPEN';
          this.journal(e, o.id);
          this.audit(o, 'RESTED', { price: e.price.toString(), remaining: e.remaining.toString(), priority: e.priority }, actor);
          break;
        }
        case 'CANCELLED': {
          const o = this.order(e.orderId);
          o.remaining = 0n;
          o.status = 'CANCELLED';
          o.cancelReason = cancelOverride && e.reason === 'USER' ? cancelOverride : e.reason;
          this.journal(e, o.id);
          this.audit(o, 'CANCELLED', { reason: o.cancelReason, cancelledQuantity: e.cancelledQuantity.toString() }, actor);
          break;
        }
        case 'EXPIRED': {
          const o = this.order(e.orderId);
          o.remaining = 0n;
          o.status = 'EXPIRED';
          this.journal(e, o.id);
          this.audit(o, 'EXPIRED', { expiredQuantity: e.expiredQuantity.toString() }, null);
          break;
        }
        case 'SELF_TRADE_PREVENTED': {
          const t = this.order(e.takerOrderId);
          const m = this.order(e.makerOrderId);
          this.journal(e, t.id);
          for (const [o, rem, role] of [[t, e.takerRemaining, 'TAKER'], [m, e.makerRemaining, 'MAKER']] as const) {
            this.audit(o, 'SELF_TRADE_PREVENTED', { mode: e.mode, role, counterOrderId: o === t ? m.id : t.id, quantity: e.quantity.toString() }, null);
            if (e.mode === 'DECREMENT') {
              o.remaining = rem; // quantity stays what was asked: filled + remaining <= quantity
              if (rem === 0n) {
                o.status = 'CANCELLED';
                o.cancelReason = 'SELF_TRADE';
              }
            }
          }
          break;
        }
        case 'REPLACED': {
          const o = this.order(e.orderId);
          o.price = e.price;
          o.quantity = e.quantity;
          o.filled = e.filled;
          o.remaining = e.remaining;
          if (e.priority !== null) o.priority = e.priority;
          this.journal(e, o.id);
          this.audit(o, 'REPLACED', { oldPrice: e.oldPrice.toString(), price: e.price.toString(), oldQuantity: e.oldQuantity.toString(), quantity: e.quantity.toString(), priorityKept: e.priorityKept }, actor);
          break;
        }
        case 'LEVEL':
          this.journal(e, null);
          this.fx.levels.set(`${e.side}:${e.price}`, { side: e.side, price: e.price, quantity: e.quantity, orders: e.orders });
          break;
        case 'REJECTED':
          this.journal(e, e.orderId);
          break;
      }
    }
  }

  private trade(e: TradeEvent): void {
    const taker = this.order(e.takerOrderId);
    const maker = this.order(e.makerOrderId);
    for (const [o, rem] of [[taker, e.takerRemaining], [maker, e.makerRemaining]] as const) {
      o.filled += e.quantity;
      o.remaining = rem;
      o.status = rem === 0n ? 'FILLED' : 'PARTIALLY_FILLED';
    }
    const buy = taker.side === 'BUY' ? taker : maker;
    const sell = taker.side === 'BUY' ? maker : taker;
    const cash = e.price * e.quantity * this.ctx.rules.tickValue;
    const takerFee = feeOf(cash, this.ctx.takerFeeBps);
    const makerFee = feeOf(cash, this.ctx.makerFeeBps);
    const t: TradeRecord = {
      id: newId('trd'), tokenId: this.ctx.tokenId, price: e.price, quantity: e.quantity, cash, aggressorSide: e.takerSide, bookSeq: e.seq,
      buy, sell, buyerFee: taker === buy ? takerFee : makerFee, sellerFee: taker === sell ? takerFee : makerFee, executedAt: this.ctx.now,
      reservations: { buy: this.use(buy, cash), sell: this.use(sell, e.quantity) },
    };
    this.fx.trades.push(t);
    this.fx.lastPrice = e.price;
    for (const o of [buy, sell]) {
      this.audit(o, 'FILL', { tradeId: t.id, price: e.price.toString(), quantity: e.quantity.toString(), role: o === taker ? 'TAKER' : 'MAKER', remaining: o.remaining.toString() }, null);
    }
    this.fx.outbox.push({ topic: 'trade.executed', key: t.id, payload: tradeJson(t, this.ctx.cashAsset) });
  }

  private addTranche(o: LiveOrder, t: Tranche): void {
    t.tranche = o.tranches.reduce((n, x) => Math.max(n, x.tranche + 1), 0);
    o.tranches.push(t);
    this.fx.tranches.set(t.key, { order: o, t });
    this.fx.intents.add(t.key);
  }

  /** Attributes an amount to a trade from the order's tranches, oldest first. */
  private use(o: LiveOrder, amount: bigint): ReservationShare[] {
    const out: ReservationShare[] = [];
    let left = amount;
    for (const t of o.tranches) {
      if (left === 0n) break;
      const take = held(t) < left ? held(t) : left;
      if (take === 0n) continue;
      t.used += take;
      left -= take;
      this.fx.tranches.set(t.key, { order: o, t });
      out.push({ key: t.key, asset: t.asset, amount: take.toString() });
    }
    if (left > 0n) throw new Error(`order ${o.id} holds ${amount - left} at custody, short of ${amount} for a trade`);
    return out;
  }

  /** Releases what an order holds beyond its open quantity's need (newest tranche first). */
  private reconcile(o: LiveOrder, seq: number): void {
    const need = isResting(o.status) || o.status === 'PENDING_NEW' ? neededFor(o, this.ctx.rules.tickValue) : 0n;
    let excess = heldBy(o) - need;
    if (excess < 0n) throw new Error(`order ${o.id} holds ${heldBy(o)} at custody, short of the ${need} its open quantity needs`);
    for (let i = o.tranches.length - 1; i >= 0 && excess > 0n; i--) {
      const t = o.tranches[i];
      const give = held(t) < excess ? held(t) : excess;
      if (give === 0n) continue;
      t.released += give;
      excess -= give;
      this.fx.tranches.set(t.key, { order: o, t });
      this.fx.releases.push({ orderId: o.id, key: t.key, amount: give, idempotencyKey: `${t.key}:rel:${seq}` });
    }
  }

  private order(id: string): LiveOrder {
    const o = this.live.get(id);
    if (!o) throw new Error(`the book writer does not know order ${id}`);
    this.touched.add(o);
    return o;
  }

  private journal(e: BookEvent, orderId: string | null): void {
    this.fx.journal.push({ seq: e.seq, type: e.type, orderId, payload: e });
  }

  private audit(o: LiveOrder, event: string, detail: Record<string, unknown>, actor: string | null): void {
    this.fx.audit.push({ orderId: o.id, tokenId: o.tokenId, org: o.org, event, detail, actor, at: this.ctx.now });
  }
}

export const tradeJson = (t: TradeRecord, cashAsset: string) => ({
  tradeId: t.id, tokenId: t.tokenId, price: t.price.toString(), quantity: t.quantity.toString(), cashAmount: t.cash.toString(), cashAsset,
  aggressorSide: t.aggressorSide, buyOrderId: t.buy.id, sellOrderId: t.sell.id,
  buyAccountId: t.buy.accountId, sellAccountId: t.sell.accountId, buyInvestorId: t.buy.investorId, sellInvestorId: t.sell.investorId,
  buyOrg: t.buy.org, sellOrg: t.sell.org, buyerFee: t.buyerFee.toString(), sellerFee: t.sellerFee.toString(),
  reservations: t.reservations, bookSeq: t.bookSeq, executedAt: t.executedAt.toISOString(),
});
