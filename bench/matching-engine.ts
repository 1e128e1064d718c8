/**
 * The in-memory matching engine against its peer, nodejs-order-book, on the
 * reference order stream of BENCHMARKS.md and its wide variant. Both streams are
 * generated before any timing; both engines get the same messages (limit
 * orders and cancels); runs alternate ours / peer / ours / peer …; medians and
 * ratios are printed, with the final resting orders, levels and trades of both
 * as a check that they did the same work.
 *
 *   npx tsx bench/matching-engine.ts [--messages N] [--runs N] [--stream reference|wide|both]
 */
import os from 'node:os';
import { OrderBook as PeerBook, Side as PeerSide } from 'nodejs-order-book';
import { OrderBook } from '../subgraphs/trading/domain/index.js';
import { generateStream, KIND_LIMIT, REFERENCE, SIDE_BUY, WIDE, type OrderStream, type StreamParams } from './orderStream.js';

interface RunResult {
  seconds: number;
  trades: number;
  /** Limit orders that traded at least once (ours only; -1 for the peer). */
  crossing: number;
  resting: number;
  levels: number;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  if (i >= 0 && i + 1 < process.argv.length) return process.argv[i + 1];
  const eq = process.argv.find((a) => a.startsWith(`--${name}=`));
  return eq === undefined ? fallback : eq.slice(name.length + 3);
}

function positiveInt(name: string, fallback: number): number {
  const v = Number(arg(name, String(fallback)));
  if (!Number.isSafeInteger(v) || v <= 0) throw new Error(`--${name} must be a positive integer`);
  return v;
}

const messages = positiveInt('messages', REFERENCE.messages);
const runs = positiveInt('runs', 3);
const which = arg('stream', 'both');
if (!['reference', 'wide', 'both'].includes(which)) throw new Error('--stream must be reference, wide or both');

const fmt = (n: number) => (n >= 1000 ? `${(n / 1000).toFixed(1)}k` : n.toFixed(0));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const progressEvery = 250_000;
const dot = () => process.stdout.write('.');

/** Inputs of our engine, built before timing (bigint amounts, side strings). */
interface OurInputs {
  side: ('BUY' | 'SELL')[];
  price: bigint[];
  size: bigint[];
}

function ourInputs(s: OrderStream): OurInputs {
  const sizes = new Map<number, bigint>();
  const big = (n: number) => {
    let b = sizes.get(n);
    if (b === undefined) sizes.set(n, (b = BigInt(n)));
    return b;
  };
  const side: ('BUY' | 'SELL')[] = new Array(s.length);
  const price: bigint[] = new Array(s.length);
  const size: bigint[] = new Array(s.length);
  for (let i = 0; i < s.length; i++) {
    side[i] = s.side[i] === SIDE_BUY ? 'BUY' : 'SELL';
    price[i] = big(s.price[i]);
    size[i] = big(s.size[i]);
  }
  return { side, price, size };
}

