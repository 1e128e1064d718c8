import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Db, Isolation, Queryable } from './types.js';
import { fromRoot } from '../paths.js';

// int8 and numeric as strings: PGlite would otherwise turn int8 into a lossy number.
const parsers = { 20: (v: string) => v, 1700: (v: string) => v };

function pgliteVersion(): string | undefined {
  try {
    return (JSON.parse(readFileSync(fromRoot('node_modules', '@electric-sql', 'pglite', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return undefined; // unusual layout: no shared template file, only the in-process one
  }
}
let template: Promise<Blob> | undefined;

/**
 * An in-memory database starts from a copy of a freshly initialised one
 * (kept in the OS temp folder per PGlite version): initdb costs ~4 s, a copy ~1 s.
 */
function memoryTemplate(): Promise<Blob> {
  template ??= (async () => {
    const version = pgliteVersion();
    const file = version ? join(tmpdir(), `tokenstack-pglite-${version}-template.tar`) : undefined;
    if (file && existsSync(file)) return new Blob([readFileSync(file)]);
    const fresh = await PGlite.create();
    const dump = await fresh.dumpDataDir('none');
    await fresh.close();
    if (file) {
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, Buffer.from(await dump.arrayBuffer()));
      renameSync(tmp, file); // atomic: a concurrent process reads a whole file or none
    }
    return dump;
  })();
  return template;
}

/** Embedded PostgreSQL: in memory (dataDir undefined) or in a folder. One connection, so transactions queue. */
export async function openPglite(dataDir?: string): Promise<Db> {
  const pg = dataDir
    ? await PGlite.create(dataDir, { parsers })
    : await PGlite.create({ parsers, loadDataDir: await memoryTemplate() });
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
