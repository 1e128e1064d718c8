import type { Queryable } from '../../kit/db/types.js';
import { appError } from '../../kit/errors.js';

/**
 * SQL of the leases on settlements and DvP batches: the generation fence of
 * every write to a leased row, and the renewal of the leases a process holds.
 */

/** The SET list of a patch (only `allowed` columns; `json` ones as jsonb), its parameters numbered from `first`. */
export function setClause(patch: Record<string, unknown>, allowed: Set<string>, json: Set<string>, first: number): { sql: string; params: unknown[] } {
  const cols = Object.keys(patch).filter((k) => patch[k] !== undefined);
  for (const c of cols) if (!allowed.has(c)) throw new Error(`column ${c} cannot be patched`);
  const parts = cols.map((c, i) => `${c} = $${first + i}${json.has(c) ? '::jsonb' : ''}`);
  const params = cols.map((c) => (json.has(c) && patch[c] !== null ? JSON.stringify(patch[c]) : patch[c]));
  return { sql: [...parts, 'updated_at = now()'].join(', '), params };
}

/**
 * Which row a write is for: its id, or a row as read (its lease generation
 * fences the write: refused with SETTLEMENT.LEASE_LOST once another worker
 * has claimed the row since).
 */
export type RowRef = string | { id: string; lease_gen: string };

export const leaseLost = (table: string, id: string) =>
  appError('SETTLEMENT.LEASE_LOST', `another worker has taken over ${id} (its lease expired)`, { details: { table, id } });

/** `UPDATE table SET set WHERE id = $1 AND <cond> AND the fence ($2)`; null when `cond` did not hold, LEASE_LOST when the fence did not. */
export async function fencedUpdate<R>(q: Queryable, table: 'settlements' | 'dvp_batches', ref: RowRef, set: string, cond: string, params: unknown[]): Promise<R | null> {
  const [id, gen] = typeof ref === 'string' ? [ref, null] : [ref.id, ref.lease_gen];
  const [r] = await q.query<R>(`UPDATE ${table} SET ${set} WHERE id = $1 AND ($2::bigint IS NULL OR lease_gen = $2) AND ${cond} RETURNING *`, [id, gen, ...params]);
  if (r || gen === null) return r ?? null;
  const [now] = await q.query<{ lease_gen: string }>(`SELECT lease_gen FROM ${table} WHERE id = $1`, [id]);
  if (now && String(now.lease_gen) !== String(gen)) throw leaseLost(table, id);
  return null;
}

/**
 * The fenced update of many rows in one statement: each row's own values come from `x` (`rows`, columns declared in
 * `cols` after id and gen), each row fenced by its own generation. Answers per row, in the order given: the row as
 * updated, null when `cond` did not hold, or LEASE_LOST (thrown by the caller for that row alone).
 */
export async function fencedUpdateMany<R extends { id: string }>(
  q: Queryable, table: 'settlements' | 'dvp_batches', rows: ({ id: string; gen: string } & Record<string, unknown>)[], cols: string, set: string, cond: string,
): Promise<(R | null | Error)[]> {
  if (!rows.length) return [];
  const done = await q.query<R>(
    `UPDATE ${table} t SET ${set}, updated_at = now() FROM jsonb_to_recordset($1::jsonb) AS x(id text, gen bigint${cols ? `, ${cols}` : ''})
     WHERE t.id = x.id AND t.lease_gen = x.gen AND ${cond} RETURNING t.*`,
    [JSON.stringify(rows)],
  );
  const byId = new Map(done.map((r) => [r.id, r]));
  const missing = rows.filter((r) => !byId.has(r.id));
  const gens = missing.length
    ? new Map((await q.query<{ id: string; lease_gen: string }>(`SELECT id, lease_gen FROM ${table} WHERE id = ANY($1::text[])`, [missing.map((r) => r.id)])).map((r) => [r.id, String(r.lease_gen)]))
    : new Map<string, string>();
  return rows.map((r) => {
    const now = gens.get(r.id);
    return byId.get(r.id) ?? (now !== undefined && now !== String(r.gen) ? leaseLost(table, r.id) : null);
  });
}

export interface HeldLease { table: 'settlements' | 'dvp_batches'; id: string; gen: string }

/**
 * Renews, in one statement, the leases still held under the generations given
 * (a lease released meanwhile, lease_until NULL, is not taken again); returns
 * the ids renewed. The ones missing were released or taken over.
 */
export async function renewLeases(q: Queryable, leaseMs: number, held: readonly HeldLease[]): Promise<Set<string>> {
  const of = (t: HeldLease['table']) => held.filter((h) => h.table === t);
  const [s, b] = [of('settlements'), of('dvp_batches')];
  const renew = (table: string, ids: string, gens: string) =>
    `UPDATE ${table} t SET lease_until = now() + make_interval(secs => $1::double precision / 1000)
     FROM unnest(${ids}::text[], ${gens}::bigint[]) AS h(id, gen) WHERE t.id = h.id AND t.lease_gen = h.gen AND t.lease_until IS NOT NULL RETURNING t.id`;
  const rows = await q.query<{ id: string }>(
    `WITH s AS (${renew('settlements', '$2', '$3')}), b AS (${renew('dvp_batches', '$4', '$5')}) SELECT id FROM s UNION ALL SELECT id FROM b`,
    [leaseMs, s.map((h) => h.id), s.map((h) => h.gen), b.map((h) => h.id), b.map((h) => h.gen)],
  );
  return new Set(rows.map((r) => r.id));
}
