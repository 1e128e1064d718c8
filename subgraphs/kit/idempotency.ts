import { createHash } from 'node:crypto';
import { appError } from './errors.js';

/** Canonical JSON (sorted keys, bigints as strings) hashed: the "content" of a creating request. */
export function requestHash(input: unknown): string {
  const canon = (v: unknown): unknown => {
    if (typeof v === 'bigint') return v.toString();
    if (v instanceof Date) return v.toISOString();
    if (Array.isArray(v)) return v.map(canon);
    if (v && typeof v === 'object') {
      return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canon((v as Record<string, unknown>)[k])]).filter(([, x]) => x !== undefined));
    }
    return v;
  };
  return createHash('sha256').update(JSON.stringify(canon(input))).digest('hex');
}

/** A retry with the same key must carry the same content; anything else is a client bug worth refusing loudly. */
export function assertSameRequest(storedHash: string, hash: string, key: string): void {
  if (storedHash !== hash) {
    throw appError('INPUT.IDEMPOTENCY_KEY_REUSED', `idempotency key "${key}" was already used for a different request`, { details: { idempotencyKey: key } });
  }
}

/**
 * The row a key created, when the request is the same (a replay: the caller gets it back whatever happened
 * since, so a creating mutation looks this up before any check of the current state); a different request
 * under the key is refused. Undefined when the key is new.
 */
export function replayOf<R extends { request_hash: string }>(prior: R | undefined | null, hash: string, key: string): R | undefined {
  if (!prior) return undefined;
  assertSameRequest(prior.request_hash, hash, key);
  return prior;
}

/**
 * Inserts a row unless one with the same idempotency key exists (the insert
 * must use ON CONFLICT ... DO NOTHING RETURNING *); on a replay returns the
 * stored row when the content matches and refuses it otherwise.
 */
export async function insertOnce<R extends { request_hash: string }>(
  q: { query<T>(sql: string, params?: unknown[]): Promise<T[]> },
  insert: { sql: string; params: unknown[] },
  existing: { sql: string; params: unknown[] },
  hash: string,
  key: string,
): Promise<{ row: R; created: boolean }> {
  const [row] = await q.query<R>(insert.sql, insert.params);
  if (row) return { row, created: true };
  const [prior] = await q.query<R>(existing.sql, existing.params);
  if (!prior) throw new Error('idempotent insert found neither a new nor an existing row');
  return { row: replayOf(prior, hash, key)!, created: false };
}
