import type { Scope } from '../../kit/access.js';
import type { Queryable } from '../../kit/db/types.js';
import { insertOnce } from '../../kit/idempotency.js';
import { investorInScope } from './distributions.js';

/** SQL of redemptions, their holders at the redemption instant and the wallets burned. Amounts are decimal strings. */

export interface RedemptionRow {
  id: string; token_id: string; issuer_org: string; redemption_at: Date; price_per_unit: string; asset: string; paying_account_id: string;
  coupon_per_unit: string | null; coupon_total: string | null; status: 'ANNOUNCED' | 'BURNING' | 'DONE'; fixed_at: Date | null;
  units: string | null; gross: string | null; unallocated: string | null; distribution_id: string | null; coupon_distribution_id: string | null;
  tx_hashes: string[]; last_error: string | null; done_at: Date | null; announced_by: string; idempotency_key: string; request_hash: string; created_at: Date;
}
export interface RedemptionHolderRow {
  redemption_id: string; investor_id: string; units: string; gross: string; status: 'REDEEMED' | 'HELD'; reason: string | null; entitlement_id: string | null;
  /** Set when the issuer released a HELD line (redemption_releases). */
  released_at?: Date | null; release_reason?: string | null;
}
export interface RedemptionBurnRow { redemption_id: string; address: string; investor_id: string; before: string }

type NewRedemption = Pick<RedemptionRow, 'id' | 'token_id' | 'issuer_org' | 'redemption_at' | 'price_per_unit' | 'asset' | 'paying_account_id' | 'coupon_per_unit' | 'coupon_total' | 'announced_by' | 'idempotency_key' | 'request_hash'>;

export const insertRedemption = (q: Queryable, r: NewRedemption) => insertOnce<RedemptionRow>(
  q,
  {
    sql: `INSERT INTO redemptions (id, token_id, issuer_org, redemption_at, price_per_unit, asset, paying_account_id, coupon_per_unit, coupon_total, announced_by, idempotency_key, request_hash)
          VALUES ($1,$2,$3,$4,$5::numeric,$6,$7,$8::numeric,$9::numeric,$10,$11,$12) ON CONFLICT (issuer_org, idempotency_key) DO NOTHING RETURNING *`,
    params: [r.id, r.token_id, r.issuer_org, r.redemption_at, r.price_per_unit, r.asset, r.paying_account_id, r.coupon_per_unit, r.coupon_total, r.announced_by, r.idempotency_key, r.request_hash],
  },
  { sql: 'SELECT * FROM redemptions WHERE issuer_org = $1 AND idempotency_key = $2', params: [r.issuer_org, r.idempotency_key] },
  r.request_hash,
  r.idempotency_key,
);

export async function redemptionByKey(q: Queryable, org: string, key: string): Promise<RedemptionRow | null> {
  const [r] = await q.query<RedemptionRow>('SELECT * FROM redemptions WHERE issuer_org = $1 AND idempotency_key = $2', [org, key]);
  return r ?? null;
}

export async function redemptionOfToken(q: Queryable, tokenId: string): Promise<RedemptionRow | null> {
  const [r] = await q.query<RedemptionRow>('SELECT * FROM redemptions WHERE token_id = $1', [tokenId]);
  return r ?? null;
}

