import pg from 'pg';
import { isRetryableTxError, type Db, type Isolation, type Queryable } from './types.js';

// Same row shapes as PGlite: int8 and numeric stay strings.
const types = {
  getTypeParser(oid: number, format?: string) {
    if (oid === 20 || oid === 1700) return (v: string) => v;
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

const MAX_TX_ATTEMPTS = 5;

/** PostgreSQL server through a node-postgres pool. */
export async function openPostgres(connectionString: string, poolSize = 10): Promise<Db> {
  const pool = new pg.Pool({ connectionString, max: poolSize, types });
  pool.on('error', () => { /* idle client lost; the pool replaces it */ });
  await pool.query('SELECT 1'); // fail at start, not at first request
  let listener: pg.Client | undefined;
  const handlers = new Map<string, Set<(p: string) => void>>();

  const wrap = (c: pg.Pool | pg.PoolClient): Queryable => ({
    async query<T>(sql: string, params?: unknown[]) {
      const r = await c.query(sql, params as unknown[]);
      return r.rows as T[];
    },
    async exec(sql: string) {
      await c.query(sql);
    },
  });

  return {
    kind: 'postgres',
    ...wrap(pool),
    async tx<T>(fn: (q: Queryable) => Promise<T>, opts?: { isolation?: Isolation }) {
      for (let attempt = 1; ; attempt++) {
        const client = await pool.connect();
        try {
          await client.query(opts?.isolation ? `BEGIN ISOLATION LEVEL ${opts.isolation}` : 'BEGIN');
          const out = await fn(wrap(client));
          await client.query('COMMIT');
          return out;
        } catch (e) {
          await client.query('ROLLBACK').catch(() => undefined);
          if (attempt < MAX_TX_ATTEMPTS && isRetryableTxError(e)) continue;
          throw e;
        } finally {
          client.release();
        }
      }
    },
    async listen(channel, onNotify) {
      if (!listener) {
        listener = new pg.Client({ connectionString });
        listener.on('error', () => { /* reported by the next query; readers fall back to polling */ });
        await listener.connect();
        listener.on('notification', (n) => handlers.get(n.channel)?.forEach((h) => h(n.payload ?? '')));
      }
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        await listener.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
      }
      set.add(onNotify);
      return async () => { set!.delete(onNotify); };
    },
    async close() {
      await listener?.end().catch(() => undefined);
      listener = undefined;
      await pool.end();
    },
  };
}
