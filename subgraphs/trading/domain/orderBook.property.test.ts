import { NaiveBook, type Outcome } from './naiveBook.js';
import { OrderBook } from './orderBook.js';
import type { BookEvent, NewOrder, ReplaceRequest, Side, StpMode, TimeInForce } from './types.js';
import { mulberry32 } from '../../../scripts/random.js';

type Op =
  | { k: 'place'; o: NewOrder }
  | { k: 'cancel'; id: string }
  | { k: 'replace'; id: string; req: ReplaceRequest }
  | { k: 'expire'; before?: number };

const STP: StpMode[] = ['CANCEL_NEWEST', 'CANCEL_OLDEST', 'DECREMENT', 'NONE'];

/** Random operations on a narrow book with few owners, so that every rule (STP included) fires often. */
function randomOps(seed: number, count: number): Op[] {
  const rnd = mulberry32(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const ops: Op[] = [];
  let n = 0;
  for (let i = 0; i < count; i++) {
    const r = rnd();
    const someId = () => `o${Math.max(0, n - 1 - Math.floor(rnd() * 30))}`;
    if (r < 0.62 || n === 0) {
      const isMarket = rnd() < 0.08;
      const side: Side = rnd() < 0.5 ? 'BUY' : 'SELL';
      const tif: TimeInForce | undefined = isMarket ? pick(['IOC', 'FOK', undefined] as const) : pick(['GTC', 'GTC', 'DAY', 'IOC', 'FOK', undefined] as const);
      const o: NewOrder = {
        orderId: `o${n++}`,
        ownerId: `A${int(1, 4)}`,
        side,
        type: isMarket ? 'MARKET' : 'LIMIT',
        quantity: BigInt(int(1, 20)),
        placedAt: int(0, 9),
      };
      if (tif !== undefined) o.timeInForce = tif;
      if (!isMarket) o.price = BigInt(int(95, 105));
      if (!isMarket && tif !== 'IOC' && tif !== 'FOK' && rnd() < 0.15) o.postOnly = true;
      if (rnd() < 0.5) o.stp = pick(STP);
      ops.push({ k: 'place', o });
    } else if (r < 0.77) {
      ops.push({ k: 'cancel', id: rnd() < 0.05 ? 'nope' : someId() });
    } else if (r < 0.98) {
      const req: ReplaceRequest = {};
      const what = rnd();
      if (what < 0.4) req.price = BigInt(int(95, 105));
      else if (what < 0.8) req.quantity = BigInt(int(1, 25));
      else { req.price = BigInt(int(95, 105)); req.quantity = BigInt(int(1, 25)); }
      ops.push({ k: 'replace', id: someId(), req });
    } else {
      ops.push(rnd() < 0.5 ? { k: 'expire' } : { k: 'expire', before: int(0, 10) });
    }
  }
  return ops;
}

function apply(b: OrderBook, op: Op): BookEvent[] {
  switch (op.k) {
    case 'place': return b.place(op.o);
    case 'cancel': return b.cancel(op.id);
    case 'replace': return b.replace(op.id, op.req);
    case 'expire': return b.expireDay(op.before);
  }
}

function applyNaive(b: NaiveBook, op: Op): Outcome[] {
  switch (op.k) {
    case 'place': return b.place(op.o);
    case 'cancel': return b.cancel(op.id);
    case 'replace': return b.replace(op.id, op.req);
    case 'expire': return b.expireDay(op.before);
  }
}

function outcomes(ev: BookEvent[]): Outcome[] {
  const out: Outcome[] = [];
  for (const e of ev) {
    switch (e.type) {
      case 'REJECTED': out.push({ k: 'reject', id: e.orderId, reasons: e.reasons }); break;
      case 'TRADE': out.push({ k: 'trade', taker: e.takerOrderId, maker: e.makerOrderId, price: e.price, qty: e.quantity }); break;
      case 'SELF_TRADE_PREVENTED': out.push({ k: 'stp', mode: e.mode, taker: e.takerOrderId, maker: e.makerOrderId, qty: e.quantity }); break;
      case 'CANCELLED': out.push({ k: 'cancel', id: e.orderId, qty: e.cancelledQuantity, reason: e.reason }); break;
      case 'RESTED': out.push({ k: 'rest', id: e.orderId, remaining: e.remaining }); break;
      case 'REPLACED': out.push({ k: 'replace', id: e.orderId, kept: e.priorityKept, remaining: e.remaining }); break;
      case 'EXPIRED': out.push({ k: 'expire', id: e.orderId, qty: e.expiredQuantity }); break;
      default: break;
    }
  }
  return out;
}

function engineBook(b: OrderBook) {
  return b.restingOrders()
    .sort((x, y) => {
      if (x.side !== y.side) return x.side === 'BUY' ? -1 : 1;
      if (x.price !== y.price) return (x.side === 'BUY' ? x.price > y.price : x.price < y.price) ? -1 : 1;
      return x.priority - y.priority;
    })
    .map((o) => ({ id: o.orderId, side: o.side, price: o.price, remaining: o.remaining, filled: o.filled }));
}

/** Aggregated levels rebuilt from LEVEL events only. */
class LevelMirror {
  readonly levels = new Map<string, { quantity: bigint; orders: number }>();
  apply(ev: BookEvent[]) {
    for (const e of ev) {
      if (e.type !== 'LEVEL') continue;
      const key = `${e.side}:${e.price}`;
      if (e.orders === 0) this.levels.delete(key);
      else this.levels.set(key, { quantity: e.quantity, orders: e.orders });
    }
  }
  matches(b: OrderBook): boolean {
    const s = b.snapshot();
    const all = [...s.bids.map((l) => ['BUY', l] as const), ...s.asks.map((l) => ['SELL', l] as const)];
    if (all.length !== this.levels.size) return false;
    return all.every(([side, l]) => {
      const m = this.levels.get(`${side}:${l.price}`);
      return m !== undefined && m.quantity === l.quantity && m.orders === l.orders;
    });
  }
}

describe('randomized comparison with a naive reference book', () => {
  it.each([1, 2, 3, 4, 5, 6])('makes the same trades, cancels, rejections and resting book over 3,000 random operations (seed %i)', (seed) => {
    const defaultStp = STP[seed % STP.length];
    const engine = new OrderBook({ stp: defaultStp });
    const naive = new NaiveBook(defaultStp);
    const mirror = new LevelMirror();
    const ops = randomOps(seed, 3000);
    let seq = 0;
    const seen = { trade: 0, stp: 0, reject: 0, replace: 0, expire: 0 };
    for (const [i, op] of ops.entries()) {
      const ev = apply(engine, op);
      const got = outcomes(ev);
      const want = applyNaive(naive, op);
      if (JSON.stringify(got, big) !== JSON.stringify(want, big)) {
        throw new Error(`op ${i} ${JSON.stringify(op, big)}\n engine ${JSON.stringify(got, big)}\n naive  ${JSON.stringify(want, big)}`);
      }
      for (const e of ev) if (e.seq !== ++seq) throw new Error(`op ${i}: event seq ${e.seq}, expected ${seq}`);
      mirror.apply(ev);
      const mine = engineBook(engine);
      const theirs = naive.book();
      if (JSON.stringify(mine, big) !== JSON.stringify(theirs, big)) expect([i, mine]).toEqual([i, theirs]);
      if (!mirror.matches(engine)) expect([i, 'LEVEL events disagree with the snapshot']).toEqual([i, 'ok']);
      const bid = engine.bestBid();
      const ask = engine.bestAsk();
      if (bid !== null && ask !== null && bid.price >= ask.price) throw new Error(`op ${i}: crossed book ${bid.price} >= ${ask.price}`);
      for (const o of got) if (o.k in seen) seen[o.k as keyof typeof seen]++;
    }
    // The stream really exercised the rules.
    for (const [k, v] of Object.entries(seen)) expect([k, v > 10]).toEqual([k, true]);
  });

  it('a book restored at any point goes on exactly like the original, event for event', () => {
    const ops = randomOps(99, 2000);
    const original = new OrderBook({ stp: 'DECREMENT' });
    let restored: OrderBook | null = null;
    for (const [i, op] of ops.entries()) {
      if (i % 250 === 125) {
        restored = new OrderBook({ stp: 'DECREMENT' });
        restored.restore(original.restingOrders(), { lastEventSeq: original.lastEventSeq });
      }
      const a = apply(original, op);
      if (restored !== null) expect(apply(restored, op)).toEqual(a);
    }
    expect(restored?.snapshot()).toEqual(original.snapshot());
  });
});

function big(_k: string, v: unknown) {
  return typeof v === 'bigint' ? `${v}n` : v;
}
