import pg from 'pg';
import { appError } from '../errors.js';
import { isConnectionLost, isRetryableTxError, type Db, type Isolation, type Queryable } from './types.js';

// Same row shapes as PGlite: int8 and numeric stay strings.
const types = {
  getTypeParser(oid: number, format?: string) {
    if (oid === 20 || oid === 1700) return (v: string) => v;
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

const MAX_TX_ATTEMPTS = 5;
const LISTEN_RETRY_MS = { first: 100, max: 5_000 };

/**
 * A lost connection becomes a typed, retryable error for the request in
 * flight (its transaction rolled back, or for a COMMIT an unknown outcome
 * that an idempotent retry resolves); the next request gets a fresh
 * connection from the pool.
 */
export const databaseUnavailable = (e: unknown) =>
  appError('DATABASE.UNAVAILABLE', `the database connection was lost (${(e as Error).message}); retry the request`, { retryable: true });

const typed = (e: unknown): unknown => (isConnectionLost(e) ? databaseUnavailable(e) : e);

/**
 * PostgreSQL server through a node-postgres pool. Every connection has an
 * 'error' listener for its whole life (pg-pool drops its own while a client
 * is checked out; without one a killed session is an unhandled 'error' event
 * that ends the process). The LISTEN connection reconnects by itself.
 */
export async function openPostgres(connectionString: string, poolSize = 10): Promise<Db> {
  const pool = new pg.Pool({ connectionString, max: poolSize, types });
  pool.on('error', () => { /* idle client lost; the pool replaces it */ });
  await pool.query('SELECT 1'); // fail at start, not at first request

  const wrap = (c: pg.Pool | pg.PoolClient): Queryable => ({
    async query<T>(sql: string, params?: unknown[]) {
      try {
        const r = await c.query(sql, params as unknown[]);
        return r.rows as T[];
      } catch (e) {
        throw typed(e);
      }
    },
    async exec(sql: string) {
      try {
        await c.query(sql);
      } catch (e) {
        throw typed(e);
      }
    },
  });

  const listener = reconnectingListener(connectionString);

  return {
    kind: 'postgres',
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: poolSize }),
    ...wrap(pool),
    async tx<T>(fn: (q: Queryable) => Promise<T>, opts?: { isolation?: Isolation }) {
      for (let attempt = 1; ; attempt++) {
        let client: pg.PoolClient;
        try {
          client = await pool.connect();
        } catch (e) {
          throw typed(e);
        }
        let broken: Error | undefined;
        const onError = (e: Error) => { broken = e; };
        client.on('error', onError);
        let began = false;
        try {
          await client.query(opts?.isolation ? `BEGIN ISOLATION LEVEL ${opts.isolation}` : 'BEGIN');
          began = true;
          const out = await fn(wrap(client));
          await client.query('COMMIT');
          return out;
        } catch (e) {
          if (!broken && isConnectionLost(e)) broken = e as Error;
          if (!broken) await client.query('ROLLBACK').catch(() => undefined);
          // A connection that died before BEGIN ran nothing: take another one.
          if (broken && !began && attempt < MAX_TX_ATTEMPTS) continue;
          if (!broken && attempt < MAX_TX_ATTEMPTS && isRetryableTxError(e)) continue;
          throw broken ? typed(isConnectionLost(e) ? e : broken) : e;
        } finally {
          client.removeListener('error', onError);
          client.release(broken); // a broken connection is destroyed, not pooled
        }
      }
    },
    listen: listener.listen,
    async close() {
      await listener.close();
      await pool.end();
    },
  };
}

/**
 * One LISTEN connection per pool. When it drops, it reconnects with backoff,
 * LISTENs again on every channel and then calls every handler with an empty
 * payload: a notification sent while it was down is lost, so each reader
 * re-reads what it watches (every handler treats a notification as a hint).
 */
function reconnectingListener(connectionString: string) {
  const handlers = new Map<string, Set<(p: string) => void>>();
  let current: Promise<pg.Client> | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  let everConnected = false;

  const connect = (): Promise<pg.Client> => {
    current ??= (async () => {
      const c = new pg.Client({ connectionString });
      c.on('error', () => lost(c));
      c.on('end', () => lost(c));
      c.on('notification', (n) => handlers.get(n.channel)?.forEach((h) => h(n.payload ?? '')));
      try {
        await c.connect();
        for (const channel of handlers.keys()) await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
        everConnected = true;
      } catch (e) {
        c.end().catch(() => undefined);
        throw e;
      }
      return c;
    })();
    const p = current;
    p.catch(() => { if (current === p) current = undefined; });
    return p;
  };

  const lost = (c: pg.Client) => {
    if (closed || !current) return;
    void current.then((live) => {
      if (live !== c || closed) return;
      current = undefined;
      reconnect(LISTEN_RETRY_MS.first);
    }, () => undefined);
  };

  const reconnect = (delay: number) => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      connect().then(
        () => handlers.forEach((set) => set.forEach((h) => h(''))),
        () => reconnect(Math.min(delay * 2, LISTEN_RETRY_MS.max)),
      );
    }, delay);
    retry.unref();
  };

  return {
    async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        try {
          const c = await connect();
          await c.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
        } catch (e) {
          // At start a database that cannot be reached is the caller's problem; later the reconnect LISTENs on every channel in the map.
          if (!everConnected) {
            handlers.delete(channel);
            throw typed(e);
          }
          reconnect(LISTEN_RETRY_MS.first);
        }
      }
      set.add(onNotify);
      const mine = set;
      return async () => { mine.delete(onNotify); };
    },
    async close() {
      closed = true;
      clearTimeout(retry);
      const c = current;
      current = undefined;
      await c?.then((l) => l.end()).catch(() => undefined);
    },
  };
}
