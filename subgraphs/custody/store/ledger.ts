import type { Queryable } from '../../kit/db/types.js';
import { PgCode, pgCode, pgConstraint } from '../../kit/db/types.js';
import { appError } from '../../kit/errors.js';

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

/** The known assets among these contract addresses (lower case), with their address in lower case. */
export const assetsByContracts = (q: Queryable, contracts: readonly string[]) =>
  q.query<{ id: string; contract: string }>('SELECT id, lower(contract_address) AS contract FROM assets WHERE lower(contract_address) = ANY($1::text[])', [contracts]);

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

export async function reservationById(q: Queryable, id: string, o: { forUpdate?: boolean } = {}): Promise<ReservationRow | null> {
  const [r] = await q.query<ReservationRow>(`SELECT * FROM reservations WHERE id = $1${o.forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  return r ?? null;
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

// ---- Set-based statements for a list of ledger operations (domain/ledger-plan.ts decides, these read and write).
// Rows are locked in one global order (reservations by id, then claims by (service, key), then balances by
// (account, asset)), each kind with one statement sorted the same way in every transaction, so two lists
// running at once queue on the rows they share instead of deadlocking.

/** Stored operations of many (service, key) pairs, one statement. */
export const operationsByKeys = (q: Queryable, pairs: readonly { service: string; key: string }[]) =>
  pairs.length === 0 ? Promise.resolve([] as OperationRow[]) : q.query<OperationRow>(
    `SELECT o.* FROM ledger_operations o
     JOIN unnest($1::text[], $2::text[]) AS k(service, key) ON o.service = k.service AND o.idempotency_key = k.key`,
    [pairs.map((p) => p.service), pairs.map((p) => p.key)],
  );

/** Reservations by id, locked in id order. */
export const reservationsForUpdate = (q: Queryable, ids: readonly string[]) =>
  ids.length === 0 ? Promise.resolve([] as ReservationRow[])
    : q.query<ReservationRow>('SELECT * FROM reservations WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE', [ids]);

/**
 * Claims many (service, key) pairs at once; returns the pairs this call claimed. A pair another transaction
 * is claiming waits on the unique index until that one ends (then it is read as stored, or claimed here).
 */
export const claimOperations = (q: Queryable, claims: readonly { id: string; service: string; key: string; kind: LedgerKind; hash: string }[]) =>
  claims.length === 0 ? Promise.resolve([] as { id: string; service: string; idempotency_key: string }[])
    : q.query<{ id: string; service: string; idempotency_key: string }>(
      `INSERT INTO ledger_operations (id, service, idempotency_key, kind, request_hash)
       SELECT c.id, c.service, c.key, c.kind, c.hash FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS c(id, service, key, kind, hash)
       ORDER BY c.service, c.key
       ON CONFLICT (service, idempotency_key) DO NOTHING RETURNING id, service, idempotency_key`,
      [claims.map((c) => c.id), claims.map((c) => c.service), claims.map((c) => c.key), claims.map((c) => c.kind), claims.map((c) => c.hash)],
    );

/**
 * Locks the balance rows of many (account, asset) pairs in (account, asset) order, opening at zero those of an
 * existing account and asset that have none yet (a first credit), in one statement; `created` marks the opened
 * ones (the list deletes those it did not use). A pair of an unknown account or asset is not in the answer.
 */
export const lockBalances = (q: Queryable, pairs: readonly { accountId: string; asset: string }[]) =>
  pairs.length === 0 ? Promise.resolve([] as (BalanceRow & { created: boolean })[]) : q.query<BalanceRow & { created: boolean }>(
    `INSERT INTO balances AS b (account_id, asset)
     SELECT k.account_id, k.asset FROM unnest($1::text[], $2::text[]) AS k(account_id, asset)
     JOIN custody_accounts a ON a.id = k.account_id JOIN assets s ON s.id = k.asset
     ORDER BY k.account_id, k.asset
     ON CONFLICT (account_id, asset) DO UPDATE SET updated_at = b.updated_at
     RETURNING b.*, (b.xmax = 0) AS created`,
    [pairs.map((p) => p.accountId), pairs.map((p) => p.asset)],
  );

/** Which of the accounts and assets exist (asked only for balances that have no row). */
export async function existing(q: Queryable, accountIds: readonly string[], assets: readonly string[]): Promise<{ accounts: Set<string>; assets: Set<string> }> {
  const [r] = await q.query<{ accounts: string[] | null; assets: string[] | null }>(
    `SELECT (SELECT array_agg(id) FROM custody_accounts WHERE id = ANY($1::text[])) AS accounts,
            (SELECT array_agg(id) FROM assets WHERE id = ANY($2::text[])) AS assets`,
    [accountIds, assets],
  );
  return { accounts: new Set(r.accounts ?? []), assets: new Set(r.assets ?? []) };
}

export interface LedgerWrite {
  balances: { accountId: string; asset: string; totalDelta: bigint; reservedDelta: bigint; after: { total: bigint; reserved: bigint } }[];
  unusedBalances: { accountId: string; asset: string }[];
  newReservations: ReservationRow[];
  reservationChanges: { id: string; released: bigint; consumed: bigint; after: ReservationRow }[];
  entries: { accountId: string; asset: string; kind: LedgerKind; totalDelta: bigint; reservedDelta: bigint; totalAfter: bigint; reservedAfter: bigint; reservationId: string | null; operationId: string; reason: string }[];
  results: { id: string; kind: LedgerKind; hash: string; result: unknown }[];
  dropped: string[];
}

const json = (v: unknown) => JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));

/**
 * Everything a decided list changes, in ONE statement (one data-modifying CTE per kind of row): balances moved
 * by their net change, balances opened and left unused deleted, results stored and refused claims dropped,
 * reservations inserted and updated, journal entries appended in order. Balances and reservations are updated
 * by deltas and checked against the rows the plan expects (a difference fails the statement, nothing is kept).
 */
export async function writeLedger(q: Queryable, w: LedgerWrite): Promise<void> {
  const parts: string[] = [];
  const checks: string[] = [];
  const params: unknown[] = [];
  const p = (v: unknown) => `$${params.push(v)}`;
  if (w.balances.length) {
    parts.push(`bal AS (UPDATE balances b SET total = b.total + d.dt::numeric, reserved = b.reserved + d.dr::numeric, updated_at = now()
      FROM jsonb_to_recordset(${p(json(w.balances.map((b) => ({ a: b.accountId, s: b.asset, dt: b.totalDelta, dr: b.reservedDelta, t: b.after.total, r: b.after.reserved }))))}::jsonb)
        AS d(a text, s text, dt text, dr text, t text, r text)
      WHERE b.account_id = d.a AND b.asset = d.s RETURNING (b.total = d.t::numeric AND b.reserved = d.r::numeric) AS ok)`);
    checks.push(`(SELECT count(*) FILTER (WHERE ok) FROM bal) = ${w.balances.length}`);
  }
  if (w.unusedBalances.length) {
    parts.push(`unused AS (DELETE FROM balances b USING jsonb_to_recordset(${p(json(w.unusedBalances.map((b) => ({ a: b.accountId, s: b.asset }))))}::jsonb) AS d(a text, s text)
      WHERE b.account_id = d.a AND b.asset = d.s AND b.total = 0 AND b.reserved = 0)`);
  }
  if (w.results.length) {
    parts.push(`res AS (UPDATE ledger_operations o SET kind = d.kind, request_hash = d.hash, result = d.result
      FROM jsonb_to_recordset(${p(json(w.results))}::jsonb) AS d(id text, kind text, hash text, result jsonb) WHERE o.id = d.id RETURNING 1)`);
    checks.push(`(SELECT count(*) FROM res) = ${w.results.length}`);
  }
  if (w.dropped.length) parts.push(`dropped AS (DELETE FROM ledger_operations WHERE id = ANY(${p(w.dropped)}::text[]) AND result IS NULL)`);
  if (w.newReservations.length) {
    parts.push(`newr AS (INSERT INTO reservations (id, account_id, asset, amount, released, consumed, status, reason, service, operation_id)
      SELECT d.id, d.account_id, d.asset, d.amount::numeric, d.released::numeric, d.consumed::numeric, d.status, d.reason, d.service, d.operation_id
      FROM jsonb_to_recordset(${p(json(w.newReservations))}::jsonb)
        AS d(id text, account_id text, asset text, amount text, released text, consumed text, status text, reason text, service text, operation_id text)
      RETURNING 1)`);
    checks.push(`(SELECT count(*) FROM newr) = ${w.newReservations.length}`);
  }
  if (w.reservationChanges.length) {
    parts.push(`chr AS (UPDATE reservations r SET released = r.released + d.rel::numeric, consumed = r.consumed + d.con::numeric,
        status = CASE WHEN r.released + d.rel::numeric + r.consumed + d.con::numeric = r.amount THEN 'CLOSED' ELSE 'OPEN' END, updated_at = now()
      FROM jsonb_to_recordset(${p(json(w.reservationChanges.map((c) => ({ id: c.id, rel: c.released, con: c.consumed, released: c.after.released, consumed: c.after.consumed }))))}::jsonb)
        AS d(id text, rel text, con text, released text, consumed text)
      WHERE r.id = d.id RETURNING (r.released = d.released::numeric AND r.consumed = d.consumed::numeric) AS ok)`);
    checks.push(`(SELECT count(*) FILTER (WHERE ok) FROM chr) = ${w.reservationChanges.length}`);
  }
  if (w.entries.length) {
    parts.push(`ent AS (INSERT INTO ledger_entries (account_id, asset, kind, total_delta, reserved_delta, total_after, reserved_after, reservation_id, operation_id, reason)
      SELECT x.e->>'accountId', x.e->>'asset', x.e->>'kind', (x.e->>'totalDelta')::numeric, (x.e->>'reservedDelta')::numeric,
        (x.e->>'totalAfter')::numeric, (x.e->>'reservedAfter')::numeric, x.e->>'reservationId', x.e->>'operationId', x.e->>'reason'
      FROM jsonb_array_elements(${p(json(w.entries))}::jsonb) WITH ORDINALITY AS x(e, n) ORDER BY x.n RETURNING 1)`);
    checks.push(`(SELECT count(*) FROM ent) = ${w.entries.length}`);
  }
  if (!parts.length) return;
  const [r] = await q.query<{ ok: boolean }>(`WITH ${parts.join(',\n')} SELECT ${checks.length ? checks.join(' AND ') : 'true'} AS ok`, params).catch(mapBalanceError);
  // Rows locked by this transaction cannot have moved: a difference is a bug, and the whole list is refused for it.
  if (!r?.ok) throw new Error('the ledger write did not find the rows it decided over; nothing was written');
}
