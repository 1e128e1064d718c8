// One signer on one EVM node: ordered nonces, receipts by polling, errors mapped to ChainError.
import {
  AbstractSigner,
  Contract,
  ContractFactory,
  type FeeData,
  FetchRequest,
  JsonRpcProvider,
  Network,
  Wallet,
  isError,
  type Provider,
  type TypedDataDomain,
  type TypedDataField,
  type JsonRpcError,
  type JsonRpcPayload,
  type JsonRpcResult,
  makeError,
  Transaction,
  type TransactionReceipt,
  type TransactionRequest,
  TransactionResponse,
} from 'ethers';
import type { KitSigner } from '../signer/index.js';
import type { Artifact } from './artifacts.js';
import { ChainError, toChainError } from './errors.js';

export { ChainError, isChainError, type ChainErrorCode } from './errors.js';

export interface ChainClientOptions {
  rpcUrl: string;
  /** The key that sends: a private key (tests, scripts) or a signer from kit/signer (the services). */
  privateKey?: string;
  signer?: KitSigner;
  /** First receipt poll interval; backs off to 1 s. Default 20 ms. */
  pollMs?: number;
  /** How long send() waits for a receipt. Default 60 s. */
  timeoutMs?: number;
  /** Per JSON-RPC request. Default 10 s. */
  requestTimeoutMs?: number;
  /** Skip asking the node (lets a client be built while the node is down). */
  chainId?: number;
  /**
   * How long fee data is reused. Default 1 s. Safe while the base fee cannot more than double in
   * that time: ethers offers maxFeePerGas = 2 x base fee + tip.
   */
  feeCacheMs?: number;
}

/** A request, a sent transaction, or the promise of one (e.g. `token.mint(to, amount)`). */
export type Sendable = TransactionRequest | TransactionResponse | Promise<TransactionResponse>;

export interface ChainClient {
  provider: JsonRpcProvider;
  signer: KitSigner;
  address: string;
  chainId: number;
  /** Sends and resolves with a successful receipt, or throws ChainError. */
  send(tx: Sendable, opts?: { timeoutMs?: number }): Promise<TransactionReceipt>;
  /** Polls eth_getTransactionReceipt; for a hash that send() timed out on. */
  waitForReceipt(hash: string, opts?: { timeoutMs?: number }): Promise<TransactionReceipt>;
  deploy(artifact: Artifact, args?: readonly unknown[]): Promise<Contract>;
  /** Awaits a read (e.g. `token.balanceOf(a)`) and maps its failure to ChainError. */
  read<T>(call: Promise<T>): Promise<T>;
  close(): Promise<void>;
}

const UNREACHABLE_GIVE_UP_MS = 2000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function mapped(e: unknown, txHash?: string): unknown {
  return toChainError(e, txHash) ?? e;
}

/**
 * JsonRpcProvider that sends each request at once: the stock one queues requests behind a
 * setTimeout(0) drain even with batching off, ~2.5 ms per call on loopback. Fee data is reused for
 * a short while: populating a transaction asks for it with three calls every time.
 */
class DirectJsonRpcProvider extends JsonRpcProvider {
  #nextId = 1;
  #fee: { at: number; data: Promise<FeeData> } | null = null;
  readonly #feeTtlMs: number;

  constructor(req: FetchRequest, network: Network, feeTtlMs: number) {
    super(req, network, { staticNetwork: network, batchMaxCount: 1, cacheTimeout: -1 });
    this.#feeTtlMs = feeTtlMs;
  }

  /**
   * The stock _send, with the answer decoded by Node: ethers decodes every response body with its own UTF-8
   * decoder written in JS, character by character, which was 7% of settlement's busy time (receipts, logs,
   * calls). A body that is not JSON is the node failing (SERVER_ERROR: CHAIN_UNAVAILABLE, retryable).
   */
  override async _send(payload: JsonRpcPayload | JsonRpcPayload[]): Promise<JsonRpcResult[]> {
    const request = this._getConnection();
    request.body = JSON.stringify(payload);
    request.setHeader('content-type', 'application/json');
    const response = await request.send();
    response.assertOk();
    const body = response.body;
    const text = body ? Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8') : '';
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch {
      throw makeError('the node answered something that is not JSON', 'SERVER_ERROR', { request, response });
    }
    // As ethers types it: an error answer travels in the same list and is told apart by its `error` field.
    return (Array.isArray(answer) ? answer : [answer]) as JsonRpcResult[];
  }

