import type { Queryable } from '../kit/db/types.js';
import { PgCode, pgCode, pgConstraint } from '../kit/db/types.js';
import { appError } from '../kit/errors.js';
import { insertOnce } from '../kit/idempotency.js';

/** SQL of the balances ledger. Amounts go in as decimal strings and come back as strings (numeric). */

export interface AssetRow { id: string; contract_address: string | null; created_at: Date; updated_at: Date }
export interface BalanceRow {
  account_id: string; asset: string; total: string; reserved: string;
  on_chain: string | null; on_chain_block: string | null; updated_at: Date;
}
export interface ReservationRow {
  id: string; account_id: string; asset: string; amount: string; released: string; consumed: string;
  status: 'OPEN' | 'CLOSED'; reason: string; service: string; operation_id: string; created_at: Date; updated_at: Date;
}
export type LedgerKind = 'CREDIT' | 'DEBIT' | 'RESERVE' | 'RELEASE' | 'CONSUME';
export interface OperationRow { id: string; service: string; idempotency_key: string; kind: LedgerKind; request_hash: string; result: unknown }

/** A CHECK on balances firing means a write would have overdrawn: refuse it as such, nothing is written. */
function mapBalanceError(e: unknown): never {
  if (pgCode(e) === PgCode.checkViolation && /^balances_/.test(pgConstraint(e) ?? '')) {
    throw appError('CUSTODY.INSUFFICIENT_AVAILABLE', 'the change would overdraw the balance', { details: { constraint: pgConstraint(e) } });
  }
  throw e;
}

/**
 * Claims (service, key) for an operation. A replay finds the stored result;
 * a concurrent twin waits on the unique index until the first commits.
 */
export async function claimOperation(q: Queryable, o: { id: string; service: string; key: string; kind: LedgerKind; hash: string }) {
  return insertOnce<OperationRow>(
    q,
    {
      sql: `INSERT INTO ledger_operations (id, service, idempotency_key, kind, request_hash) VALUES ($1,$2,$3,$4,$5)
            ON CONFLICT (service, idempotency_key) DO NOTHING RETURNING *`,
      params: [o.id, o.service, o.key, o.kind, o.hash],
    },
    { sql: 'SELECT * FROM ledger_operations WHERE service = $1 AND idempotency_key = $2', params: [o.service, o.key] },
    o.hash,
    o.key,
  );
}

export async function saveOperationResult(q: Queryable, id: string, result: unknown): Promise<void> {
  await q.query('UPDATE ledger_operations SET result = $2::jsonb WHERE id = $1', [id, JSON.stringify(result)]);
}

export async function operationByKey(q: Queryable, service: string, key: string): Promise<OperationRow | null> {
  const [r] = await q.query<OperationRow>('SELECT * FROM ledger_operations WHERE service = $1 AND idempotency_key = $2', [service, key]);
  return r ?? null;
}

export async function accountOwner(q: Queryable, accountId: string): Promise<{ id: string; org: string; investor_id: string } | null> {
  const [r] = await q.query<{ id: string; org: string; investor_id: string }>('SELECT id, org, investor_id FROM custody_accounts WHERE id = $1', [accountId]);
  return r ?? null;
}

export async function assetById(q: Queryable, id: string): Promise<AssetRow | null> {
  const [r] = await q.query<AssetRow>('SELECT * FROM assets WHERE id = $1', [id]);
  return r ?? null;
}

/** Registers an asset; fills a missing contract address; returns the row as stored. */
export async function upsertAsset(q: Queryable, id: string, contractAddress: string | null): Promise<AssetRow> {
  const [r] = await q.query<AssetRow>(
    `INSERT INTO assets (id, contract_address) VALUES ($1, $2)
     ON CONFLICT (id) DO UPDATE SET contract_address = coalesce(assets.contract_address, EXCLUDED.contract_address),
       updated_at = CASE WHEN assets.contract_address IS NULL AND EXCLUDED.contract_address IS NOT NULL THEN now() ELSE assets.updated_at END
     RETURNING *`,
    [id, contractAddress],
  );
  return r;
}

export async function balanceOf(q: Queryable, accountId: string, asset: string, o: { forUpdate?: boolean } = {}): Promise<BalanceRow | null> {
  const [r] = await q.query<BalanceRow>(
    `SELECT * FROM balances WHERE account_id = $1 AND asset = $2${o.forUpdate ? ' FOR UPDATE' : ''}`,
    [accountId, asset],
  );
  return r ?? null;
}

/** One conditional UPDATE: concurrent reservations queue on the row and each re-checks availability. Null when short. */
export async function reserveIfAvailable(q: Queryable, accountId: string, asset: string, amount: bigint): Promise<BalanceRow | null> {
  const [r] = await q.query<BalanceRow>(
    `UPDATE balances SET reserved = reserved + $3::numeric, updated_at = now()
     WHERE account_id = $1 AND asset = $2 AND total - reserved >= $3::numeric RETURNING *`,
    [accountId, asset, amount.toString()],
  ).catch(mapBalanceError);
  return r ?? null;
}

