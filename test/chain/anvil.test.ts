import { existsSync } from 'node:fs';
import { Wallet } from 'ethers';
import { anvilBinaryPath, startAnvil, type AnvilNode } from '../../scripts/chain/anvil.js';

async function rpc(url: string, method: string): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: [] }),
  });
  return ((await res.json()) as { result: unknown }).result;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('startAnvil', () => {
  let node: AnvilNode | undefined;
  afterAll(async () => {
    await node?.stop();
  });

  it('finds the anvil binary shipped in node_modules', () => {
    expect(existsSync(anvilBinaryPath())).toBe(true);
  });

  it('starts a node on a free loopback port that answers eth_chainId 31337', async () => {
    node = await startAnvil();
    expect(node.url).toBe(`http://127.0.0.1:${node.port}`);
    expect(node.port).toBeGreaterThan(0);
    expect(await rpc(node.url, 'eth_chainId')).toBe('0x7a69');
    expect(node.chainId).toBe(31337);
  });

  it('hands out the keys of the accounts anvil funds', async () => {
    const accounts = (await rpc(node!.url, 'eth_accounts')) as string[];
    expect(node!.privateKeys).toHaveLength(10);
    expect(node!.privateKeys.map((k) => new Wallet(k).address.toLowerCase())).toEqual(accounts.map((a) => a.toLowerCase()));
  });

  it('runs two nodes side by side on different ports', async () => {
    const other = await startAnvil({ chainId: 1337 });
    try {
      expect(other.port).not.toBe(node!.port);
      expect(await rpc(other.url, 'eth_chainId')).toBe('0x539');
    } finally {
      await other.stop();
    }
  });

  it('refuses a port that is already taken, with a clear error', async () => {
    await expect(startAnvil({ port: node!.port, startTimeoutMs: 5000 })).rejects.toThrow(/anvil/);
  });

  it('stop() ends the process and leaves nothing running', async () => {
    const { pid } = node!;
    expect(alive(pid)).toBe(true);
    await node!.stop();
    expect(alive(pid)).toBe(false);
    await expect(rpc(node!.url, 'eth_chainId')).rejects.toThrow();
    await node!.stop(); // idempotent
    node = undefined;
  });
});