export async function redemptionById(q: Queryable, id: string, lock = false): Promise<RedemptionRow | undefined> {
  const [r] = await q.query<RedemptionRow>(`SELECT * FROM redemptions WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
  return r;
}

/** Redemptions whose date has come and that are not done, oldest first. */
export const dueRedemptions = (q: Queryable, now: Date) =>
  q.query<RedemptionRow>("SELECT * FROM redemptions WHERE status <> 'DONE' AND redemption_at <= $1 ORDER BY redemption_at, id", [now]);

/** Each holder of the token now, with what decides a hold (its freeze on the token, AML status, jurisdiction). */
export const holdersNow = (q: Queryable, tokenId: string) =>
  q.query<{ investor_id: string; balance: string; wallet_frozen: boolean; aml_status: string; jurisdiction_now: string }>(
    `SELECT p.investor_id, p.balance, coalesce(c.wallet_frozen, false) AS wallet_frozen, i.aml_status, i.jurisdiction AS jurisdiction_now
     FROM positions p JOIN investors i ON i.id = p.investor_id
     LEFT JOIN investor_controls c ON c.token_id = p.token_id AND c.investor_id = p.investor_id
     WHERE p.token_id = $1 AND p.balance > 0 ORDER BY p.investor_id`,
    [tokenId],
  );

export async function insertHolders(q: Queryable, rows: readonly RedemptionHolderRow[]): Promise<void> {
  if (!rows.length) return;
  await q.query(
    `INSERT INTO redemption_holders (redemption_id, investor_id, units, gross, status, reason, entitlement_id)
     SELECT r.redemption_id, r.investor_id, r.units, r.gross, r.status, r.reason, r.entitlement_id
     FROM jsonb_to_recordset($1::jsonb) AS r(redemption_id text, investor_id text, units numeric, gross numeric, status text, reason text, entitlement_id text)`,
    [JSON.stringify(rows)],
  );
}

export async function insertBurns(q: Queryable, rows: readonly RedemptionBurnRow[]): Promise<void> {
  if (!rows.length) return;
  await q.query(
    `INSERT INTO redemption_burns (redemption_id, address, investor_id, before)
     SELECT r.redemption_id, r.address, r.investor_id, r.before FROM jsonb_to_recordset($1::jsonb) AS r(redemption_id text, address text, investor_id text, before numeric)`,
    [JSON.stringify(rows)],
  );
}

export const burnsOf = (q: Queryable, id: string) => q.query<RedemptionBurnRow>('SELECT * FROM redemption_burns WHERE redemption_id = $1 ORDER BY address', [id]);

export const holdersOf = (q: Queryable, id: string) =>
  q.query<RedemptionHolderRow>('SELECT * FROM redemption_holders WHERE redemption_id = $1 ORDER BY investor_id', [id]);

/** A holder line with its release, if any. */
const LINE = `SELECT h.*, x.at AS released_at, x.reason AS release_reason FROM redemption_holders h
  LEFT JOIN redemption_releases x ON x.redemption_id = h.redemption_id AND x.investor_id = h.investor_id`;

export async function holderLine(q: Queryable, redemptionId: string, investorId: string): Promise<RedemptionHolderRow | null> {
  const [r] = await q.query<RedemptionHolderRow>(`${LINE} WHERE h.redemption_id = $1 AND h.investor_id = $2`, [redemptionId, investorId]);
  return r ?? null;
}

/** A line with what decides a hold now (the holder's freeze on the token, AML status, jurisdiction) and its relation to the issuer, locked. */
export async function lineWithHolderNow(q: Queryable, redemptionId: string, investorId: string) {
  const [r] = await q.query<RedemptionHolderRow & { wallet_frozen: boolean; aml_status: string; jurisdiction_now: string }>(
    `SELECT h.*, coalesce(c.wallet_frozen, false) AS wallet_frozen, i.aml_status, i.jurisdiction AS jurisdiction_now
     FROM redemption_holders h JOIN redemptions r ON r.id = h.redemption_id JOIN investors i ON i.id = h.investor_id
     LEFT JOIN investor_controls c ON c.token_id = r.token_id AND c.investor_id = h.investor_id
     WHERE h.redemption_id = $1 AND h.investor_id = $2 FOR UPDATE OF h`,
    [redemptionId, investorId],
  );
  return r ?? null;
}

export interface ReleaseRow { issuer_org: string; idempotency_key: string; redemption_id: string; investor_id: string; reason: string; held_reason: string; actor: string; request_hash: string; at: Date }

export async function releaseByKey(q: Queryable, org: string, key: string): Promise<ReleaseRow | null> {
  const [r] = await q.query<ReleaseRow>('SELECT * FROM redemption_releases WHERE issuer_org = $1 AND idempotency_key = $2', [org, key]);
  return r ?? null;
}

/** Records the release; false when the key was taken meanwhile (the caller's transaction is then refused). */
export async function insertRelease(q: Queryable, r: ReleaseRow): Promise<boolean> {
  const rows = await q.query(
    `INSERT INTO redemption_releases (issuer_org, idempotency_key, redemption_id, investor_id, reason, held_reason, actor, request_hash, at)
     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9) ON CONFLICT (issuer_org, idempotency_key) DO NOTHING RETURNING 1`,
    [r.issuer_org, r.idempotency_key, r.redemption_id, r.investor_id, r.reason, r.held_reason, r.actor, r.request_hash, r.at],
  );
  return rows.length > 0;
}

/** The payments of a redemption (and its final coupon) become due now: they waited for the burn. */
export async function releasePayments(q: Queryable, distributionIds: readonly string[], now: Date): Promise<void> {
  await q.query(
    "UPDATE entitlements SET next_attempt_at = $2, updated_at = now() WHERE distribution_id = ANY($1::text[]) AND status = 'PENDING' AND next_attempt_at IS NULL AND attempts = 0",
    [distributionIds, now],
  );
}

/** Redemptions a caller sees: the issuer organisation's own (issuerOrg set), or those with a holder line in its scope. */
export function visibleRedemptions(q: Queryable, f: { issuerOrg: string | null; scope: Scope; tokenId: string }) {
  return q.query<RedemptionRow>(
    `SELECT r.* FROM redemptions r
     WHERE r.token_id = $3
       AND (($1::text IS NULL AND $2::text IS NULL) OR r.issuer_org = $1 OR EXISTS (SELECT 1 FROM redemption_holders h WHERE h.redemption_id = r.id AND ${investorInScope('h.investor_id', '$2', '$4')}))
     ORDER BY r.created_at DESC, r.id DESC`,
    [f.issuerOrg, f.scope.all ? null : f.scope.org, f.tokenId, f.scope.investorId ?? null],
  );
}

/** Holder lines: all when whole, otherwise the scope's investors'. */
export function visibleHolders(q: Queryable, f: { redemptionId: string; whole: boolean; scope: Scope }) {
  return q.query<RedemptionHolderRow>(
    `${LINE} WHERE h.redemption_id = $1 AND ($2 OR (${investorInScope('h.investor_id', '$3', '$4')})) ORDER BY h.investor_id`,
    [f.redemptionId, f.whole, f.scope.all ? null : f.scope.org, f.scope.investorId ?? null],
  );
}

export async function redemptionFailed(q: Queryable, id: string, error: string): Promise<void> {
  await q.query('UPDATE redemptions SET last_error = $2 WHERE id = $1', [id, error]);
}

/** The holders fixed: the redemption burns next. */
export async function redemptionFixed(
  q: Queryable, id: string, f: { at: Date; units: bigint; gross: string; unallocated: bigint; distributionId: string | null; couponDistributionId: string | null },
): Promise<void> {
  await q.query(
    `UPDATE redemptions SET status = 'BURNING', fixed_at = $2, units = $3, gross = $4, unallocated = $5, distribution_id = $6, coupon_distribution_id = $7, last_error = NULL WHERE id = $1`,
    [id, f.at, f.units.toString(), f.gross, f.unallocated.toString(), f.distributionId, f.couponDistributionId],
  );
}

export async function addRedemptionTxHashes(q: Queryable, id: string, hashes: readonly string[]): Promise<void> {
  await q.query('UPDATE redemptions SET tx_hashes = tx_hashes || $2::jsonb WHERE id = $1', [id, JSON.stringify(hashes)]);
}

export async function redemptionDone(q: Queryable, id: string): Promise<void> {
  await q.query(`UPDATE redemptions SET status = 'DONE', done_at = now(), last_error = NULL WHERE id = $1`, [id]);
}

/** A held holder released: its line REDEEMED with its gross and payment. */
export async function holderRedeemed(q: Queryable, redemptionId: string, investorId: string, gross: string, entitlementId: string | null): Promise<void> {
  await q.query(`UPDATE redemption_holders SET status = 'REDEEMED', gross = $3::numeric, entitlement_id = $4 WHERE redemption_id = $1 AND investor_id = $2`,
    [redemptionId, investorId, gross, entitlementId]);
}

/** A released holder's units join the redemption, which burns again. */
export async function redemptionJoined(
  q: Queryable, id: string, j: { units: string; gross: string; unallocated: bigint; distributionId: string | null },
): Promise<void> {
  await q.query(
    `UPDATE redemptions SET status = 'BURNING', units = units + $2::numeric, gross = gross + $3::numeric, unallocated = unallocated + $4::numeric, distribution_id = $5, last_error = NULL WHERE id = $1`,
    [id, j.units, j.gross, j.unallocated.toString(), j.distributionId],
  );
}
