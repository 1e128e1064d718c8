import { badInput } from './errors.js';
import type { IdPrefix } from './ids.js';

/**
 * The checks of what callers send that every subgraph makes: the format of
 * an id (kit/ids.ts newId: prefix, "_", 26 Crockford base32 characters) and
 * of an idempotency key. One implementation; each entry point keeps its own
 * error code and message for an id (INVALID_TOKEN_ID, INVALID_ID...).
 */

const ID_PATTERNS = new Map<string, RegExp>();

/** A well-formed id of this kind (says nothing of whether it exists). */
export function isId(v: unknown, prefix: IdPrefix): v is string {
  if (typeof v !== 'string') return false;
  let re = ID_PATTERNS.get(prefix);
  if (!re) ID_PATTERNS.set(prefix, (re = new RegExp(`^${prefix}_[0-9a-z]{26}$`)));
  return re.test(v);
}

/** 1 to `max` printable ASCII characters, no space (client order ids, venue names, keys). */
export const isPrintable = (v: unknown, max: number): v is string =>
  typeof v === 'string' && v.length >= 1 && v.length <= max && /^[\x21-\x7e]+$/.test(v);

/** A caller's idempotency key: 1 to 128 printable characters. */
export const isIdempotencyKey = (v: unknown): v is string => isPrintable(v, 128);

/** The key, or INPUT.INVALID_IDEMPOTENCY_KEY naming the field. */
export function requireIdempotencyKey(v: unknown, field = 'idempotencyKey'): string {
  if (!isIdempotencyKey(v)) throw badInput('INVALID_IDEMPOTENCY_KEY', `${field} must be 1 to 128 printable characters`, { field });
  return v;
}
