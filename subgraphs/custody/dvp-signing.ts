import { Contract, Interface, MaxUint256, Wallet, getAddress, isHexString, keccak256, toUtf8Bytes, type TypedDataField } from 'ethers';
import { loadArtifact } from '../kit/chain/artifacts.js';
import { createChainClient, type ChainClient } from '../kit/chain/client.js';
import { toChainError } from '../kit/chain/errors.js';
import type { Db, Queryable } from '../kit/db/types.js';
import { appError, badInput } from '../kit/errors.js';
import { appendEvent } from '../kit/outbox.js';
import { parseAddress } from '../kit/scalars.js';
import { signDigestWith } from '../kit/signer/digest-signer.js';
import { typedDataHasher } from '../kit/signer/typed-data.js';
import { parseAccountId, parseAmount, parseAsset, parseIdempotencyKey } from './inputs.js';
import type { WalletKeys } from './keys.js';
import type { ReserveResult } from './ledger.js';
import { walletOfAccount } from './store/accounts.js';
import { upsertConsent } from './store/consents.js';
import { assetById, assetsByContracts, operationByKey, reservationById } from './store/ledger.js';
import { movingSweepOf } from './store/sweeps.js';

/**
 * What custody's wallets sign for delivery versus payment (internal.ts serves
 * the calls, service credential only): the wallets' keys sign here and never leave.
 *
 * - `approveSpender`: a wallet gives a genuine TokenstackDvP contract a standing
 *   allowance (one transaction per wallet and asset, signed with the wallet's key).
 * - `signDvpConsent`: the wallet's EIP-712 consent to one DvP batch, signed only when
 *   everything the wallet pays in it is covered by reservations the caller holds on
 *   this account; each reservation is a nonce the contract accepts once.
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
const MAX_LEGS = 256;

interface Leg { token: string; from: string; to: string; amount: bigint }

const dvpError = (code: string, message: string, details: Record<string, unknown> = {}, retryable?: boolean) =>
  appError(`CUSTODY.${code}`, message, { details, retryable });

function parseLegs(v: unknown): Leg[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_LEGS) throw badInput('INVALID_LEGS', `legs must be a list of 1 to ${MAX_LEGS} transfers`);
  return v.map((l, i) => {
    const o = (l ?? {}) as Record<string, unknown>;
    const addr = (x: unknown, f: string) => {
      if (typeof x !== 'string') throw badInput('INVALID_LEGS', `legs[${i}].${f} must be an address`);
      return getAddress(parseAddress(x));
    };
    return { token: addr(o.token, 'token'), from: addr(o.from, 'from'), to: addr(o.to, 'to'), amount: parseAmount(o.amount, `legs[${i}].amount`) };
  });
}

/**
 * What a signed consent will move on the account's chain balances (reconciliation
 * counts it as in flight until its reservations are consumed by the booking).
 * A token received that custody does not know as an asset is left out.
 */
