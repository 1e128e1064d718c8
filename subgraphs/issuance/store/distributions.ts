import type { Queryable } from '../../kit/db/types.js';
import { insertOnce } from '../../kit/idempotency.js';
import type { Scope } from '../../kit/access.js';

/** SQL of distributions, their entitlements and the tax forms on file. Amounts are decimal strings. */

export type EntitlementStatus = 'PENDING' | 'PAID' | 'FAILED' | 'HELD' | 'SKIPPED';
export interface DistributionRow {
  id: string; token_id: string; issuer_org: string; kind: string; record_date: Date; payment_date: Date; asset: string; paying_account_id: string;
  amount_per_unit: string | null; total_amount: string | null; exclude_issuer: boolean;
  /** Null until the entitlements are fixed (a record date still to come) or when it lapsed. */
  units: string | null; gross: string | null; withheld: string | null; net: string | null;
  unallocated: string; fixed_at: Date | null; lapsed_reason: string | null; payment_started_at: Date | null; announced_by: string; idempotency_key: string; request_hash: string; created_at: Date;
  /** The split whose fractions a CASH_IN_LIEU distribution pays; null for the others. */
  split_id: string | null;
}
export interface EntitlementRow {
  id: string; distribution_id: string; investor_id: string; units: string; gross: string; withheld: string; net: string; rate_bps: number;
  basis: string; jurisdiction: string; tax_form: string | null; status: EntitlementStatus; attempts: number; instructed_at: Date | null;
  next_attempt_at: Date | null; paid_to: string | null; tx_hash: string | null; reference: string | null; reason: string | null;
  paid_at: Date | null; updated_at: Date;
}
export interface TaxFormRow { investor_id: string; form: string; treaty_country: string | null; signed_at: Date; expires_at: Date | null; recorded_by: string; recorded_at: Date }

export type NewDistribution = Omit<DistributionRow, 'payment_started_at' | 'created_at' | 'split_id'> & { split_id?: string | null };
export type NewEntitlement = Pick<EntitlementRow, 'id' | 'investor_id' | 'units' | 'gross' | 'withheld' | 'net' | 'rate_bps' | 'basis' | 'jurisdiction' | 'tax_form'>;

export async function insertDistribution(q: Queryable, d: NewDistribution) {
  return insertOnce<DistributionRow>(
    q,
    {
      sql: `INSERT INTO distributions (id, token_id, issuer_org, kind, record_date, payment_date, asset, paying_account_id, amount_per_unit, total_amount,
              exclude_issuer, units, gross, withheld, net, unallocated, announced_by, idempotency_key, request_hash, fixed_at, lapsed_reason, split_id)
            VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9::numeric,$10::numeric,$11,$12::numeric,$13::numeric,$14::numeric,$15::numeric,$16::numeric,$17,$18,$19,$20,$21,$22)
            ON CONFLICT (issuer_org, idempotency_key) DO NOTHING RETURNING *`,
      params: [d.id, d.token_id, d.issuer_org, d.kind, d.record_date, d.payment_date, d.asset, d.paying_account_id, d.amount_per_unit, d.total_amount,
        d.exclude_issuer, d.units, d.gross, d.withheld, d.net, d.unallocated, d.announced_by, d.idempotency_key, d.request_hash, d.fixed_at, d.lapsed_reason, d.split_id ?? null],
    },
    { sql: 'SELECT * FROM distributions WHERE issuer_org = $1 AND idempotency_key = $2', params: [d.issuer_org, d.idempotency_key] },
    d.request_hash,
    d.idempotency_key,
  );
}

export async function distributionByKey(q: Queryable, org: string, key: string): Promise<DistributionRow | null> {
  const [r] = await q.query<DistributionRow>('SELECT * FROM distributions WHERE issuer_org = $1 AND idempotency_key = $2', [org, key]);
  return r ?? null;
}

/** The entitlements of a new distribution, all due on its payment date (null: not due until released), in one statement. */
export async function insertEntitlements(q: Queryable, distributionId: string, dueAt: Date | null, rows: readonly NewEntitlement[]): Promise<EntitlementRow[]> {
  if (!rows.length) return [];
  return q.query<EntitlementRow>(
    `INSERT INTO entitlements (id, distribution_id, investor_id, units, gross, withheld, net, rate_bps, basis, jurisdiction, tax_form, next_attempt_at)
     SELECT e.id, $1, e.investor_id, e.units, e.gross, e.withheld, e.net, e.rate_bps, e.basis, e.jurisdiction, e.tax_form, $2
     FROM jsonb_to_recordset($3::jsonb) AS e(id text, investor_id text, units numeric, gross numeric, withheld numeric, net numeric, rate_bps int, basis text, jurisdiction text, tax_form text)
     RETURNING *`,
    [distributionId, dueAt, JSON.stringify(rows)],
  );
}

