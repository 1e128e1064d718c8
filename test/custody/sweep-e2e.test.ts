import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import type { Contract } from 'ethers';
import { signUserToken, type Role } from '../../subgraphs/kit/auth.js';
import { startSubgraph, subgraphConfig, type RunningSubgraph } from '../../subgraphs/kit/subgraph.js';
import { custody } from '../../subgraphs/custody/index.js';
import { createTestDatabase, dbLabel, onPostgres, type TestDatabase } from '../support/db.js';
import { hsmEnv, testHsm } from '../support/hsm.js';
import { SettlementWorld, gqlOk, monthsAgo, waitFor, type Party } from '../settlement/support.js';

const hsm = testHsm();
if (!hsm) process.stderr.write('skipped: the end-to-end wallet sweep needs SoftHSM2 (apt-get install softhsm2); CI installs it\n');
const withHsm = hsm ? describe : describe.skip;
const VENUE = 'SWEEP-ATS';

/**
 * The migration path to an HSM, whole, through the gateway: custody runs with SIGNER=software and
 * an account's sealed wallet receives cash, security tokens and gas; custody restarts with
 * SIGNER=pkcs11; two custodians sweep the wallet; custody moves the cash and the gas, issuance
 * recovers the security tokens (ERC-3643), the books and the lots stay; a DvP then settles from
 * the new wallet, its consent signed inside the token.
 */
