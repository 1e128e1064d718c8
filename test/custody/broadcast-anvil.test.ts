import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Wallet, parseEther, type Contract } from 'ethers';
import type { Db } from '../../subgraphs/kit/db/types.js';
import { startAnvil, type AnvilNode } from '../../subgraphs/kit/chain/anvil.js';
import { createChainClient, type ChainClient } from '../../subgraphs/kit/chain/client.js';
import { deployCashToken } from '../../subgraphs/kit/chain/cash-token.js';
import { broadcastOnce, TransferError, type BroadcastDeps, type TransferSender } from '../../subgraphs/custody/broadcaster.js';
import { chainTransferSender } from '../../subgraphs/custody/chain-sender.js';
import { ledger } from '../../subgraphs/custody/ledger.js';
import { withdrawalById } from '../../subgraphs/custody/store-withdrawals.js';
import * as w from '../../subgraphs/custody/withdrawals.js';
import { dbLabel } from '../support/db.js';
import { KEYS, openAccount, openCustodyDb, testEnv, testPolicy, user } from './support.js';

describe(`withdrawals broadcast on anvil with the cash token (${dbLabel()})`, () => {
  let node: AnvilNode;
  let client: ChainClient;
  let cash: Contract;
  let db: Db;
  let cleanup: () => Promise<void>;
  let sender: TransferSender;
  let acc: string;
  let wallet: string;
  const to = new Wallet('0x' + '07'.repeat(32)).address;
  const env = () => testEnv(db, { defaults: testPolicy({ approvalsRequired: 1, destinationDelaySeconds: 0, maxPerWithdrawal: 10n ** 30n, maxPerWindow: 10n ** 30n }), clock: { now: () => new Date() } as never });
  const deps = (s: TransferSender = sender): BroadcastDeps => ({
    db, now: () => new Date(), sender: s, signerOf: (q, address) => KEYS.signer(q, address),
    settings: { maxAttempts: 3, retryMs: 0, rebroadcastMs: 0, pollMs: 0 },
  });

  beforeAll(async () => {
    node = await startAnvil({ port: 0 });
    client = await createChainClient({ rpcUrl: node.url, privateKey: node.privateKeys[0] });
    cash = (await deployCashToken(client)).contract;
    ({ db, cleanup } = await openCustodyDb());
    await ledger.registerAsset(db, 'CASH', cash.target as string);
    acc = await openAccount(db, 'acme');
    wallet = (await db.query<{ address: string }>('SELECT address FROM wallets WHERE account_id = $1', [acc]))[0].address;
    // The wallet pays its own gas; deposits are minted to it and credited to the books (later: by the chain indexer).
    await client.send({ to: wallet, value: parseEther('1') });
    await client.send(cash.mint(wallet, 1_000_000n));
    await ledger.credit(db, 'custody', { accountId: acc, asset: 'CASH', amount: 1_000_000n, idempotencyKey: 'dep-1', reason: 'deposit' });
    await w.addWithdrawalDestination(env(), user('acme', 'alice', ['CUSTODIAN']), { accountId: acc, address: to, label: 'treasury' });
    sender = chainTransferSender({ provider: client.provider, chainId: client.chainId, gasLimit: 150_000, confirmations: 1 });
  }, 120_000);
  afterAll(async () => {
    await cleanup?.();
    await client?.close();
    await node?.stop();
  });

  async function approved(amount: bigint): Promise<string> {
    const { withdrawal, refusals } = await w.requestWithdrawal(env(), user('acme', 'alice', ['CUSTODIAN']), { accountId: acc, asset: 'CASH', amount, toAddress: to, idempotencyKey: `w-${Math.random()}` });
    expect(refusals).toEqual([]);
    await w.approveWithdrawal(env(), user('acme', 'bob', ['CUSTODIAN']), withdrawal!.id);
    return withdrawal!.id;
  }
  async function run(d: BroadcastDeps, id: string): Promise<string[]> {
    const steps: string[] = [];
    for (let i = 0; i < 30; i++) {
      const s = await broadcastOnce(d);
      if (s) steps.push(s.step);
      const { status } = (await withdrawalById(db, id))!;
      if (status === 'COMPLETED' || status === 'FAILED') break;
    }
    return steps;
  }

  test('an approved withdrawal moves the cash token on chain and the books follow', async () => {
    const id = await approved(400_000n);
    expect(await run(deps(), id)).toEqual(['sent', 'completed']);
    const done = (await withdrawalById(db, id))!;
    expect(done.status).toBe('COMPLETED');
    const receipt = await client.provider.getTransactionReceipt(done.tx_hash!);
    expect(receipt?.status).toBe(1);
    expect(receipt?.from).toBe(wallet);
    expect(await cash.balanceOf(to)).toBe(400_000n);
    expect(await cash.balanceOf(wallet)).toBe(600_000n);
    expect(await ledger.balance(db, acc, 'CASH')).toMatchObject({ total: '600000', reserved: '0' });
    // Signed where the key lives: sealed in the row (SIGNER=software), or in the HSM with only its label in the row (SIGNER=pkcs11).
    const [row] = await db.query<{ key_label: string | null; encrypted_key: unknown }>('SELECT key_label, encrypted_key FROM wallets WHERE address = $1', [wallet]);
    expect({ inToken: row.key_label !== null, sealedHere: row.encrypted_key !== null }).toEqual({ inToken: KEYS.kind === 'pkcs11', sealedHere: KEYS.kind === 'software' });
  });

  test('a transfer that reverts on chain is retried, then FAILED with the reservation released', async () => {
    // The books say more than the chain holds (what reconciliation will catch): the transfer reverts.
    await ledger.credit(db, 'custody', { accountId: acc, asset: 'CASH', amount: 500_000n, idempotencyKey: 'dep-phantom', reason: 'phantom deposit' });
    const before = await cash.balanceOf(wallet);
    const id = await approved(700_000n);
    expect(await run(deps(), id)).toEqual(['sent', 'retry', 'sent', 'retry', 'sent', 'failed']);
    const failed = (await withdrawalById(db, id))!;
    expect(failed).toMatchObject({ status: 'FAILED', attempts: 3 });
    expect((await client.provider.getTransactionReceipt(failed.tx_hash!))?.status).toBe(0);
    expect(await cash.balanceOf(wallet)).toBe(before);
    expect(await ledger.balance(db, acc, 'CASH')).toMatchObject({ total: '1100000', reserved: '0', available: '1100000' });
    await ledger.debit(db, 'custody', { accountId: acc, asset: 'CASH', amount: 500_000n, idempotencyKey: 'undo-phantom', reason: 'correction' });
  });

  test('a crash before or after the send re-sends the stored transaction: one transfer on chain', async () => {
    const start = await cash.balanceOf(to);
    // Dies before the node got it.
    const id1 = await approved(1_000n);
    const lost: TransferSender = { ...sender, broadcast: async () => { throw new TransferError('process died', true); } };
    expect((await broadcastOnce(deps(lost)))?.step).toBe('pending');
    const hash1 = (await withdrawalById(db, id1))!.tx_hash;
    expect(await run(deps(), id1)).toEqual(['sent', 'completed']);
    expect((await withdrawalById(db, id1))!.tx_hash).toBe(hash1);

    // Dies after the node took it.
    const id2 = await approved(2_000n);
    const late: TransferSender = { ...sender, broadcast: async (s) => { await sender.broadcast(s); throw new TransferError('connection reset', true); } };
    expect((await broadcastOnce(deps(late)))?.step).toBe('pending');
    expect(await run(deps(), id2)).toEqual(['completed']);

    expect(await cash.balanceOf(to)).toBe(start + 3_000n);
    expect(await ledger.balance(db, acc, 'CASH')).toMatchObject({ total: String(600_000n - 3_000n), reserved: '0' });
  });
});
