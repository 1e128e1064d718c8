import { describe, expect, test } from '@jest/globals';
import { dbLabel } from '../support/db.js';
import { gql, gqlOk, startTestStack } from '../support/stack.js';

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };
const listening = async (url: string) => fetch(url, { signal: AbortSignal.timeout(1000) }).then(() => true, () => false);

describe(`the stack's lifecycle (${dbLabel()})`, () => {
  test('starts anvil, four subgraphs and the gateway, answers, and stops with no process or port left behind', async () => {
    const stack = await startTestStack({ chain: 'anvil' });
    const pid = stack.anvil!.pid;
    const urls = [stack.gateway.url, ...Object.values(stack.subgraphs).map((s) => s.url.replace('/graphql', '/healthz'))];
    try {
      expect(alive(pid)).toBe(true);
      const chainId = await fetch(stack.chainRpcUrl!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }) });
      expect(((await chainId.json()) as { result: string }).result).toBe('0x7a69');
      // Readiness settles within moments of start (feeds connect, books load): poll it as a load balancer would.
      let health = await fetch(stack.gateway.url.replace('/graphql', '/healthz'));
      for (const end = Date.now() + 60_000; health.status !== 200 && Date.now() < end; await new Promise((r) => setTimeout(r, 200))) {
        health = await fetch(stack.gateway.url.replace('/graphql', '/healthz'));
      }
      expect([health.status, await health.clone().text()]).toEqual([200, expect.any(String)]);
      expect(((await health.json()) as { subgraphs: Record<string, { status: string }> }).subgraphs).toEqual({
        issuance: expect.objectContaining({ status: 'ready' }), trading: expect.objectContaining({ status: 'ready' }),
        settlement: expect.objectContaining({ status: 'ready' }), custody: expect.objectContaining({ status: 'ready' }),
      });
      expect(await gqlOk(stack.gateway.url, await stack.token('acme', ['AUDITOR']), '{ securityTokens { id } }')).toEqual({ securityTokens: [] });
    } finally {
      await stack.stop();
    }
    expect(alive(pid)).toBe(false);
    for (const u of urls) expect(await listening(u)).toBe(false);
  }, 120_000);

  test('the gateway health reports a subgraph that is down, and the rest keep answering', async () => {
    const stack = await startTestStack();
    try {
      await stack.subgraphs.trading.stop();
      const health = await fetch(stack.gateway.url.replace('/graphql', '/healthz'));
      expect(health.status).toBe(503);
      const body = (await health.json()) as { status: string; subgraphs: Record<string, { status: string }> };
      expect(body.status).toBe('degraded');
      expect(body.subgraphs.trading.status).toBe('down');
      expect(body.subgraphs.issuance.status).toBe('ready');
      expect(await gqlOk(stack.gateway.url, await stack.token('acme', ['AUDITOR']), '{ securityTokens { id } }')).toEqual({ securityTokens: [] });
      // A query that needs the stopped subgraph returns what the others hold, with a typed error naming the one that is down.
      const issuer = await stack.token('acme', ['ISSUER_AGENT']);
      await gqlOk(stack.gateway.url, issuer, `mutation { createSecurityToken(input: { idempotencyKey: "p", name: "P", symbol: "PART", decimals: 0, exemption: REG_D_506C }) { id } }`);
      const started = Date.now();
      const partial = await gql(stack.gateway.url, issuer, '{ securityTokens { symbol } t: securityTokens { orderBook { bids { price } } } }');
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(partial.body).toMatchObject({ data: { securityTokens: [{ symbol: 'PART' }] } });
      expect(partial.body.errors?.[0].extensions).toMatchObject({ code: 'DOWNSTREAM_SERVICE_ERROR', serviceName: 'trading' });
    } finally {
      await stack.stop();
    }
  }, 120_000);
});
