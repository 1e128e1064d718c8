import { Contract, Interface, MaxUint256, Wallet, getAddress, keccak256, toUtf8Bytes, type TypedDataField } from 'ethers';
import { loadArtifact } from '../kit/chain/artifacts.js';
import { createChainClient, type ChainClient } from '../kit/chain/client.js';
import { toChainError } from '../kit/chain/errors.js';
import type { Db, Queryable } from '../kit/db/types.js';
import { appError, badInput } from '../kit/errors.js';
import { appendEvent, appendEvents } from '../kit/outbox.js';
import { settleItem, type ParsedRequest } from '../kit/contracts/calls.js';
import type { Item } from '../kit/contracts/wire.js';
import type { KitSigner } from '../kit/signer/index.js';
import { coverConsent, type Covered, type HeldReservation } from './domain/consent-cover.js';
import { parseAddress } from '../kit/scalars.js';
import { signDigestWith } from '../kit/signer/digest-signer.js';
import { typedDataHasher } from '../kit/signer/typed-data.js';
import { parseAccountId, parseAsset } from './inputs.js';
import type { WalletKeys } from './keys.js';
import { walletOfAccount } from './store/accounts.js';
import { heldReservations, signingWalletsOf, upsertConsents } from './store/consents.js';
import { assetById, assetsByContracts } from './store/ledger.js';
import { movingSweepOf } from './store/sweeps.js';

/**
 * What custody's wallets sign for delivery versus payment (internal.ts serves
 * the calls, service credential only): the wallets' keys sign here and never leave.
 *
 * - `approveSpender`: a wallet gives a genuine TokenstackDvP contract a standing
 *   allowance (one transaction per wallet and asset, signed with the wallet's key).
 * - `signDvpConsents`: wallets' EIP-712 consents to DvP batches, a list in one call; each
 *   signed only when everything the wallet pays in its batch is covered by reservations
 *   the caller holds on the account; each reservation is a nonce the contract accepts once.
 *
 * A DvP contract is recognised by its runtime code (the same for every deployment):
 * custody approves and signs for nothing else. The ledger side (reservations taken
 * over, holds, settled batches booked) is dvp-ledger.ts.
 */

const ERC20 = new Interface([
  'function approve(address spender, uint256 amount) returns (bool)',
  'function allowance(address owner, address spender) view returns (uint256)',
]);

/** The consent's EIP-712 types; contracts/TokenstackDvP.sol defines the same. */
export const DVP_CONSENT_TYPES: Record<string, TypedDataField[]> = {
  Batch: [
    { name: 'batchId', type: 'bytes32' },
    { name: 'legs', type: 'Leg[]' },
    { name: 'nonces', type: 'bytes32[]' },
    { name: 'deadline', type: 'uint256' },
  ],
  Leg: [
    { name: 'token', type: 'address' },
    { name: 'from', type: 'address' },
    { name: 'to', type: 'address' },
    { name: 'amount', type: 'uint256' },
  ],
};
export const dvpDomain = (chainId: number, verifyingContract: string) => ({ name: 'Tokenstack DvP', version: '1', chainId, verifyingContract });
const hashConsent = typedDataHasher(DVP_CONSENT_TYPES);

/** The nonce that stands for a custody reservation in a consent. */
export const reservationNonce = (reservationId: string): string => keccak256(toUtf8Bytes(`tokenstack.reservation:${reservationId}`));

/** The longest a consent may live (its deadline). */
export const MAX_CONSENT_SECONDS = 86_400;

const dvpError = (code: string, message: string, details: Record<string, unknown> = {}, retryable?: boolean) =>
  appError(`CUSTODY.${code}`, message, { details, retryable });

/** A consent signed: what the wallet pays (per asset) and receives (per token contract, lower case). */
export interface SignedConsent { batchId: string; accountId: string; reservationIds: string[]; paying: readonly { asset: string; amount: bigint }[]; receiving: ReadonlyMap<string, bigint> }

/**
 * What signed consents will move on the accounts' chain balances (reconciliation
 * counts it as in flight until their reservations are consumed by the booking).
 * A token received that custody does not know as an asset is left out.
 */
