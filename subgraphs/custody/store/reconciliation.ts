import type { Queryable } from '../../kit/db/types.js';

/** SQL of reconciliation (reconciliation.ts): the figures it compares and the breaks it keeps. */

export interface Figure { account_id: string; org: string; asset: string; amount: string }

/** Per indexed asset, its cursor's last block and time. */
export const indexedCursors = (q: Queryable) =>
  q.query<{ asset: string; block: string; block_time: Date | null }>(
    `SELECT substr(c.name, 7) AS asset, c.block, c.block_time FROM chain_cursors c WHERE c.name LIKE 'asset:%' ORDER BY c.name`);

/** The books as of asOf (null: now): each balance's last journal entry at or before it. */
export const booksAsOf = (q: Queryable, o: { asOf: Date | null; assets: string[]; org: string | null }) =>
  q.query<Figure>(
    `SELECT DISTINCT ON (e.account_id, e.asset) e.account_id, a.org, e.asset, e.total_after AS amount
     FROM ledger_entries e JOIN custody_accounts a ON a.id = e.account_id
     WHERE ($1::timestamptz IS NULL OR e.created_at <= $1) AND e.asset = ANY($2::text[]) AND ($3::text IS NULL OR a.org = $3)
     ORDER BY e.account_id, e.asset, e.seq DESC`,
    [o.asOf, o.assets, o.org],
  );

/** What each wallet holds on chain as indexed, as of asOf (null: as far as indexed). */
export const chainAsOf = (q: Queryable, o: { asOf: Date | null; assets: string[]; org: string | null }) =>
  q.query<Figure & { wallet: string }>(
    `SELECT m.account_id, a.org, m.asset, m.wallet, sum(m.delta) AS amount
     FROM chain_movements m JOIN custody_accounts a ON a.id = m.account_id
     WHERE ($1::timestamptz IS NULL OR m.block_time <= $1) AND m.asset = ANY($2::text[]) AND ($3::text IS NULL OR a.org = $3)
     GROUP BY m.account_id, a.org, m.asset, m.wallet ORDER BY m.wallet`,
    [o.asOf, o.assets, o.org],
  );

export interface BreakRow {
  id: string; org: string; account_id: string; asset: string; books: string; on_chain: string; block: string;
  status: 'SUSPECT' | 'OPEN' | 'CLEARED'; runs: number; first_seen_at: Date; opened_at: Date | null; cleared_at: Date | null;
}

export const openBreaks = (q: Queryable, org: string | null) =>
  q.query<BreakRow>(`SELECT * FROM reconciliation_breaks WHERE status = 'OPEN' AND ($1::text IS NULL OR org = $1) ORDER BY opened_at, id`, [org]);

// Serialises runs across replicas.
const RECONCILE_LOCK = 72_104_201;

/** Holds the reconciliation lock until the transaction ends. */
export const lockReconciliation = (q: Queryable) => q.query('SELECT pg_advisory_xact_lock($1)', [RECONCILE_LOCK]);

/** Every break not cleared, locked. */
export const liveBreaksForUpdate = (q: Queryable) =>
  q.query<BreakRow>(`SELECT * FROM reconciliation_breaks WHERE status <> 'CLEARED' FOR UPDATE`);

export const clearBreak = (q: Queryable, id: string, at: Date) =>
  q.query(`UPDATE reconciliation_breaks SET status = 'CLEARED', cleared_at = $2 WHERE id = $1`, [id, at]);

/** Another run saw the difference: its figures, and OPEN from `at` when `opens`. */
export const seenAgain = (q: Queryable, id: string, s: { books: bigint; onChain: bigint; block: string; opens: boolean; at: Date }) =>
  q.query(
    `UPDATE reconciliation_breaks SET books = $2::numeric, on_chain = $3::numeric, block = $4, runs = runs + 1,
       status = CASE WHEN $5 THEN 'OPEN' ELSE status END, opened_at = CASE WHEN $5 THEN $6 ELSE opened_at END WHERE id = $1`,
    [id, s.books.toString(), s.onChain.toString(), s.block, s.opens, s.at],
  );

/** A difference seen for the first time: OPEN at once when `opens`, else SUSPECT. */
export const insertBreak = (q: Queryable, b: { org: string; accountId: string; asset: string; books: bigint; onChain: bigint; block: string; opens: boolean; at: Date }) =>
  q.query(
    `INSERT INTO reconciliation_breaks (org, account_id, asset, books, on_chain, block, status, runs, first_seen_at, opened_at)
     VALUES ($1,$2,$3,$4::numeric,$5::numeric,$6,$7,1,$8,$9)`,
    [b.org, b.accountId, b.asset, b.books.toString(), b.onChain.toString(), b.block, b.opens ? 'OPEN' : 'SUSPECT', b.at, b.opens ? b.at : null],
  );

export async function countOpenBreaks(q: Queryable): Promise<number> {
  const [n] = await q.query<{ n: string }>(`SELECT count(*) AS n FROM reconciliation_breaks WHERE status = 'OPEN'`);
  return Number(n.n);
}
