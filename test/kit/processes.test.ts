import { spawn } from 'node:child_process';
import { describe, expect, test } from '@jest/globals';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { createVerifier, signUserToken } from '../../subgraphs/kit/auth.js';
import { bandRange, findFreePort, portBand } from '../../scripts/chain/anvil.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { main as tokenMain } from '../../scripts/token.js';

const secrets = { AUTH_JWT_SECRET: 'j'.repeat(32), SERVICE_SECRET: 's'.repeat(32) };

/** Starts an entry file as its own process and resolves once it prints its URL. */
function startProcess(entry: string, env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: fromRoot(), env: { PATH: process.env.PATH!, LOG_LEVEL: 'silent', ...env } });
  let out = '';
  const ready = new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no URL printed: ${out}`)), 60_000);
    child.stdout.on('data', (d) => { out += d; const m = /at (http:\S+)/.exec(out); if (m) { clearTimeout(t); resolve(m[1]); } });
    child.stderr.on('data', (d) => { out += d; });
    child.on('exit', (code) => { clearTimeout(t); reject(new Error(`exited ${code}: ${out}`)); });
  });
  const stop = () => new Promise<number | null>((resolve) => { child.once('exit', (c) => resolve(c)); child.kill('SIGTERM'); });
  return { ready, stop };
}

describe('each service as its own process', () => {
  test('a subgraph runs from environment variables alone, serves GraphQL over HTTP and graphql-ws on one port, and exits cleanly on SIGTERM', async () => {
    const port = await findFreePort();
    const p = startProcess('subgraphs/issuance/main.ts', { ...secrets, PORT: String(port), DATABASE_URL: 'memory://' });
    try {
      const url = await p.ready;
      expect(url).toBe(`http://127.0.0.1:${port}/graphql`);
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
      const token = await signUserToken({ secret: secrets.AUTH_JWT_SECRET, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject: 's', org: 'o', roles: ['AUDITOR'] });

      const ws = createClient({ url: url.replace('http', 'ws'), webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0 });
      const result = await new Promise<unknown>((resolve, reject) => {
        ws.subscribe({ query: '{ securityTokens { id } }' }, { next: resolve, error: reject, complete: () => undefined });
      });
      expect(result).toEqual({ data: { securityTokens: [] } });
      await ws.dispose();

      const refused = createClient({ url: url.replace('http', 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
      const closeCode = await new Promise<number>((resolve) => refused.on('closed', (e) => resolve((e as { code: number }).code)));
      expect(closeCode).toBe(4403);
      await refused.dispose();
    } finally {
      expect(await p.stop()).toBe(0);
    }
  }, 90_000);

  test('npm run token signs a token that the services accept, with the roles and organisation asked for', async () => {
    process.env.AUTH_JWT_SECRET = secrets.AUTH_JWT_SECRET;
    try {
      const t = await tokenMain(['--role', 'INVESTOR', '--org', 'broker-co', '--investor', 'inv_x', '--ttl', '60']);
      const caller = await createVerifier({ secret: secrets.AUTH_JWT_SECRET, issuer: 'tokenstack', audience: 'tokenstack-api', serviceSecret: secrets.SERVICE_SECRET })(`Bearer ${t}`);
      expect(caller).toMatchObject({ kind: 'user', org: 'broker-co', roles: ['INVESTOR'], investorId: 'inv_x' });
      await expect(tokenMain(['--role', 'KING', '--org', 'x'])).rejects.toThrow('--role must be one of');
    } finally {
      delete process.env.AUTH_JWT_SECRET;
    }
  });
});

describe('findFreePort', () => {
  test('hands each port out once in a process, from its own band below the ephemeral range; the jest workers\' bands do not overlap', async () => {
    const ports = [];
    for (let i = 0; i < 40; i++) ports.push(await findFreePort());
    expect(new Set(ports).size).toBe(40);
    const { low, high } = bandRange(portBand());
    expect(ports.every((p) => p >= low && p < high)).toBe(true);
    expect(high).toBeLessThanOrEqual(32_768);
    // Workers 1 and 2 (and a process by its pid) pick from disjoint ranges.
    const [one, two] = [bandRange(portBand({ JEST_WORKER_ID: '1' })), bandRange(portBand({ JEST_WORKER_ID: '2' }))];
    expect(one.high).toBeLessThanOrEqual(two.low);
    expect(portBand({}, 8 * 1000 + 3)).toBe(3);
  });
});
