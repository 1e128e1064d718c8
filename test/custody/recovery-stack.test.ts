import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { serviceToken } from '../../subgraphs/kit/auth.js';
import { startSubgraph, subgraphConfig, type RunningSubgraph } from '../../subgraphs/kit/subgraph.js';
import { custody } from '../../subgraphs/custody/index.js';
import { createTestDatabase, dbLabel, onPostgres, type TestDatabase } from '../support/db.js';
import { gql, gqlOk, startTestStack, type TestStack } from '../support/stack.js';
import { IssuerDesk, monthsAgo } from '../issuance/flow.js';

/**
 * The whole stack on anvil with custody's indexer on (custody restarted on its
 * port with the indexer settings and a database that survives its restarts):
 * issuance mints into a custody wallet, custody credits the deposit; a lost
 * wallet is recovered by custody (new wallet) and issuance (ERC-3643
 * recoveryAddress), and the books follow without counting anything twice.
 */
/** What these tests read of a custody account. */
interface AccountView {
  walletAddress: string;
  wallets: { address: string; active: boolean; retiredAt: string | null }[];
  balances: { asset: string; total: string; available: string; onChain: string | null; onChainBlock: number | null }[];
  deposits: { id: string; asset: string; amount: string; fromAddress: string; walletAddress: string; txHash: string; blockNumber: number }[];
}

