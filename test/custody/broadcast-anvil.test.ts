import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { Wallet, parseEther, type Contract } from 'ethers';
import { openDb } from '../../subgraphs/kit/db/open.js';
import type { Db } from '../../subgraphs/kit/db/types.js';
import { startAnvil, type AnvilNode } from '../../scripts/chain/anvil.js';
import { createChainClient, type ChainClient } from '../../subgraphs/kit/chain/client.js';
import { deployCashToken } from '../../scripts/chain/cash-token.js';
import { broadcastOnce, TransferError, type BroadcastDeps, type TransferSender } from '../../subgraphs/custody/broadcaster.js';
import { chainTransferSender } from '../../subgraphs/custody/chain-sender.js';
import { ledger } from '../../subgraphs/custody/ledger.js';
import { withdrawalById, type WithdrawalRow } from '../../subgraphs/custody/store/withdrawals.js';
import { payInstruction } from '../../subgraphs/custody/distribution-payments.js';
import { newId } from '../../subgraphs/kit/ids.js';
import * as w from '../../subgraphs/custody/withdrawals.js';
import { packageDir } from '../../subgraphs/kit/chain/artifacts.js';
import { dbLabel, onPostgres } from '../support/db.js';
import { until } from '../support/wait.js';
import { KEYS, eventsOf, openAccount, openCustodyDb, testEnv, testPolicy, user } from './support.js';

