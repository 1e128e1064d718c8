import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { parseEther, type Contract } from 'ethers';
import type { Db } from '../../subgraphs/kit/db/types.js';
import { startAnvil, type AnvilNode } from '../../scripts/chain/anvil.js';
import { createChainClient, type ChainClient } from '../../subgraphs/kit/chain/client.js';
import { deployCashToken } from '../../scripts/chain/cash-token.js';
import { appError, errorCode } from '../../subgraphs/kit/errors.js';
import { startHttpServer } from '../../subgraphs/kit/http.js';
import { InternalClient, internalRoutes } from '../../subgraphs/kit/internal.js';
import { isTransient } from '../../subgraphs/settlement/services.js';
import { openKeyStore } from '../../subgraphs/kit/signer/index.js';
import { broadcastOnce, TransferError, type BroadcastSettings, type TransferSender } from '../../subgraphs/custody/broadcaster.js';
import { chainTransferSender, signNativeSweep, tokenBalance } from '../../subgraphs/custody/chain-sender.js';
import { recordConsent } from '../../subgraphs/custody/dvp-signing.js';
import { peerCalls, peerItemError } from '../../subgraphs/kit/contracts/calls.js';
import { custodyDvpInternal } from '../../subgraphs/custody/internal.js';
import type { SubgraphRuntime } from '../../subgraphs/kit/subgraph.js';
import { walletKeys, type WalletKeys } from '../../subgraphs/custody/keys.js';
import { ledger } from '../../subgraphs/custody/ledger.js';
import { openCustodyAccount } from '../../subgraphs/custody/accounts.js';
import { sweepById } from '../../subgraphs/custody/store/sweeps.js';
import { sweepOnce, type SweepDeps } from '../../subgraphs/custody/sweep-mover.js';
import { withdrawalById } from '../../subgraphs/custody/store/withdrawals.js';
import * as sw from '../../subgraphs/custody/sweeps.js';
import * as wd from '../../subgraphs/custody/withdrawals.js';
import { dbLabel } from '../support/db.js';
import { testHsm } from '../support/hsm.js';
import { KEK, eventsOf, knowsEveryInvestor, openCustodyDb, service, testEnv, testPolicy, user } from './support.js';

const hsm = testHsm();
if (!hsm) process.stderr.write('skipped: the wallet sweep tests need SoftHSM2 (apt-get install softhsm2); CI installs it\n');
const withHsm = hsm ? describe : describe.skip;

