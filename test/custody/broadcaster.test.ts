import { afterAll, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { id as hashOf } from 'ethers';
import type { Db } from '../../subgraphs/kit/db/types.js';
import type { KitSigner } from '../../subgraphs/kit/signer/index.js';
import { broadcastOnce, TransferError, type BroadcastDeps, type SignedTransfer, type TransferOutcome, type TransferRequest, type TransferSender } from '../../subgraphs/custody/broadcaster.js';
import type { CustodyEnv } from '../../subgraphs/custody/services.js';
import { ledger } from '../../subgraphs/custody/ledger.js';
import { withdrawalById } from '../../subgraphs/custody/store/withdrawals.js';
import * as w from '../../subgraphs/custody/withdrawals.js';
import { dbLabel } from '../support/db.js';
import { KEYS, TestClock, count, openAccount, openCustodyDb, testEnv, testPolicy, user } from './support.js';

/**
 * A chain stand-in with the properties the broadcaster relies on: one nonce
 * sequence per sender, a signed transaction identified by its hash, sending
 * the same one twice is harmless, transfers beyond the balance revert.
 */
class FakeChain implements TransferSender {
  automine = true;
  balances = new Map<string, bigint>();
  nonces = new Map<string, number>();
  txs = new Map<string, { req: TransferRequest; nonce: number; status?: 'confirmed' | 'reverted' }>();
  mempool = new Set<string>();
  signatures = 0;
  /** Failures the next broadcasts throw, in order. */
  broadcastFailures: TransferError[] = [];
  /** Sends, then throws: the process "dies" after the node accepted the transaction. */
  dieAfterSend = false;

  transferred = (to: string) => this.balances.get(to) ?? 0n;

  async sign(req: TransferRequest, signer: KitSigner): Promise<SignedTransfer> {
    if (signer.address !== req.from) throw new Error('signed with the wrong key');
    this.signatures++;
    const nonce = this.nonces.get(req.from) ?? 0;
    const txHash = hashOf(`${req.withdrawalId}/${nonce}/${this.signatures}`);
    this.txs.set(txHash, { req, nonce });
    return { txHash, rawTx: txHash };
  }

  async broadcast(s: SignedTransfer): Promise<void> {
    const failure = this.broadcastFailures.shift();
    if (failure) throw failure;
    const tx = this.txs.get(s.txHash)!;
    if (!tx.status && tx.nonce >= (this.nonces.get(tx.req.from) ?? 0)) this.mempool.add(s.txHash);
    if (this.automine) this.mine();
    if (this.dieAfterSend) {
      this.dieAfterSend = false;
      throw new TransferError('connection reset after the node took the transaction', true);
    }
  }

  mine(): void {
    for (const h of [...this.mempool]) {
      const tx = this.txs.get(h)!;
      if (tx.nonce !== (this.nonces.get(tx.req.from) ?? 0)) continue;
      const have = this.balances.get(tx.req.from) ?? 0n;
      tx.status = have >= tx.req.amount ? 'confirmed' : 'reverted';
      if (tx.status === 'confirmed') {
        this.balances.set(tx.req.from, have - tx.req.amount);
        this.balances.set(tx.req.to, this.transferred(tx.req.to) + tx.req.amount);
      }
      this.nonces.set(tx.req.from, tx.nonce + 1);
      this.mempool.delete(h);
    }
  }

  /** Another transaction of the wallet takes the nonce (e.g. a manual send). */
  useNonce(from: string): void {
    this.nonces.set(from, (this.nonces.get(from) ?? 0) + 1);
  }

  async outcome(s: SignedTransfer): Promise<TransferOutcome> {
    const tx = this.txs.get(s.txHash)!;
    if (tx.status) return tx.status;
    if (this.mempool.has(s.txHash)) return 'pending';
    return tx.nonce < (this.nonces.get(tx.req.from) ?? 0) ? 'dropped' : 'unknown';
  }
}

const SETTINGS = { maxAttempts: 3, retryMs: 5_000, rebroadcastMs: 30_000, pollMs: 1_000 };
const TO = '0x000000000000000000000000000000000000bEEF';

describe(`the withdrawal broadcaster (${dbLabel()})`, () => {
  let db: Db;
  let cleanup: () => Promise<void>;
  let clock: TestClock;
  let env: CustodyEnv;
  let chain: FakeChain;
  let deps: BroadcastDeps;
  let acc: string;
  let wallet: string;

  beforeAll(async () => {
    ({ db, cleanup } = await openCustodyDb());
    await ledger.registerAsset(db, 'CASH', '0x' + 'ca'.repeat(20));
  }, 60_000);
  afterAll(async () => cleanup?.());

  beforeEach(async () => {
    clock = new TestClock();
    env = testEnv(db, { clock, defaults: testPolicy({ approvalsRequired: 1, destinationDelaySeconds: 0 }) });
    chain = new FakeChain();
    deps = { db, now: clock.now, sender: chain, settings: SETTINGS, signerOf: (q, address) => KEYS.signer(q, address) };
    acc = await openAccount(db, 'acme');
    wallet = (await db.query<{ address: string }>('SELECT address FROM wallets WHERE account_id = $1', [acc]))[0].address;
    await ledger.credit(db, 'settlement', { accountId: acc, asset: 'CASH', amount: 1_000n, idempotencyKey: `dep-${acc}`, reason: 'deposit' });
    await w.addWithdrawalDestination(env, user('acme', 'alice', ['CUSTODIAN']), { accountId: acc, address: TO, label: 'treasury' });
  });

  async function approved(amount: bigint): Promise<string> {
    const { withdrawal } = await w.requestWithdrawal(env, user('acme', 'alice', ['CUSTODIAN']), { accountId: acc, asset: 'CASH', amount, toAddress: TO, idempotencyKey: `w-${Math.random()}` });
    await w.approveWithdrawal(env, user('acme', 'bob', ['CUSTODIAN']), withdrawal!.id);
    return withdrawal!.id;
  }
  const statusOf = async (id: string) => (await withdrawalById(db, id))!;
  const books = () => ledger.balance(db, acc, 'CASH');
  /** Runs steps until nothing is due, moving the clock on between them. */
  async function drain(maxSteps = 20): Promise<string[]> {
    const steps: string[] = [];
    for (let i = 0; i < maxSteps; i++) {
      const s = await broadcastOnce(deps);
      if (s) steps.push(s.step);
      else if (!(await count(db, "SELECT count(*) AS n FROM withdrawals WHERE status IN ('APPROVED','BROADCASTING')"))) break;
      clock.advance(SETTINGS.retryMs / 1000);
    }
    return steps;
  }

  test('an approved withdrawal is signed, sent, confirmed, and only then debited from the books', async () => {
    chain.balances.set(wallet, 1_000n);
    const id = await approved(400n);
    expect(await books()).toMatchObject({ total: '1000', reserved: '400' });
    expect((await broadcastOnce(deps))?.step).toBe('sent');
    expect((await statusOf(id)).status).toBe('BROADCASTING');
    expect(await books()).toMatchObject({ total: '1000', reserved: '400' });
    clock.advance(1);
    expect((await broadcastOnce(deps))?.step).toBe('completed');
    const done = await statusOf(id);
    expect(done).toMatchObject({ status: 'COMPLETED', attempts: 1 });
    expect(done.tx_hash).toMatch(/^0x[0-9a-f]{64}$/);
    expect(await books()).toEqual({ accountId: acc, asset: 'CASH', total: '600', reserved: '0', available: '600' });
    expect(chain.transferred(TO)).toBe(400n);
    const topics = (await db.query<{ topic: string }>("SELECT topic FROM outbox WHERE key = $1 AND topic LIKE 'withdrawal.%' ORDER BY seq", [id])).map((e) => e.topic);
    expect(topics).toEqual(['withdrawal.requested', 'withdrawal.approval_recorded', 'withdrawal.approved', 'withdrawal.signed', 'withdrawal.completed']);
  });

  test('a reverted transfer is signed again after a pause and completes once', async () => {
    const id = await approved(400n); // the wallet holds nothing on chain yet: the first transfer reverts
    expect((await broadcastOnce(deps))?.step).toBe('sent');
    clock.advance(1);
    expect((await broadcastOnce(deps))?.step).toBe('retry');
    expect(await statusOf(id)).toMatchObject({ status: 'APPROVED', attempts: 1 });
    expect(await broadcastOnce(deps)).toBeNull(); // not before the retry delay
    chain.balances.set(wallet, 1_000n);
    expect(await drain()).toEqual(['sent', 'completed']);
    expect(await statusOf(id)).toMatchObject({ status: 'COMPLETED', attempts: 2 });
    expect(chain.transferred(TO)).toBe(400n);
    expect(await books()).toMatchObject({ total: '600', reserved: '0' });
  });

  test('after the last attempt fails the withdrawal is FAILED and its reservation released, never half-done', async () => {
    const id = await approved(400n);
    expect(await drain()).toEqual(['sent', 'retry', 'sent', 'retry', 'sent', 'failed']);
    const failed = await statusOf(id);
    expect(failed).toMatchObject({ status: 'FAILED', attempts: 3 });
    expect(failed.last_error).toMatch(/reverted/);
    expect(await books()).toEqual({ accountId: acc, asset: 'CASH', total: '1000', reserved: '0', available: '1000' });
    expect(chain.transferred(TO)).toBe(0n);
    expect(await count(db, "SELECT count(*) AS n FROM outbox WHERE topic = 'withdrawal.failed' AND key = $1", [id])).toBe(1);
  });

  test('an unreachable node gets the same signed transaction again: one signature, one transfer', async () => {
    chain.balances.set(wallet, 1_000n);
    chain.broadcastFailures = [new TransferError('ECONNREFUSED', true), new TransferError('ECONNREFUSED', true)];
    const id = await approved(100n);
    const first = await broadcastOnce(deps);
    expect(first?.step).toBe('pending');
    const hash = (await statusOf(id)).tx_hash;
    expect(await drain()).toEqual(['pending', 'sent', 'completed']);
    expect(await statusOf(id)).toMatchObject({ status: 'COMPLETED', tx_hash: hash, attempts: 1 });
    expect(chain.signatures).toBe(1);
    expect(chain.transferred(TO)).toBe(100n);
  });

  test('a process that dies after the node took the transaction resumes from the stored transaction: no second transfer', async () => {
    chain.balances.set(wallet, 1_000n);
    chain.dieAfterSend = true;
    const id = await approved(100n);
    expect((await broadcastOnce(deps))?.step).toBe('pending');
    // A new process: same database, new deps.
    const restarted: BroadcastDeps = { ...deps, sender: chain };
    clock.advance(SETTINGS.retryMs / 1000);
    expect((await broadcastOnce(restarted))?.step).toBe('completed');
    expect(chain.signatures).toBe(1);
    expect(chain.transferred(TO)).toBe(100n);
    expect((await statusOf(id)).status).toBe('COMPLETED');
  });

  test('a transfer the node refuses is signed again; one whose nonce another transaction took is signed again', async () => {
    chain.balances.set(wallet, 1_000n);
    chain.broadcastFailures = [new TransferError('insufficient funds for gas', false)];
    const id = await approved(100n);
    expect((await broadcastOnce(deps))?.step).toBe('retry');
    expect(await drain()).toEqual(['sent', 'completed']);
    expect(await statusOf(id)).toMatchObject({ status: 'COMPLETED', attempts: 2 });

    chain.automine = false;
    const id2 = await approved(50n);
    expect((await broadcastOnce(deps))?.step).toBe('sent');
    chain.mempool.clear(); // evicted
    chain.useNonce(wallet); // and its nonce taken by another transaction
    chain.automine = true;
    expect(await drain()).toEqual(['retry', 'sent', 'completed']);
    expect(await statusOf(id2)).toMatchObject({ status: 'COMPLETED', attempts: 2 });
    expect(chain.transferred(TO)).toBe(150n);
  });

  test('a transfer still pending is waited for, not signed again; a transfer the node forgot is sent again after a while', async () => {
    chain.balances.set(wallet, 1_000n);
    chain.automine = false;
    const id = await approved(100n);
    expect((await broadcastOnce(deps))?.step).toBe('sent');
    clock.advance(2);
    expect((await broadcastOnce(deps))?.step).toBe('pending');
    chain.mempool.clear(); // the node forgot it; its nonce is still free
    clock.advance(2);
    expect((await broadcastOnce(deps))?.step).toBe('pending'); // too soon to send again
    clock.advance(SETTINGS.rebroadcastMs / 1000);
    expect((await broadcastOnce(deps))?.step).toBe('sent');
    chain.mine();
    clock.advance(2);
    expect((await broadcastOnce(deps))?.step).toBe('completed');
    expect(chain.signatures).toBe(1);
    expect((await statusOf(id)).status).toBe('COMPLETED');
  });

  test('one transfer in flight per wallet; a rejected withdrawal is never sent', async () => {
    chain.balances.set(wallet, 1_000n);
    chain.automine = false;
    const a = await approved(100n);
    const b = await approved(100n);
    const c = await approved(100n);
    await w.rejectWithdrawal(env, user('acme', 'carol', ['CUSTODIAN']), c, 'changed my mind');
    expect((await broadcastOnce(deps))?.withdrawalId).toBe(a);
    expect(await broadcastOnce(deps)).toBeNull(); // b waits for a's wallet nonce
    chain.automine = true;
    chain.mine();
    expect(await drain()).toEqual(['completed', 'sent', 'completed']);
    expect((await statusOf(b)).status).toBe('COMPLETED');
    expect((await statusOf(c)).status).toBe('REJECTED');
    expect(chain.transferred(TO)).toBe(200n);
    expect(await books()).toMatchObject({ total: '800', reserved: '0' });
  });
});
