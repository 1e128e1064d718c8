import type { Queryable } from '../../kit/db/types.js';

/** An approval of a quorum decision, as its table holds it (`K` names the decision's column). */
export type ApprovalRow<K extends string> = { [k in K]: string } & { approver: string; created_at: Date };

/**
 * The approvals of one kind of quorum decision (a policy change, a withdrawal, a wallet sweep): each kind has its
 * own table of the same shape, (decision, approver) unique.
 */
export function approvalTable<K extends string>(table: string, key: K) {
  return {
    /** Records an approval once; false when this approver had already approved. */
    add: async (q: Queryable, id: string, approver: string, at: Date): Promise<boolean> =>
      (await q.query(`INSERT INTO ${table} (${key}, approver, created_at) VALUES ($1,$2,$3) ON CONFLICT DO NOTHING RETURNING 1`, [id, approver, at])).length > 0,
    /** The approvals of these decisions, oldest first. */
    of: (q: Queryable, ids: readonly string[]) =>
      q.query<ApprovalRow<K>>(`SELECT * FROM ${table} WHERE ${key} = ANY($1::text[]) ORDER BY created_at, approver`, [ids]),
  };
}
