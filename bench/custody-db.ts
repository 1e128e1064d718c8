import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../subgraphs/kit/db/migrate.js';
import { openDb } from '../subgraphs/kit/db/open.js';
import type { Db } from '../subgraphs/kit/db/types.js';
import { newId } from '../subgraphs/kit/ids.js';
import { fromRoot } from '../subgraphs/kit/paths.js';
import { ledger } from '../subgraphs/custody/ledger.js';

/** The custody benches' database: a scratch one with custody's schema, and accounts funded directly (no issuance). */

async function reachable(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

/** A scratch database with custody's schema: on the server at `pgUrl` when it answers (dropped by `drop`), else PGlite in memory. */
export async function scratchCustodyDb(pgUrl: string, tag: string): Promise<{ db: Db; label: string; drop(): Promise<void> }> {
  let url = 'memory://';
  let drop = async (): Promise<void> => undefined;
  let label = 'PGlite (in memory)';
  if (await reachable(pgUrl)) {
    const name = `tokenstack_bench_${tag}_${randomBytes(4).toString('hex')}`;
    const admin = async (sql: string) => {
      const c = new pg.Client({ connectionString: pgUrl });
      await c.connect();
      try { await c.query(sql); } finally { await c.end(); }
    };
    await admin(`CREATE DATABASE ${name}`);
    const u = new URL(pgUrl);
    u.pathname = `/${name}`;
    url = u.toString();
    label = `PostgreSQL ${u.host}`;
    drop = () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
  const db = await openDb(url);
  await migrate(db, [
    { scope: 'kit', dir: fromRoot('subgraphs', 'kit', 'migrations') },
    { scope: 'custody', dir: fromRoot('subgraphs', 'custody', 'migrations') },
  ]);
  return { db, label, drop: async () => { await db.close(); await drop(); } };
}

/** An account with a balance far above what any run moves (inserted directly: the bench needs no issuance). */
export async function fundedAccount(db: Db): Promise<string> {
  const id = newId('acc');
  await db.query(`INSERT INTO custody_accounts (id, org, investor_id, kind, idempotency_key, request_hash) VALUES ($1, 'bench', $2, 'OMNIBUS', $1, 'bench')`, [id, newId('inv')]);
  await ledger.credit(db, 'bench', { accountId: id, asset: 'CASH', amount: 10n ** 30n, idempotencyKey: `fund-${id}`, reason: 'bench deposit' });
  return id;
}
