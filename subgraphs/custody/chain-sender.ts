import { Interface, Transaction, type JsonRpcProvider } from 'ethers';
import type { KitSigner } from '../kit/signer/index.js';
import { toChainError } from '../kit/chain/errors.js';
import { TransferError, type SignedTransfer, type TransferOutcome, type TransferSender } from './broadcaster.js';

const ERC20 = new Interface([
  'function transfer(address to, uint256 value) returns (bool)', 'function balanceOf(address who) view returns (uint256)',
  // The cash token's and ERC-3643's: one Transfer per leg, the whole batch reverts on a bad one.
  'function batchTransfer(address[] toList, uint256[] amounts) returns (bool)',
]);

/** The ERC-20 balance of an address, as the node sees it now. */
export async function tokenBalance(provider: JsonRpcProvider, token: string, holder: string): Promise<bigint> {
  const out = await provider.call({ to: token, data: ERC20.encodeFunctionData('balanceOf', [holder]) });
  return BigInt(ERC20.decodeFunctionResult('balanceOf', out)[0] as bigint);
}

export interface ChainSenderOptions {
  provider: JsonRpcProvider;
  chainId: number;
  gasLimit: number;
  confirmations: number;
}

function toTransferError(e: unknown): TransferError {
  if (e instanceof TransferError) return e;
  const c = toChainError(e);
  const retryable = !!c && (c.code === 'CHAIN_UNAVAILABLE' || c.code === 'CHAIN_TIMEOUT');
  return new TransferError((c ?? (e as Error)).message ?? String(e), retryable);
}

/** A call to the token signed by the custody wallet `from`, not sent. */
async function signCall(o: ChainSenderOptions, from: string, token: string, data: string, gasLimit: bigint, wallet: KitSigner): Promise<SignedTransfer> {
  if (wallet.address !== from) throw new TransferError(`the key on file does not belong to ${from}`, false);
  try {
    const [nonce, fee] = await Promise.all([o.provider.getTransactionCount(from, 'pending'), o.provider.getFeeData()]);
    const raw = await wallet.signTransaction({
      type: 2, chainId: o.chainId, nonce, to: token, value: 0n, gasLimit, data,
      maxFeePerGas: fee.maxFeePerGas, maxPriorityFeePerGas: fee.maxPriorityFeePerGas,
    });
    return { rawTx: raw, txHash: Transaction.from(raw).hash! };
  } catch (e) {
    throw toTransferError(e);
  }
}

/**
 * ERC-20 transfers signed by the custody wallet itself (it pays the gas, so
 * it needs native currency). Fixed gas limit: a transfer that would revert is
 * mined and seen to revert instead of failing an estimate forever.
 */
export function chainTransferSender(o: ChainSenderOptions): TransferSender {
  // A contract's code does not change: asked once per token (an empty batch, called from the payer).
  const batchable = new Map<string, boolean>();
  return {
    sign: (t, wallet) => signCall(o, t.from, t.token, ERC20.encodeFunctionData('transfer', [t.to, t.amount]), BigInt(o.gasLimit), wallet),
    // The gas limit is per leg: a batch of n is given n transfers' worth.
    signBatch: (b, wallet) => signCall(o, b.from, b.token, ERC20.encodeFunctionData('batchTransfer', [b.legs.map((l) => l.to), b.legs.map((l) => l.amount)]),
      BigInt(o.gasLimit) * BigInt(b.legs.length), wallet),
    async canBatch(token, from) {
      const key = token.toLowerCase();
      if (!batchable.has(key)) {
        try {
          await o.provider.call({ from, to: token, data: ERC20.encodeFunctionData('batchTransfer', [[], []]) });
          batchable.set(key, true);
        } catch (e) {
          const t = toTransferError(e);
          if (t.retryable) throw t;
          batchable.set(key, false);
        }
      }
      return batchable.get(key)!;
    },

    async broadcast(s: SignedTransfer) {
      try {
        await o.provider.broadcastTransaction(s.rawTx);
      } catch (e) {
        // The node has it already, or its nonce is spent (by it or another): outcome() tells which.
        if (/already known|known transaction|nonce too low|nonce has already been used/i.test(String((e as Error)?.message))) return;
        throw toTransferError(e);
      }
    },

    async outcome(s: SignedTransfer): Promise<TransferOutcome> {
      const tx = Transaction.from(s.rawTx);
      try {
        // The nonce is read before the receipt: a transaction mined in between is then found by the receipt lookup, never taken for dropped.
        const used = await o.provider.getTransactionCount(tx.from!, 'latest');
        const receipt = await o.provider.getTransactionReceipt(s.txHash);
        if (receipt) {
          if ((await receipt.confirmations()) < o.confirmations) return 'pending';
          return receipt.status === 1 ? 'confirmed' : 'reverted';
        }
        if (used > tx.nonce) return 'dropped';
        return (await o.provider.getTransaction(s.txHash)) ? 'pending' : 'unknown';
      } catch (e) {
        throw toTransferError(e);
      }
    },
  };
}

const PLAIN_TRANSFER_GAS = 21_000n;

/**
 * The whole native balance of `from` to `to` (a wallet sweep's last phase), less that transfer's
 * gas: a plain transfer of 21,000 gas whose priority fee equals its max fee, so that the price paid
 * per gas is exactly the max fee and the old wallet ends at zero. Null when the balance does not
 * pay for the transfer.
 */
export async function signNativeSweep(provider: JsonRpcProvider, chainId: number, from: string, to: string, signer: KitSigner): Promise<(SignedTransfer & { amount: bigint }) | null> {
  if (signer.address !== from) throw new TransferError(`the key on file does not belong to ${from}`, false);
  try {
    const [balance, nonce, fee] = await Promise.all([provider.getBalance(from, 'pending'), provider.getTransactionCount(from, 'pending'), provider.getFeeData()]);
    const price = fee.maxFeePerGas ?? fee.gasPrice ?? 0n;
    const amount = balance - PLAIN_TRANSFER_GAS * price;
    if (amount <= 0n) return null;
    const raw = await signer.signTransaction({ type: 2, chainId, nonce, to, value: amount, gasLimit: PLAIN_TRANSFER_GAS, maxFeePerGas: price, maxPriorityFeePerGas: price });
    return { rawTx: raw, txHash: Transaction.from(raw).hash!, amount };
  } catch (e) {
    throw toTransferError(e);
  }
}
