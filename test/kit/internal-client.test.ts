import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { rootErrorCode } from '../../subgraphs/kit/errors.js';
import { InternalClient } from '../../subgraphs/kit/internal.js';

/**
 * The client of the calls between services, against a real HTTP server on
 * loopback: answers, typed errors, and every way a peer can fail (down, mute,
 * cut off mid-answer, not speaking JSON) is a typed DOWNSTREAM error, never a hang.
 */
describe('InternalClient over kept-alive connections', () => {
  let server: Server;
  let base: string;
  let connections = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        const method = req.url!.split('/').pop();
        if (method === 'echo') return void res.end(JSON.stringify({ result: { got: JSON.parse(body), auth: req.headers.authorization } }));
        if (method === 'typed') { res.statusCode = 422; return void res.end(JSON.stringify({ error: { code: 'CUSTODY.INSUFFICIENT_AVAILABLE', message: 'short', available: '5' } })); }
        if (method === 'retryable') { res.statusCode = 422; return void res.end(JSON.stringify({ error: { code: 'DB.CONNECTION_LOST', message: 'gone', retryable: true } })); }
        if (method === 'crash') { res.statusCode = 500; return void res.end('<html>oops</html>'); }
        if (method === 'cut') { res.writeHead(200, { 'content-length': '1000' }); res.write('{"result":'); return void setImmediate(() => res.socket?.destroy()); }
        // 'mute': never answers
      });
    });
    server.on('connection', () => connections++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  const client = (url = base, timeoutMs = 2_000) => new InternalClient('peer', url, async () => 'tok', timeoutMs);
  const code = (p: Promise<unknown>) => p.then(() => 'answered', (e: { extensions?: { code?: string; retryable?: boolean } }) => e.extensions?.code);

  test('an answer comes back whole, bigints as strings, with the service credential', async () => {
    expect(await client().call('echo', { amount: 10n ** 30n, list: [1, 'a'] })).toEqual({ got: { amount: (10n ** 30n).toString(), list: [1, 'a'] }, auth: 'Bearer tok' });
  });

  test('many concurrent calls share a few kept-alive connections', async () => {
    const before = connections;
    const c = client();
    for (let round = 0; round < 5; round++) await Promise.all(Array.from({ length: 8 }, (_, i) => c.call('echo', { i })));
    expect(connections - before).toBeLessThanOrEqual(8);
  });

  test('a typed refusal keeps its code and details; a peer failing on its side is retryable', async () => {
    const e = await client().call('typed', {}).catch((x: { extensions: Record<string, unknown> }) => x);
    expect(e).toMatchObject({ extensions: { code: 'CUSTODY.INSUFFICIENT_AVAILABLE', available: '5', service: 'peer' } });
    const retryable = await client().call('retryable', {}).catch((x: unknown) => x);
    expect(await code(Promise.reject(retryable))).toBe('DOWNSTREAM.UNAVAILABLE');
    expect(rootErrorCode(retryable)).toBe('DB.CONNECTION_LOST'); // the peer's own code, for callers that act on it
    expect(rootErrorCode(e)).toBe('CUSTODY.INSUFFICIENT_AVAILABLE');
    expect(await code(client().call('crash', {}))).toBe('DOWNSTREAM.FAILED');
  });

  test('a peer that is down, mute, or cut off mid-answer is DOWNSTREAM.UNAVAILABLE, within the timeout', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    expect(await code(client(`http://127.0.0.1:${port}`).call('echo', {}))).toBe('DOWNSTREAM.UNAVAILABLE');
    const t0 = Date.now();
    const mute = await client(base, 300).call('mute', {}).catch((e: Error) => e);
    expect(mute).toMatchObject({ extensions: { code: 'DOWNSTREAM.UNAVAILABLE' }, message: expect.stringContaining('timeout') });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(await code(client().call('cut', {}))).toBe('DOWNSTREAM.UNAVAILABLE');
    // The pool is still usable afterwards.
    expect(await client().call('echo', { ok: true })).toMatchObject({ got: { ok: true } });
  });
});
