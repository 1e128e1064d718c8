import { ZeroAddress, parseEther } from 'ethers';
import { findFreePort, startAnvil, type AnvilNode } from '../../scripts/chain/anvil.js';
import { ChainError, createChainClient, isChainError, type ChainClient } from '../../subgraphs/kit/chain/client.js';
import { deployCashToken } from '../../scripts/chain/cash-token.js';
import { until } from '../support/wait.js';
import { createServer, type Server } from 'node:http';

describe('createChainClient against a node that is not there', () => {
  it('throws CHAIN_UNAVAILABLE, retryable, within a bounded time', async () => {
    const port = await findFreePort();
    const started = Date.now();
    const err = await createChainClient({ rpcUrl: `http://127.0.0.1:${port}`, privateKey: '0x' + '11'.repeat(32) }).catch((e) => e);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(err).toBeInstanceOf(ChainError);
    expect(err).toMatchObject({ code: 'CHAIN_UNAVAILABLE', retryable: true });
  });

  it('with a known chain id, builds the client and fails each call with CHAIN_UNAVAILABLE', async () => {
    const port = await findFreePort();
    const client = await createChainClient({ rpcUrl: `http://127.0.0.1:${port}`, privateKey: '0x' + '11'.repeat(32), chainId: 31337 });
    try {
      const started = Date.now();
      const err = await client.send({ to: ZeroAddress, value: 1n }).catch((e) => e);
      expect(isChainError(err, 'CHAIN_UNAVAILABLE')).toBe(true);
      expect(err.retryable).toBe(true);
      await expect(client.read(client.provider.getBlockNumber())).rejects.toMatchObject({ code: 'CHAIN_UNAVAILABLE' });
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      await client.close();
    }
  });
});

