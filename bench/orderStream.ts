/**
 * The reference order stream of BENCHMARKS.md ("Order stream (matching
 * engine)"), generated deterministically before any timing: mulberry32 PRNG,
 * seed 42; about 10% cancels, each of one of the last 5,000 order ids; the rest
 * limit orders; mid starts at 10,000 ticks and moves -1/0/+1 every 200
 * messages; aggressive limits are priced 0 to 5 ticks through mid, passive ones
 * 1 to `passiveTicks` away; sizes 1 to 100.
 *
 * reference: passiveTicks 50, aggressiveShare 0.5; wide: passiveTicks 500, aggressiveShare 0.55.
 */
import { mulberry32 } from '../scripts/random.js';

export { mulberry32 };

export interface StreamParams {
  messages: number;
  seed: number;
  cancelShare: number;
  cancelWindow: number;
  startMid: number;
  midEvery: number;
  aggressiveShare: number;
  aggressiveTicks: number;
  passiveTicks: number;
  maxSize: number;
}

export const REFERENCE: StreamParams = {
  messages: 1_000_000,
  seed: 42,
  cancelShare: 0.1,
  cancelWindow: 5000,
  startMid: 10_000,
  midEvery: 200,
  aggressiveShare: 0.5,
  aggressiveTicks: 5,
  passiveTicks: 50,
  maxSize: 100,
};

export const WIDE: StreamParams = { ...REFERENCE, aggressiveShare: 0.55, passiveTicks: 500 };

export const KIND_LIMIT = 0;
export const KIND_CANCEL = 1;
export const SIDE_BUY = 0;
export const SIDE_SELL = 1;

/** Columnar messages: message i is a limit of order `ref[i]` or a cancel of order `ref[i]`. */
export interface OrderStream {
  params: StreamParams;
  length: number;
  kind: Uint8Array;
  side: Uint8Array;
  price: Int32Array;
  size: Int32Array;
  ref: Int32Array;
  /** Order ids by order number ("o0", "o1", …). */
  ids: string[];
  limits: number;
  cancels: number;
}

export function generateStream(params: StreamParams): OrderStream {
  const n = params.messages;
  const rng = mulberry32(params.seed);
  const kind = new Uint8Array(n);
  const side = new Uint8Array(n);
  const price = new Int32Array(n);
  const size = new Int32Array(n);
  const ref = new Int32Array(n);
  const ids: string[] = [];
  let mid = params.startMid;
  let cancels = 0;
  for (let i = 0; i < n; i++) {
    if (i > 0 && i % params.midEvery === 0) mid += Math.floor(rng() * 3) - 1;
    const orders = ids.length;
    if (rng() < params.cancelShare && orders > 0) {
      kind[i] = KIND_CANCEL;
      ref[i] = orders - 1 - Math.floor(rng() * Math.min(params.cancelWindow, orders));
      cancels++;
      continue;
    }
    const buy = rng() < 0.5;
    const aggressive = rng() < params.aggressiveShare;
    const off = aggressive ? Math.floor(rng() * (params.aggressiveTicks + 1)) : 1 + Math.floor(rng() * params.passiveTicks);
    kind[i] = KIND_LIMIT;
    side[i] = buy ? SIDE_BUY : SIDE_SELL;
    price[i] = buy === aggressive ? mid + off : mid - off;
    size[i] = 1 + Math.floor(rng() * params.maxSize);
    ref[i] = orders;
    ids.push(`o${orders}`);
  }
  return { params, length: n, kind, side, price, size, ref, ids, limits: ids.length, cancels };
}