function runOurs(s: OrderStream, inp: OurInputs): RunResult {
  const book = new OrderBook({ instrumentId: 'bench', stp: 'CANCEL_NEWEST' });
  const { kind, ref, ids } = s;
  let trades = 0;
  let crossing = 0;
  const t0 = performance.now();
  for (let i = 0; i < s.length; i++) {
    if (i % progressEvery === 0) dot();
    const id = ids[ref[i]];
    if (kind[i] === KIND_LIMIT) {
      // Each order has its own owner: self-trade prevention is checked on every match but never fires.
      const ev = book.place({ orderId: id, ownerId: id, side: inp.side[i], type: 'LIMIT', price: inp.price[i], quantity: inp.size[i] });
      const before = trades;
      for (let e = 0; e < ev.length; e++) if (ev[e].type === 'TRADE') trades++;
      if (trades !== before) crossing++;
    } else {
      book.cancel(id);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, trades, crossing, resting: book.orderCount, levels: book.levelCount };
}

function runPeer(s: OrderStream): RunResult {
  const book = new PeerBook();
  const { kind, ref, ids, side, price, size } = s;
  let trades = 0;
  const t0 = performance.now();
  for (let i = 0; i < s.length; i++) {
    if (i % progressEvery === 0) dot();
    const id = ids[ref[i]];
    if (kind[i] === KIND_LIMIT) {
      const r = book.limit({ id, side: side[i] === SIDE_BUY ? PeerSide.BUY : PeerSide.SELL, size: size[i], price: price[i] });
      // done[] holds the fully filled makers, plus the taker itself when it was filled entirely,
      // in which case `partial` is the last maker if it was only partly filled.
      if (r.quantityLeft === 0) trades += r.done.length - 1 + (r.partial !== null && r.partialQuantityProcessed > 0 ? 1 : 0);
      else trades += r.done.length;
    } else {
      book.cancel(id);
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  const [asks, bids] = book.depth();
  const resting = Object.keys((book as unknown as { orders: Record<string, unknown> }).orders).length;
  return { seconds, trades, crossing: -1, resting, levels: asks.length + bids.length };
}

function line(name: string, run: number, r: RunResult, n: number): string {
  return `  ${name} run ${run}: ${r.seconds.toFixed(2)} s, ${fmt(n / r.seconds)} msgs/s, ${fmt(r.trades / r.seconds)} trades/s, ` +
    `${r.trades} trades, ${r.resting} resting orders on ${r.levels} levels`;
}

interface Summary { stream: string; ours: number; peer: number; oursTrades: number; peerTrades: number }

function bench(label: string, params: StreamParams): Summary {
  const p = { ...params, messages };
  process.stdout.write(`\n== ${label} stream: ${p.messages.toLocaleString('en')} messages, aggressive ${Math.round(p.aggressiveShare * 100)}%, passive 1..${p.passiveTicks} ticks\n`);
  const g0 = performance.now();
  const s = generateStream(p);
  const inp = ourInputs(s);
  process.stdout.write(`  generated in ${((performance.now() - g0) / 1000).toFixed(2)} s (not timed): ${s.limits} limit orders, ${s.cancels} cancels\n`);
  const ours: RunResult[] = [];
  const peer: RunResult[] = [];
  for (let r = 1; r <= runs; r++) {
    process.stdout.write('  ');
    const a = runOurs(s, inp);
    process.stdout.write(`\n${line('ours', r, a, s.length)}\n  `);
    ours.push(a);
    const b = runPeer(s);
    process.stdout.write(`\n${line('peer', r, b, s.length)}\n`);
    peer.push(b);
  }
  const mOurs = median(ours.map((x) => s.length / x.seconds));
  const mPeer = median(peer.map((x) => s.length / x.seconds));
  const tOurs = median(ours.map((x) => x.trades / x.seconds));
  const tPeer = median(peer.map((x) => x.trades / x.seconds));
  const a = ours[0];
  const b = peer[0];
  const same = a.trades === b.trades && a.resting === b.resting && a.levels === b.levels;
  process.stdout.write(
    `  medians of ${runs}: ours ${fmt(mOurs)} msgs/s, ${fmt(tOurs)} trades/s | nodejs-order-book ${fmt(mPeer)} msgs/s, ${fmt(tPeer)} trades/s | ratio ${(mOurs / mPeer).toFixed(1)}x\n` +
    `  stream shape: ${(a.crossing / s.limits * 100).toFixed(1)}% of limit orders traded on entry, ${a.resting} orders rest at the end on ${a.levels} levels` +
    `${label === 'reference' && messages === REFERENCE.messages ? ' (BENCHMARKS.md: about a third, ~268k orders on ~100 levels)' : ''}\n` +
    `  check: ours ${a.trades} trades, ${a.resting} resting, ${a.levels} levels; peer ${b.trades} trades, ${b.resting} resting, ${b.levels} levels: ${same ? 'same' : 'DIFFERENT'}\n`,
  );
  return { stream: label, ours: mOurs, peer: mPeer, oursTrades: tOurs, peerTrades: tPeer };
}

process.stdout.write(
  `matching engine vs nodejs-order-book 10.1.1: node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ` +
  `${runs} runs each, alternating ours/peer\n`,
);
const results: Summary[] = [];
if (which !== 'wide') results.push(bench('reference', REFERENCE));
if (which !== 'reference') results.push(bench('wide', WIDE));
process.stdout.write('\nsummary (medians)\n');
for (const r of results) {
  process.stdout.write(
    `  ${r.stream.padEnd(9)} ours ${fmt(r.ours).padStart(7)} msgs/s ${fmt(r.oursTrades).padStart(7)} trades/s | ` +
    `peer ${fmt(r.peer).padStart(7)} msgs/s ${fmt(r.peerTrades).padStart(7)} trades/s | ${(r.ours / r.peer).toFixed(1)}x\n`,
  );
}
