/**
 * Settlement on chain: the operator key that submits DvP transactions, the
 * TokenstackDvP contract, and the reads verification and attestations need.
 */
import { Contract, Interface, Wallet, getAddress, keccak256, toQuantity, toUtf8Bytes, type Result, type TransactionReceipt } from 'ethers';
import { loadArtifact } from '../kit/chain/artifacts.js';
import type { KitSigner } from '../kit/signer/index.js';
import { ChainError, createChainClient, type ChainClient } from '../kit/chain/client.js';
import { revertDataReason, toChainError } from '../kit/chain/errors.js';
import { Coalescer } from '../kit/coalesce.js';
import type { Db } from '../kit/db/types.js';
import type { Logger } from '../kit/log.js';
import type { ConsentJson, LegJson } from './store/batches.js';
import { chainSetting, putChainSetting } from './store/chain.js';

const ERC20 = new Interface(['function balanceOf(address) view returns (uint256)']);
const IDENTITY_REGISTRY = new Interface(['function identity(address) view returns (address)', 'function isVerified(address) view returns (bool)']);
const CLAIM_TOPICS = new Interface(['function getClaimTopics() view returns (uint256[])']);

export interface ChainSettings {
  rpcUrl: string;
  /** Submits DvP transactions (absent: the service only reads the chain). */
  operator?: KitSigner;
  /** Signs attestations. */
  attestation?: KitSigner;
  dvpAddress?: string;
  gasMinWei: bigint;
  gasTopupWei: bigint;
  timeoutMs: number;
  /** Gross mode: most trades (batches) in one settleMany transaction. */
  grossBatchMax: number;
  /** Gross mode: how long a transaction with room left waits for more batches (0: none). */
  grossGatherMs?: number;
  /** Gross mode: transactions being estimated and sent at once (their nonces are taken in order by the client). */
  grossInFlight?: number;
  /** Gas each batch of a settleMany may use at most. */
  gasPerBatch: bigint;
}

/** One batch as the contract settles it: its id, legs and the payers' consents. */
export interface ChainBatch { chainBatchId: string; legs: LegJson[]; consents: ConsentJson[] }

export type TxOutcome =
  | { kind: 'success'; receipt: TransactionReceipt }
  | { kind: 'reverted'; reason?: string }
  | { kind: 'pending' }
  | { kind: 'unknown' };

const DVP_BATCH_EVENTS = (() => {
  const dvp = new Interface(loadArtifact('TokenstackDvP', 'project').abi);
  return new Set([dvp.getEvent('Settled')!.topicHash, dvp.getEvent('Failed')!.topicHash]);
})();

/** How many batches a DvP transaction carried (its Settled and Failed events): gross batches share one transaction and its gas. */
export const batchesIn = (receipt: { logs: readonly { topics: readonly string[] }[] }): number =>
  Math.max(1, receipt.logs.filter((l) => DVP_BATCH_EVENTS.has(l.topics[0])).length);

/** The on-chain batch id of a batch row: what the contract settles at most once. */
export const chainBatchIdOf = (batchRowId: string): string => keccak256(toUtf8Bytes(`tokenstack.settlement.batch:${batchRowId}`));

export class SettlementChain {
  private clientP?: Promise<ChainClient>;
  private dvpP?: Promise<Contract>;
  private readonly funding = new Map<string, Promise<void>>();
  private readonly receipts = new Map<string, Promise<TxOutcome>>();
  /** Reads pinned to a block never change: the trades of one transaction (one block) share them. */
  private readonly pinned = new Map<string, Promise<unknown>>();
  /** Reads of the latest state under way: a trade asking the same while one is in flight shares its answer (as fresh as its own would be). */
  private readonly inFlight = new Map<string, Promise<unknown>>();

  /**
   * Gross batches ready at the same time leave in one settleMany transaction: a few transactions in flight at once
   * (grossInFlight), each waiting up to grossGatherMs for more batches unless full; the rest gather meanwhile.
   */
  private readonly gross: Coalescer<ChainBatch, string>;

  constructor(private readonly db: Db, readonly settings: ChainSettings, private readonly log: Logger) {
    this.gross = new Coalescer(async (batches) => {
      const hash = await this.submitMany(batches);
      return batches.map(() => hash);
    }, { maxBatch: settings.grossBatchMax, maxInFlight: settings.grossInFlight ?? 1, gatherMs: settings.grossGatherMs ?? 0 });
  }

  /** Can settle on chain (an operator key is configured). */
  get configured(): boolean {
    return !!this.settings.operator;
  }

  get attestationSigner(): string | null {
    return this.settings.attestation?.address ?? null;
  }

  client(): Promise<ChainClient> {
    // Without an operator key the client only reads (its throwaway key never sends).
    this.clientP ??= createChainClient({ rpcUrl: this.settings.rpcUrl, signer: this.settings.operator ?? Wallet.createRandom(), timeoutMs: this.settings.timeoutMs })
      .catch((e) => {
        this.clientP = undefined;
        throw e;
      });
    return this.clientP;
  }