withHsm(`a sealed wallet swept to the HSM through the gateway, then a DvP from the new wallet (anvil, ${dbLabel()})`, () => {
  let w: SettlementWorld;
  let sub: RunningSubgraph;
  let db: TestDatabase | undefined;
  let dir: string | undefined;
  let dbUrl: string;
  let tokenId: string, token: Contract;
  let seller: Party, buyer: Party;
  let alice: string, bob: string, carol: string;
  const acquiredAt = monthsAgo(13);

  async function startCustody(signer: Record<string, string>): Promise<void> {
    await (sub ?? w.stack.subgraphs.custody).stop();
    const base = (n: 'issuance' | 'trading' | 'settlement' | 'custody') => w.stack.subgraphs[n].url.replace(/\/graphql$/, '');
    sub = await startSubgraph(custody, subgraphConfig(custody, {
      PORT: String(w.stack.subgraphs.custody.port), ISSUANCE_URL: base('issuance'), TRADING_URL: base('trading'), SETTLEMENT_URL: base('settlement'),
      CUSTODY_URL: base('custody'), DATABASE_URL: dbUrl, CHAIN_RPC_URL: w.stack.chainRpcUrl, AUTH_JWT_SECRET: w.stack.secrets.jwtSecret,
      SERVICE_SECRET: w.stack.secrets.serviceSecret, CUSTODY_KEK: w.stack.secrets.custodyKek, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      CUSTODY_INDEXER_ENABLED: 'true', CUSTODY_CONFIRMATIONS: '0', CUSTODY_INDEXER_POLL_MS: '100',
      CUSTODY_BROADCAST_ENABLED: 'true', CUSTODY_BROADCAST_INTERVAL_MS: '100', CUSTODY_BROADCAST_RETRY_MS: '300', CUSTODY_BROADCAST_REBROADCAST_MS: '2000',
      ...signer,
    }));
  }
  const sweeps = () => gqlOk<{ walletSweeps: { status: string; txHash: string; gasTxHash: string; tokensMoved: unknown[] }[] }>(w.url, alice, `{ walletSweeps { id status phase oldWallet newWallet cashAmount txHash tokensMoved { tokenId txHash } gasAmount gasTxHash lastError
    approvals { approver } account { id walletAddress } } }`).then((d) => d.walletSweeps);

  beforeAll(async () => {
    if (onPostgres()) dbUrl = (db = await createTestDatabase()).url;
    else dbUrl = pathToFileURL(join((dir = mkdtempSync(join(tmpdir(), 'tokenstack-sweep-'))), 'db')).href;
    // Custody on a database that survives its restarts (its outbox sequence with it: issuance follows it).
    w = await SettlementWorld.start({}, { databaseUrls: { custody: dbUrl } });
    await startCustody({ SIGNER: 'software' });
    ({ tokenId, token } = await w.token506b('SWPT'));
    [seller, buyer] = [await w.party('Sealed Seller', 'vault-co'), await w.party('Cash Buyer', 'buyer-co')];
    await w.issue(tokenId, seller, 100n, acquiredAt);
    await w.fund(seller, 7_000_000n);
    await w.fund(buyer, 100_000_000n);
    await w.bank.send({ to: seller.wallet, value: 10n ** 18n }); // gas for the cash transfer
    await w.authorizeVenue(VENUE, tokenId);
    const as = (subject: string, roles: Role[]) => signUserToken({ secret: w.stack.secrets.jwtSecret, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject, org: 'vault-co', roles });
    [alice, bob, carol] = await Promise.all([as('alice', ['CUSTODIAN']), as('bob', ['CUSTODIAN']), as('carol', ['CUSTODIAN'])]);
  }, 400_000);
  afterAll(async () => {
    await sub?.stop();
    await w?.stop();
    await db?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the quorum sweeps cash, security tokens and gas to the new HSM wallet; books and lots stay; a DvP then settles from the new wallet', async () => {
    const [sealed] = await sub.runtime.db.query<{ key_label: string | null; encrypted_key: unknown }>('SELECT key_label, encrypted_key FROM wallets WHERE address = $1', [seller.wallet]);
    expect(sealed.key_label).toBeNull();
    expect(sealed.encrypted_key).not.toBeNull();
    // The operator moves custody to the HSM; the sealed wallet keeps working (CUSTODY_KEK still set) until swept.
    await startCustody(hsmEnv(hsm!));

    const requested = (await gqlOk<{ requestWalletSweep: { id: string } }>(w.url, alice, `mutation($a: ID!) { requestWalletSweep(input: { accountId: $a, idempotencyKey: "to-hsm" }) { id status oldWallet } }`, { a: seller.accountId })).requestWalletSweep;
    expect(requested).toMatchObject({ status: 'PENDING_APPROVAL', oldWallet: seller.wallet });
    // The withdrawal quorum (two custodians besides the initiator by default).
    const approve = (token: string) => gqlOk<{ approveWalletSweep: { newWallet: string } }>(w.url, token, `mutation($id: ID!) { approveWalletSweep(id: $id) { id status phase newWallet } }`, { id: requested.id }).then((d) => d.approveWalletSweep);
    expect(await approve(bob)).toMatchObject({ status: 'PENDING_APPROVAL', newWallet: null });
    const approved = await approve(carol);
    expect(approved).toMatchObject({ status: 'MOVING', phase: 'CASH' });
    const fresh = approved.newWallet;

    const [done] = await waitFor('the sweep to complete', sweeps, (l) => l[0]?.status === 'COMPLETED', 180_000);
    expect(done).toMatchObject({
      id: requested.id, phase: null, oldWallet: seller.wallet, newWallet: fresh, cashAmount: '7000000', lastError: null,
      approvals: [{ approver: 'bob' }, { approver: 'carol' }], account: { id: seller.accountId, walletAddress: fresh },
      tokensMoved: [{ tokenId, txHash: expect.stringMatching(/^0x[0-9a-f]{64}$/) }],
    });
    const [inHsm] = await sub.runtime.db.query<{ key_label: string | null; encrypted_key: unknown }>('SELECT key_label, encrypted_key FROM wallets WHERE address = $1', [fresh]);
    expect(inHsm.key_label).toMatch(new RegExp(`^custody/${seller.accountId}/wal_`));
    expect(inHsm.encrypted_key).toBeNull();

    // On chain: the new wallet holds both, the old one nothing at all (the gas left moved too).
    expect(await token.balanceOf(fresh)).toBe(100n);
    expect(await token.balanceOf(seller.wallet)).toBe(0n);
    expect(await w.cash.balanceOf(fresh)).toBe(7_000_000n);
    expect(await w.cash.balanceOf(seller.wallet)).toBe(0n);
    expect(await w.provider.getBalance(seller.wallet)).toBe(0n);
    expect((await w.provider.getTransactionReceipt(done.txHash))?.from).toBe(seller.wallet);
    expect((await w.provider.getTransactionReceipt(done.gasTxHash))).toMatchObject({ from: seller.wallet, to: fresh, status: 1 });

    // The books did not move: the account holds what it held, now on chain in the new wallet.
    expect(await w.balance(seller.accountId, tokenId)).toMatchObject({ total: '100', available: '100' });
    expect(await w.balance(seller.accountId, 'CASH')).toMatchObject({ total: '7000000', available: '7000000' });
    // Issuance: the old wallet is LOST, the new one registered; one holder, its lot with its acquisition date.
    const inv = await w.desk.run<{ investor: { wallets: unknown[] } }>(`query($i: ID!) { investor(id: $i) { wallets { address status registeredOnChain } } }`, { i: seller.investorId });
    expect(inv.investor.wallets).toEqual(expect.arrayContaining([
      expect.objectContaining({ address: seller.wallet, status: 'LOST' }), expect.objectContaining({ address: fresh, status: 'ACTIVE', registeredOnChain: true }),
    ]));
    const cap = await waitFor('the cap table after the recovery', () => w.desk.run<{ securityToken: { capTable: { holderCount: number; holders: { balance: string }[] } } }>(`query($t: ID!) { securityToken(id: $t) { capTable { holderCount holders { investor { id } balance lots { remaining acquiredAt } } } } }`, { t: tokenId }),
      (d) => d.securityToken.capTable.holders.some((h) => h.balance === '100'));
    expect(cap.securityToken.capTable.holderCount).toBe(1);
    expect(cap.securityToken.capTable.holders).toEqual([{ investor: { id: seller.investorId }, balance: '100', lots: [{ remaining: '100', acquiredAt: new Date(acquiredAt).toISOString() }] }]);

    // Issuance's internal call: the custody service only, for a wallet of that investor only, well formed;
    // a replay (custody asking again after a timeout) moves nothing and answers what the first call moved.
    const call = (body: Record<string, unknown>, as = 'custody') => w.rpc('issuance', 'recoverSweptWallet', body, as).then((r) => r, (e: { code?: string }) => e.code);
    const body = { investorId: seller.investorId, lostWallet: seller.wallet, newWallet: fresh, sweepId: requested.id };
    expect(await call(body)).toEqual({ investorId: seller.investorId, lostWallet: seller.wallet, newWallet: fresh, moved: done.tokensMoved });
    expect(await call(body, 'settlement')).toBe('FORBIDDEN');
    expect(await call({ ...body, lostWallet: buyer.wallet })).toBe('ISSUANCE.UNKNOWN_WALLET');
    expect(await call({ ...body, newWallet: buyer.wallet })).toBe('ISSUANCE.WALLET_TAKEN');
    expect(await call({ ...body, lostWallet: 'not-an-address' })).toBe('INPUT.INVALID_REQUEST');
    expect(await call({ ...body, investorId: 'x'.repeat(5000) })).toBe('INPUT.INVALID_REQUEST');
    expect(await token.balanceOf(fresh)).toBe(100n);

    // A DvP now: the seller's consent and approval are signed from the new wallet, inside the token.
    const broker = await w.token('buyer-co', ['BROKER_DEALER']);
    const r = await w.submit(broker, { venue: VENUE, venueReference: 'after-sweep', tokenId, buyerAccountId: buyer.accountId, sellerAccountId: seller.accountId, quantity: '10', price: '2.5', tradeTime: new Date().toISOString() });
    expect(r.body.errors).toBeUndefined();
    const s = await w.waitStatus(r.body.data!.submitExternalTrade.id, ['SETTLED', 'REJECTED'], 180_000);
    expect(s.status).toBe('SETTLED');
    expect(s.batch!.legs).toEqual(expect.arrayContaining([expect.objectContaining({ token: token.target, from: fresh, to: buyer.wallet, amount: '10' })]));
    expect(await token.balanceOf(fresh)).toBe(90n);
    expect(await token.balanceOf(buyer.wallet)).toBe(10n);
    expect(await w.cash.balanceOf(fresh)).toBe(7_000_000n + 25_000_000n);
    expect(await w.balance(seller.accountId, tokenId)).toMatchObject({ total: '90' });
  }, 400_000);
});
