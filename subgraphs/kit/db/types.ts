/** What every store sees: the same SQL and the same row shapes on PGlite and on PostgreSQL. */
export interface Queryable {
  /** Rows as objects. int8 and numeric come back as strings (never lossy JS numbers), timestamptz as Date, jsonb parsed. */
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Several statements, no parameters (migrations). */
  exec(sql: string): Promise<void>;
}

export type Isolation = 'read committed' | 'repeatable read' | 'serializable';

export interface Db extends Queryable {
  readonly kind: 'pglite' | 'postgres';
  /** Runs fn in one transaction; commits on return, rolls back on throw. Serialization failures are retried. */
  tx<T>(fn: (q: Queryable) => Promise<T>, opts?: { isolation?: Isolation }): Promise<T>;
  /** LISTEN on a channel; returns the unlisten function. */
  listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
  /** Connections of the pool now (PostgreSQL; the embedded database has one and no pool). */
  poolStats?(): { total: number; idle: number; waiting: number; max: number };
}

/** PostgreSQL error codes the stores map to domain errors at their edge. */
export const PgCode = {
  uniqueViolation: '23505',
  checkViolation: '23514',
  foreignKeyViolation: '23503',
  serializationFailure: '40001',
  deadlockDetected: '40P01',
} as const;

export function pgCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

export function pgConstraint(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'constraint' in e ? String((e as { constraint: unknown }).constraint) : undefined;
}

/**
 * The connection, not the statement, failed: the server was restarted or
 * failed over, an administrator ended the session (pg_terminate_backend,
 * 57P01), the network dropped. The statement's effect is unknown only for a
 * COMMIT; the request may be retried (every creating mutation is idempotent).
 */
const CONNECTION_CODES = new Set(['57P01', '57P02', '57P03', '08000', '08001', '08003', '08004', '08006', '08007', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EHOSTUNREACH']);
const CONNECTION_MESSAGES = /Connection terminated|connection error and is not queryable|Client was closed|terminating connection|server closed the connection/i;

export function isConnectionLost(e: unknown): boolean {
  const c = pgCode(e);
  if (typeof e === 'object' && e !== null && (e as { extensions?: { code?: unknown } }).extensions?.code === 'DATABASE.UNAVAILABLE') return true;
  if (c && CONNECTION_CODES.has(c)) return true;
  return e instanceof Error && CONNECTION_MESSAGES.test(e.message);
}

export const isRetryableTxError = (e: unknown): boolean => {
  const c = pgCode(e);
  return c === PgCode.serializationFailure || c === PgCode.deadlockDetected;
};

/** SQLSTATE classes of a failure of the moment: connection (08), rollback (40), resources (53), operator intervention (57), system (58). */
const TRANSIENT_CLASSES = new Set(['08', '40', '53', '57', '58']);

/**
 * The database could not run the statements now, not "never": a lost connection, a serialization failure or
 * deadlock, a lock or statement timeout, resources running out. The same statements may succeed when asked again;
 * anything else (a value out of range, a constraint, a malformed value) fails the same way every time.
 */
export function isTransientDbError(e: unknown): boolean {
  if (isConnectionLost(e) || isRetryableTxError(e)) return true;
  const c = pgCode(e);
  return !!c && /^[0-9A-Z]{5}$/.test(c) && (TRANSIENT_CLASSES.has(c.slice(0, 2)) || c === '55P03');
}
