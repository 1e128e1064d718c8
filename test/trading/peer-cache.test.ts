import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { InternalClient } from '../../subgraphs/kit/internal.js';
import { Ttl, httpPeers } from '../../subgraphs/trading/peers.js';

/**
 * Trading's cache of account facts, against a real HTTP peer on loopback: the
 * orders of one account arriving together ask custody once; a failed or empty
 * answer is not kept, so the next order asks again.
 */
describe("trading's cache of token and account facts", () => {
  let server: Server;
  let base: string;
  const asked: string[] = [];
  let failNext = 0;
  let release: (() => void) | undefined;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const { accountId } = JSON.parse(body) as { accountId: string };
        asked.push(accountId);
        const answer = () => {
          if (failNext > 0) { failNext--; res.statusCode = 500; return void res.end('down'); }
          const known = accountId.endsWith('0');
          res.end(JSON.stringify({ result: known ? { id: accountId, org: 'broker-a', investorId: null, kind: 'SEGREGATED', walletAddress: null } : null }));
        };
        // A gate: answers wait until the test has sent every concurrent request.
        if (release === undefined) answer(); else void gate.then(answer);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  let gate: Promise<void> = Promise.resolve();
  const hold = () => { gate = new Promise<void>((r) => { release = r; }); };
  const open = () => { const r = release; release = undefined; r?.(); };

  const peers = (cacheMs: number) => {
    const c = new InternalClient('custody', base, async () => 'tok', 5_000);
    return httpPeers(c, c, cacheMs, { maxBatch: 10, maxInFlight: 1 });
  };
  const id = (n: number) => `acc_${String(n).padStart(26, '0')}`;
  const until = async (cond: () => boolean) => { while (!cond()) await new Promise((r) => setImmediate(r)); };

  test('concurrent lookups of one account share one call; the answer is then cached', async () => {
    asked.length = 0;
    const p = peers(60_000);
    hold();
    const all = Promise.all(Array.from({ length: 10 }, () => p.account(id(10))));
    await until(() => asked.length === 1);
    open();
    const answers = await all;
    expect(answers.every((a) => a?.id === id(10))).toBe(true);
    expect(await p.account(id(10))).toEqual(answers[0]);
    expect(asked).toEqual([id(10)]);
  });

  test('a failed lookup fails every caller that shared it and is not kept; an unknown account is asked again', async () => {
    asked.length = 0;
    const p = peers(60_000);
    failNext = 1;
    hold();
    const all = Promise.allSettled(Array.from({ length: 5 }, () => p.account(id(20))));
    await until(() => asked.length === 1);
    open();
    const settled = await all;
    expect(settled.map((s) => s.status)).toEqual(Array(5).fill('rejected'));
    expect((await p.account(id(20)))?.id).toBe(id(20));
    expect(await p.account(id(21))).toBeNull();
    expect(await p.account(id(21))).toBeNull();
    expect(asked).toEqual([id(20), id(20), id(21), id(21)]);
  });
});

/** Forgetting a token's facts when the issuer pauses or unpauses it (trading's feed of issuance's token controls). */
describe('the cache, forgetting a fact', () => {
  const loader = () => {
    let n = 0;
    const pending: ((v: string) => void)[] = [];
    return {
      count: () => n,
      now: (v: string) => () => { n++; return Promise.resolve(v); },
      later: () => () => { n++; return new Promise<string>((r) => pending.push(r)); },
      answer: (v: string) => pending.shift()!(v),
    };
  };

  test('forget drops the fact: the next read loads it again', async () => {
    const c = new Ttl<string>(60_000);
    const l = loader();
    expect(await c.get('tok', l.now('paused'))).toBe('paused');
    c.forget('tok');
    expect(await c.get('tok', l.now('unpaused'))).toBe('unpaused');
    expect(await c.get('tok', l.now('again'))).toBe('unpaused');
    expect(l.count()).toBe(2);
  });

  test('a load under way when the fact is forgotten answers its caller but is not kept: it may predate the change', async () => {
    const c = new Ttl<string>(60_000);
    const l = loader();
    const before = c.get('tok', l.later());
    c.forget('tok');
    const after = c.get('tok', l.later()); // not joined to the load that began before the change
    l.answer('paused');
    l.answer('unpaused');
    expect([await before, await after]).toEqual(['paused', 'unpaused']);
    expect(await c.get('tok', l.now('again'))).toBe('unpaused');
    expect(l.count()).toBe(2);
  });
});
