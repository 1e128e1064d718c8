import type { Queryable } from '../../kit/db/types.js';
import { approvalTable } from './approvals.js';
import { PgCode, pgCode } from '../../kit/db/types.js';
import { appError } from '../../kit/errors.js';

/** SQL of withdrawals, their approvals and the destination allow-list. */

export type WithdrawalStatus = 'PENDING_APPROVAL' | 'APPROVED' | 'BROADCASTING' | 'COMPLETED' | 'REJECTED' | 'FAILED';
export interface WithdrawalRow {
  id: string; org: string; account_id: string; asset: string; amount: string; to_address: string; destination_id: string;
  reservation_id: string; status: WithdrawalStatus; initiated_by: string; approvals_required: number; approvers: string[];
  attempts: number; raw_tx: string | null; tx_hash: string | null; submitted_at: Date | null; next_attempt_at: Date | null;
  last_error: string | null; decided_by: string | null; decision_reason: string | null; idempotency_key: string; request_hash: string;
  created_at: Date; updated_at: Date;
  /** Set on a distribution payment (no destination): the entitlement paid and its attempt. */
  entitlement_id?: string | null; entitlement_attempt?: number | null;
}
export interface DestinationRow {
  id: string; account_id: string; address: string; label: string; added_by: string; usable_from: Date; created_at: Date;
  removed_at: Date | null; removed_by: string | null;
}

export async function withdrawalByKey(q: Queryable, org: string, key: string): Promise<WithdrawalRow | null> {
  const [r] = await q.query<WithdrawalRow>('SELECT * FROM withdrawals WHERE org = $1 AND idempotency_key = $2', [org, key]);
  return r ?? null;
}

export async function insertWithdrawal(q: Queryable, w: Omit<WithdrawalRow, 'attempts' | 'raw_tx' | 'tx_hash' | 'submitted_at' | 'next_attempt_at' | 'last_error' | 'decided_by' | 'decision_reason' | 'updated_at' | 'status'>): Promise<WithdrawalRow> {
  try {
    const [r] = await q.query<WithdrawalRow>(
      `INSERT INTO withdrawals (id, org, account_id, asset, amount, to_address, destination_id, reservation_id, status, initiated_by,
         approvals_required, approvers, idempotency_key, request_hash, created_at)
       VALUES ($1,$2,$3,$4,$5::numeric,$6,$7,$8,'PENDING_APPROVAL',$9,$10,$11::jsonb,$12,$13,$14) RETURNING *`,
      [w.id, w.org, w.account_id, w.asset, w.amount, w.to_address, w.destination_id, w.reservation_id, w.initiated_by,
        w.approvals_required, JSON.stringify(w.approvers), w.idempotency_key, w.request_hash, w.created_at],
    );
    return r;
  } catch (e) {
    // Same key raced in for another account or asset (a different row lock): the content differs by construction.
    if (pgCode(e) === PgCode.uniqueViolation) {
      throw appError('INPUT.IDEMPOTENCY_KEY_REUSED', `idempotency key "${w.idempotency_key}" was already used for a different request`, { details: { idempotencyKey: w.idempotency_key } });
    }
    throw e;
  }
}

