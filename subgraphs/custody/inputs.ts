import { badInput } from '../kit/errors.js';
import { parseAddress } from '../kit/scalars.js';
import { isId, requireIdempotencyKey } from '../kit/inputs.js';
import type { IdPrefix } from '../kit/ids.js';

/** Validation of what callers send, shared by the GraphQL and the internal entry points. No I/O. */

export const CASH = 'CASH';
const UINT256_MAX = (1n << 256n) - 1n;

/** A positive amount in base units that fits a uint256 (it must be transferable on chain). */
export function parseAmount(v: unknown, field = 'amount'): bigint {
  let n: bigint;
  if (typeof v === 'bigint') n = v;
  else if (typeof v === 'string' && /^-?\d{1,78}$/.test(v)) n = BigInt(v);
  else throw badInput('INVALID_AMOUNT', `${field} must be an integer in base units as a decimal string`, { field });
  if (n <= 0n) throw badInput('INVALID_AMOUNT', `${field} must be positive, got ${n}`, { field });
  if (n > UINT256_MAX) throw badInput('INVALID_AMOUNT', `${field} exceeds uint256`, { field });
  return n;
}

export function optionalAmount(v: unknown, field = 'amount'): bigint | undefined {
  return v === undefined || v === null ? undefined : parseAmount(v, field);
}

/** "CASH" or a security token id from issuance. */
export const isAsset = (v: unknown): v is string => typeof v === 'string' && (v === CASH || isId(v, 'tok'));

export const invalidAsset = (v: unknown) =>
  badInput('INVALID_ASSET', `asset must be "CASH" or a security token id (tok_...), got ${JSON.stringify(v)?.slice(0, 60)}`);

export function parseAsset(v: unknown): string {
  if (!isAsset(v)) throw invalidAsset(v);
  return v;
}

export function parseAccountId(v: unknown, field = 'accountId'): string {
  if (!isId(v, 'acc')) {
    throw badInput('INVALID_ACCOUNT_ID', `${field} must be a custody account id (acc_...), got ${JSON.stringify(v)?.slice(0, 60)}`, { field });
  }
  return v;
}

export function parseId(v: unknown, prefix: IdPrefix, field: string): string {
  if (!isId(v, prefix)) {
    throw badInput('INVALID_ID', `${field} must be an id starting with ${prefix}_, got ${JSON.stringify(v)?.slice(0, 60)}`, { field });
  }
  return v;
}

/** kit/inputs.ts: 1 to 128 printable characters, else INPUT.INVALID_IDEMPOTENCY_KEY naming the field. */
export const parseIdempotencyKey = requireIdempotencyKey;

/** A short free text (reasons, labels): trimmed, 1..max characters, no control characters. */
export function parseText(v: unknown, field: string, max = 200): string {
  const s = typeof v === 'string' ? v.trim() : '';
  if (!s || s.length > max || /[\x00-\x1f\x7f]/.test(s)) {
    throw badInput('INVALID_TEXT', `${field} must be 1 to ${max} printable characters`, { field });
  }
  return s;
}

/** An EVM address: malformed or with a wrong EIP-55 checksum is INPUT.INVALID_ADDRESS. Returned checksummed. */
export function parseDestination(v: unknown, field = 'toAddress'): string {
  if (typeof v !== 'string') throw badInput('INVALID_ADDRESS', `${field} must be an address string`, { field });
  const a = parseAddress(v);
  if (/^0x0{40}$/.test(a)) throw badInput('INVALID_ADDRESS', `${field} must not be the zero address`, { field });
  return a;
}

/** A reservation, credit or debit of an amount of an asset on an account, under the caller's idempotency key. */
export const parseMove = (b: Record<string, unknown>) => ({
  accountId: parseAccountId(b.accountId),
  asset: parseAsset(b.asset),
  amount: parseAmount(b.amount),
  idempotencyKey: parseIdempotencyKey(b.idempotencyKey),
  reason: parseText(b.reason, 'reason'),
});
