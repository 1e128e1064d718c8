import type { Queryable } from '../../kit/db/types.js';
import type { Caller } from '../../kit/auth.js';

/** Append-only: who did what to which subject, when and why. */
export async function audit(q: Queryable, caller: Pick<Caller, 'subject' | 'org'>, action: string, subjectId: string, reason: string | null, details: Record<string, unknown> = {}) {
  await q.query('INSERT INTO audit_log (actor, org, action, subject_id, reason, details) VALUES ($1,$2,$3,$4,$5,$6::jsonb)', [
    caller.subject, caller.org, action, subjectId, reason, JSON.stringify(details, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)),
  ]);
}

export interface AuditRow { seq: string; at: Date; actor: string; org: string; action: string; subject_id: string; reason: string | null; details: unknown }
export const auditOf = (q: Queryable, subjectIds: readonly string[]) =>
  q.query<AuditRow>('SELECT * FROM audit_log WHERE subject_id = ANY($1::text[]) ORDER BY seq', [subjectIds]);

export interface DocumentRow { token_id: string; name: string; version: number; uri: string; hash: string; attached_by: string; attached_at: Date }
export const documentsOf = (q: Queryable, tokenIds: readonly string[]) =>
  q.query<DocumentRow>('SELECT * FROM documents WHERE token_id = ANY($1::text[]) ORDER BY name, version', [tokenIds]);

export async function insertDocument(q: Queryable, d: Omit<DocumentRow, 'version' | 'attached_at'>): Promise<DocumentRow> {
  const [row] = await q.query<DocumentRow>(
    `INSERT INTO documents (token_id, name, version, uri, hash, attached_by)
     SELECT $1, $2, coalesce(max(version), 0) + 1, $3, $4, $5 FROM documents WHERE token_id = $1 AND name = $2
     RETURNING *`,
    [d.token_id, d.name, d.uri, d.hash, d.attached_by],
  );
  return row;
}

/** On-chain identity work, queued with the change that needs it. */
export async function enqueueChainJob(q: Queryable, kind: string, subjectId: string, payload: Record<string, unknown> = {}) {
  await q.query('INSERT INTO chain_jobs (kind, subject_id, payload) VALUES ($1,$2,$3::jsonb)', [kind, subjectId, JSON.stringify(payload)]);
}

export interface ChainJobRow { id: string; kind: string; subject_id: string; payload: Record<string, unknown>; attempts: number }