describe(`withdrawals broadcast on anvil with the cash token (${dbLabel()})`, () => {
  let node: AnvilNode;
  let client: ChainClient;
  let cash: Contract;
  let db: Db;
  let cleanup: () => Promise<void>;
  let dbUrl: string;
  let sender: TransferSender;
  let acc: string;
  let wallet: string;
  const to = new Wallet('0x' + '07'.repeat(32)).address;
  const env = () => testEnv(db, { defaults: testPolicy({ approvalsRequired: 1, destinationDelaySeconds: 0, maxPerWithdrawal: 10n ** 30n, maxPerWindow: 10n ** 30n }), clock: { now: () => new Date() } as never });
  const deps = (s: TransferSender = sender, paymentBatchMax?: number): BroadcastDeps => ({
    db, now: () => new Date(), sender: s, signerOf: (q, address) => KEYS.signer(q, address),
    settings: { maxAttempts: 3, retryMs: 0, rebroadcastMs: 0, pollMs: 0, paymentBatchMax },
  });

  beforeAll(async () => {
    node = await startAnvil({ port: 0 });
    client = await createChainClient({ rpcUrl: node.url, privateKey: node.privateKeys[0] });
    cash = (await deployCashToken(client)).contract;
    ({ db, cleanup, url: dbUrl } = await openCustodyDb());
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
  async function run(d: BroadcastDeps, ...ids: string[]): Promise<string[]> {
    const steps: string[] = [];
    for (let i = 0; i < 30; i++) {
      const s = await broadcastOnce(d);
      if (s) steps.push(s.step);
      const rows = await Promise.all(ids.map(async (id) => (await withdrawalById(db, id))!.status));
      if (rows.every((status) => status === 'COMPLETED' || status === 'FAILED')) break;
    }
    return steps;
  }
  /** Issuance's payment instruction for one entitlement per amount, from the account's wallet to fresh payees: the payment withdrawals, in order. */
  async function payments(...amounts: (bigint | string)[]): Promise<WithdrawalRow[]> {
    const asset = typeof amounts[0] === 'string' ? amounts.shift() as string : 'CASH';
    const items = amounts.map((a) => ({ entitlementId: newId('ent'), attempt: 1, investorId: newId('inv'), toAddress: Wallet.createRandom().address, amount: a.toString() }));
    await db.tx((q) => payInstruction(q, { distributionId: newId('dst'), tokenId: 'tok', asset, payingAccountId: acc, items }, new Date()));
    const rows = await db.query<WithdrawalRow>('SELECT * FROM withdrawals WHERE entitlement_id = ANY($1::text[])', [items.map((i) => i.entitlementId)]);
    return items.map((i) => rows.find((r) => r.entitlement_id === i.entitlementId)!);
  }
  const paidResults = async (ws: WithdrawalRow[]) => (await eventsOf<{ entitlementId: string; status: string; txHash: string | null; reason: string | null }>(db, 'distribution.payment_result'))
    .filter((e) => ws.some((w) => w.entitlement_id === e.entitlementId));

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

  test('distribution payments from one paying account go as one batchTransfer: one transaction, every payee paid, each entitlement PAID with its hash', async () => {
    const books = BigInt((await ledger.balance(db, acc, 'CASH')).total);
    const nonce = await client.provider.getTransactionCount(wallet);
    const ordinary = await approved(5_000n);
    const ws = await payments(100n, 200n, 300n, 400n);
    const ids = [ordinary, ...ws.map((x) => x.id)];
    // At most three a batch: the first three together, the fourth alone; the ordinary withdrawal is never in a batch.
    expect(await run(deps(sender, 3), ...ids)).toEqual(['sent', 'completed', 'sent', 'completed', 'sent', 'completed']);
    const done = await Promise.all(ws.map(async (x) => (await withdrawalById(db, x.id))!));
    expect(done.map((x) => x.status)).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED', 'COMPLETED']);
    const hashes = new Set(done.map((x) => x.tx_hash));
    expect(hashes.size).toBe(2);
    const [batchHash] = done.filter((x) => done.filter((y) => y.tx_hash === x.tx_hash).length === 3).map((x) => x.tx_hash!);
    expect(batchHash).toBeDefined();
    const single = done.find((x) => x.tx_hash !== batchHash)!;
    expect((await withdrawalById(db, ordinary))!.tx_hash).not.toBe(batchHash);
    // One transaction per batch: three Transfer logs from the paying wallet, one per payee.
    const receipt = (await client.provider.getTransactionReceipt(batchHash))!;
    expect(receipt.status).toBe(1);
    const logs = receipt.logs.map((l) => cash.interface.parseLog(l)!).map((e) => [e.name, e.args[0], e.args[1], e.args[2]]);
    expect(logs).toEqual(done.filter((x) => x.tx_hash === batchHash).map((x) => ['Transfer', wallet, x.to_address, BigInt(x.amount)]));
    expect(await client.provider.getTransactionCount(wallet)).toBe(nonce + 3); // the ordinary withdrawal, the batch, the single payment
    for (const x of ws) expect(await cash.balanceOf(x.to_address)).toBe(BigInt(x.amount));
    expect(await ledger.balance(db, acc, 'CASH')).toMatchObject({ total: String(books - 5_000n - 1_000n), reserved: '0' });
    expect((await paidResults(ws)).map((e) => [e.entitlementId, e.status, e.txHash])).toEqual(
      done.map((x) => [x.entitlement_id, 'PAID', x.tx_hash]).sort((a, b) => (a[2] === single.tx_hash ? 1 : 0) - (b[2] === single.tx_hash ? 1 : 0)));
  });

  test('a batch with one bad leg reverts whole: nobody paid, every payment retried, then FAILED with the reason and its reservation released', async () => {
    // The books say more than the chain holds: the second leg overdraws the wallet, so the whole batch reverts.
    await ledger.credit(db, 'custody', { accountId: acc, asset: 'CASH', amount: 500_000n, idempotencyKey: 'dep-phantom-batch', reason: 'phantom deposit' });
    const before = await cash.balanceOf(wallet);
    const books = await ledger.balance(db, acc, 'CASH');
    const ws = await payments(1_000n, before);
    expect(await run(deps(sender, 10), ...ws.map((x) => x.id))).toEqual(['sent', 'retry', 'sent', 'retry', 'sent', 'failed']);
    const failed = await Promise.all(ws.map(async (x) => (await withdrawalById(db, x.id))!));
    expect(failed.map((x) => [x.status, x.attempts])).toEqual([['FAILED', 3], ['FAILED', 3]]);
    expect(failed[0].tx_hash).toBe(failed[1].tx_hash);
    expect((await client.provider.getTransactionReceipt(failed[0].tx_hash!))?.status).toBe(0);
    expect(await cash.balanceOf(wallet)).toBe(before);
    for (const x of ws) expect(await cash.balanceOf(x.to_address)).toBe(0n);
    expect(await ledger.balance(db, acc, 'CASH')).toMatchObject({ total: books.total, reserved: '0' });
    const results = await paidResults(ws);
    expect(results.map((e) => [e.entitlementId, e.status])).toEqual(ws.map((x) => [x.entitlement_id, 'FAILED']));
    for (const e of results) expect(e.reason).toMatch(/^transfer 0x[0-9a-f]{64} reverted$/);
    await ledger.debit(db, 'custody', { accountId: acc, asset: 'CASH', amount: 500_000n, idempotencyKey: 'undo-phantom-batch', reason: 'correction' });
  });

  test('a payment to a custody wallet of the paying account itself is SKIPPED with its reason: nothing reserved or sent, the books stay with the chain', async () => {
    const { total, reserved } = await ledger.balance(db, acc, 'CASH');
    const [books, held] = [BigInt(total), BigInt(await cash.balanceOf(wallet))];
    // The issuer's treasury holding the token, paid from itself: its wallet in either case, beside a payee of its own.
    const items = [wallet, wallet.toLowerCase(), Wallet.createRandom().address].map((toAddress, n) => ({ entitlementId: newId('ent'), attempt: 1, investorId: newId('inv'), toAddress, amount: String(1_000 * (n + 1)) }));
    await db.tx((q) => payInstruction(q, { distributionId: newId('dst'), tokenId: 'tok', asset: 'CASH', payingAccountId: acc, items }, new Date()));
    const ws = await db.query<WithdrawalRow>('SELECT * FROM withdrawals WHERE entitlement_id = ANY($1::text[])', [items.map((i) => i.entitlementId)]);
    expect(ws.map((x) => x.entitlement_id)).toEqual([items[2].entitlementId]);
    expect(await ledger.balance(db, acc, 'CASH')).toMatchObject({ total, reserved: String(BigInt(reserved) + 3_000n) });
    expect(await run(deps(sender, 10), ws[0].id)).toEqual(['sent', 'completed']);
    // Only the other payee's 3000 left, on chain and in the books alike.
    expect(BigInt(await cash.balanceOf(wallet))).toBe(held - 3_000n);
    expect(await ledger.balance(db, acc, 'CASH')).toMatchObject({ total: String(books - 3_000n), reserved });
    const results = (await eventsOf<{ entitlementId: string; status: string; reason: string | null }>(db, 'distribution.payment_result')).filter((e) => items.some((i) => i.entitlementId === e.entitlementId));
    expect(results.map((e) => [e.entitlementId, e.status])).toEqual([[items[0].entitlementId, 'SKIPPED'], [items[1].entitlementId, 'SKIPPED'], [items[2].entitlementId, 'PAID']]);
    for (const e of results.slice(0, 2)) expect(e.reason).toContain(`is a custody wallet of the paying account ${acc}`);
  });

  test('a crash before or after a batch is sent re-sends the stored transaction: each payee paid once, in one transaction', async () => {
    const nonce = await client.provider.getTransactionCount(wallet);
    const lost: TransferSender = { ...sender, broadcast: async () => { throw new TransferError('process died', true); } };
    const late: TransferSender = { ...sender, broadcast: async (s) => { await sender.broadcast(s); throw new TransferError('connection reset', true); } };
    for (const [dying, after] of [[lost, ['sent', 'completed']], [late, ['completed']]] as const) {
      const ws = await payments(10n, 20n, 30n);
      expect(await broadcastOnce(deps(dying, 10))).toMatchObject({ step: 'pending', withdrawalIds: ws.map((x) => x.id) });
      const signed = await Promise.all(ws.map(async (x) => (await withdrawalById(db, x.id))!));
      expect(new Set(signed.map((x) => x.tx_hash)).size).toBe(1);
      // Restarted: the stored transaction, not a new one.
      expect(await run(deps(sender, 10), ...ws.map((x) => x.id))).toEqual(after);
      const done = await Promise.all(ws.map(async (x) => (await withdrawalById(db, x.id))!));
      expect(done.map((x) => [x.status, x.tx_hash, x.attempts])).toEqual(signed.map((x) => ['COMPLETED', x.tx_hash, 1]));
      for (const x of ws) expect(await cash.balanceOf(x.to_address)).toBe(BigInt(x.amount));
    }
    expect(await client.provider.getTransactionCount(wallet)).toBe(nonce + 2);
  });

  test('two broadcasters at once (two replicas) never put a payment in two transactions: each payee paid once or not at all', async () => {
    const ws = await payments(...Array.from({ length: 8 }, (_, i) => BigInt(100 + i)));
    const ids = ws.map((x) => x.id);
    const open = () => db.query<{ id: string }>("SELECT id FROM withdrawals WHERE id = ANY($1::text[]) AND status NOT IN ('COMPLETED','FAILED')", [ids]);
    const replica = () => ({ ...deps(sender, 3), settings: { maxAttempts: 5, retryMs: 0, rebroadcastMs: 0, pollMs: 0, paymentBatchMax: 3 } });
    for (let round = 0; round < 60 && (await open()).length; round++) await Promise.all([broadcastOnce(replica()), broadcastOnce(replica())]);
    expect(await open()).toEqual([]);
    const done = await Promise.all(ws.map(async (x) => (await withdrawalById(db, x.id))!));
    // One signer per wallet at a time: no transfer dropped for a nonce another replica used, every payment paid at its first attempt.
    expect(done.map((x) => [x.status, x.attempts])).toEqual(done.map(() => ['COMPLETED', 1]));
    for (const x of done) expect(await cash.balanceOf(x.to_address)).toBe(BigInt(x.amount));
    const inTx = new Map<string, number>();
    for (const x of done.filter((y) => y.status === 'COMPLETED')) inTx.set(x.tx_hash!, (inTx.get(x.tx_hash!) ?? 0) + 1);
    for (const [hash, n] of inTx) expect((await client.provider.getTransactionReceipt(hash))!.logs).toHaveLength(n);
    expect(await ledger.balance(db, acc, 'CASH')).toMatchObject({ reserved: '0' });
  });

  test('two replicas signing for one wallet at once: one signs, the other leaves it for later; each transfer is mined at its first attempt, on its own nonce', async () => {
    // Two custody processes on one database: the second its own connections (PGlite is one process's: there both share it).
    const other = onPostgres() ? await openDb(dbUrl) : db;
    try {
      const nonce = await client.provider.getTransactionCount(wallet);
      const ids = [await approved(11n), await approved(12n)];
      // Each replica, about to read the wallet's nonce, waits until the other is about to as well or has finished its step, so
      // that both are in their claiming transactions at once. On PGlite transactions queue: there is no overlap to wait for.
      const reached = [false, false];
      const settled = [false, false];
      const replica = (i: number): BroadcastDeps => ({
        ...deps(), db: i === 0 ? db : other, settings: { maxAttempts: 1, retryMs: 0, rebroadcastMs: 0, pollMs: 0 },
        signerOf: async (q, address) => {
          reached[i] = true;
          if (onPostgres()) await until('the other replica at the same point, or done', () => reached[1 - i] || settled[1 - i]);
          return KEYS.signer(q, address);
        },
      });
      await Promise.all([0, 1].map(async (i) => {
        try {
          await broadcastOnce(replica(i));
        } finally {
          settled[i] = true;
        }
      }));
      // One transfer signed between them: the other replica found the wallet taken and left its withdrawal for a later step, no attempt used.
      const signed = async () => (await eventsOf<{ withdrawalId: string }>(db, 'withdrawal.signed')).filter((e) => ids.includes(e.withdrawalId));
      expect((await signed()).length).toBe(1);
      await run({ ...deps(), settings: { maxAttempts: 1, retryMs: 0, rebroadcastMs: 0, pollMs: 0 } }, ...ids);
      const done = await Promise.all(ids.map(async (id) => (await withdrawalById(db, id))!));
      expect(done.map((x) => [x.status, x.attempts])).toEqual([['COMPLETED', 1], ['COMPLETED', 1]]);
      const nonces = await Promise.all(done.map(async (x) => (await client.provider.getTransaction(x.tx_hash!))!.nonce));
      expect(nonces.sort((a, b) => a - b)).toEqual([nonce, nonce + 1]);
      expect(await client.provider.getTransactionCount(wallet)).toBe(nonce + 2);
      expect((await signed()).length).toBe(2);
    } finally {
      if (other !== db) await other.close();
    }
  });

  test('a replica killed after storing its signed transfer, before sending it: another sends that very transfer, then signs the next on the next nonce', async () => {
    const other = onPostgres() ? await openDb(dbUrl) : db;
    try {
      const nonce = await client.provider.getTransactionCount(wallet);
      const ids = [await approved(13n), await approved(14n)];
      const killed: TransferSender = { ...sender, broadcast: async () => { throw new TransferError('process killed', true); } };
      expect((await broadcastOnce({ ...deps(killed), db: other }))?.step).toBe('pending');
      const stored = (await Promise.all(ids.map(async (id) => (await withdrawalById(db, id))!))).find((x) => x.status === 'BROADCASTING')!;
      expect(await client.provider.getTransaction(stored.tx_hash!)).toBeNull();
      await run(deps(), ...ids);
      const done = await Promise.all(ids.map(async (id) => (await withdrawalById(db, id))!));
      expect(done.map((x) => [x.status, x.attempts])).toEqual([['COMPLETED', 1], ['COMPLETED', 1]]);
      expect(done.find((x) => x.id === stored.id)!.tx_hash).toBe(stored.tx_hash);
      const nonces = await Promise.all(done.map(async (x) => (await client.provider.getTransaction(x.tx_hash!))!.nonce));
      expect(nonces.sort((a, b) => a - b)).toEqual([nonce, nonce + 1]);
    } finally {
      if (other !== db) await other.close();
    }
  });

  test('the cash token\'s batchTransfer: lengths that differ, a zero address or an overdraft anywhere revert the whole batch', async () => {
    const [a, b] = [Wallet.createRandom().address, Wallet.createRandom().address];
    await client.send(cash.mint(client.address, 1_000n));
    const before = await cash.balanceOf(client.address);
    await expect(cash.batchTransfer.staticCall([a, b], [1n])).rejects.toThrow(/batch lengths differ/);
    await expect(cash.batchTransfer.staticCall([a, '0x' + '00'.repeat(20)], [1n, 1n])).rejects.toThrow(/transfer to the zero address/);
    await expect(cash.batchTransfer.staticCall([a, b], [before, 1n])).rejects.toThrow(/exceeds balance/);
    // Mined with a fixed gas limit (as custody sends it): reverted, nothing moved.
    const sent = await client.send(cash.batchTransfer([a, b], [before, 1n], { gasLimit: 300_000 })).catch((e: unknown) => e);
    expect(sent).toBeInstanceOf(Error);
    expect([await cash.balanceOf(a), await cash.balanceOf(b), await cash.balanceOf(client.address)]).toEqual([0n, 0n, before]);
    await client.send(cash.batchTransfer([a, b], [1n, 2n]));
    expect([await cash.balanceOf(a), await cash.balanceOf(b), await cash.balanceOf(client.address)]).toEqual([1n, 2n, before - 3n]);
  });

  test('payments in a token without batchTransfer (a bank\'s plain ERC-20 deposit token) go one transfer each, all paid', async () => {
    const art = JSON.parse(readFileSync(`${packageDir('@openzeppelin/contracts')}/build/contracts/ERC20PresetFixedSupply.json`, 'utf8'));
    const plain = await client.deploy({ contractName: 'ERC20PresetFixedSupply', abi: art.abi, bytecode: art.bytecode }, ['Plain', 'PLN', 1_000n, wallet]);
    const asset = newId('tok');
    await ledger.registerAsset(db, asset, plain.target as string);
    await ledger.credit(db, 'custody', { accountId: acc, asset, amount: 1_000n, idempotencyKey: 'dep-plain', reason: 'deposit' });
    const ws = await payments(asset, 10n, 20n, 30n);
    expect(await run(deps(sender, 10), ...ws.map((x) => x.id))).toEqual(['sent', 'completed', 'sent', 'completed', 'sent', 'completed']);
    const done = await Promise.all(ws.map(async (x) => (await withdrawalById(db, x.id))!));
    expect(done.map((x) => x.status)).toEqual(['COMPLETED', 'COMPLETED', 'COMPLETED']);
    expect(new Set(done.map((x) => x.tx_hash)).size).toBe(3);
    for (const x of ws) expect(await plain.balanceOf(x.to_address)).toBe(BigInt(x.amount));
    expect(await ledger.balance(db, acc, asset)).toMatchObject({ total: '940', reserved: '0' });
  });
});