export const distributionsByIds = (q: Queryable, ids: readonly string[]) =>
  q.query<DistributionRow>('SELECT * FROM distributions WHERE id = ANY($1::text[])', [ids]);

/**
 * Distributions a caller sees: the issuer organisation's own (issuerOrg set), or those in which the
 * scope sees an entitlement (its investors: those its organisation onboarded).
 */
export function visibleDistributions(q: Queryable, f: { issuerOrg: string | null; scope: Scope; tokenId: string | null; id: string | null }) {
  return q.query<DistributionRow>(
    `SELECT d.* FROM distributions d
     WHERE ($3::text IS NULL OR d.token_id = $3) AND ($4::text IS NULL OR d.id = $4)
       AND (d.issuer_org = $1 OR EXISTS (SELECT 1 FROM entitlements e WHERE e.distribution_id = d.id AND ${investorInScope('e.investor_id', '$2', '$5')}))
     ORDER BY d.created_at DESC, d.id DESC`,
    [f.issuerOrg, f.scope.all ? null : f.scope.org, f.tokenId, f.id, f.scope.investorId ?? null],
  );
}

/**
 * SQL: the investor is in the scope (org $org: the organisation that onboarded it; $inv: only that
 * investor). Null org: everyone. Not a custodian organisation: any custodian may open an account for
 * any investor, so holding one proves no relation (custodians see the payment as a deposit).
 */
export function investorInScope(col: string, org: string, inv: string): string {
  return `(${org}::text IS NULL OR EXISTS (SELECT 1 FROM investors i WHERE i.id = ${col} AND i.org = ${org}))
          AND (${inv}::text IS NULL OR ${col} = ${inv})`;
}

/** Entitlements of a distribution (all of them when allOf names it), or those of the scope's investors. */
export function visibleEntitlements(q: Queryable, f: { allOf: readonly string[]; scope: Scope; distributionId: string | null; investorId: string | null; status: string | null }) {
  return q.query<EntitlementRow>(
    `SELECT e.* FROM entitlements e
     WHERE ($3::text IS NULL OR e.distribution_id = $3) AND ($4::text IS NULL OR e.investor_id = $4) AND ($6::text IS NULL OR e.status = $6)
       AND (e.distribution_id = ANY($1::text[]) OR (${investorInScope('e.investor_id', '$2', '$5')}))
     ORDER BY e.distribution_id DESC, e.investor_id`,
    [f.allOf, f.scope.all ? null : f.scope.org, f.distributionId, f.investorId, f.scope.investorId ?? null, f.status],
  );
}

export const entitlementsOf = (q: Queryable, distributionIds: readonly string[]) =>
  q.query<EntitlementRow>('SELECT * FROM entitlements WHERE distribution_id = ANY($1::text[]) ORDER BY investor_id', [distributionIds]);

export const taxFormsOf = (q: Queryable, investorIds: readonly string[]) =>
  q.query<TaxFormRow>('SELECT * FROM tax_forms WHERE investor_id = ANY($1::text[]) ORDER BY investor_id, signed_at', [investorIds]);

export async function insertTaxForm(q: Queryable, f: Omit<TaxFormRow, 'recorded_at'>): Promise<TaxFormRow> {
  const [r] = await q.query<TaxFormRow>(
    `INSERT INTO tax_forms (investor_id, form, treaty_country, signed_at, expires_at, recorded_by) VALUES ($1,$2,$3,$4,$5,$6)
     ON CONFLICT (investor_id, signed_at) DO UPDATE SET form = EXCLUDED.form, treaty_country = EXCLUDED.treaty_country, expires_at = EXCLUDED.expires_at,
       recorded_by = EXCLUDED.recorded_by, recorded_at = now()
     RETURNING *`,
    [f.investor_id, f.form, f.treaty_country, f.signed_at, f.expires_at, f.recorded_by],
  );
  return r;
}

/** Counts of entitlements by status, per distribution. */
export const statusCounts = (q: Queryable, distributionIds: readonly string[]) =>
  q.query<{ distribution_id: string; status: EntitlementStatus; n: string }>(
    'SELECT distribution_id, status, count(*) AS n FROM entitlements WHERE distribution_id = ANY($1::text[]) GROUP BY distribution_id, status',
    [distributionIds],
  );