export async function recordConsents(q: Queryable, list: readonly SignedConsent[]): Promise<void> {
  const received = [...new Set(list.flatMap((c) => [...c.receiving.keys()]))];
  const known = received.length ? await assetsByContracts(q, received) : [];
  await upsertConsents(q, list.map((c) => ({
    batchId: c.batchId, accountId: c.accountId, reservationIds: c.reservationIds,
    moves: [
      ...c.paying.map((p) => ({ asset: p.asset, delta: (-p.amount).toString() })),
      ...known.filter((a) => c.receiving.has(a.contract)).map((a) => ({ asset: a.id, delta: c.receiving.get(a.contract)!.toString() })),
    ],
  })));
}

export const recordConsent = (q: Queryable, c: SignedConsent): Promise<void> => recordConsents(q, [c]);

/** A consent request, parsed (calls.custody.signDvpConsents). */
export type ConsentAsk = ParsedRequest<'custody', 'signDvpConsents'>['consents'][number];
export interface ConsentSigned { accountId: string; signer: string; nonces: string[]; deadline: number; signature: string }

/** Per-process state: the chain client (reads, sends) and which addresses are genuine DvP contracts. */
export class DvpCustody {
  private clientP?: Promise<ChainClient>;
  private genuineCode?: Promise<string>;
  private readonly genuine = new Map<string, Promise<boolean>>();
  private readonly walletQueues = new Map<string, Promise<unknown>>();

  constructor(private readonly db: Db, private readonly keys: WalletKeys, private readonly rpcUrl: string) {}

  client(): Promise<ChainClient> {
    // The client's own key is a throwaway: every wallet signs for itself.
    this.clientP ??= createChainClient({ rpcUrl: this.rpcUrl, privateKey: Wallet.createRandom().privateKey }).catch((e) => {
      this.clientP = undefined;
      throw e;
    });
    return this.clientP;
  }

  /** True when `address` runs exactly the TokenstackDvP runtime code. */
  async isGenuineDvp(address: string): Promise<boolean> {
    let p = this.genuine.get(address);
    if (!p) {
      p = (async () => {
        const c = await this.client();
        // eth_call of the creation code returns the runtime code (the contract has no immutables or constructor arguments).
        // A failed read is not kept: the next check asks the chain again.
        this.genuineCode ??= c.provider.call({ data: loadArtifact('TokenstackDvP', 'project').bytecode }).then(keccak256)
          .catch((e: unknown) => { this.genuineCode = undefined; throw e; });
        const [code, expected] = await Promise.all([c.provider.getCode(address), this.genuineCode]);
        return code !== '0x' && keccak256(code) === expected;
      })();
      this.genuine.set(address, p);
      p.then((ok) => { if (!ok) this.genuine.delete(address); }, () => this.genuine.delete(address));
    }
    return p;
  }

  async requireGenuine(address: string): Promise<void> {
    if (!(await this.chain(() => this.isGenuineDvp(address)))) {
      throw dvpError('NOT_A_DVP_CONTRACT', `${address} is not a TokenstackDvP contract; custody approves and signs for nothing else`, { address });
    }
  }

  /** One wallet's chain work at a time in this process (its nonces). */
  serial<T>(wallet: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.walletQueues.get(wallet) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.walletQueues.set(wallet, tail);
    void tail.then(() => { if (this.walletQueues.get(wallet) === tail) this.walletQueues.delete(wallet); });
    return run;
  }