describe('createChainClient against a node slow to answer its chain id', () => {
  /** A JSON-RPC endpoint on loopback that leaves the first `silent` requests unanswered, then answers eth_chainId. */
  async function slowNode(silent: number): Promise<{ url: string; asked: () => number; close: () => Promise<void> }> {
    let n = 0;
    const server: Server = createServer((req, res) => {
      n++;
      if (n <= silent) return; // never answered: the caller's timeout decides
      req.resume().on('end', () => res.end(JSON.stringify({ jsonrpc: '2.0', id: 1, result: '0x7a69' })));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}`, asked: () => n, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
  }

  it('asks again after a timed-out answer and builds the client', async () => {
    const node = await slowNode(1);
    try {
      const client = await createChainClient({ rpcUrl: node.url, privateKey: '0x' + '11'.repeat(32), requestTimeoutMs: 300 });
      expect(client.chainId).toBe(31337);
      expect(node.asked()).toBe(2);
      await client.close();
    } finally {
      await node.close();
    }
  });

  it('gives up with CHAIN_TIMEOUT after three timed-out answers', async () => {
    const node = await slowNode(1_000);
    try {
      const err = await createChainClient({ rpcUrl: node.url, privateKey: '0x' + '11'.repeat(32), requestTimeoutMs: 300 }).catch((e) => e);
      expect(err).toMatchObject({ code: 'CHAIN_TIMEOUT', retryable: true });
      expect(node.asked()).toBe(3);
    } finally {
      await node.close();
    }
  });
});

describe('ChainClient reading what a node answers', () => {
  /** A JSON-RPC endpoint on loopback: eth_chainId as anvil's, web3_clientVersion with characters beyond ASCII, anything else an HTML page. */
  async function oddNode(): Promise<{ url: string; close: () => Promise<void> }> {
    const server: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d)).on('end', () => {
        const { method, id } = JSON.parse(body) as { method: string; id: number };
        if (method === 'eth_chainId') return res.end(JSON.stringify({ jsonrpc: '2.0', id, result: '0x7a69' }));
        if (method === 'web3_clientVersion') return res.end(JSON.stringify({ jsonrpc: '2.0', id, result: 'nœud ✓ 節點 🚀' }));
        res.setHeader('content-type', 'text/html');
        res.end('<html><body>502 Bad Gateway</body></html>');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) };
  }

  it('decodes answers beyond ASCII, and a body that is not JSON is CHAIN_UNAVAILABLE, retryable', async () => {
    const node = await oddNode();
    const client = await createChainClient({ rpcUrl: node.url, privateKey: '0x' + '11'.repeat(32) });
    try {
      expect(await client.provider.send('web3_clientVersion', [])).toBe('nœud ✓ 節點 🚀');
      const err = await client.read(client.provider.getBlockNumber()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ChainError);
      expect(err).toMatchObject({ code: 'CHAIN_UNAVAILABLE', retryable: true });
    } finally {
      await client.close();
      await node.close();
    }
  });
});

describe('ChainClient on anvil', () => {
  let node: AnvilNode;
  let client: ChainClient;
  beforeAll(async () => {
    node = await startAnvil();
    client = await createChainClient({ rpcUrl: node.url, privateKey: node.privateKeys[0] });
  });
  afterAll(async () => {
    await client?.close();
    await node?.stop();
  });

  it('knows the chain id and its address', () => {
    expect(client.chainId).toBe(31337);
    expect(client.address).toBe('0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266');
  });

  it('sends 40 concurrent transactions from one key without a nonce collision', async () => {
    const to = '0x000000000000000000000000000000000000dEaD';
    const before = await client.provider.getBalance(to);
    const receipts = await Promise.all(Array.from({ length: 40 }, () => client.send({ to, value: 1n })));
    expect(receipts.every((r) => r.status === 1)).toBe(true);
    expect(new Set(receipts.map((r) => r.hash)).size).toBe(40);
    expect((await client.provider.getBalance(to)) - before).toBe(40n);
  });

  it('resyncs its nonce when another sender used the same key', async () => {
    const other = await createChainClient({ rpcUrl: node.url, privateKey: node.privateKeys[0] });
    try {
      await client.send({ to: ZeroAddress, value: 1n }); // primes the local counter
      await other.send({ to: ZeroAddress, value: 1n }); // makes it stale
      const r = await client.send({ to: ZeroAddress, value: 1n });
      expect(r.status).toBe(1);
    } finally {
      await other.close();
    }
  });

  it('maps a revert to CHAIN_REVERTED with the reason, not retryable, and keeps the nonce usable', async () => {
    const cash = await deployCashToken(client);
    const err = await client.send(cash.contract.transfer('0x000000000000000000000000000000000000dEaD', 1n)).catch((e) => e);
    expect(err).toBeInstanceOf(ChainError);
    expect(err).toMatchObject({ code: 'CHAIN_REVERTED', retryable: false, reason: 'CashToken: transfer amount exceeds balance' });
    const ok = await client.send(cash.contract.mint(client.address, 5n));
    expect(ok.status).toBe(1);
  });

  it('throws CHAIN_TIMEOUT with the hash when no block comes, and the receipt can be awaited later', async () => {
    await client.provider.send('evm_setAutomine', [false]);
    try {
      const err = await client.send({ to: ZeroAddress, value: 1n }, { timeoutMs: 300 }).catch((e) => e);
      expect(err).toMatchObject({ code: 'CHAIN_TIMEOUT', retryable: true });
      expect(err.txHash).toMatch(/^0x[0-9a-f]{64}$/);
      await client.provider.send('evm_mine', []);
      const receipt = await client.waitForReceipt(err.txHash);
      expect(receipt.status).toBe(1);
    } finally {
      await client.provider.send('evm_setAutomine', [true]);
    }
  });

  it('refuses a send the node rejects for lack of funds as not retryable', async () => {
    const poor = await createChainClient({ rpcUrl: node.url, privateKey: '0x' + '22'.repeat(32) });
    try {
      const err = await poor.send({ to: ZeroAddress, value: parseEther('1') }).catch((e) => e);
      expect(err).toBeInstanceOf(ChainError);
      expect(err.retryable).toBe(false);
    } finally {
      await poor.close();
    }
  });
});

describe('ChainClient when the node goes away while waiting for a receipt', () => {
  it('gives up with CHAIN_UNAVAILABLE and the hash after ~2 s, not at the 60 s deadline', async () => {
    const node = await startAnvil();
    const client = await createChainClient({ rpcUrl: node.url, privateKey: node.privateKeys[0] });
    try {
      await client.provider.send('evm_setAutomine', [false]);
      const pending = client.send({ to: ZeroAddress, value: 1n }).catch((e) => e);
      // The node holds the transaction (so the client has its hash and waits for the receipt) before it goes away.
      await until('the transaction in the node\'s pool', async () => BigInt((await client.provider.send('txpool_status', [])).pending) > 0n);
      const stoppedAt = Date.now();
      await node.stop();
      const err = await pending;
      expect(err).toMatchObject({ code: 'CHAIN_UNAVAILABLE', retryable: true });
      expect(err.txHash).toMatch(/^0x[0-9a-f]{64}$/);
      expect(Date.now() - stoppedAt).toBeLessThan(5000);
    } finally {
      await client.close();
      await node.stop();
    }
  });
});