withHsm(`sweeping a software-sealed wallet to an HSM wallet, on anvil with SoftHSM2 (${dbLabel()})`, () => {
  let node: AnvilNode;
  let client: ChainClient;
  let cash: Contract;
  let db: Db;
  let cleanup: () => Promise<void>;
  let soft: WalletKeys;
  let inHsm: WalletKeys;
  const alice = user('acme', 'alice', ['CUSTODIAN']);
  const bob = user('acme', 'bob', ['CUSTODIAN']);
  const mallory = user('evil', 'mallory', ['CUSTODIAN']);
  const env = () => testEnv(db, { defaults: testPolicy({ approvalsRequired: 1, destinationDelaySeconds: 0, maxPerWithdrawal: 10n ** 30n, maxPerWindow: 10n ** 30n }), clock: { now: () => new Date() } as never });
  const settings: BroadcastSettings = { maxAttempts: 3, retryMs: 0, rebroadcastMs: 0, pollMs: 0 };
  // Issuance's answers to the sweep's recovery requests (its real recovery runs in sweep-e2e.test.ts): down once, then what it moved.
  const recoveries: Parameters<SweepDeps['recoverTokens']>[0][] = [];
  let issuanceDown = true;
  const deps = (sender: TransferSender, o: Partial<BroadcastSettings> = {}): SweepDeps => ({
    db, now: () => new Date(), sender, signerOf: (q, address) => inHsm.signer(q, address), settings: { ...settings, ...o }, leaseMs: 60_000,
    balanceOf: (token, holder) => tokenBalance(client.provider, token, holder),
    signNative: (from, to, signer) => signNativeSweep(client.provider, client.chainId, from, to, signer),
    recoverTokens: async (r) => {
      recoveries.push(r);
      if (issuanceDown) {
        issuanceDown = false;
        throw appError('DOWNSTREAM.UNAVAILABLE', 'issuance is unavailable (timeout)', { retryable: true });
      }
      return { moved: [{ tokenId: 'tok_acme', txHash: '0x' + 'ab'.repeat(32) }] };
    },
  });
  const codeOf = async (p: Promise<unknown>) => p.then(() => 'resolved', (e: unknown) => errorCode(e) ?? String(e));

  async function sealedAccount(org: string): Promise<{ acc: string; wallet: string }> {
    const row = await openCustodyAccount(db, soft, user(org, `${org}-opener`, ['CUSTODIAN']), { idempotencyKey: randomBytes(8).toString('hex'), investorId: `inv_${randomBytes(13).toString('hex').slice(0, 26)}`, kind: 'SEGREGATED' }, knowsEveryInvestor);
    const [w] = await db.query<{ address: string; key_label: string | null }>('SELECT address, key_label FROM wallets WHERE account_id = $1', [row.id]);
    expect(w.key_label).toBeNull();
    return { acc: row.id, wallet: w.address };
  }

  beforeAll(async () => {
    node = await startAnvil({ port: 0 });
    client = await createChainClient({ rpcUrl: node.url, privateKey: node.privateKeys[0] });
    cash = (await deployCashToken(client)).contract;
    ({ db, cleanup } = await openCustodyDb());
    soft = walletKeys(KEK, openKeyStore({ SIGNER: 'software' }));
    inHsm = walletKeys(KEK, openKeyStore(hsm!));
    await ledger.registerAsset(db, 'CASH', cash.target as string);
  }, 120_000);
  afterAll(async () => {
    await cleanup?.();
    await client?.close();
    await node?.stop();
  });

  test('the quorum approves; cash, security tokens and gas move once across a restart, signed by the old sealed key; the books and reservations stay', async () => {
    const { acc, wallet: old } = await sealedAccount('acme');
    await client.send({ to: old, value: parseEther('1') });
    await client.send(cash.mint(old, 1_000_000n));
    await ledger.credit(db, 'custody', { accountId: acc, asset: 'CASH', amount: 1_000_000n, idempotencyKey: `dep-${acc}`, reason: 'deposit' });
    await ledger.reserve(db, 'trading', { accountId: acc, asset: 'CASH', amount: 300n, idempotencyKey: `ord-${acc}`, reason: 'order' });

    // Hostile and wrong callers first: nothing is recorded for them.
    expect(await codeOf(sw.requestWalletSweep(env(), inHsm, mallory, { accountId: acc, idempotencyKey: 'sw-1' }))).toBe('CUSTODY.UNKNOWN_ACCOUNT');
    expect(await codeOf(sw.requestWalletSweep(env(), inHsm, user('acme', 'ivy', ['INVESTOR']), { accountId: acc, idempotencyKey: 'sw-1' }))).toBe('FORBIDDEN');
    expect(await codeOf(sw.requestWalletSweep(env(), soft, alice, { accountId: acc, idempotencyKey: 'sw-1' }))).toBe('CUSTODY.SIGNER_NOT_PKCS11');
    expect(await codeOf(sw.requestWalletSweep(env(), inHsm, alice, { accountId: acc, idempotencyKey: 'x'.repeat(500) }))).toBe('INPUT.INVALID_IDEMPOTENCY_KEY');

    const s = await sw.requestWalletSweep(env(), inHsm, alice, { accountId: acc, idempotencyKey: 'sw-1' });
    expect(s).toMatchObject({ status: 'PENDING_APPROVAL', old_wallet: old, new_wallet: null, approvals_required: 1 });
    expect((await sw.requestWalletSweep(env(), inHsm, alice, { accountId: acc, idempotencyKey: 'sw-1' })).id).toBe(s.id);
    expect(await codeOf(sw.requestWalletSweep(env(), inHsm, alice, { accountId: acc, idempotencyKey: 'sw-2' }))).toBe('CUSTODY.SWEEP_PENDING');
    expect(await codeOf(sw.approveWalletSweep(env(), inHsm, alice, s.id))).toBe('CUSTODY.SELF_APPROVAL');
    expect(await codeOf(sw.approveWalletSweep(env(), inHsm, mallory, s.id))).toBe('NOT_FOUND');
    expect(await codeOf(sw.rejectWalletSweep(env(), mallory, s.id, 'mine now'))).toBe('NOT_FOUND');

    // A withdrawal approved before the sweep's quorum waits while the cash is on its way.
    const to = '0x000000000000000000000000000000000000bEEF';
    await wd.addWithdrawalDestination(env(), alice, { accountId: acc, address: to, label: 'treasury' });
    const { withdrawal } = await wd.requestWithdrawal(env(), alice, { accountId: acc, asset: 'CASH', amount: 1_000n, toAddress: to, idempotencyKey: `w-${acc}` });
    expect((await wd.approveWithdrawal(env(), bob, withdrawal!.id)).status).toBe('APPROVED');

    const approved = await sw.approveWalletSweep(env(), inHsm, bob, s.id);
    expect(approved.status).toBe('MOVING');
    const [fresh] = await db.query<{ address: string; key_label: string | null; encrypted_key: unknown }>('SELECT address, key_label, encrypted_key FROM wallets WHERE account_id = $1 AND retired_at IS NULL', [acc]);
    expect(fresh.address).toBe(approved.new_wallet);
    expect(fresh.key_label).toMatch(new RegExp(`^custody/${acc}/wal_`));
    expect(fresh.encrypted_key).toBeNull();
    expect((await eventsOf<{ lostWallet: string; newWallet: string }>(db, 'account.wallet_recovered')).find((e) => e.lostWallet === old)?.newWallet).toBe(fresh.address);

    // While the assets move, nothing is approved or consented from the new wallet: a typed, retryable refusal.
    const dvp = custodyDvpInternal({ db, config: { CHAIN_RPC_URL: node.url } } as unknown as SubgraphRuntime, inHsm);
    const consent = {
      accountId: acc, reservationKeys: [`ord-${acc}`], chainId: client.chainId, dvp: '0x000000000000000000000000000000000000dEaD', batchId: '0x' + '11'.repeat(32),
      legs: [{ token: cash.target as string, from: fresh.address, to: '0x000000000000000000000000000000000000bEEF', amount: '300' }], deadline: Math.floor(Date.now() / 1000) + 600,
    };
    const sweeping = { code: 'CUSTODY.WALLET_SWEEP_IN_PROGRESS', retryable: true, sweepId: s.id, phase: 'CASH' };
    expect(await dvp.signDvpConsents({ consents: [consent] }, service('settlement'))).toMatchObject({ results: [{ ok: false, error: sweeping }] });
    const e = await dvp.approveSpender({ accountId: acc, asset: 'CASH', spender: consent.dvp }, service('settlement')).then(() => null, (x: unknown) => x as { extensions: Record<string, unknown> });
    expect(e?.extensions).toMatchObject(sweeping);
    // Over the wire, as settlement asks: a refusal settlement takes for a pause (the batch is held and asked again), not a failure.
    const server = await startHttpServer({ port: 0, host: '127.0.0.1', routes: internalRoutes(async () => service('settlement'), dvp) });
    try {
      const { results: [item] } = await peerCalls(new InternalClient('custody', server.url, async () => 'service-token'), 'custody').call('signDvpConsents', { consents: [consent] });
      const asked = item.ok ? null : peerItemError('custody', item.error);
      expect(asked?.extensions).toMatchObject({ code: 'DOWNSTREAM.UNAVAILABLE', retryable: true, cause: 'CUSTODY.WALLET_SWEEP_IN_PROGRESS' });
      expect(isTransient(asked)).toBe(true);
    } finally {
      await server.close();
    }

    // The process dies after the signed transfer is stored and before it reaches the node.
    const real = chainTransferSender({ provider: client.provider, chainId: client.chainId, gasLimit: 150_000, confirmations: 1 });
    const withdrawals = { db, now: () => new Date(), sender: real, signerOf: (q: Parameters<SweepDeps['signerOf']>[0], address: string) => inHsm.signer(q, address), settings };
    expect(await broadcastOnce(withdrawals)).toBeNull();
    const dying: TransferSender = { ...real, broadcast: async () => { throw new TransferError('killed before sending', true); } };
    expect(await sweepOnce(deps(dying))).toEqual({ sweepId: s.id, step: 'pending' });
    const signed = (await sweepById(db, s.id))!;
    expect(signed).toMatchObject({ status: 'MOVING', phase: 'CASH', cash_amount: '1000000', last_error: 'not sent: killed before sending', submitted_at: null });
    expect(await cash.balanceOf(old)).toBe(1_000_000n);

    // A send the node never kept (it answered, then lost it): the unknown transaction is sent again
    // only once the rebroadcast interval has passed since, not at every look.
    let sends = 0;
    const forgetful: TransferSender = { ...real, broadcast: async () => { sends++; } };
    expect(await sweepOnce(deps(forgetful))).toEqual({ sweepId: s.id, step: 'sent' });
    expect(sends).toBe(1);
    expect((await sweepById(db, s.id))!.submitted_at).toBeInstanceOf(Date);
    expect(await sweepOnce(deps(forgetful, { rebroadcastMs: 3_600_000 }))).toEqual({ sweepId: s.id, step: 'pending' });
    expect(sends).toBe(1);

    // Restarted: the same transaction goes out, is seen confirmed; then the security tokens (issuance
    // down once: asked again) and the gas left; the sweep completes.
    const steps: string[] = [];
    for (let i = 0; i < 20 && (await sweepById(db, s.id))!.status === 'MOVING'; i++) steps.push((await sweepOnce(deps(real)))?.step ?? 'none');
    const done = (await sweepById(db, s.id))!;
    expect(done.status).toBe('COMPLETED');
    expect(done.cash_tx_hash).toBe(signed.tx_hash);
    // Re-sent, not re-signed: the stored transaction (its nonce) is the only cash transfer.
    expect(steps).toEqual(['sent', 'moved', 'retry', 'moved', 'sent', 'completed']);
    expect(recoveries).toEqual([1, 2].map(() => ({ investorId: expect.stringMatching(/^inv_/), lostWallet: old, newWallet: fresh.address, sweepId: s.id })));
    expect(done.tokens_moved).toEqual([{ tokenId: 'tok_acme', txHash: '0x' + 'ab'.repeat(32) }]);
    const receipt = await client.provider.getTransactionReceipt(done.cash_tx_hash!);
    expect(receipt?.from).toBe(old);
    expect(await cash.balanceOf(old)).toBe(0n);
    expect(await cash.balanceOf(fresh.address)).toBe(1_000_000n);
    // The gas left moved too, less its own transfer's fee: the old wallet holds nothing at all.
    const gasTx = await client.provider.getTransactionReceipt(done.gas_tx_hash!);
    expect(gasTx).toMatchObject({ from: old, to: fresh.address, status: 1 });
    expect(BigInt(done.gas_amount!)).toBeGreaterThan(parseEther('0.99'));
    expect(await client.provider.getBalance(old)).toBe(0n);
    expect(await client.provider.getBalance(fresh.address)).toBe(BigInt(done.gas_amount!));
    // Nothing more moves: another pass finds no due sweep.
    expect(await sweepOnce(deps(real))).toBeNull();
    expect(await ledger.balance(db, acc, 'CASH')).toMatchObject({ total: '1000000', reserved: '1300', available: '998700' });

    // The waiting withdrawal now goes out of the new wallet, signed in the HSM, paid with the gas swept to it.
    for (let i = 0; i < 20 && (await withdrawalById(db, withdrawal!.id))!.status !== 'COMPLETED'; i++) await broadcastOnce(withdrawals);
    const sent = (await withdrawalById(db, withdrawal!.id))!;
    expect(sent.status).toBe('COMPLETED');
    expect((await client.provider.getTransactionReceipt(sent.tx_hash!))?.from).toBe(fresh.address);
    expect(await cash.balanceOf(to)).toBe(1_000n);
    expect(await ledger.balance(db, acc, 'CASH')).toMatchObject({ total: '999000', reserved: '300' });

    // The account's wallet is now in the HSM: a second sweep is refused.
    expect(await codeOf(sw.requestWalletSweep(env(), inHsm, alice, { accountId: acc, idempotencyKey: 'sw-3' }))).toBe('CUSTODY.WALLET_IN_HSM');
  }, 120_000);

  test('a sweep rejected before its quorum leaves the sealed wallet active, and a new one may be requested', async () => {
    const { acc, wallet } = await sealedAccount('acme');
    const s = await sw.requestWalletSweep(env(), inHsm, alice, { accountId: acc, idempotencyKey: `rj-${acc}` });
    expect(await codeOf(sw.requestWalletSweep(env(), inHsm, alice, { accountId: acc, idempotencyKey: `rj-${acc}-x` }))).toBe('CUSTODY.SWEEP_PENDING');
    expect((await sw.rejectWalletSweep(env(), alice, s.id, 'wrong account')).status).toBe('REJECTED');
    expect(await codeOf(sw.approveWalletSweep(env(), inHsm, bob, s.id))).toBe('CUSTODY.INVALID_STATE');
    const [active] = await db.query<{ address: string }>('SELECT address FROM wallets WHERE account_id = $1 AND retired_at IS NULL', [acc]);
    expect(active.address).toBe(wallet);
    // Same key, other request: refused; a fresh key starts a new sweep.
    expect(await codeOf(sw.requestWalletSweep(env(), inHsm, alice, { accountId: (await sealedAccount('acme')).acc, idempotencyKey: `rj-${acc}` }))).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    expect((await sw.requestWalletSweep(env(), inHsm, alice, { accountId: acc, idempotencyKey: `rj2-${acc}` })).status).toBe('PENDING_APPROVAL');
  }, 60_000);

  test('a wallet whose DvP consent may still settle is not retired: the approval is refused, retryably, until the booking', async () => {
    const { acc } = await sealedAccount('acme');
    await ledger.credit(db, 'custody', { accountId: acc, asset: 'CASH', amount: 500n, idempotencyKey: `dep-${acc}`, reason: 'deposit' });
    const { reservation } = await ledger.reserve(db, 'settlement', { accountId: acc, asset: 'CASH', amount: 500n, idempotencyKey: `stl-${acc}`, reason: 'settlement' });
    await db.tx((q) => recordConsent(q, { batchId: `0x${'22'.repeat(32)}`, accountId: acc, reservationIds: [reservation.reservationId], paying: [{ asset: 'CASH', amount: 500n }], receiving: new Map() }));
    const s = await sw.requestWalletSweep(env(), inHsm, alice, { accountId: acc, idempotencyKey: `dvp-${acc}` });
    const refused = await sw.approveWalletSweep(env(), inHsm, bob, s.id).then(() => null, (e: { extensions: Record<string, unknown> }) => e.extensions);
    expect(refused).toMatchObject({ code: 'CUSTODY.DVP_IN_FLIGHT', retryable: true, accountId: acc });
    expect((await sweepById(db, s.id))!.status).toBe('PENDING_APPROVAL');
    // Booked: the reservation is consumed, and the same approval goes through.
    await ledger.consume(db, 'settlement', { ref: { reservationKey: `stl-${acc}` }, amount: 500n, idempotencyKey: `book-${acc}` });
    expect((await sw.approveWalletSweep(env(), inHsm, bob, s.id)).status).toBe('MOVING');
  }, 60_000);
});
