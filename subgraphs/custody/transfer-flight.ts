import type { Db, Queryable } from '../kit/db/types.js';
import type { KitSigner } from '../kit/signer/index.js';

export interface TransferRequest { withdrawalId: string; from: string; token: string; to: string; amount: bigint }
/** Several payees paid by one wallet in one transaction (the token's `batchTransfer`): all paid, or none. */
export interface BatchTransferRequest { withdrawalIds: string[]; from: string; token: string; legs: { to: string; amount: bigint }[] }
export interface SignedTransfer { txHash: string; rawTx: string }

/**
 * confirmed / reverted: mined with that status (enough confirmations);
 * pending: the node holds it, not yet final; unknown: the node does not know it
 * and its nonce is still free (send it again); dropped: its nonce was used by
 * another transaction, so this one can never be mined.
 */
export type TransferOutcome = 'confirmed' | 'reverted' | 'pending' | 'unknown' | 'dropped';

export interface TransferSender {
  /** Signs, without sending, a token transfer from a custody wallet with its signer (software or HSM). */
  sign(t: TransferRequest, signer: KitSigner): Promise<SignedTransfer>;
  /** Signs, without sending, one `batchTransfer` paying every leg; a sender without it sends one transfer per withdrawal. */
  signBatch?(t: BatchTransferRequest, signer: KitSigner): Promise<SignedTransfer>;
  /** Whether the token has `batchTransfer` (a plain ERC-20 has not: its payments then go one transfer each). Throws TransferError. */
  canBatch?(token: string, from: string): Promise<boolean>;
  /** Sends a signed transaction; sending the same one twice is harmless. Throws TransferError. */
  broadcast(t: SignedTransfer): Promise<void>;
  outcome(t: SignedTransfer): Promise<TransferOutcome>;
}

export class TransferError extends Error {
  override readonly name = 'TransferError';
  /** True when the node could not be reached (try the same transaction again); false when it refused it. */
  constructor(message: string, readonly retryable: boolean) {
    super(message);
  }
}

export interface BroadcastSettings {
  maxAttempts: number;
  retryMs: number;
  rebroadcastMs: number;
  /** How soon to look again at a transfer in flight. */
  pollMs: number;
  /** Most distribution payments of one paying account and asset sent as one transaction; absent or 1: one transfer each. */
  paymentBatchMax?: number;
}

/**
 * A signed transfer the node was given (or may have been), as the withdrawal broadcaster and the
 * wallet sweep mover both follow it: nothing is decided without the node's answer, and a
 * transaction the node does not know is sent again at most once per rebroadcast interval.
 */
export type FlightStep =
  /** Mined with enough confirmations. */
  | { next: 'confirmed' }
  /** Reverted, or its nonce spent by another transaction: it can never be mined; sign anew (or give up). */
  | { next: 'dead'; why: string }
  /** The node does not know it and its nonce is free, and the last send is older than rebroadcastMs. */
  | { next: 'resend' }
  /** Pending, sent lately, or the node unreachable (then `error`): look again at `at`. */
  | { next: 'wait'; at: Date; error?: string };

export const later = (now: Date, ms: number): Date => new Date(now.getTime() + ms);
export const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).slice(0, 500);

export async function nextForFlight(sender: TransferSender, signed: SignedTransfer, sentAt: Date | null, now: Date, s: BroadcastSettings): Promise<FlightStep> {
  let outcome;
  try {
    outcome = await sender.outcome(signed);
  } catch (e) {
    return { next: 'wait', at: later(now, s.retryMs), error: `outcome unknown: ${message(e)}` };
  }
  if (outcome === 'confirmed') return { next: 'confirmed' };
  if (outcome === 'reverted' || outcome === 'dropped') return { next: 'dead', why: `transfer ${signed.txHash} ${outcome}` };
  if (outcome === 'unknown' && (!sentAt || now.getTime() - sentAt.getTime() >= s.rebroadcastMs)) return { next: 'resend' };
  return { next: 'wait', at: later(now, s.pollMs) };
}

/**
 * Sends outside any transaction (a slow node holds no lock), then records what happened in one:
 * `lock` answers the row only if it still waits on this very transaction (else `stale`).
 */
export async function sendThenRecord<Row, R>(
  db: Db, sender: TransferSender, signed: SignedTransfer,
  lock: (q: Queryable) => Promise<Row | null>, record: (q: Queryable, row: Row, error?: Error) => Promise<R>, stale: R,
): Promise<R> {
  let error: Error | undefined;
  try {
    await sender.broadcast(signed);
  } catch (e) {
    error = e instanceof Error ? e : new Error(String(e));
  }
  return db.tx(async (q) => {
    const row = await lock(q);
    return row ? record(q, row, error) : stale;
  });
}
