import { generateStream, REFERENCE, WIDE, KIND_LIMIT, SIDE_BUY } from './orderStream.js';
import { OrderBook } from '../subgraphs/trading/engine/index.js';
const p = process.argv[2] === 'wide' ? WIDE : REFERENCE;
const s = generateStream(p);
const side = Array.from(s.side, (x) => (x === SIDE_BUY ? 'BUY' : 'SELL') as 'BUY' | 'SELL');
const price = Array.from(s.price, (x) => BigInt(x));
const size = Array.from(s.size, (x) => BigInt(x));
for (let run = 0; run < 3; run++) {
  const book = new OrderBook({ levelEvents: process.argv[3] !== 'nolevels' });
  let trades = 0;
  const t0 = performance.now();
  for (let i = 0; i < s.length; i++) {
    const id = s.ids[s.ref[i]];
    if (s.kind[i] === KIND_LIMIT) {
      const ev = book.place({ orderId: id, ownerId: id, side: side[i], type: 'LIMIT', price: price[i], quantity: size[i] });
      for (let e = 0; e < ev.length; e++) if (ev[e].type === 'TRADE') trades++;
    } else book.cancel(id);
  }
  const ms = performance.now() - t0;
  console.log(p === WIDE ? 'wide' : 'ref', Math.round(s.length / ms * 1000), 'msgs/s', trades);
}
