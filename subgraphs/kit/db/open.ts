import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Db } from './types.js';
import { openPglite } from './pglite.js';
import { openPostgres } from './postgres.js';

/**
 * One switch for every subgraph: `memory://` (PGlite in memory),
 * `file:///abs/dir` (PGlite in a folder), `postgres://...` (a server).
 */
export async function openDb(url: string, o: { poolMax?: number } = {}): Promise<Db> {
  if (url === 'memory://' || url === 'memory:') return openPglite();
  if (url.startsWith('file:')) {
    const dir = fileURLToPath(url);
    mkdirSync(dir, { recursive: true });
    return openPglite(dir);
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return openPostgres(url, o.poolMax);
  throw new Error(`unsupported database URL scheme: ${url.split(':')[0]}`);
}

export const DB_URL_PROTOCOLS = ['memory:', 'file:', 'postgres:', 'postgresql:'];
