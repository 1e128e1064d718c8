import { PGlite } from '@electric-sql/pglite';
import type { Db, Isolation, Queryable } from './types.js';

// int8 and numeric as strings: PGlite would otherwise turn int8 into a lossy number.
const parsers = { 20: (v: string) => v, 1700: (v: string) => v };

/** Embedded PostgreSQL: in memory (dataDir undefined) or in a folder. One connection, so transactions queue. */
export async function openPglite(dataDir?: string): Promise<Db> {
  const pg = await PGlite.create(dataDir, { parsers });
  const wrap = (q: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query<T>(sql: string, params?: unknown[]) {
      const r = await q.query<T>(sql, params);
      return r.rows;
    },
    async exec(sql: string) {
      await q.exec(sql);
    },
  });
  return {
    kind: 'pglite',
    ...wrap(pg),
    async tx<T>(fn: (q: Queryable) => Promise<T>, opts?: { isolation?: Isolation }) {
      return pg.transaction(async (t) => {
        if (opts?.isolation) await t.query(`SET TRANSACTION ISOLATION LEVEL ${opts.isolation}`);
        return fn(wrap(t));
      });
    },
    async listen(channel, onNotify) {
      const unsub = await pg.listen(channel, onNotify);
      return async () => { if (!pg.closed) await unsub(); };
    },
    async close() {
      if (!pg.closed) await pg.close();
    },
  };
}
