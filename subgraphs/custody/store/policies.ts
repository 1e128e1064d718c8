import type { Queryable } from '../../kit/db/types.js';
import { approvalTable } from './approvals.js';
import { insertOnce } from '../../kit/idempotency.js';
import type { PolicyJson } from '../domain/policy.js';

/** SQL of withdrawal policies and their quorum-approved changes. */

export interface PolicyRow { id: string; org: string; account_id: string | null; policy: PolicyJson; version: number; change_id: string; updated_at: Date }
export type ChangeStatus = 'PENDING' | 'APPLIED' | 'REJECTED' | 'SUPERSEDED';
export interface PolicyChangeRow {
  id: string; org: string; account_id: string | null; proposed: PolicyJson; base_version: number;
  approvals_required: number; approvers: string[]; status: ChangeStatus; proposed_by: string;
  decided_by: string | null; decision_reason: string | null; idempotency_key: string; request_hash: string;
  created_at: Date; decided_at: Date | null;
}

/** The account's row and its organisation's row (either may be missing). */
export async function policiesFor(q: Queryable, org: string, accountId: string | null): Promise<{ account: PolicyRow | null; org: PolicyRow | null }> {
  const rows = await q.query<PolicyRow>(
    'SELECT * FROM withdrawal_policies WHERE org = $1 AND (account_id IS NULL OR account_id = $2)',
    [org, accountId],
  );
  return { account: rows.find((r) => r.account_id !== null) ?? null, org: rows.find((r) => r.account_id === null) ?? null };
}

/**
 * Writes the scope's policy at `version` only if the stored one is still
 * version - 1 (or absent for version 1); false when another change got there first.
 */
export async function upsertPolicy(q: Queryable, p: { id: string; org: string; accountId: string | null; policy: PolicyJson; version: number; changeId: string }): Promise<boolean> {
  const r = await q.query(
    `INSERT INTO withdrawal_policies (id, org, account_id, policy, version, change_id) VALUES ($1,$2,$3,$4::jsonb,$5,$6)
     ON CONFLICT (org, coalesce(account_id, '')) DO UPDATE SET policy = EXCLUDED.policy, version = EXCLUDED.version,
       change_id = EXCLUDED.change_id, updated_at = now()
     WHERE withdrawal_policies.version = EXCLUDED.version - 1
     RETURNING 1`,
    [p.id, p.org, p.accountId, JSON.stringify(p.policy), p.version, p.changeId],
  );
  return r.length > 0;
}

export async function insertPolicyChange(q: Queryable, c: Omit<PolicyChangeRow, 'status' | 'decided_by' | 'decision_reason' | 'decided_at'>) {
  return insertOnce<PolicyChangeRow>(
    q,
    {
      sql: `INSERT INTO policy_changes (id, org, account_id, proposed, base_version, approvals_required, approvers, status, proposed_by, idempotency_key, request_hash, created_at)
            VALUES ($1,$2,$3,$4::jsonb,$5,$6,$7::jsonb,'PENDING',$8,$9,$10,$11) ON CONFLICT (org, idempotency_key) DO NOTHING RETURNING *`,
      params: [c.id, c.org, c.account_id, JSON.stringify(c.proposed), c.base_version, c.approvals_required, JSON.stringify(c.approvers), c.proposed_by, c.idempotency_key, c.request_hash, c.created_at],
    },
    { sql: 'SELECT * FROM policy_changes WHERE org = $1 AND idempotency_key = $2', params: [c.org, c.idempotency_key] },
    c.request_hash,
    c.idempotency_key,
  );
}

export async function policyChangeById(q: Queryable, id: string, o: { forUpdate?: boolean } = {}): Promise<PolicyChangeRow | null> {
  const [r] = await q.query<PolicyChangeRow>(`SELECT * FROM policy_changes WHERE id = $1${o.forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  return r ?? null;
}

export const policyChangesByIds = (q: Queryable, ids: readonly string[]) =>
  q.query<PolicyChangeRow>('SELECT * FROM policy_changes WHERE id = ANY($1::text[])', [ids]);

export const policyChangesOfOrg = (q: Queryable, org: string, status: ChangeStatus | null) =>
  q.query<PolicyChangeRow>('SELECT * FROM policy_changes WHERE org = $1 AND ($2::text IS NULL OR status = $2) ORDER BY created_at, id', [org, status]);

export async function decidePolicyChange(q: Queryable, id: string, d: { status: ChangeStatus; by: string; reason: string | null; at: Date }): Promise<void> {
  await q.query('UPDATE policy_changes SET status = $2, decided_by = $3, decision_reason = $4, decided_at = $5 WHERE id = $1', [id, d.status, d.by, d.reason, d.at]);
}

const approvals = approvalTable('policy_change_approvals', 'change_id');
export const addPolicyApproval = approvals.add;
export const policyApprovals = approvals.of;
