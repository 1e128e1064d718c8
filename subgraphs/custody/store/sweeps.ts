import type { Queryable } from '../../kit/db/types.js';
import { approvalTable } from './approvals.js';

/** SQL of wallet sweeps (software-sealed wallet to HSM wallet) and their approvals. */

export type SweepStatus = 'PENDING_APPROVAL' | 'MOVING' | 'COMPLETED' | 'REJECTED';
export type SweepPhase = 'CASH' | 'TOKENS' | 'GAS';
export interface SweptToken { tokenId: string; txHash: string }
export interface SweepRow {
  id: string; org: string; account_id: string; old_wallet: string; new_wallet: string | null; status: SweepStatus;
  initiated_by: string; approvals_required: number; approvers: string[]; cash_amount: string | null; raw_tx: string | null;
  tx_hash: string | null; attempts: number; next_attempt_at: Date | null; last_error: string | null; decided_by: string | null;
  decision_reason: string | null; idempotency_key: string; request_hash: string; created_at: Date; updated_at: Date;
  /** While MOVING: what moves now. raw_tx / tx_hash / submitted_at are that phase's transfer in flight. */
  phase: SweepPhase | null; submitted_at: Date | null; cash_tx_hash: string | null; tokens_moved: SweptToken[] | null;
  gas_amount: string | null; gas_tx_hash: string | null;
}

export async function sweepByKey(q: Queryable, org: string, key: string): Promise<SweepRow | null> {
  const [r] = await q.query<SweepRow>('SELECT * FROM wallet_sweeps WHERE org = $1 AND idempotency_key = $2', [org, key]);
  return r ?? null;
}

export async function sweepById(q: Queryable, id: string, o: { forUpdate?: boolean } = {}): Promise<SweepRow | null> {
  const [r] = await q.query<SweepRow>(`SELECT * FROM wallet_sweeps WHERE id = $1${o.forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  return r ?? null;
}

export async function openSweepOf(q: Queryable, accountId: string): Promise<SweepRow | null> {
  const [r] = await q.query<SweepRow>(`SELECT * FROM wallet_sweeps WHERE account_id = $1 AND status IN ('PENDING_APPROVAL','MOVING')`, [accountId]);
  return r ?? null;
}

export const sweepsOfOrg = (q: Queryable, org: string) =>
  q.query<SweepRow>('SELECT * FROM wallet_sweeps WHERE org = $1 ORDER BY created_at DESC, id DESC', [org]);

export async function insertSweep(q: Queryable, s: Pick<SweepRow, 'id' | 'org' | 'account_id' | 'old_wallet' | 'initiated_by' | 'approvals_required' | 'approvers' | 'idempotency_key' | 'request_hash' | 'created_at'>): Promise<SweepRow> {
  const [r] = await q.query<SweepRow>(
    `INSERT INTO wallet_sweeps (id, org, account_id, old_wallet, status, initiated_by, approvals_required, approvers, idempotency_key, request_hash, created_at)
     VALUES ($1,$2,$3,$4,'PENDING_APPROVAL',$5,$6,$7::jsonb,$8,$9,$10) RETURNING *`,
    [s.id, s.org, s.account_id, s.old_wallet, s.initiated_by, s.approvals_required, JSON.stringify(s.approvers), s.idempotency_key, s.request_hash, s.created_at],
  );
  return r;
}

export type SweepPatch = Partial<Pick<SweepRow,
  'status' | 'new_wallet' | 'cash_amount' | 'raw_tx' | 'tx_hash' | 'attempts' | 'next_attempt_at' | 'last_error' | 'decided_by' | 'decision_reason' |
  'phase' | 'submitted_at' | 'cash_tx_hash' | 'tokens_moved' | 'gas_amount' | 'gas_tx_hash'>>;

export async function setSweep(q: Queryable, id: string, patch: SweepPatch): Promise<SweepRow> {
  const cols = Object.keys(patch) as (keyof typeof patch)[];
  const sets = cols.map((c, i) => `${c} = $${i + 2}${c === 'tokens_moved' ? '::jsonb' : ''}`).join(', ');
  const value = (c: keyof SweepPatch) => (c === 'tokens_moved' && patch[c] ? JSON.stringify(patch[c]) : patch[c]);
  const [r] = await q.query<SweepRow>(`UPDATE wallet_sweeps SET ${sets}, updated_at = now() WHERE id = $1 RETURNING *`, [id, ...cols.map(value)]);
  return r;
}

const approvals = approvalTable('wallet_sweep_approvals', 'sweep_id');
export const addSweepApproval = approvals.add;
export const sweepApprovals = approvals.of;

/** The next sweep whose cash is due to move, locked (other replicas skip it). */
export async function claimNextSweep(q: Queryable, now: Date): Promise<SweepRow | null> {
  const [r] = await q.query<SweepRow>(
    `SELECT * FROM wallet_sweeps WHERE status = 'MOVING' AND coalesce(next_attempt_at, updated_at) <= $1
     ORDER BY coalesce(next_attempt_at, updated_at), id LIMIT 1 FOR UPDATE SKIP LOCKED`, [now]);
  return r ?? null;
}

/** The account's sweep that is moving its assets (its wallet is changing), or null. */
export async function movingSweepOf(q: Queryable, accountId: string): Promise<SweepRow | null> {
  const [r] = await q.query<SweepRow>(`SELECT * FROM wallet_sweeps WHERE account_id = $1 AND status = 'MOVING'`, [accountId]);
  return r ?? null;
}

/** The sweep, locked, if it still waits on this very transfer (a send's result is recorded only then). */
export async function sweepWaitingOn(q: Queryable, id: string, txHash: string): Promise<SweepRow | null> {
  const [r] = await q.query<SweepRow>(`SELECT * FROM wallet_sweeps WHERE id = $1 AND status = 'MOVING' AND tx_hash = $2 FOR UPDATE`, [id, txHash]);
  return r ?? null;
}