  /** Chain failures become a retryable CUSTODY.CHAIN_UNAVAILABLE or a CUSTODY.CHAIN_REVERTED. */
  async chain<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const c = toChainError(e);
      if (!c) throw e;
      throw dvpError(c.code === 'CHAIN_REVERTED' ? 'CHAIN_REVERTED' : 'CHAIN_UNAVAILABLE', c.message, { reason: c.reason, txHash: c.txHash }, c.retryable);
    }
  }

  async walletOf(accountId: string): Promise<string> {
    const w = await walletOfAccount(this.db, accountId);
    if (!w) throw appError('CUSTODY.UNKNOWN_ACCOUNT', `custody account ${accountId} does not exist`, { details: { accountId } });
    return getAddress(w);
  }

  /**
   * The wallet that signs for the account; refused, retryably, while a sweep moves the account's
   * assets to it: nothing is approved or consented from the new wallet before they have arrived.
   */
  async signingWalletOf(accountId: string): Promise<string> {
    const wallet = await this.walletOf(accountId);
    const s = await movingSweepOf(this.db, accountId);
    if (s) {
      throw dvpError('WALLET_SWEEP_IN_PROGRESS', `account ${accountId} is moving to wallet ${s.new_wallet} (sweep ${s.id}, ${s.phase}); ask again once it is COMPLETED`,
        { accountId, sweepId: s.id, phase: s.phase }, true);
    }
    return wallet;
  }

  async contractOf(asset: string): Promise<string> {
    const a = await assetById(this.db, asset);
    if (!a) throw appError('CUSTODY.UNKNOWN_ASSET', `custody holds no asset ${asset}`, { details: { asset } });
    if (!a.contract_address) throw dvpError('ASSET_NOT_ON_CHAIN', `asset ${asset} has no registered contract address`, { asset });
    return getAddress(a.contract_address);
  }

  async approveSpender(service: string, b: Record<string, unknown>) {
    const accountId = parseAccountId(b.accountId);
    const asset = parseAsset(b.asset);
    const spender = getAddress(parseAddress(String(b.spender ?? '')));
    const [wallet, token] = await Promise.all([this.signingWalletOf(accountId), this.contractOf(asset)]);
    await this.requireGenuine(spender);
    return this.serial(wallet, () => this.chain(async () => {
      const c = await this.client();
      const erc20 = new Contract(token, ERC20, c.provider);
      const current = (await erc20.allowance(wallet, spender)) as bigint;
      if (current >= MaxUint256 / 2n) return { accountId, walletAddress: wallet, token, spender, allowance: current.toString(), txHash: null };
      const signer = await this.keys.signer(this.db, wallet, c.provider);
      const data = ERC20.encodeFunctionData('approve', [spender, MaxUint256]);
      const [gas, fee, balance, nonce] = await Promise.all([
        c.provider.estimateGas({ from: wallet, to: token, data }),
        c.provider.getFeeData(),
        c.provider.getBalance(wallet),
        c.provider.getTransactionCount(wallet, 'pending'),
      ]);
      const gasLimit = (gas * 12n) / 10n;
      const maxFee = fee.maxFeePerGas ?? fee.gasPrice ?? 0n;
      const required = gasLimit * maxFee;
      if (balance < required) {
        throw dvpError('WALLET_NEEDS_GAS', `wallet ${wallet} holds ${balance} wei; approving needs up to ${required}`, { walletAddress: wallet, balance: balance.toString(), required: required.toString() }, true);
      }
      const sent = await signer.sendTransaction({ to: token, data, gasLimit, nonce, chainId: c.chainId, maxFeePerGas: fee.maxFeePerGas, maxPriorityFeePerGas: fee.maxPriorityFeePerGas });
      const receipt = await c.waitForReceipt(sent.hash);
      await this.db.tx((q) => appendEvent(q, 'wallet.spender_approved', accountId, { accountId, service, walletAddress: wallet, asset, token, spender, txHash: receipt.hash }));
      return { accountId, walletAddress: wallet, token, spender, allowance: MaxUint256.toString(), txHash: receipt.hash };
    }));
  }

  /**
   * Signs a list of consent requests (calls.custody.signDvpConsents): the wallets and the caller's reservations read
   * in one statement each, every request decided and signed on its own (a refusal is its own typed error, the
   * others go on), the consents signed recorded and their events appended in one transaction.
   */
  async signConsents(service: string, asks: readonly ConsentAsk[]): Promise<Item<ConsentSigned>[]> {
    const c = await this.chain(() => this.client());
    const dvps = [...new Set(asks.map((a) => getAddress(a.dvp)))];
    const genuine = new Map(await Promise.all(dvps.map(async (d) => [d, await this.chain(() => this.isGenuineDvp(d))] as const)));
    const [wallets, held] = await Promise.all([
      signingWalletsOf(this.db, [...new Set(asks.map((a) => a.accountId))]),
      heldReservations(this.db, service, [...new Set(asks.flatMap((a) => a.reservationKeys))]),
    ]);
    const walletOf = new Map(wallets.map((w) => [w.account_id, w]));
    const heldOf = new Map(held.map((h): [string, HeldReservation] => [h.key, {
      id: h.id, accountId: h.account_id, asset: h.asset, open: h.status === 'OPEN', remaining: BigInt(h.remaining), token: h.contract_address?.toLowerCase() ?? null,
    }]));
    const signers = new Map<string, KitSigner>();
    const now = Math.floor(Date.now() / 1000);
    const signed: { ask: ConsentAsk; wallet: string; covered: Covered; nonces: string[] }[] = [];
    const results = await Promise.all(asks.map((ask) => settleItem(async (): Promise<ConsentSigned> => {
      const { accountId, batchId, deadline, chainId } = ask;
      if (deadline <= now || deadline > now + MAX_CONSENT_SECONDS) throw badInput('INVALID_DEADLINE', `deadline must be unix seconds within the next ${MAX_CONSENT_SECONDS} s`);
      if (new Set(ask.reservationKeys).size !== ask.reservationKeys.length) throw badInput('INVALID_RESERVATION_KEYS', 'reservationKeys must list distinct keys of the reservations that cover the payments');
      const w = walletOf.get(accountId);
      if (!w) throw appError('CUSTODY.UNKNOWN_ACCOUNT', `custody account ${accountId} does not exist`, { details: { accountId } });
      if (w.sweep_id) {
        throw dvpError('WALLET_SWEEP_IN_PROGRESS', `account ${accountId} is moving to wallet ${w.sweep_new_wallet} (sweep ${w.sweep_id}, ${w.sweep_phase}); ask again once it is COMPLETED`,
          { accountId, sweepId: w.sweep_id, phase: w.sweep_phase }, true);
      }
      if (chainId !== c.chainId) throw badInput('WRONG_CHAIN', `chainId ${chainId} is not the chain custody signs on (${c.chainId})`);
      const dvp = getAddress(ask.dvp);
      if (!genuine.get(dvp)) throw dvpError('NOT_A_DVP_CONTRACT', `${dvp} is not a TokenstackDvP contract; custody approves and signs for nothing else`, { address: dvp });
      const wallet = getAddress(w.address);
      const legs = ask.legs.map((l) => ({ token: getAddress(l.token), from: getAddress(l.from), to: getAddress(l.to), amount: l.amount }));
      const covered = coverConsent(accountId, wallet, ask.reservationKeys, ask.reservationKeys.map((k) => heldOf.get(k)), legs);
      if ('code' in covered) throw appError(covered.code, covered.message, { details: covered.details });
      const nonces = covered.reservationIds.map(reservationNonce);
      let signer = signers.get(wallet);
      if (!signer) signers.set(wallet, (signer = this.keys.signerOfRow(w)));
      // Hashed once with the cached encoder and domain separator; a signer that cannot sign a bare digest signs the typed data.
      const consent = { batchId, legs, nonces, deadline };
      const signature = signDigestWith(signer, hashConsent(dvpDomain(chainId, dvp), consent)) ?? await signer.signTypedData(dvpDomain(chainId, dvp), DVP_CONSENT_TYPES, consent);
      signed.push({ ask: { ...ask, dvp }, wallet, covered, nonces });
      return { accountId, signer: wallet, nonces, deadline, signature };
    })));
    if (signed.length) {
      await this.db.tx(async (q) => {
        await recordConsents(q, signed.map((x) => ({ batchId: x.ask.batchId, accountId: x.ask.accountId, reservationIds: x.covered.reservationIds, paying: x.covered.paying, receiving: x.covered.receiving })));
        await appendEvents(q, signed.map(({ ask, wallet, covered }) => ({
          topic: 'wallet.dvp_consent_signed', key: ask.accountId,
          payload: {
            accountId: ask.accountId, service, walletAddress: wallet, dvp: ask.dvp, chainId: ask.chainId, batchId: ask.batchId, deadline: ask.deadline, reservationKeys: ask.reservationKeys,
            paying: covered.paying.map((p) => ({ asset: p.asset, token: p.token, amount: p.amount.toString() })),
          },
        })));
      });
    }
    return results;
  }
}