/** Debits the free part only (reserved funds stay): null when short. */
export async function debitIfAvailable(q: Queryable, accountId: string, asset: string, amount: bigint): Promise<BalanceRow | null> {
  const [r] = await q.query<BalanceRow>(
    `UPDATE balances SET total = total - $3::numeric, updated_at = now()
     WHERE account_id = $1 AND asset = $2 AND total - reserved >= $3::numeric RETURNING *`,
    [accountId, asset, amount.toString()],
  ).catch(mapBalanceError);
  return r ?? null;
}

export async function creditTotal(q: Queryable, accountId: string, asset: string, amount: bigint): Promise<BalanceRow> {
  const [r] = await q.query<BalanceRow>(
    `INSERT INTO balances (account_id, asset, total) VALUES ($1, $2, $3::numeric)
     ON CONFLICT (account_id, asset) DO UPDATE SET total = balances.total + EXCLUDED.total, updated_at = now()
     RETURNING *`,
    [accountId, asset, amount.toString()],
  ).catch(mapBalanceError);
  return r;
}

/** Moves amount out of reserved (release) or out of reserved and total together (consume). */
export async function unreserve(q: Queryable, accountId: string, asset: string, amount: bigint, consume: boolean): Promise<BalanceRow> {
  const [r] = await q.query<BalanceRow>(
    `UPDATE balances SET reserved = reserved - $3::numeric, total = total - CASE WHEN $4 THEN $3::numeric ELSE 0 END, updated_at = now()
     WHERE account_id = $1 AND asset = $2 RETURNING *`,
    [accountId, asset, amount.toString(), consume],
  ).catch(mapBalanceError);
  if (!r) throw new Error(`no balance row for ${accountId}/${asset} behind a reservation`);
  return r;
}

/** A new reservation and its RESERVE journal entry, in one statement. */
export async function insertReservationWithEntry(q: Queryable, r: {
  id: string; accountId: string; asset: string; amount: bigint; reason: string; service: string; operationId: string; after: BalanceRow;
}): Promise<ReservationRow> {
  const [row] = await q.query<ReservationRow>(
    `WITH r AS (
       INSERT INTO reservations (id, account_id, asset, amount, reason, service, operation_id) VALUES ($1,$2,$3,$4::numeric,$5,$6,$7) RETURNING *),
     e AS (
       INSERT INTO ledger_entries (account_id, asset, kind, total_delta, reserved_delta, total_after, reserved_after, reservation_id, operation_id, reason)
       SELECT r.account_id, r.asset, 'RESERVE', 0, r.amount, $8::numeric, $9::numeric, r.id, r.operation_id, r.reason FROM r)
     SELECT * FROM r`,
    [r.id, r.accountId, r.asset, r.amount.toString(), r.reason, r.service, r.operationId, r.after.total, r.after.reserved],
  );
  return row;
}

/** Drops an operation's claim that did nothing (a refused reservation inside a shared transaction). */
export async function dropOperation(q: Queryable, id: string): Promise<void> {
  await q.query('DELETE FROM ledger_operations WHERE id = $1 AND result IS NULL', [id]);
}

export async function reservationById(q: Queryable, id: string, o: { forUpdate?: boolean } = {}): Promise<ReservationRow | null> {
  const [r] = await q.query<ReservationRow>(`SELECT * FROM reservations WHERE id = $1${o.forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  return r ?? null;
}

export async function addToReservation(q: Queryable, id: string, d: { released: bigint; consumed: bigint }): Promise<ReservationRow> {
  const [r] = await q.query<ReservationRow>(
    `UPDATE reservations SET released = released + $2::numeric, consumed = consumed + $3::numeric,
       status = CASE WHEN released + $2::numeric + consumed + $3::numeric = amount THEN 'CLOSED' ELSE 'OPEN' END, updated_at = now()
     WHERE id = $1 RETURNING *`,
    [id, d.released.toString(), d.consumed.toString()],
  );
  return r;
}

export async function insertLedgerEntry(q: Queryable, e: {
  accountId: string; asset: string; kind: LedgerKind; totalDelta: bigint; reservedDelta: bigint;
  after: BalanceRow; reservationId: string | null; operationId: string; reason: string;
}): Promise<void> {
  await q.query(
    `INSERT INTO ledger_entries (account_id, asset, kind, total_delta, reserved_delta, total_after, reserved_after, reservation_id, operation_id, reason)
     VALUES ($1,$2,$3,$4::numeric,$5::numeric,$6::numeric,$7::numeric,$8,$9,$10)`,
    [e.accountId, e.asset, e.kind, e.totalDelta.toString(), e.reservedDelta.toString(), e.after.total, e.after.reserved, e.reservationId, e.operationId, e.reason],
  );
}

/** Balances with the block their on_chain figure is as of: the asset's indexer cursor (null when not indexed). */
export const balancesOfAccounts = (q: Queryable, accountIds: readonly string[]) =>
  q.query<BalanceRow>(
    `SELECT b.account_id, b.asset, b.total, b.reserved, b.on_chain, c.block AS on_chain_block, b.updated_at
     FROM balances b LEFT JOIN chain_cursors c ON c.name = 'asset:' || b.asset
     WHERE b.account_id = ANY($1::text[]) ORDER BY b.account_id, b.asset`,
    [accountIds],
  );

/** Every account holding the asset, in one snapshot (one statement). */
export const holdersOf = (q: Queryable, asset: string) =>
  q.query<{ account_id: string; total: string }>('SELECT account_id, total FROM balances WHERE asset = $1 AND total > 0 ORDER BY account_id', [asset]);