  override async send(method: string, params: unknown[] | Record<string, unknown>): Promise<unknown> {
    if (this.destroyed) throw new Error(`provider destroyed; cancelled ${method}`);
    await this._start();
    const payload = { method, params, id: this.#nextId++, jsonrpc: '2.0' as const };
    const [resp] = await this._send(payload);
    if (!resp) throw new Error(`no JSON-RPC answer to ${method}`);
    if ('error' in resp) throw this.getRpcError(payload, resp as JsonRpcError);
    return resp.result;
  }

  /**
   * broadcastTransaction without the work this project never uses: the stock one also asks for the block number
   * (for tx.wait()'s replacement check) and builds its answer from the signed transaction parsed back, which
   * recovers the sender from the signature (a secp256k1 recovery in JS) for every send. The signer knows its
   * address; the node's errors are mapped as before (the same _perform request).
   */
  async broadcastSigned(signedTx: string, from: string): Promise<TransactionResponse> {
    const hash = (await this._perform({ method: 'broadcastTransaction', signedTransaction: signedTx })) as string;
    const t = Transaction.from(signedTx);
    return new TransactionResponse({
      blockNumber: null, blockHash: null, hash, index: 0, type: t.type ?? 0, to: t.to, from, nonce: t.nonce, gasLimit: t.gasLimit, gasPrice: t.gasPrice ?? 0n,
      maxPriorityFeePerGas: t.maxPriorityFeePerGas, maxFeePerGas: t.maxFeePerGas, maxFeePerBlobGas: t.maxFeePerBlobGas, data: t.data, value: t.value,
      chainId: t.chainId, signature: t.signature!, accessList: t.accessList, blobVersionedHashes: t.blobVersionedHashes, authorizationList: t.authorizationList,
    }, this);
  }

  override getFeeData(): Promise<FeeData> {
    const now = Date.now();
    if (!this.#fee || now - this.#fee.at > this.#feeTtlMs) {
      const data = super.getFeeData();
      this.#fee = { at: now, data };
      data.catch(() => {
        this.#fee = null;
      });
    }
    return this.#fee.data;
  }
}

/**
 * A signer whose sends take nonces from a local counter, one at a time in call order, so many
 * concurrent sends from one key never collide. Resyncs from the node after any failure. The key
 * itself signs wherever it lives (a Wallet, or an HSM through kit/signer).
 */
class NonceManagedSigner extends AbstractSigner {
  #next: number | null = null;
  #queue: Promise<unknown> = Promise.resolve();
  readonly address: string;

  constructor(private readonly key: KitSigner, provider: Provider) {
    super(provider);
    this.address = key.address;
  }

  async getAddress(): Promise<string> {
    return this.address;
  }

  connect(provider: Provider | null): KitSigner {
    return this.key.connect(provider) as KitSigner;
  }

  signTransaction(tx: TransactionRequest): Promise<string> {
    return this.key.signTransaction(tx);
  }

  signMessage(message: string | Uint8Array): Promise<string> {
    return this.key.signMessage(message);
  }

  signTypedData(domain: TypedDataDomain, types: Record<string, TypedDataField[]>, value: Record<string, unknown>): Promise<string> {
    return this.key.signTypedData(domain, types, value);
  }

  override sendTransaction(tx: TransactionRequest): Promise<TransactionResponse> {
    const run = this.#queue.then(() => this.#sendNext(tx));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** AbstractSigner.sendTransaction's steps, broadcast without recovering the sender it already knows. */
  async #signAndBroadcast(tx: TransactionRequest): Promise<TransactionResponse> {
    const provider = this.provider;
    if (!(provider instanceof DirectJsonRpcProvider)) return super.sendTransaction(tx);
    const pop = await this.populateTransaction(tx);
    delete pop.from;
    return provider.broadcastSigned(await this.signTransaction(Transaction.from(pop)), this.address);
  }

  async #sendNext(tx: TransactionRequest): Promise<TransactionResponse> {
    if (tx.nonce != null) return this.#signAndBroadcast(tx);
    for (let attempt = 1; ; attempt++) {
      if (this.#next === null) this.#next = await this.getNonce('pending');
      const nonce = this.#next;
      try {
        const sent = await this.#signAndBroadcast({ ...tx, nonce });
        this.#next = nonce + 1;
        return sent;
      } catch (e) {
        // Unknown whether the node kept it (or someone else used the key): ask again next time.
        this.#next = null;
        const stale = isError(e, 'NONCE_EXPIRED') || isError(e, 'REPLACEMENT_UNDERPRICED') || /nonce too low|already known/i.test(String((e as Error)?.message));
        if (!stale || attempt >= 3) throw e;
      }
    }
  }
}

/**
 * The chain id, asked again after a timeout (up to three times): a process starting beside busy work (a
 * subgraph's migrations on the same event loop) can read the node's prompt answer only after its timer
 * fired. A refused connection or an error answer is not asked again.
 */
async function detectChainId(rpcUrl: string, timeoutMs: number): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await askChainId(rpcUrl, timeoutMs);
    } catch (e) {
      if (attempt >= 3 || !(e instanceof ChainError && e.code === 'CHAIN_TIMEOUT')) throw e;
    }
  }
}