  /** The DvP contract: the configured one, the one this service deployed before, or a new one (remembered per chain). */
  dvp(): Promise<Contract> {
    this.dvpP ??= this.resolveDvp().catch((e) => {
      this.dvpP = undefined;
      throw e;
    });
    return this.dvpP;
  }

  /** The DvP contract address if one is known, without deploying. */
  async knownDvpAddress(): Promise<string | null> {
    if (this.settings.dvpAddress) return getAddress(this.settings.dvpAddress);
    const c = await this.client().catch(() => null);
    return c ? chainSetting(this.db, `dvp:${c.chainId}`) : null;
  }

  private async resolveDvp(): Promise<Contract> {
    const c = await this.client();
    const abi = loadArtifact('TokenstackDvP', 'project').abi;
    let address = this.settings.dvpAddress ? getAddress(this.settings.dvpAddress) : await chainSetting(this.db, `dvp:${c.chainId}`);
    if (!address) {
      if (!this.configured) throw new ChainError('CHAIN_UNAVAILABLE', 'no DvP contract configured and no operator key to deploy one', { retryable: false });
      const deployed = await c.deploy(loadArtifact('TokenstackDvP', 'project'));
      address = await putChainSetting(this.db, `dvp:${c.chainId}`, deployed.target as string);
      this.log.info({ dvp: address }, 'DvP contract deployed');
    }
    const contract = new Contract(address, abi, c.signer);
    if (this.configured && !(await c.read(contract.operators(c.address) as Promise<boolean>))) {
      throw new ChainError('CHAIN_REVERTED', `the operator key ${c.address} is not an operator of the DvP contract ${address}`, { retryable: false });
    }
    return contract;
  }

  /**
   * One eth_call of a view function, encoded and decoded here from a shared Interface: a Contract method call
   * builds the same request through several layers (argument resolution, overrides, block tag) on every call.
   */
  private async view(to: string, abi: Interface, fn: string, args: readonly unknown[], blockTag?: number): Promise<Result> {
    const c = await this.client();
    const data = abi.encodeFunctionData(fn, args);
    const out = await c.read(c.provider.send('eth_call', [{ to, data }, blockTag === undefined ? 'latest' : toQuantity(blockTag)]) as Promise<string>);
    return abi.decodeFunctionResult(fn, out);
  }

  balanceOf(token: string, wallet: string): Promise<bigint> {
    return this.atBlock(`balance:${token}:${wallet}`.toLowerCase(), undefined, async () => (await this.view(token, ERC20, 'balanceOf', [wallet]))[0] as bigint);
  }

  /** A read at a block is kept (the trades of a block share it); a read of the latest state is shared only while it is under way. */
  private atBlock<T>(key: string, blockTag: number | undefined, read: () => Promise<T>): Promise<T> {
    if (blockTag === undefined) {
      let p = this.inFlight.get(key) as Promise<T> | undefined;
      if (!p) {
        p = read().finally(() => this.inFlight.delete(key));
        this.inFlight.set(key, p);
      }
      return p;
    }
    const k = `${key}@${blockTag}`;
    let p = this.pinned.get(k) as Promise<T> | undefined;
    if (!p) {
      if (this.pinned.size >= 10_000) this.pinned.clear();
      p = read();
      this.pinned.set(k, p);
      p.catch(() => this.pinned.delete(k));
    }
    return p;
  }

  identityOf(identityRegistry: string, wallet: string, blockTag?: number): Promise<{ identity: string; verified: boolean }> {
    return this.atBlock(`identity:${identityRegistry}:${wallet}`.toLowerCase(), blockTag, async () => {
      const [[identity], [verified]] = await Promise.all([
        this.view(identityRegistry, IDENTITY_REGISTRY, 'identity', [wallet], blockTag),
        this.view(identityRegistry, IDENTITY_REGISTRY, 'isVerified', [wallet], blockTag),
      ]);
      return { identity: getAddress(identity as string), verified: verified as boolean };
    });
  }

  claimTopics(claimTopicsRegistry: string, blockTag?: number): Promise<bigint[]> {
    return this.atBlock(`topics:${claimTopicsRegistry}`.toLowerCase(), blockTag, async () => {
      return [...((await this.view(claimTopicsRegistry, CLAIM_TOPICS, 'getClaimTopics', [], blockTag))[0] as bigint[])];
    });
  }

  /** Sends native currency to a custody wallet that holds less than the configured minimum (one top-up at a time per wallet). */
  async ensureGas(wallet: string): Promise<void> {
    const running = this.funding.get(wallet);
    if (running) return running;
    const p = (async () => {
      const c = await this.client();
      if ((await c.read(c.provider.getBalance(wallet))) >= this.settings.gasMinWei) return;
      await c.send({ to: wallet, value: this.settings.gasTopupWei });
      this.log.info({ wallet, wei: this.settings.gasTopupWei.toString() }, 'custody wallet topped up for gas');
    })().finally(() => this.funding.delete(wallet));
    this.funding.set(wallet, p);
    return p;
  }

