// One error type for everything the chain layer can fail with, so callers branch on a code, not on ethers' internals.
import { AbiCoder, isError } from 'ethers';

export type ChainErrorCode = 'CHAIN_UNAVAILABLE' | 'CHAIN_REVERTED' | 'CHAIN_TIMEOUT';

export class ChainError extends Error {
  override readonly name = 'ChainError';
  readonly code: ChainErrorCode;
  /** True when the same call may succeed later without changing it. */
  readonly retryable: boolean;
  /** Revert reason decoded from the node's answer, when there is one. */
  readonly reason?: string;
  readonly txHash?: string;

  constructor(
    code: ChainErrorCode,
    message: string,
    opts: { retryable?: boolean; reason?: string; txHash?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.code = code;
    this.retryable = opts.retryable ?? code !== 'CHAIN_REVERTED';
    this.reason = opts.reason;
    this.txHash = opts.txHash;
  }
}

export function isChainError(e: unknown, code?: ChainErrorCode): e is ChainError {
  return e instanceof ChainError && (code === undefined || e.code === code);
}

// Node socket errors and undici's; any of them means the node could not be reached.
const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT',
]);

function networkCode(e: unknown, depth = 0): string | undefined {
  if (!e || typeof e !== 'object' || depth > 4) return undefined;
  const o = e as { code?: unknown; cause?: unknown; error?: unknown; errors?: unknown };
  if (typeof o.code === 'string' && NETWORK_CODES.has(o.code)) return o.code;
  if (Array.isArray(o.errors)) {
    for (const x of o.errors) {
      const c = networkCode(x, depth + 1);
      if (c) return c;
    }
  }
  return networkCode(o.cause, depth + 1) ?? networkCode(o.error, depth + 1);
}

/**
 * Maps what ethers or the socket threw to a ChainError. Returns undefined for errors that are
 * the caller's bug (bad argument, unknown method): those should surface unchanged.
 */
export function toChainError(e: unknown, txHash?: string): ChainError | undefined {
  if (e instanceof ChainError) return e;
  const message = e instanceof Error ? ((e as { shortMessage?: string }).shortMessage ?? e.message) : String(e);
  const net = networkCode(e);
  if (net) return new ChainError('CHAIN_UNAVAILABLE', `chain node unreachable (${net}): ${message}`, { cause: e, txHash });
  if (isError(e, 'CALL_EXCEPTION')) {
    const reason = e.reason ?? e.revert?.name ?? undefined;
    return new ChainError('CHAIN_REVERTED', `transaction reverted: ${reason ?? message}`, { reason, cause: e, txHash });
  }
  if (isError(e, 'TIMEOUT')) return new ChainError('CHAIN_TIMEOUT', `chain request timed out: ${message}`, { cause: e, txHash });
  if (isError(e, 'NETWORK_ERROR') || isError(e, 'SERVER_ERROR') || isError(e, 'CANCELLED')) {
    return new ChainError('CHAIN_UNAVAILABLE', `chain node error: ${message}`, { cause: e, txHash });
  }
  // The node refused the transaction itself: retrying the same request will not help.
  if (isError(e, 'INSUFFICIENT_FUNDS') || isError(e, 'REPLACEMENT_UNDERPRICED') || isError(e, 'TRANSACTION_REPLACED')) {
    return new ChainError('CHAIN_REVERTED', `transaction refused by the node: ${message}`, { cause: e, txHash });
  }
  // Still stale after a resync: another sender uses the key; a later retry may get through.
  if (isError(e, 'NONCE_EXPIRED')) {
    return new ChainError('CHAIN_UNAVAILABLE', `nonce conflict: ${message}`, { retryable: true, cause: e, txHash });
  }
  return undefined;
}

/** The reason in a call's revert data (Error(string), a panic, a custom error's selector); none when the data is empty (out of gas, or a bare revert). */
export function revertDataReason(data: string): string | undefined {
  if (!data || data === '0x') return undefined;
  const e = AbiCoder.getBuiltinCallException('call', {}, data);
  return e.reason ?? e.revert?.name ?? `custom error ${data.slice(0, 10)}`;
}