describe(`wallet recovery and deposits through the gateway (anvil, ${dbLabel()})`, () => {
  let stack: TestStack;
  let desk: IssuerDesk;
  let sub: RunningSubgraph;
  let db: TestDatabase | undefined;
  let dir: string | undefined;
  let dbUrl: string;
  let custodian: string, auditor: string, other: string;
  let tokenId: string, investorId: string, accountId: string, lostWallet: string;

  const url = () => stack.gateway.url;
  async function startCustody(): Promise<void> {
    const base = (n: 'issuance' | 'trading' | 'settlement' | 'custody') => stack.subgraphs[n].url.replace(/\/graphql$/, '');
    sub = await startSubgraph(custody, subgraphConfig(custody, {
      PORT: String(stack.subgraphs.custody.port), ISSUANCE_URL: base('issuance'), TRADING_URL: base('trading'), SETTLEMENT_URL: base('settlement'),
      CUSTODY_URL: base('custody'), DATABASE_URL: dbUrl, CHAIN_RPC_URL: stack.chainRpcUrl, AUTH_JWT_SECRET: stack.secrets.jwtSecret,
      SERVICE_SECRET: stack.secrets.serviceSecret, CUSTODY_KEK: stack.secrets.custodyKek, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      CUSTODY_INDEXER_ENABLED: 'true', CUSTODY_CONFIRMATIONS: '1', CUSTODY_INDEXER_POLL_MS: '100',
      CUSTODY_RECONCILIATION_INTERVAL_MS: '200', CUSTODY_RECONCILIATION_CONFIRM_RUNS: '3',
    }));
  }
  async function rpc(method: string, body: Record<string, unknown>) {
    const r = await fetch(`${stack.subgraphs.custody.url.replace(/\/graphql$/, '')}/internal/rpc/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${await serviceToken({ serviceSecret: stack.secrets.serviceSecret, issuer: 'tokenstack' }, 'issuance')}` },
      body: JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`${method}: ${r.status} ${await r.text()}`);
  }
  /** Mines a block (the confirmation) until the account reads as wanted. */
  async function account(ok: (a: AccountView) => boolean): Promise<AccountView> {
    const end = Date.now() + 60_000;
    for (;;) {
      const a = (await gqlOk<{ custodyAccount: AccountView }>(url(), custodian, `query($id: ID!) { custodyAccount(id: $id) {
        walletAddress wallets { address active retiredAt } balances { asset total available onChain onChainBlock }
        deposits { id asset amount fromAddress walletAddress txHash blockNumber } } }`, { id: accountId })).custodyAccount;
      if (ok(a)) return a;
      if (Date.now() > end) throw new Error(`account never became as expected: ${JSON.stringify(a)}`);
      await mine();
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  const chain = async <T>(method: string): Promise<T> =>
    ((await (await fetch(stack.chainRpcUrl!, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: [] }) })).json()) as { result: T }).result;
  const mine = () => chain('evm_mine');
  /** Mines a block (the confirmation) until custody's indexer has applied the token's chain up to today's head: whatever it would credit, it has. */
  async function indexedToHead(): Promise<void> {
    const head = BigInt(await chain<string>('eth_blockNumber'));
    const end = Date.now() + 60_000;
    for (;;) {
      const [c] = await sub.runtime.db.query<{ block: string }>('SELECT block FROM chain_cursors WHERE name = $1', [`asset:${tokenId}`]);
      if (c && BigInt(c.block) >= head) return;
      if (Date.now() > end) throw new Error(`custody's indexer never reached block ${head}: at ${c?.block}`);
      await mine();
      await new Promise((r) => setTimeout(r, 150));
    }
  }
  const tokenBalance = (a: AccountView) => a.balances.find((b: { asset: string }) => b.asset === tokenId);

  beforeAll(async () => {
    stack = await startTestStack({ chain: 'anvil' });
    if (onPostgres()) dbUrl = (db = await createTestDatabase()).url;
    else dbUrl = pathToFileURL(join((dir = mkdtempSync(join(tmpdir(), 'tokenstack-custody-'))), 'db')).href;
    await stack.subgraphs.custody.stop();
    await startCustody();
    desk = await IssuerDesk.open(stack);
    [custodian, auditor, other] = await Promise.all([
      stack.token('vault-co', ['CUSTODIAN']), stack.token('vault-co', ['AUDITOR']), stack.token('rival-co', ['CUSTODIAN']),
    ]);
    tokenId = await desk.createToken('RCVR', 'REG_D_506B');
    const d = await desk.deploy(tokenId);
    expect(d.status).toBe('DEPLOYED');
    await rpc('registerAsset', { asset: tokenId, contractAddress: d.contracts!.token });
    investorId = await desk.register('Rita Recover', { accredited: true });
    const acc = (await gqlOk<{ openCustodyAccount: { id: string; walletAddress: string } }>(url(), custodian, `mutation($i: ID!) { openCustodyAccount(input: { idempotencyKey: "rita", investorId: $i, kind: SEGREGATED }) { id walletAddress } }`, { i: investorId })).openCustodyAccount;
    [accountId, lostWallet] = [acc.id, acc.walletAddress];
    const end = Date.now() + 60_000;
    while (!(await desk.run<{ investor: { wallets: { registeredOnChain: boolean }[] } }>(`query($i: ID!) { investor(id: $i) { wallets { registeredOnChain } } }`, { i: investorId })).investor.wallets.some((x) => x.registeredOnChain)) {
      if (Date.now() > end) throw new Error('wallet never registered on chain');
      await new Promise((r) => setTimeout(r, 200));
    }
    await desk.settled();
  }, 240_000);
  afterAll(async () => {
    await sub?.stop();
    await stack?.stop();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('issuance mints into the custody wallet: custody credits it once as a deposit, onChain and books agree', async () => {
    const r = await desk.issue(tokenId, investorId, '250', monthsAgo(13));
    expect(r.status).toBe('DONE');
    const a = await account((x) => tokenBalance(x)?.total === '250');
    expect(tokenBalance(a)).toMatchObject({ total: '250', available: '250', onChain: '250' });
    expect(Number(tokenBalance(a)!.onChainBlock)).toBeGreaterThan(0);
    expect(a.deposits).toEqual([expect.objectContaining({ asset: tokenId, amount: '250', fromAddress: '0x0000000000000000000000000000000000000000', walletAddress: lostWallet, txHash: r.txHash })]);
    const list = (await gqlOk<{ deposits: unknown[] }>(url(), custodian, `query($t: String) { deposits(asset: $t) { id account { id } amount } }`, { t: tokenId })).deposits;
    expect(list).toEqual([{ id: a.deposits[0].id, account: { id: accountId }, amount: '250' }]);
    expect((await gqlOk<{ deposits: unknown[] }>(url(), other, `{ deposits { id } }`)).deposits).toEqual([]);
  });

  test('a restart of custody resumes from its cursor: nothing is credited twice, later mints once', async () => {
    await sub.stop();
    await startCustody();
    await desk.issue(tokenId, investorId, '50', monthsAgo(13), 'second-issue');
    const a = await account((x) => tokenBalance(x)?.total === '300');
    await indexedToHead();
    expect((await account(() => true)).deposits).toHaveLength(2);
    expect(tokenBalance(a)).toMatchObject({ total: '300', onChain: '300' });
  });

  test('a lost wallet: custody gives the account a new one, issuance recovers the tokens to it, the books stay and nothing is counted twice', async () => {
    const rec = (k: string, reason = 'device with the key destroyed') => gql<{ recoverCustodyWallet: { id: string; lostWallet: string; newWallet: string; reason: string; requestedBy: string; account: { walletAddress: string } } }>(url(), custodian, `mutation($a: ID!, $k: String!, $r: String!) {
      recoverCustodyWallet(input: { accountId: $a, idempotencyKey: $k, reason: $r }) { id lostWallet newWallet reason requestedBy account { walletAddress } } }`, { a: accountId, k, r: reason });
    const first = (await rec('rec-1')).body.data!.recoverCustodyWallet;
    expect(first).toMatchObject({ lostWallet, reason: 'device with the key destroyed', account: { walletAddress: first.newWallet } });
    expect((await rec('rec-1')).body.data!.recoverCustodyWallet.newWallet).toBe(first.newWallet);
    expect((await rec('rec-1', 'other')).body.errors?.[0].extensions?.code).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');

    // Issuance's half: ERC-3643 recoveryAddress from the lost wallet to the new one.
    await desk.run(`mutation($i: ID!, $l: Address!, $n: Address!) { recoverInvestorWallet(investorId: $i, lostWallet: $l, newWallet: $n, reason: "custody recovered the account's wallet") { id } }`,
      { i: investorId, l: lostWallet, n: first.newWallet });
    await desk.settled();
    const a = await account((x) => x.walletAddress === first.newWallet);
    await indexedToHead();
    const after = await account(() => true);
    expect(after.wallets).toEqual([
      { address: lostWallet, active: false, retiredAt: expect.any(String) },
      { address: first.newWallet, active: true, retiredAt: null },
    ]);
    expect(tokenBalance(after)).toMatchObject({ total: '300', available: '300', onChain: '300' });
    expect(after.deposits).toHaveLength(2);
    expect(a.walletAddress).toBe(first.newWallet);

    const r = (await gqlOk<{ reconciliation: { lines: unknown[]; differences: unknown[]; openBreaks: unknown[] } }>(url(), auditor, `{ reconciliation { asOf lines { account { id } asset books onChain difference wallets { address onChain } } differences { asset } openBreaks { asset } } }`)).reconciliation;
    expect(r.differences).toEqual([]);
    expect(r.openBreaks).toEqual([]);
    expect(r.lines).toEqual([{ account: { id: accountId }, asset: tokenId, books: '300', onChain: '300', difference: '0',
      wallets: expect.arrayContaining([{ address: lostWallet, onChain: '0' }, { address: first.newWallet, onChain: '300' }]) }]);
  });

  test('bad input to the new operations is a typed error', async () => {
    const codeOf = async (token: string, q: string, v: Record<string, unknown> = {}) => (await gql(url(), token, q, v)).body.errors?.[0].extensions?.code;
    const recover = 'mutation($a: ID!) { recoverCustodyWallet(input: { accountId: $a, idempotencyKey: "x", reason: "lost" }) { id } }';
    expect(await codeOf(custodian, recover, { a: 'acc_bad' })).toBe('INPUT.INVALID_ACCOUNT_ID');
    expect(await codeOf(other, recover, { a: accountId })).toBe('CUSTODY.UNKNOWN_ACCOUNT');
    expect(await codeOf(auditor, recover, { a: accountId })).toBe('FORBIDDEN');
    expect(await codeOf(custodian, 'query($t: DateTime) { reconciliation(asOf: $t) { asOf } }', { t: new Date(Date.now() + 3_600_000).toISOString() })).toBe('INPUT.INVALID_AS_OF');
    expect(await codeOf(custodian, 'query { deposits(asset: "EUR") { id } }')).toBe('INPUT.INVALID_ASSET');
    expect(await codeOf(custodian, 'query { deposits(accountId: "nope") { id } }')).toBe('INPUT.INVALID_ACCOUNT_ID');
  });
});