  /** Block in which the batch settled, 0 if it has not. */
  async settledAt(chainBatchId: string): Promise<number> {
    const dvp = await this.dvp();
    return Number((await this.view(dvp.target as string, dvp.interface, 'settledAt', [chainBatchId]))[0] as bigint);
  }

  /** The transaction that settled a batch, from the contract's Settled event in that block. */
  async settledTx(chainBatchId: string, block: number): Promise<{ txHash: string; blockNumber: number; time: Date }> {
    const dvp = await this.dvp();
    const c = await this.client();
    const logs = await c.read(dvp.queryFilter(dvp.filters.Settled(chainBatchId), block, block));
    if (!logs.length) throw new ChainError('CHAIN_UNAVAILABLE', `no Settled event for ${chainBatchId} in block ${block} (node not caught up?)`);
    return { txHash: logs[0].transactionHash, blockNumber: block, time: await this.blockTime(block) };
  }

  blockTime(block: number): Promise<Date> {
    return this.atBlock('time', block, async () => {
      const c = await this.client();
      const b = await c.read(c.provider.getBlock(block));
      if (!b) throw new ChainError('CHAIN_UNAVAILABLE', `block ${block} not found`);
      return new Date(b.timestamp * 1000);
    });
  }

  /** Sends the batch alone (settle); resolves with its hash once the node took it. A batch that would revert throws CHAIN_REVERTED before anything is sent. */
  submit(chainBatchId: string, legs: LegJson[], consents: ConsentJson[]): Promise<string> {
    return this.send('settle', batchArgs({ chainBatchId, legs, consents }), 13n);
  }

  /** Sends a gross batch together with the others ready now (settleMany); resolves with the transaction's hash once the node took it. */
  submitGross(batch: ChainBatch): Promise<string> {
    return this.gross.request(batch);
  }

  /**
   * One settleMany transaction: each batch settles or fails on its own (the receipt's Settled and Failed events
   * say which). Throws CHAIN_REVERTED, sending nothing, only when the transaction as a whole would revert.
   */
  submitMany(batches: ChainBatch[]): Promise<string> {
    return this.send('settleMany', [batches.map(batchArgs), this.settings.gasPerBatch], 12n);
  }

  /**
   * Estimates (concurrently with other sends; only signing and sending wait in the key's nonce queue), then sends with
   * a margin of tenths. The call data is encoded once for both: a Contract method call resolves and encodes every
   * leg's and consent's arguments again for the estimate and for the send.
   */
  private async send(method: 'settle' | 'settleMany', args: unknown[], tenths: bigint): Promise<string> {
    const dvp = await this.dvp();
    const c = await this.client();
    try {
      const tx = { from: c.address, to: dvp.target as string, data: dvp.interface.encodeFunctionData(method, args) };
      const gas = await c.provider.estimateGas(tx);
      const sent = await c.signer.sendTransaction({ to: tx.to, data: tx.data, gasLimit: (gas * tenths) / 10n });
      return sent.hash;
    } catch (e) {
      throw toChainError(e) ?? e;
    }
  }

  /**
   * Waits up to the configured timeout for the outcome of the transaction for one batch: a settleMany that was
   * mined may still have refused this batch (its Failed event, with the reason). Waiters on one transaction share one wait.
   */
  async outcome(txHash: string, chainBatchId: string): Promise<TxOutcome> {
    let p = this.receipts.get(txHash);
    if (!p) {
      p = this.receiptOutcome(txHash).finally(() => this.receipts.delete(txHash));
      this.receipts.set(txHash, p);
    }
    const out = await p;
    if (out.kind !== 'success') return out;
    const dvp = await this.dvp();
    for (const log of out.receipt.logs) {
      if (log.address.toLowerCase() !== (dvp.target as string).toLowerCase() || log.topics[1] !== chainBatchId) continue;
      const ev = dvp.interface.parseLog(log);
      if (ev?.name === 'Failed') return { kind: 'reverted', reason: revertDataReason(ev.args.reason as string) ?? 'ran out of its gas allowance, or reverted without a reason' };
    }
    return out;
  }

  private async receiptOutcome(txHash: string): Promise<TxOutcome> {
    const c = await this.client();
    try {
      return { kind: 'success', receipt: await c.waitForReceipt(txHash, { timeoutMs: this.settings.timeoutMs }) };
    } catch (e) {
      const ce = toChainError(e, txHash);
      if (ce?.code === 'CHAIN_REVERTED') return { kind: 'reverted', reason: ce.reason ?? ce.message };
      if (ce?.code === 'CHAIN_TIMEOUT') {
        return (await c.read(c.provider.getTransaction(txHash))) ? { kind: 'pending' } : { kind: 'unknown' };
      }
      throw ce ?? e;
    }
  }

  async close(): Promise<void> {
    const c = await this.clientP?.catch(() => undefined);
    await c?.close();
  }
}

/** A batch as the contract's (batchId, legs, consents) arguments. */
const batchArgs = (b: ChainBatch) => [
  b.chainBatchId,
  b.legs.map((l) => [l.token, l.from, l.to, BigInt(l.amount)]),
  b.consents.map((c) => [c.signer, c.nonces, BigInt(c.deadline), c.signature]),
];
