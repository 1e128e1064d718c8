import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Db } from './types.js';

// Any constant works; it only has to be the same for every migrator of a database.
const MIGRATION_LOCK = 72_101_001;

export interface MigrationSource {
  /** Recorded with each file name so that kit and subgraph migrations never collide. */
  scope: string;
  dir: string;
}

/**
 * Applies plain SQL files (sorted by name) once each, in order, each in its own
 * transaction with its record. Safe with several processes starting at once
 * (advisory lock), and refuses to start when an applied file was edited.
 * Returns the names applied by this call.
 */
export async function migrate(db: Db, sources: MigrationSource[]): Promise<string[]> {
  // Under the lock too: two starts racing on CREATE TABLE IF NOT EXISTS collide in the catalog.
  await db.tx(async (q) => {
    await q.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await q.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      name text PRIMARY KEY,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
  });
  const applied: string[] = [];
  for (const { scope, dir } of sources) {
    const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
    for (const file of files) {
      const name = `${scope}/${basename(file)}`;
      const sql = readFileSync(join(dir, file), 'utf8');
      const checksum = createHash('sha256').update(sql).digest('hex');
      const done = await db.tx(async (q) => {
        await q.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        const [row] = await q.query<{ checksum: string }>('SELECT checksum FROM schema_migrations WHERE name = $1', [name]);
        if (row) {
          if (row.checksum !== checksum) throw new Error(`migration ${name} was changed after it was applied; add a new file instead`);
          return false;
        }
        await q.exec(sql);
        await q.query('INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)', [name, checksum]);
        return true;
      });
      if (done) applied.push(name);
    }
  }
  return applied;
}