export async function withdrawalById(q: Queryable, id: string, o: { forUpdate?: boolean } = {}): Promise<WithdrawalRow | null> {
  const [r] = await q.query<WithdrawalRow>(`SELECT * FROM withdrawals WHERE id = $1${o.forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  return r ?? null;
}

export const withdrawalsByIds = (q: Queryable, ids: readonly string[]) =>
  q.query<WithdrawalRow>('SELECT * FROM withdrawals WHERE id = ANY($1::text[])', [ids]);

export const withdrawalsOfAccounts = (q: Queryable, accountIds: readonly string[]) =>
  q.query<WithdrawalRow>('SELECT * FROM withdrawals WHERE account_id = ANY($1::text[]) ORDER BY created_at DESC, id DESC', [accountIds]);

export const withdrawalsOfOrg = (q: Queryable, org: string, status: WithdrawalStatus | null) =>
  q.query<WithdrawalRow>('SELECT * FROM withdrawals WHERE org = $1 AND ($2::text IS NULL OR status = $2) ORDER BY created_at DESC, id DESC', [org, status]);

/** A withdrawal of the account on its way (BROADCASTING), if any: its wallet must not be replaced meanwhile. */
export async function broadcastingWithdrawalOf(q: Queryable, accountId: string): Promise<{ id: string } | null> {
  const [w] = await q.query<{ id: string }>(`SELECT id FROM withdrawals WHERE account_id = $1 AND status = 'BROADCASTING' LIMIT 1`, [accountId]);
  return w ?? null;
}

/** What counts against the velocity limit: every withdrawal in the window that was not refused or failed. */
export async function windowSum(q: Queryable, accountId: string, asset: string, since: Date): Promise<bigint> {
  const [r] = await q.query<{ s: string | null }>(
    `SELECT sum(amount) AS s FROM withdrawals WHERE account_id = $1 AND asset = $2 AND created_at > $3 AND status NOT IN ('REJECTED','FAILED')`,
    [accountId, asset, since],
  );
  return BigInt(r.s ?? 0);
}

export async function setWithdrawal(q: Queryable, id: string, patch: Partial<Pick<WithdrawalRow,
  'status' | 'attempts' | 'raw_tx' | 'tx_hash' | 'submitted_at' | 'next_attempt_at' | 'last_error' | 'decided_by' | 'decision_reason'>>): Promise<WithdrawalRow> {
  const cols = Object.keys(patch) as (keyof typeof patch)[];
  const sets = cols.map((c, i) => `${c} = $${i + 2}`).join(', ');
  const [r] = await q.query<WithdrawalRow>(`UPDATE withdrawals SET ${sets}, updated_at = now() WHERE id = $1 RETURNING *`, [id, ...cols.map((c) => patch[c])]);
  return r;
}

const approvals = approvalTable('withdrawal_approvals', 'withdrawal_id');
export const addWithdrawalApproval = approvals.add;
export const withdrawalApprovals = approvals.of;

/**
 * The next withdrawal the broadcaster should work on, locked (other replicas
 * skip it). Never a second one of a wallet that has a transfer in flight:
 * the wallet's nonce must not be shared; none of an account whose wallet is
 * being swept (it is signed from the new wallet once everything is there).
 */
export async function claimNextBroadcast(q: Queryable, now: Date): Promise<WithdrawalRow | null> {
  const [r] = await q.query<WithdrawalRow>(
    `SELECT w.* FROM withdrawals w
     WHERE w.status IN ('APPROVED','BROADCASTING') AND coalesce(w.next_attempt_at, w.updated_at) <= $1
       AND (w.status = 'BROADCASTING' OR NOT EXISTS (
         SELECT 1 FROM withdrawals o WHERE o.account_id = w.account_id AND o.status = 'BROADCASTING' AND o.id <> w.id))
       AND NOT EXISTS (SELECT 1 FROM wallet_sweeps s WHERE s.account_id = w.account_id AND s.status = 'MOVING')
     ORDER BY coalesce(w.next_attempt_at, w.updated_at), w.id
     LIMIT 1 FOR UPDATE OF w SKIP LOCKED`,
    [now],
  );
  return r ?? null;
}

/**
 * The wallet's nonce, taken for signing: its row locked until the signed transaction is stored (the
 * transaction commits), so that two replicas never read the same next nonce from the chain. False,
 * without waiting, when another transaction holds the row (a replica signing for the wallet, a sweep
 * or recovery of its account: other wallets go on), or when, under the lock, another transfer of the
 * wallet turns out to be in flight (stored by a replica since this one claimed) or its account is
 * being swept. The lock goes with the transaction, so a process killed while signing leaves nothing held.
 */
export async function takeWalletNonce(q: Queryable, address: string, accountId: string): Promise<boolean> {
  const [locked] = await q.query('SELECT id FROM wallets WHERE address = $1 FOR UPDATE SKIP LOCKED', [address]);
  if (!locked) return false;
  // A statement of its own, after the lock: it sees what the last holder committed.
  const [busy] = await q.query(
    `SELECT 1 FROM withdrawals WHERE account_id = $1 AND status = 'BROADCASTING'
     UNION ALL SELECT 1 FROM wallet_sweeps WHERE account_id = $1 AND status = 'MOVING' LIMIT 1`,
    [accountId],
  );
  return !busy;
}

/**
 * Distribution payments due from the same paying account and asset as `w` (APPROVED, claimed with
 * it), locked, at most `limit`: they go on chain together as one batch transaction.
 */
export const claimPaymentBatch = (q: Queryable, w: WithdrawalRow, now: Date, limit: number) =>
  q.query<WithdrawalRow>(
    `SELECT * FROM withdrawals
     WHERE status = 'APPROVED' AND entitlement_id IS NOT NULL AND account_id = $1 AND asset = $2 AND id <> $3
       AND coalesce(next_attempt_at, updated_at) <= $4
     ORDER BY coalesce(next_attempt_at, updated_at), id
     LIMIT $5 FOR UPDATE SKIP LOCKED`,
    [w.account_id, w.asset, w.id, now, limit],
  );

/**
 * Every withdrawal waiting on one signed transaction (a batch shares it), locked; null when another
 * worker holds one of them (it works on the whole batch, so this one leaves it alone).
 */
export async function withdrawalsOfTx(q: Queryable, txHash: string): Promise<WithdrawalRow[] | null> {
  const locked = await q.query<WithdrawalRow>(
    "SELECT * FROM withdrawals WHERE tx_hash = $1 AND status = 'BROADCASTING' ORDER BY id FOR UPDATE SKIP LOCKED", [txHash]);
  const [all] = await q.query<{ n: string }>("SELECT count(*) AS n FROM withdrawals WHERE tx_hash = $1 AND status = 'BROADCASTING'", [txHash]);
  return locked.length === Number(all.n) ? locked : null;
}

/** Addresses are stored EIP-55 checksummed, so equality is exact. */
export async function activeDestination(q: Queryable, accountId: string, address: string): Promise<DestinationRow | null> {
  const [r] = await q.query<DestinationRow>(
    'SELECT * FROM withdrawal_destinations WHERE account_id = $1 AND address = $2 AND removed_at IS NULL', [accountId, address]);
  return r ?? null;
}

/** Adds an allow-list entry unless the address is already listed (then the existing entry, its delay unchanged). */
export async function insertDestination(q: Queryable, d: Omit<DestinationRow, 'removed_at' | 'removed_by'>): Promise<{ row: DestinationRow; created: boolean }> {
  const [r] = await q.query<DestinationRow>(
    `INSERT INTO withdrawal_destinations (id, account_id, address, label, added_by, usable_from, created_at) VALUES ($1,$2,$3,$4,$5,$6,$7)
     ON CONFLICT (account_id, address) WHERE removed_at IS NULL DO NOTHING RETURNING *`,
    [d.id, d.account_id, d.address, d.label, d.added_by, d.usable_from, d.created_at],
  );
  if (r) return { row: r, created: true };
  return { row: (await activeDestination(q, d.account_id, d.address))!, created: false };
}

export async function destinationById(q: Queryable, id: string, o: { forUpdate?: boolean } = {}): Promise<DestinationRow | null> {
  const [r] = await q.query<DestinationRow>(`SELECT * FROM withdrawal_destinations WHERE id = $1${o.forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  return r ?? null;
}

export async function removeDestination(q: Queryable, id: string, by: string, at: Date): Promise<DestinationRow> {
  const [r] = await q.query<DestinationRow>('UPDATE withdrawal_destinations SET removed_at = $3, removed_by = $2 WHERE id = $1 RETURNING *', [id, by, at]);
  return r;
}

export const destinationsOfAccounts = (q: Queryable, accountIds: readonly string[]) =>
  q.query<DestinationRow>('SELECT * FROM withdrawal_destinations WHERE account_id = ANY($1::text[]) AND removed_at IS NULL ORDER BY created_at, id', [accountIds]);
