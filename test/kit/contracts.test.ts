import { describe, expect, test } from '@jest/globals';
import { Coalescer, peerListMax } from '../../subgraphs/kit/coalesce.js';
import { serveCalls } from '../../subgraphs/kit/contracts/calls.js';
import { parseEvent } from '../../subgraphs/kit/contracts/events.js';
import { badInput, errorCode } from '../../subgraphs/kit/errors.js';
import type { Caller } from '../../subgraphs/kit/auth.js';

const svc: Caller = { kind: 'service', subject: 'trading', org: 'tokenstack', roles: [], token: 't' };

describe('typed internal calls and events', () => {
  const trade = {
    tradeId: 'trd_1', tokenId: 'tok_1', price: 100n, quantity: '5', cashAmount: '500', cashAsset: 'CASH', aggressorSide: 'BUY',
    buyOrderId: 'ord_1', sellOrderId: 'ord_2', buyAccountId: 'acc_1', sellAccountId: 'acc_2', buyInvestorId: null, sellInvestorId: 'inv_2',
    buyOrg: 'a', sellOrg: 'b', buyerFee: '0', sellerFee: '0', reservations: { buy: [{ key: 'ord_1', asset: 'CASH', amount: '500' }], sell: [] }, bookSeq: 7,
    executedAt: '2026-01-01T00:00:00.000Z',
  };

  test('an event payload parses with its topic\'s parser: amounts become decimal strings, anything malformed is refused', () => {
    expect(parseEvent('trade.executed', trade)).toMatchObject({ price: '100', quantity: '5', aggressorSide: 'BUY', bookSeq: 7 });
    for (const bad of [{ ...trade, price: 1.5 }, { ...trade, price: '1e3' }, { ...trade, aggressorSide: 'SIDEWAYS' }, { ...trade, tradeId: undefined }, { ...trade, reservations: null }, 'x', null]) {
      expect(() => parseEvent('trade.executed', bad)).toThrow();
    }
    expect(() => parseEvent('book.changed', { tokenId: 't', bookSeq: 1, levels: [{ side: 'BUY', price: '1', quantity: '-', orders: 1 }] })).toThrow();
  });

  test('a served call parses its body first: a malformed or oversized request is INPUT.INVALID_REQUEST and never reaches the handler', async () => {
    let reached = 0;
    const h = serveCalls('custody', { reserveMany: async () => { reached++; return { results: [] }; } });
    const item = { accountId: 'acc_abc', asset: 'CASH', amount: '5', idempotencyKey: 'k', reason: 'r' };
    for (const body of [{}, { items: [] }, { items: [{ ...item, amount: 5 }] }, { items: [{ ...item, accountId: 'inv_abc' }] }, { items: [{ ...item, idempotencyKey: 'k'.repeat(201) }] }, { items: Array(501).fill(item) }]) {
      expect(await h.reserveMany(body, svc).then(() => 'answered', errorCode)).toBe('INPUT.INVALID_REQUEST');
    }
    expect(reached).toBe(0);
    expect(await h.reserveMany({ items: [item] }, svc)).toEqual({ results: [] });
  });
});

describe('Coalescer', () => {
  test('requests made while a batch is in flight leave together in the next one, each with its own answer or error', async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const c = new Coalescer<number, number>(async (xs) => {
      batches.push(xs);
      if (batches.length === 1) await gate;
      return xs.map((x) => (x % 5 === 0 ? new Error(`bad ${x}`) : x * 10));
    }, { maxBatch: 100, maxInFlight: 1 });
    const first = c.request(1);
    while (batches.length === 0) await new Promise((r) => setImmediate(r));
    const rest = [2, 3, 5, 7].map((x) => c.request(x).then((v) => v, (e: Error) => e.message));
    release();
    expect(await first).toBe(10);
    expect(await Promise.all(rest)).toEqual([20, 30, 'bad 5', 70]);
    expect(batches).toEqual([[1], [2, 3, 5, 7]]);
  });

  test('gatherMs: requests spread over several turns of the event loop leave together, and a full batch leaves without waiting out the window', async () => {
    const batches: number[][] = [];
    const c = new Coalescer<number, number>(async (xs) => {
      batches.push(xs);
      return xs;
    }, { maxBatch: 3, maxInFlight: 1, gatherMs: 600_000 });
    const turn = () => new Promise((r) => setImmediate(r));
    const asked: Promise<number>[] = [];
    for (const x of [1, 2, 3]) {
      asked.push(c.request(x));
      await turn();
      await turn();
    }
    expect(await Promise.all(asked)).toEqual([1, 2, 3]); // a window of ten minutes was cut short by the full batch
    expect(batches).toEqual([[1, 2, 3]]);
    const lone = new Coalescer<number, number>(async (xs) => xs, { maxBatch: 3, maxInFlight: 1, gatherMs: 5 });
    expect(await lone.request(4)).toBe(4); // a batch with room left leaves once its window ends
  });

  test('a batch that throws, or answers with the wrong number of results, fails each of its requests and the next batch still runs', async () => {
    let n = 0;
    const c = new Coalescer<number, number>(async (xs) => {
      n++;
      if (n === 1) throw new Error('down');
      if (n === 2) return [1];
      return xs;
    }, { maxBatch: 2, maxInFlight: 1 });
    const out = await Promise.all([1, 2].map((x) => c.request(x).then((v) => v, (e: Error) => e.message)));
    expect(out).toEqual(['down', 'down']);
    const out2 = await Promise.all([3, 4].map((x) => c.request(x).then((v) => v, (e: Error) => e.message)));
    expect(out2).toEqual(['a batch of 2 was answered with 1 results', 'a batch of 2 was answered with 1 results']);
    expect(await c.request(9)).toBe(9);
  });

  test('a list the peer refuses for its length goes again in lists of the peer\'s size; a peer refusing every length ends in the refusal, not a loop', async () => {
    const calls: number[] = [];
    const tooLong = (max: number) => badInput('LIST_TOO_LONG', `at most ${max}`, { max });
    const c = new Coalescer<number, number>(async (xs) => {
      calls.push(xs.length);
      if (xs.length > 2) throw tooLong(2);
      return xs.map((x) => x * 2);
    }, { maxBatch: 10, maxInFlight: 1, peerMax: peerListMax });
    expect(await Promise.all([1, 2, 3, 4, 5].map((x) => c.request(x)))).toEqual([2, 4, 6, 8, 10]);
    expect(calls).toEqual([5, 2, 2, 1]);

    let tries = 0;
    const stubborn = new Coalescer<number, number>(async (xs) => {
      tries++;
      throw tooLong(Math.max(1, xs.length - 1));
    }, { maxBatch: 4, maxInFlight: 1, peerMax: peerListMax });
    const out = await Promise.all([1, 2, 3, 4].map((x) => stubborn.request(x).then(String, errorCode)));
    expect(out).toEqual(Array(4).fill('INPUT.LIST_TOO_LONG'));
    expect(tries).toBeLessThan(20);
    // Only the typed refusal with a usable limit counts.
    expect([peerListMax(tooLong(3)), peerListMax(badInput('LIST_TOO_LONG', 'x', { max: 0 })), peerListMax(badInput('OTHER', 'x', { max: 3 })), peerListMax(new Error('x'))]).toEqual([3, undefined, undefined, undefined]);
  });
});
