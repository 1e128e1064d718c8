import type { Queryable } from '../kit/db/types.js';
import { insertOnce } from '../kit/idempotency.js';

export interface SplitRow {
  id: string; token_id: string; numerator: string; denominator: string; effective_at: Date; cash_in_lieu_price: string;
  status: 'ANNOUNCED' | 'CHAIN' | 'DONE'; paused_by_split: boolean; supply_before: string | null; supply_after: string | null; tx_hashes: string[];
  announced_by: string; org: string; idempotency_key: string; request_hash: string; announced_at: Date; applied_at: Date | null; done_at: Date | null; last_error: string | null;
}
export interface SplitMoveRow { split_id: string; address: string; investor_id: string | null; before: string; target: string }
export interface SplitHolderRow { split_id: string; investor_id: string; before: string; after: string; fraction_numerator: string; cash_in_lieu: string; cash_status: 'NONE' | 'OWED' | 'PAID' }

type NewSplit = Pick<SplitRow, 'id' | 'token_id' | 'numerator' | 'denominator' | 'effective_at' | 'cash_in_lieu_price' | 'announced_by' | 'org' | 'idempotency_key' | 'request_hash'>;

export const insertSplit = (q: Queryable, s: NewSplit) => insertOnce<SplitRow>(
  q,
  {
    sql: `INSERT INTO splits (id, token_id, numerator, denominator, effective_at, cash_in_lieu_price, announced_by, org, idempotency_key, request_hash)
          VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT (org, idempotency_key) DO NOTHING RETURNING *`,
    params: [s.id, s.token_id, s.numerator, s.denominator, s.effective_at, s.cash_in_lieu_price, s.announced_by, s.org, s.idempotency_key, s.request_hash],
  },
  { sql: 'SELECT * FROM splits WHERE org = $1 AND idempotency_key = $2', params: [s.org, s.idempotency_key] },
  s.request_hash,
  s.idempotency_key,
);

export async function splitById(q: Queryable, id: string, lock = false): Promise<SplitRow | undefined> {
  const [s] = await q.query<SplitRow>(`SELECT * FROM splits WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
  return s;
}

export const splitsOfToken = (q: Queryable, tokenId: string) => q.query<SplitRow>('SELECT * FROM splits WHERE token_id = $1 ORDER BY effective_at DESC, id', [tokenId]);

/** Splits whose effective date has come and that are not done, oldest first. */
export const dueSplits = (q: Queryable, now: Date) =>
  q.query<SplitRow>("SELECT * FROM splits WHERE status <> 'DONE' AND effective_at <= $1 ORDER BY effective_at, id", [now]);

/** The indexer leaves lots alone for mints and burns while a split moves the token's balances (the split scaled the lots already). */
export async function splitInProgress(q: Queryable, tokenId: string): Promise<boolean> {
  const [r] = await q.query("SELECT 1 FROM splits WHERE token_id = $1 AND status = 'CHAIN'", [tokenId]);
  return !!r;
}

export async function insertMoves(q: Queryable, rows: SplitMoveRow[]): Promise<void> {
  if (!rows.length) return;
  await q.query(
    `INSERT INTO split_moves (split_id, address, investor_id, before, target)
     SELECT s, a, i, b::numeric, t::numeric FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS x(s, a, i, b, t)`,
    [rows.map((r) => r.split_id), rows.map((r) => r.address), rows.map((r) => r.investor_id), rows.map((r) => r.before), rows.map((r) => r.target)],
  );
}

export async function insertHolders(q: Queryable, rows: SplitHolderRow[]): Promise<void> {
  if (!rows.length) return;
  await q.query(
    `INSERT INTO split_holders (split_id, investor_id, before, after, fraction_numerator, cash_in_lieu, cash_status)
     SELECT s, i, b::numeric, a::numeric, f::numeric, c::numeric, st FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[]) AS x(s, i, b, a, f, c, st)`,
    [rows.map((r) => r.split_id), rows.map((r) => r.investor_id), rows.map((r) => r.before), rows.map((r) => r.after), rows.map((r) => r.fraction_numerator), rows.map((r) => r.cash_in_lieu), rows.map((r) => r.cash_status)],
  );
}

export const movesOf = (q: Queryable, splitId: string) => q.query<SplitMoveRow>('SELECT * FROM split_moves WHERE split_id = $1 ORDER BY address', [splitId]);

export const holdersOfSplits = (q: Queryable, splitIds: readonly string[]) =>
  q.query<SplitHolderRow>('SELECT * FROM split_holders WHERE split_id = ANY($1::text[]) ORDER BY split_id, investor_id', [splitIds]);

/** The wallets the books hold the token in, with their owners. */
export const holdingsOfToken = (q: Queryable, tokenId: string) =>
  q.query<{ address: string; investor_id: string | null; balance: string }>('SELECT address, investor_id, balance FROM holdings WHERE token_id = $1 AND balance > 0 ORDER BY address', [tokenId]);

/** The lots of a split that replaced each other: every open lot consumed at the split, in one statement. */
export async function consumeLotsForSplit(q: Queryable, splitId: string, lotIds: string[], at: Date): Promise<void> {
  await q.query(
    `INSERT INTO lot_consumptions (lot_id, amount, at, tx_hash, log_index) SELECT id, remaining, $2, $3, 0 FROM lots WHERE id = ANY($1::text[]) AND remaining > 0`,
    [lotIds, at, `split:${splitId}`],
  );
  await q.query('UPDATE lots SET remaining = 0 WHERE id = ANY($1::text[])', [lotIds]);
}