/** The issuer's withholding report: per jurisdiction, rate and basis, the holders and sums. */
export const withholdingReport = (q: Queryable, distributionId: string) =>
  q.query<{ jurisdiction: string; rate_bps: number; basis: string; holders: string; gross: string; withheld: string; net: string }>(
    `SELECT jurisdiction, rate_bps, basis, count(*) AS holders, sum(gross) AS gross, sum(withheld) AS withheld, sum(net) AS net
     FROM entitlements WHERE distribution_id = $1 GROUP BY jurisdiction, rate_bps, basis ORDER BY jurisdiction, rate_bps, basis`,
    [distributionId],
  );

/**
 * The next distribution whose record date has passed, locked (SKIP LOCKED: two replicas take
 * different ones): for a token on chain, once its holdings indexer has applied a block timestamped
 * later than the record date (every transfer at or before it is then in the lots); for a token not
 * on chain, once `now` is later than it.
 */
export async function distributionAtRecordDate(q: Queryable, now: Date): Promise<DistributionRow | null> {
  const [r] = await q.query<DistributionRow>(
    `SELECT d.* FROM distributions d
     JOIN security_tokens t ON t.id = d.token_id
     LEFT JOIN token_indexed_through x ON x.token_id = d.token_id
     WHERE d.fixed_at IS NULL AND CASE WHEN t.chain IS NULL THEN d.record_date < $1 ELSE d.record_date < x.block_time END
     ORDER BY d.record_date, d.id LIMIT 1
     FOR UPDATE OF d SKIP LOCKED`,
    [now],
  );
  return r ?? null;
}

/** A distribution's entitlements fixed (the sums), or its lapse (nobody held at the record date). */
export async function setFixed(q: Queryable, id: string, now: Date, f: { sums: Pick<DistributionRow, 'units' | 'gross' | 'withheld' | 'net' | 'unallocated'> } | { lapsed: string }): Promise<DistributionRow> {
  const s = 'sums' in f ? f.sums : null;
  const [r] = await q.query<DistributionRow>(
    `UPDATE distributions SET fixed_at = $2, units = $3::numeric, gross = $4::numeric, withheld = $5::numeric, net = $6::numeric, unallocated = $7::numeric, lapsed_reason = $8
     WHERE id = $1 AND fixed_at IS NULL RETURNING *`,
    [id, now, s?.units ?? null, s?.gross ?? null, s?.withheld ?? null, s?.net ?? null, s?.unallocated ?? '0', 'lapsed' in f ? f.lapsed : null],
  );
  return r;
}

export async function entitlementById(q: Queryable, id: string): Promise<EntitlementRow | null> {
  const [e] = await q.query<EntitlementRow>('SELECT * FROM entitlements WHERE id = $1', [id]);
  return e ?? null;
}

/** A distribution's sums grow by entitlements added later (a released holder's). */
export async function addToDistribution(
  q: Queryable, id: string, add: { units: string; gross: string; withheld: string; net: string; unallocated: string },
): Promise<DistributionRow> {
  const [d] = await q.query<DistributionRow>(
    `UPDATE distributions SET units = units + $2::numeric, gross = gross + $3::numeric, withheld = withheld + $4::numeric, net = net + $5::numeric, unallocated = unallocated + $6::numeric
     WHERE id = $1 RETURNING *`,
    [id, add.units, add.gross, add.withheld, add.net, add.unallocated],
  );
  return d;
}

export interface EntitlementActionRow { entitlement_id: string; request_hash: string }

export async function entitlementActionByKey(q: Queryable, org: string, key: string): Promise<EntitlementActionRow | null> {
  return (await q.query<EntitlementActionRow>('SELECT entitlement_id, request_hash FROM entitlement_actions WHERE issuer_org = $1 AND idempotency_key = $2', [org, key]))[0] ?? null;
}

/** Records an issuer's action on an entitlement under its key; false if the key was taken meanwhile. */
export async function insertEntitlementAction(
  q: Queryable, a: { issuerOrg: string; key: string; entitlementId: string; action: string; reason: string; fromStatus: string; attempts: number; actor: string; requestHash: string; at: Date },
): Promise<boolean> {
  const inserted = await q.query(
    `INSERT INTO entitlement_actions (issuer_org, idempotency_key, entitlement_id, action, reason, from_status, attempts, actor, request_hash, at)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT (issuer_org, idempotency_key) DO NOTHING RETURNING 1`,
    [a.issuerOrg, a.key, a.entitlementId, a.action, a.reason, a.fromStatus, a.attempts, a.actor, a.requestHash, a.at],
  );
  return inserted.length > 0;
}
