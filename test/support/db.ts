import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDb } from '../../subgraphs/kit/db/open.js';
import type { Db } from '../../subgraphs/kit/db/types.js';

/**
 * Database tests run on PGlite by default and on the PostgreSQL server when
 * TEST_DATABASE_URL points at it (.ci/run does a second pass that way). Each
 * call makes a fresh database there, dropped by the returned cleanup.
 */
export const onPostgres = (): boolean => !!process.env.TEST_DATABASE_URL;
export const dbLabel = (): string => (onPostgres() ? 'PostgreSQL' : 'PGlite');

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const admin = process.env.TEST_DATABASE_URL;
  if (!admin) return { url: 'memory://', drop: async () => undefined };
  const name = `tokenstack_test_${randomBytes(6).toString('hex')}`;
  const c = new pg.Client({ connectionString: admin });
  await c.connect();
  await c.query(`CREATE DATABASE ${name}`);
  await c.end();
  const u = new URL(admin);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const d = new pg.Client({ connectionString: admin });
      await d.connect();
      await d.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await d.end();
    },
  };
}

/** A fresh database opened through the kit, with its cleanup. */
export async function openTestDb(): Promise<{ db: Db; url: string; cleanup(): Promise<void> }> {
  const t = await createTestDatabase();
  const db = await openDb(t.url);
  return { db, url: t.url, cleanup: async () => { await db.close(); await t.drop(); } };
}
