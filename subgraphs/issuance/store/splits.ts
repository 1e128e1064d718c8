import type { Queryable } from '../../kit/db/types.js';
import { appError } from '../../kit/errors.js';
import { insertOnce } from '../../kit/idempotency.js';
import type { LotRow } from './holdings.js';

export interface SplitRow {
  id: string; token_id: string; numerator: string; denominator: string; effective_at: Date; cash_in_lieu_price: string;
  status: 'ANNOUNCED' | 'CHAIN' | 'DONE'; paying_account_id: string | null; paused_by_split: boolean; supply_before: string | null; supply_after: string | null; tx_hashes: string[];
  announced_by: string; org: string; idempotency_key: string; request_hash: string; announced_at: Date; applied_at: Date | null; done_at: Date | null; last_error: string | null;
}
export interface SplitMoveRow { split_id: string; address: string; investor_id: string | null; before: string; target: string }
export interface SplitHolderRow { split_id: string; investor_id: string; before: string; after: string; fraction_numerator: string; cash_in_lieu: string; cash_status: 'NONE' | 'OWED' | 'PAID' }

type NewSplit = Pick<SplitRow, 'id' | 'token_id' | 'numerator' | 'denominator' | 'effective_at' | 'cash_in_lieu_price' | 'paying_account_id' | 'announced_by' | 'org' | 'idempotency_key' | 'request_hash'>;

export const insertSplit = (q: Queryable, s: NewSplit) => insertOnce<SplitRow>(
  q,
  {
    sql: `INSERT INTO splits (id, token_id, numerator, denominator, effective_at, cash_in_lieu_price, paying_account_id, announced_by, org, idempotency_key, request_hash)
          VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT (org, idempotency_key) DO NOTHING RETURNING *`,
    params: [s.id, s.token_id, s.numerator, s.denominator, s.effective_at, s.cash_in_lieu_price, s.paying_account_id, s.announced_by, s.org, s.idempotency_key, s.request_hash],
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

/**
 * Refuses an operation that would change the token's cap table or limits while a split is under way: from its
 * effective date (by the database's clock: the split may start at any moment) until DONE. The lots and targets a
 * split fixed would no longer match the chain.
 */
export async function refuseDuringSplit(q: Queryable, tokenIds: readonly string[], what: string): Promise<void> {
  const [r] = await q.query<{ id: string; token_id: string; status: string }>(
    "SELECT id, token_id, status FROM splits WHERE token_id = ANY($1::text[]) AND (status = 'CHAIN' OR (status = 'ANNOUNCED' AND effective_at <= now())) LIMIT 1",
    [tokenIds],
  );
  if (r) throw appError('SPLIT.IN_PROGRESS', `${what} is refused while split ${r.id} of ${r.token_id} is under way; retry once it is DONE`, { details: { splitId: r.id, tokenId: r.token_id } });
}

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

/** Each holder's row with the state of its cash in lieu payment (the entitlement of the split's CASH_IN_LIEU distribution), when there is one. */
export const holdersWithCash = (q: Queryable, splitId: string) =>
  q.query<SplitHolderRow & { entitlement_status: string | null; entitlement_id: string | null; withheld: string | null; tx_hash: string | null }>(
    `SELECT h.*, e.id AS entitlement_id, e.status AS entitlement_status, e.withheld, e.tx_hash FROM split_holders h
     LEFT JOIN distributions d ON d.split_id = h.split_id
     LEFT JOIN entitlements e ON e.distribution_id = d.id AND e.investor_id = h.investor_id
     WHERE h.split_id = $1 ORDER BY h.investor_id`,
    [splitId],
  );

export async function cashInLieuDistributionId(q: Queryable, splitId: string): Promise<string | null> {
  const [d] = await q.query<{ id: string }>('SELECT id FROM distributions WHERE split_id = $1', [splitId]);
  return d?.id ?? null;
}

export async function splitByKey(q: Queryable, org: string, key: string): Promise<SplitRow | undefined> {
  const [prior] = await q.query<SplitRow>('SELECT * FROM splits WHERE org = $1 AND idempotency_key = $2', [org, key]);
  return prior;
}

/** Whether the token has a split not DONE (announced or under way). */
export async function splitPending(q: Queryable, tokenId: string): Promise<boolean> {
  const [pending] = await q.query("SELECT 1 FROM splits WHERE token_id = $1 AND status <> 'DONE'", [tokenId]);
  return !!pending;
}

export async function splitFailed(q: Queryable, id: string, error: string): Promise<void> {
  await q.query('UPDATE splits SET last_error = $2 WHERE id = $1', [id, error]);
}

/** A lot the split wrote from `parent`, scaled; it keeps the parent's dates and counts from the split on (booked_at). */
export async function insertSplitLot(
  q: Queryable, l: { id: string; tokenId: string; investorId: string; amount: bigint; parent: LotRow; at: Date },
): Promise<void> {
  await q.query(
    `INSERT INTO lots (id, token_id, investor_id, amount, remaining, acquired_at, holding_period_start, issued_at, restricted, source, parent_lot_id, booked_at)
     VALUES ($1,$2,$3,$4,$4,$5,$6,$7,$8,'SPLIT',$9,$10)`,
    [l.id, l.tokenId, l.investorId, l.amount.toString(), l.parent.acquired_at, l.parent.holding_period_start, l.parent.issued_at, l.parent.restricted, l.parent.id, l.at],
  );
}

export async function splitOnChain(
  q: Queryable, id: string, s: { pausedBySplit: boolean; supplyBefore: bigint; supplyAfter: bigint; at: Date },
): Promise<void> {
  await q.query(
    `UPDATE splits SET status = 'CHAIN', paused_by_split = $2, supply_before = $3, supply_after = $4, applied_at = $5, last_error = NULL WHERE id = $1`,
    [id, s.pausedBySplit, s.supplyBefore.toString(), s.supplyAfter.toString(), s.at],
  );
}

export async function addSplitTxHashes(q: Queryable, id: string, hashes: readonly string[]): Promise<void> {
  await q.query(`UPDATE splits SET tx_hashes = tx_hashes || $2::jsonb WHERE id = $1`, [id, JSON.stringify(hashes)]);
}

export async function splitDone(q: Queryable, id: string, at: Date): Promise<void> {
  await q.query(`UPDATE splits SET status = 'DONE', done_at = $2, last_error = NULL WHERE id = $1`, [id, at]);
}