async function askChainId(rpcUrl: string, timeoutMs: number): Promise<number> {
  // A raw request: an ethers provider without a static network retries detection forever.
  const req = new FetchRequest(rpcUrl);
  req.timeout = timeoutMs;
  req.setHeader('content-type', 'application/json');
  req.body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] });
  try {
    const res = await req.send();
    res.assertOk();
    const body = res.bodyJson as { result?: string; error?: { message?: string } };
    if (!body.result) throw new Error(`eth_chainId failed: ${body.error?.message ?? 'no result'}`);
    return Number(BigInt(body.result));
  } catch (e) {
    const ce = toChainError(e);
    throw ce ?? new ChainError('CHAIN_UNAVAILABLE', `no chain at ${rpcUrl}: ${(e as Error).message}`, { cause: e });
  }
}

export async function createChainClient(opts: ChainClientOptions): Promise<ChainClient> {
  const pollMs = opts.pollMs ?? 20;
  const defaultTimeout = opts.timeoutMs ?? 60_000;
  const requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
  const chainId = opts.chainId ?? (await detectChainId(opts.rpcUrl, requestTimeoutMs));

  const network = Network.from(chainId);
  const req = new FetchRequest(opts.rpcUrl);
  req.timeout = requestTimeoutMs;
  // batchMaxCount 1: batching adds ~10 ms per call; cacheTimeout -1: the 250 ms call cache hands out stale nonces.
  const provider = new DirectJsonRpcProvider(req, network, opts.feeCacheMs ?? 1000);
  if (!opts.signer === !opts.privateKey) throw new Error('createChainClient: give either privateKey or signer');
  const signer = new NonceManagedSigner(opts.signer ?? new Wallet(opts.privateKey!), provider);

  async function revertReason(hash: string, blockNumber: number): Promise<string | undefined> {
    // Replays the call on the state before its block: exact under auto-mining, best effort otherwise.
    try {
      const tx = await provider.getTransaction(hash);
      if (!tx) return undefined;
      await provider.call({ to: tx.to, from: tx.from, data: tx.data, value: tx.value, blockTag: blockNumber - 1 });
    } catch (e) {
      if (isError(e, 'CALL_EXCEPTION')) return e.reason ?? e.revert?.name ?? undefined;
    }
    return undefined;
  }

  // Not tx.wait(): it sometimes never resolved on anvil although the receipt existed.
  async function waitForReceipt(hash: string, o: { timeoutMs?: number } = {}): Promise<TransactionReceipt> {
    const timeoutMs = o.timeoutMs ?? defaultTimeout;
    const deadline = Date.now() + timeoutMs;
    let delay = pollMs;
    let lastError: ChainError | undefined;
    let failingSince = 0;
    for (;;) {
      try {
        const receipt = await provider.getTransactionReceipt(hash);
        if (receipt) {
          if (receipt.status === 1) return receipt;
          const reason = await revertReason(hash, receipt.blockNumber);
          throw new ChainError('CHAIN_REVERTED', `transaction ${hash} reverted${reason ? `: ${reason}` : ''}`, { reason, txHash: hash });
        }
        lastError = undefined;
        failingSince = 0;
      } catch (e) {
        const ce = toChainError(e, hash);
        if (!ce || ce.code === 'CHAIN_REVERTED') throw ce ?? e;
        // Ride out a blip; a node gone for longer fails now (the caller can wait on txHash later).
        lastError = ce;
        failingSince ||= Date.now();
        if (Date.now() - failingSince >= UNREACHABLE_GIVE_UP_MS) throw ce;
      }
      if (Date.now() + delay > deadline) {
        throw lastError ?? new ChainError('CHAIN_TIMEOUT', `no receipt for ${hash} after ${timeoutMs} ms`, { txHash: hash });
      }
      await sleep(delay);
      delay = Math.min(Math.ceil(delay * 1.5), 1000);
    }
  }

  async function send(tx: Sendable, o: { timeoutMs?: number } = {}): Promise<TransactionReceipt> {
    let hash: string;
    try {
      const v = await tx;
      hash = typeof (v as TransactionResponse).hash === 'string'
        ? (v as TransactionResponse).hash
        : (await signer.sendTransaction(v as TransactionRequest)).hash;
    } catch (e) {
      throw mapped(e);
    }
    return waitForReceipt(hash, o);
  }

  async function deploy(artifact: Artifact, args: readonly unknown[] = []): Promise<Contract> {
    if (!artifact.bytecode || artifact.bytecode === '0x') {
      throw new Error(`${artifact.contractName} has no bytecode (interface or abstract contract)`);
    }
    const factory = new ContractFactory(artifact.abi, artifact.bytecode, signer);
    const receipt = await send(await factory.getDeployTransaction(...args));
    if (!receipt.contractAddress) throw new ChainError('CHAIN_REVERTED', `${artifact.contractName}: no contract address in receipt`, { txHash: receipt.hash });
    return new Contract(receipt.contractAddress, artifact.abi, signer);
  }

  async function read<T>(call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (e) {
      throw mapped(e);
    }
  }

  async function close(): Promise<void> {
    provider.destroy();
  }

  return { provider, signer, address: signer.address, chainId, send, waitForReceipt, deploy, read, close };
}