export async function recordConsent(q: Queryable, c: { batchId: string; accountId: string; reservationIds: string[]; paying: { asset: string; amount: bigint }[]; receiving: Map<string, bigint> }): Promise<void> {
  const moves = c.paying.map((p) => ({ asset: p.asset, delta: (-p.amount).toString() }));
  if (c.receiving.size) {
    const known = await assetsByContracts(q, [...c.receiving.keys()]);
    for (const a of known) moves.push({ asset: a.id, delta: c.receiving.get(a.contract)!.toString() });
  }
  await upsertConsent(q, { batchId: c.batchId, accountId: c.accountId, reservationIds: c.reservationIds, moves });
}

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

  async signConsent(service: string, b: Record<string, unknown>) {
    const accountId = parseAccountId(b.accountId);
    const dvp = getAddress(parseAddress(String(b.dvp ?? '')));
    const chainId = Number(b.chainId);
    const batchId = String(b.batchId ?? '');
    if (!isHexString(batchId, 32)) throw badInput('INVALID_BATCH_ID', 'batchId must be 32 bytes as 0x-hex');
    const deadline = Number(b.deadline);
    const now = Math.floor(Date.now() / 1000);
    if (!Number.isSafeInteger(deadline) || deadline <= now || deadline > now + MAX_CONSENT_SECONDS) {
      throw badInput('INVALID_DEADLINE', `deadline must be unix seconds within the next ${MAX_CONSENT_SECONDS} s`);
    }
    const legs = parseLegs(b.legs);
    const keys = Array.isArray(b.reservationKeys) ? b.reservationKeys.map((k, i) => parseIdempotencyKey(k, `reservationKeys[${i}]`)) : [];
    if (keys.length === 0 || new Set(keys).size !== keys.length) throw badInput('INVALID_RESERVATION_KEYS', 'reservationKeys must list distinct keys of the reservations that cover the payments');
    const wallet = await this.signingWalletOf(accountId);
    const c = await this.chain(() => this.client());
    if (chainId !== c.chainId) throw badInput('WRONG_CHAIN', `chainId ${chainId} is not the chain custody signs on (${c.chainId})`);
    await this.requireGenuine(dvp);

    // What the caller holds on this account, per asset contract.
    const cover = new Map<string, { asset: string; remaining: bigint }>();
    const reservationIds: string[] = [];
    for (const key of keys) {
      const op = await operationByKey(this.db, service, key);
      const id = op?.kind === 'RESERVE' ? (op.result as ReserveResult | null)?.reservation.reservationId : undefined;
      const r = id ? await reservationById(this.db, id) : null;
      if (!r) throw appError('CUSTODY.UNKNOWN_RESERVATION', `no reservation under key ${key}`, { details: { reservationKey: key } });
      if (r.account_id !== accountId) throw dvpError('CONSENT_NOT_COVERED', `reservation ${key} is on another account`, { reservationKey: key });
      if (r.status !== 'OPEN') throw dvpError('CONSENT_NOT_COVERED', `reservation ${key} is closed`, { reservationKey: key });
      const token = (await this.contractOf(r.asset)).toLowerCase();
      const had = cover.get(token);
      cover.set(token, { asset: r.asset, remaining: (had?.remaining ?? 0n) + BigInt(r.amount) - BigInt(r.released) - BigInt(r.consumed) });
      reservationIds.push(r.id);
    }
    const paying = new Map<string, bigint>();
    for (const l of legs) if (l.from === wallet) paying.set(l.token.toLowerCase(), (paying.get(l.token.toLowerCase()) ?? 0n) + l.amount);
    if (paying.size === 0) throw dvpError('CONSENT_NOT_COVERED', `wallet ${wallet} pays nothing in this batch`);
    for (const [token, amount] of paying) {
      const held = cover.get(token);
      if (!held || held.remaining < amount) {
        throw dvpError('CONSENT_NOT_COVERED', `the batch takes ${amount} of ${token} from ${wallet}; the given reservations hold ${held?.remaining ?? 0n}`,
          { token, amount: amount.toString(), reserved: (held?.remaining ?? 0n).toString() });
      }
    }
    const nonces = reservationIds.map(reservationNonce);
    const signer = await this.keys.signer(this.db, wallet);
    // Hashed once with the cached encoder and domain separator; a signer that cannot sign a bare digest signs the typed data.
    const consent = { batchId, legs, nonces, deadline };
    const signature = signDigestWith(signer, hashConsent(dvpDomain(chainId, dvp), consent)) ?? await signer.signTypedData(dvpDomain(chainId, dvp), DVP_CONSENT_TYPES, consent);
    const receiving = new Map<string, bigint>();
    for (const l of legs) if (l.to === wallet) receiving.set(l.token.toLowerCase(), (receiving.get(l.token.toLowerCase()) ?? 0n) + l.amount);
    await this.db.tx(async (q) => {
      await recordConsent(q, { batchId, accountId, reservationIds, paying: [...paying].map(([token, amount]) => ({ asset: cover.get(token)!.asset, amount })), receiving });
      await appendEvent(q, 'wallet.dvp_consent_signed', accountId, {
        accountId, service, walletAddress: wallet, dvp, chainId, batchId, deadline, reservationKeys: keys,
        paying: [...paying].map(([token, amount]) => ({ asset: cover.get(token)!.asset, token, amount: amount.toString() })),
      });
    });
    return { accountId, signer: wallet, nonces, deadline, signature };
  }
}

