import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { Wallet } from 'ethers';
import { balancesOfAccounts } from '../../subgraphs/custody/store/ledger.js';
import { ledger } from '../../subgraphs/custody/ledger.js';
import { reconcile, reconciliation, runReconciliation } from '../../subgraphs/custody/reconciliation.js';
import { recordConsent } from '../../subgraphs/custody/dvp-signing.js';
import { recoverCustodyWallet } from '../../subgraphs/custody/recovery.js';
import { broadcastOnce } from '../../subgraphs/custody/broadcaster.js';
import { chainTransferSender } from '../../subgraphs/custody/chain-sender.js';
import * as w from '../../subgraphs/custody/withdrawals.js';
import { withdrawalById } from '../../subgraphs/custody/store/withdrawals.js';
import { dbLabel } from '../support/db.js';
import { ChainWorld } from './chain-support.js';
import { KEYS, count, eventsOf, openAccount, service, testEnv, testPolicy, user, walletOf } from './support.js';

const code = (p: Promise<unknown>) => p.then(() => 'no error', (e: { extensions?: { code?: string } }) => e.extensions?.code ?? String(e));

describe(`custody follows the chain (anvil, ${dbLabel()})`, () => {
  let c: ChainWorld;
  let a: string, b: string;
  let walletA: string, walletB: string;
  const outsider = new Wallet('0x' + '0d'.repeat(32)).address;
  const custodian = user('acme', 'alice', ['CUSTODIAN']);

  const books = async (acc: string) => {
    const [r] = (await balancesOfAccounts(c.db, [acc])).filter((x) => x.asset === 'CASH');
    return r ? { total: r.total, onChain: r.on_chain, block: r.on_chain_block } : null;
  };
  const deposits = (acc: string) => count(c.db, 'SELECT count(*) AS n FROM deposits WHERE account_id = $1', [acc]);

  beforeAll(async () => {
    c = await ChainWorld.start();
    a = await openAccount(c.db, 'acme');
    b = await openAccount(c.db, 'acme');
    [walletA, walletB] = [await walletOf(c.db, a), await walletOf(c.db, b)];
  }, 120_000);
  afterAll(async () => c?.stop());

  test('a mint into a custody wallet is credited once, only after the confirmations, with a deposit.credited event', async () => {
    const indexer = c.indexer({ confirmations: 2 });
    const tx = await c.mint(walletA, 1_000n);
    await indexer.syncOnce();
    expect(await deposits(a)).toBe(0);
    expect((await books(a))?.total ?? '0').toBe('0');
    await c.mine(2);
    await indexer.syncOnce();
    await indexer.syncOnce();
    expect(await books(a)).toMatchObject({ total: '1000', onChain: '1000' });
    expect(Number((await books(a))!.block)).toBe((await c.bank.provider.getBlockNumber()) - 2);
    expect(await deposits(a)).toBe(1);
    expect(await eventsOf(c.db, 'deposit.credited')).toEqual([expect.objectContaining({ accountId: a, asset: 'CASH', amount: '1000', txHash: tx, from: '0x0000000000000000000000000000000000000000' })]);
  });

  test('a transfer from an outside address is a deposit; addresses that are not ours are ignored', async () => {
    const indexer = c.indexer();
    await c.mint(outsider, 500n);
    const key = '0x' + '0d'.repeat(32);
    await c.fundGas(outsider);
    const sender = new Wallet(key, c.bank.provider);
    const cash = c.cash.connect(sender) as typeof c.cash;
    await c.bank.waitForReceipt((await cash.transfer(walletB, 200n)).hash);
    await c.mine();
    await indexer.syncOnce();
    expect(await books(b)).toMatchObject({ total: '200', onChain: '200' });
    expect(await count(c.db, `SELECT count(*) AS n FROM chain_movements WHERE wallet = $1`, [outsider])).toBe(0);
  });

  test('a transfer between two custody wallets is no deposit (its flow books it); a withdrawal to another account\'s wallet is', async () => {
    const indexer = c.indexer();
    await c.sendFromCustody(walletA, walletB, 100n);
    await c.mine();
    await indexer.syncOnce();
    expect(await books(a)).toMatchObject({ total: '1000', onChain: '900' });
    expect(await books(b)).toMatchObject({ total: '200', onChain: '300' });
    // The books of such a move are the flow's (settlement's bookSettlement does this in one transaction).
    await ledger.debit(c.db, 'settlement', { accountId: a, asset: 'CASH', amount: 100n, idempotencyKey: 'dvp-1', reason: 'dvp leg' });
    await ledger.credit(c.db, 'settlement', { accountId: b, asset: 'CASH', amount: 100n, idempotencyKey: 'dvp-1-credit', reason: 'dvp leg' });

    // A withdrawal custody signs from A to B's wallet: consumed at A, a deposit at B.
    const env = testEnv(c.db, { defaults: testPolicy({ approvalsRequired: 1, destinationDelaySeconds: 0 }), clock: { now: () => new Date() } as never });
    await w.addWithdrawalDestination(env, custodian, { accountId: a, address: walletB, label: 'sister account' });
    const { withdrawal } = await w.requestWithdrawal(env, custodian, { accountId: a, asset: 'CASH', amount: 50n, toAddress: walletB, idempotencyKey: 'w-to-b' });
    await w.approveWithdrawal(env, user('acme', 'bob', ['CUSTODIAN']), withdrawal!.id);
    const sender = chainTransferSender({ provider: c.bank.provider, chainId: c.bank.chainId, gasLimit: 150_000, confirmations: 1 });
    const deps = { db: c.db, now: () => new Date(), sender, signerOf: (q: never, addr: string) => KEYS.signer(q, addr), settings: { maxAttempts: 3, retryMs: 0, rebroadcastMs: 0, pollMs: 0 } };
    for (let i = 0; i < 10 && (await withdrawalById(c.db, withdrawal!.id))!.status !== 'COMPLETED'; i++) {
      await broadcastOnce(deps);
      await c.mine();
    }
    await indexer.syncOnce();
    expect(await books(a)).toMatchObject({ total: '850', onChain: '850' });
    expect(await books(b)).toMatchObject({ total: '350', onChain: '350' });
    expect((await reconcile(c.db, { org: null, asOf: null })).lines.filter((l) => l.difference !== 0n)).toEqual([]);
  });

  test('a custody wallet sending to itself moves nothing: its on-chain figure and books stay, no deposit', async () => {
    const indexer = c.indexer();
    const [before, credited] = [await books(a), await deposits(a)];
    await c.sendFromCustody(walletA, walletA, 10n);
    await c.mine();
    await indexer.syncOnce();
    expect(await books(a)).toMatchObject({ total: before!.total, onChain: before!.onChain });
    expect(await deposits(a)).toBe(credited);
    expect((await reconcile(c.db, { org: null, asOf: null })).lines.filter((l) => l.difference !== 0n)).toEqual([]);
  });

  test('a restarted indexer resumes from its cursor: earlier logs are not applied again, later ones once, also with two indexers at once', async () => {
    const first = c.indexer();
    await first.syncOnce();
    await first.stop();
    const before = await deposits(a);
    for (let i = 0; i < 4; i++) await c.mint(walletA, 10n);
    await c.mine();
    // Two processes wake up together on the same database: each range is applied by one of them.
    await Promise.all([c.indexer().syncOnce(), c.indexer().syncOnce()]);
    await c.indexer().syncOnce();
    expect(await deposits(a)).toBe(before + 4);
    expect(await books(a)).toMatchObject({ total: '890', onChain: '890' });
    expect(await count(c.db, `SELECT count(*) - count(DISTINCT (tx_hash, log_index)) AS n FROM deposits`)).toBe(0);
  });

  test('reconciliation lists every difference; the job announces a break after the confirming runs and its clearing', async () => {
    const indexer = c.indexer();
    await indexer.syncOnce();
    const beforePhantom = new Date();
    await new Promise((r) => setTimeout(r, 20));
    await ledger.credit(c.db, 'custody', { accountId: b, asset: 'CASH', amount: 7n, idempotencyKey: 'phantom', reason: 'booked in error' });
    const now = await reconciliation(c.db, custodian, null, new Date());
    expect(now.lines.filter((l) => l.difference !== 0n)).toEqual([
      { accountId: b, org: 'acme', asset: 'CASH', books: 357n, onChain: 350n, difference: 7n, wallets: [{ address: walletB, onChain: 350n }] },
    ]);
    // As of an earlier instant the books had no phantom.
    expect((await reconciliation(c.db, custodian, beforePhantom, new Date())).lines.filter((l) => l.difference !== 0n)).toEqual([]);

    expect(await runReconciliation(c.db, new Date(), 2)).toMatchObject({ opened: 0, open: 0 });
    expect(await eventsOf(c.db, 'custody.reconciliation.break')).toEqual([]);
    expect(await runReconciliation(c.db, new Date(), 2)).toMatchObject({ opened: 1, open: 1 });
    expect(await eventsOf(c.db, 'custody.reconciliation.break')).toEqual([expect.objectContaining({ accountId: b, asset: 'CASH', books: '357', onChain: '350', difference: '7' })]);
    expect(await runReconciliation(c.db, new Date(), 2)).toMatchObject({ opened: 0, open: 1 });
    expect(await eventsOf(c.db, 'custody.reconciliation.break')).toHaveLength(1); // announced once while unchanged

    await ledger.debit(c.db, 'custody', { accountId: b, asset: 'CASH', amount: 7n, idempotencyKey: 'phantom-undo', reason: 'correction' });
    expect(await runReconciliation(c.db, new Date(), 2)).toMatchObject({ cleared: 1, open: 0 });
    expect(await eventsOf(c.db, 'custody.reconciliation.cleared')).toEqual([expect.objectContaining({ accountId: b, asset: 'CASH' })]);
  });

  test('a settlement on chain and not booked yet is in flight, no break; a difference beyond what it explains is; booked, nothing is left', async () => {
    const indexer = c.indexer();
    await indexer.syncOnce();
    expect(await runReconciliation(c.db, new Date(), 1)).toMatchObject({ open: 0 });
    // A DvP batch as settlement drives it: each side's payment reserved, each side's consent signed (a pays 30, b pays 1), mined, not booked (custody was away).
    const reserve = (acc: string, amount: bigint, key: string) =>
      ledger.reserve(c.db, 'settlement', { accountId: acc, asset: 'CASH', amount, idempotencyKey: key, reason: 'dvp leg' }).then((r) => r.reservation.reservationId);
    const [resA, resB] = [await reserve(a, 30n, 'flight-a'), await reserve(b, 1n, 'flight-b')];
    const [{ contract }] = await c.db.query<{ contract: string }>("SELECT lower(contract_address) AS contract FROM assets WHERE id = 'CASH'");
    const batchId = '0x' + '0f'.repeat(32);
    await c.db.tx((q) => recordConsent(q, { batchId, accountId: a, reservationIds: [resA], paying: [{ asset: 'CASH', amount: 30n }], receiving: new Map([[contract, 1n]]) }));
    await c.db.tx((q) => recordConsent(q, { batchId, accountId: b, reservationIds: [resB], paying: [{ asset: 'CASH', amount: 1n }], receiving: new Map([[contract, 30n]]) }));
    await c.sendFromCustody(walletA, walletB, 30n);
    await c.sendFromCustody(walletB, walletA, 1n);
    await c.mine();
    await indexer.syncOnce();
    const diffs = async () => (await reconcile(c.db, { org: null, asOf: null })).lines.filter((l) => l.difference !== 0n).map((l) => [l.accountId, l.difference]);
    expect(await diffs()).toEqual(expect.arrayContaining([[a, 29n], [b, -29n]]));
    const breaksBefore = (await eventsOf(c.db, 'custody.reconciliation.break')).length;
    expect(await runReconciliation(c.db, new Date(), 1)).toMatchObject({ opened: 0, open: 0 });

    // A phantom credit on top is more than the settlement explains: a break.
    await ledger.credit(c.db, 'custody', { accountId: a, asset: 'CASH', amount: 50n, idempotencyKey: 'flight-phantom', reason: 'booked in error' });
    expect(await runReconciliation(c.db, new Date(), 1)).toMatchObject({ opened: 1, open: 1 });
    await ledger.debit(c.db, 'custody', { accountId: a, asset: 'CASH', amount: 50n, idempotencyKey: 'flight-phantom-undo', reason: 'correction' });
    expect(await runReconciliation(c.db, new Date(), 1)).toMatchObject({ cleared: 1, open: 0 });

    // Custody is back: the booking consumes the reservations and credits the receivers; books equal chain, nothing is in flight.
    await ledger.consume(c.db, 'settlement', { ref: { reservationId: resA }, amount: 30n, idempotencyKey: 'flight-book-a' });
    await ledger.credit(c.db, 'settlement', { accountId: b, asset: 'CASH', amount: 30n, idempotencyKey: 'flight-credit-b', reason: 'dvp leg' });
    await ledger.consume(c.db, 'settlement', { ref: { reservationId: resB }, amount: 1n, idempotencyKey: 'flight-book-b' });
    await ledger.credit(c.db, 'settlement', { accountId: a, asset: 'CASH', amount: 1n, idempotencyKey: 'flight-credit-a', reason: 'dvp leg' });
    expect(await diffs()).toEqual([]);
    expect(await runReconciliation(c.db, new Date(), 1)).toMatchObject({ opened: 0, open: 0 });
    expect((await eventsOf(c.db, 'custody.reconciliation.break')).length).toBe(breaksBefore + 1); // only the phantom's
    // Back as before for the tests below (a move its flow books).
    await c.sendFromCustody(walletB, walletA, 29n);
    await c.mine();
    await indexer.syncOnce();
    await ledger.debit(c.db, 'settlement', { accountId: b, asset: 'CASH', amount: 29n, idempotencyKey: 'flight-back-b', reason: 'move back' });
    await ledger.credit(c.db, 'settlement', { accountId: a, asset: 'CASH', amount: 29n, idempotencyKey: 'flight-back-a', reason: 'move back' });
    expect(await diffs()).toEqual([]);
  });

  test('reconciliation: a future asOf is a typed error, another organisation sees nothing, an investor is refused', async () => {
    expect(await code(reconciliation(c.db, custodian, new Date(Date.now() + 60_000), new Date()))).toBe('INPUT.INVALID_AS_OF');
    expect((await reconciliation(c.db, user('globex', 'mallory', ['AUDITOR']), null, new Date())).lines).toEqual([]);
    expect(await code(reconciliation(c.db, user('acme', 'ivan', ['INVESTOR']), null, new Date()))).toBe('FORBIDDEN');
    expect((await reconciliation(c.db, service('ops'), null, new Date())).lines.length).toBeGreaterThan(0);
  });

  test('wallet recovery: a new active wallet, balances stay, the move to it is no deposit and the books match the chain', async () => {
    const env = testEnv(c.db);
    const r = await recoverCustodyWallet(env, KEYS, custodian, { accountId: a, reason: 'key material lost', idempotencyKey: 'rec-a' });
    expect(r).toMatchObject({ account_id: a, lost_wallet: walletA });
    expect(await recoverCustodyWallet(env, KEYS, custodian, { accountId: a, reason: 'key material lost', idempotencyKey: 'rec-a' })).toEqual(r);
    const newWallet = await walletOf(c.db, a);
    expect(newWallet).toBe(r.new_wallet);
    expect(newWallet).not.toBe(walletA);
    expect(await eventsOf(c.db, 'account.wallet_recovered')).toEqual([expect.objectContaining({ accountId: a, lostWallet: walletA, newWallet })]);

    // The tokens follow (for an ERC-3643 token issuance's recoveryAddress; for the cash token the retired key still signs).
    const depositsBefore = await deposits(a);
    await c.sendFromCustody(walletA, newWallet, 890n);
    await c.mine();
    await c.indexer().syncOnce();
    expect(await deposits(a)).toBe(depositsBefore);
    expect(await books(a)).toMatchObject({ total: '890', onChain: '890' });
    const line = (await reconcile(c.db, { org: 'acme', asOf: null })).lines.find((l) => l.accountId === a)!;
    expect(line).toMatchObject({ books: 890n, onChain: 890n, difference: 0n });
    expect(new Map(line.wallets.map((x) => [x.address, x.onChain]))).toEqual(new Map([[walletA, 0n], [newWallet, 890n]]));

    // Later deposits go to the new wallet and are credited as usual.
    await c.mint(newWallet, 5n);
    await c.mine();
    await c.indexer().syncOnce();
    expect(await books(a)).toMatchObject({ total: '895', onChain: '895' });
  });

  test('wallet recovery: bad input, replays with other content, other organisations and other roles are typed errors; nothing changes', async () => {
    const env = testEnv(c.db);
    const wallets = await count(c.db, 'SELECT count(*) AS n FROM wallets');
    const go = (caller = custodian, i: Record<string, unknown> = {}) =>
      code(recoverCustodyWallet(env, KEYS, caller, { accountId: b, reason: 'lost', idempotencyKey: 'rec-b', ...i } as never));
    expect(await go(custodian, { accountId: 'acc_nope' })).toBe('INPUT.INVALID_ACCOUNT_ID');
    expect(await go(custodian, { reason: '  ' })).toBe('INPUT.INVALID_TEXT');
    expect(await go(custodian, { idempotencyKey: '' })).toBe('INPUT.INVALID_IDEMPOTENCY_KEY');
    expect(await go(user('globex', 'mallory', ['CUSTODIAN']))).toBe('CUSTODY.UNKNOWN_ACCOUNT');
    expect(await go(user('acme', 'ivy', ['ISSUER_AGENT']))).toBe('FORBIDDEN');
    expect(await go(custodian, { accountId: a, idempotencyKey: 'rec-a', reason: 'another reason' })).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    expect(await count(c.db, 'SELECT count(*) AS n FROM wallets')).toBe(wallets);
  });
});
