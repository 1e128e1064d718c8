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

/** The moves of a wallet recovery to `newWallet` recorded already (its audit entry), if any. */
export async function recoveryRecorded(q: Queryable, investorId: string, newWallet: string): Promise<{ new?: string; moved?: { tokenId: string; txHash: string }[] } | undefined> {
  const [done] = await q.query<{ details: { new?: string; moved?: { tokenId: string; txHash: string }[] } }>(
    `SELECT details FROM audit_log WHERE action = 'investor.wallet_recovered' AND subject_id = $1 AND lower(details->>'new') = lower($2) ORDER BY seq DESC LIMIT 1`, [investorId, newWallet]);
  return done?.details;
}
