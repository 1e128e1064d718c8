/**
 * Who writes a token's book. On PostgreSQL: a session advisory lock per
 * token, held on a connection of its own for as long as this process owns
 * the book (another trading process on the same database gets `false` and
 * queues its commands for the owner). If that connection drops, every lock
 * is gone: the owner is told to forget its books at once, and the epoch
 * fencing in the books table refuses any write it still had in flight.
 * On PGlite the database belongs to this one process: it writes every book.
 */
import pg from 'pg';

const LOCK_SPACE = 72_105_001;

export interface BookLocks {
  tryLock(tokenId: string): Promise<boolean>;
  unlock(tokenId: string): Promise<void>;
  /** Called once if the locks were lost (the lock connection failed). */
  onLost(cb: () => void): void;
  close(): Promise<void>;
}

export const singleProcessLocks = (): BookLocks => ({
  tryLock: async () => true,
  unlock: async () => undefined,
  onLost: () => undefined,
  close: async () => undefined,
});

export async function advisoryLocks(databaseUrl: string): Promise<BookLocks> {
  let lost: (() => void) | undefined;
  let closed = false;
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'tokenstack-trading-book-locks' });
  const fail = () => {
    if (closed) return;
    closed = true;
    lost?.();
  };
  client.on('error', fail);
  client.on('end', fail);
  await client.connect();
  // One statement at a time on this session.
  let chain: Promise<unknown> = Promise.resolve();
  const run = <T>(f: () => Promise<T>): Promise<T> => {
    const p = chain.then(f, f);
    chain = p.catch(() => undefined);
    return p;
  };
  return {
    tryLock: (tokenId) => run(async () => {
      if (closed) return false;
      const r = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, hashtext($2)) AS ok', [LOCK_SPACE, tokenId]);
      return r.rows[0].ok;
    }),
    unlock: (tokenId) => run(async () => {
      if (!closed) await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_SPACE, tokenId]);
    }),
    onLost(cb) { lost = cb; },
    async close() {
      closed = true;
      await client.end().catch(() => undefined);
    },
  };
}
