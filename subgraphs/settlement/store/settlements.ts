import { writeOrGather, type WriteKind } from '../../kit/db/deferred-writes.js';
import type { Queryable } from '../../kit/db/types.js';
import { insertOnce } from '../../kit/idempotency.js';
import { currentTraceparent } from '../../kit/tracing.js';
import type { FailureCode, SettlementStatus } from '../domain/status.js';
import { fencedUpdate, setClause, type RowRef } from './leases.js';

/** SQL of settlements and their history. Amounts go in and come back as decimal strings. */

export interface Share { key: string; amount: string }
export interface Held { sell: Share[]; buy: Share[] }
export interface TradingShares { buy: { key: string; asset: string; amount: string }[]; sell: { key: string; asset: string; amount: string }[] }
export interface RuleResultJson { code: string; passed: boolean; message?: string; regulation?: string; blockingUntil?: string | null; currentValue?: string; limit?: string }
export interface EligibilityJson { allowed: boolean; results: RuleResultJson[]; evaluatedAt: string }
export interface TokenChainJson { chainId?: number; token: string; identityRegistry?: string; claimTopicsRegistry?: string; [k: string]: unknown }

export interface SettlementRow {
  id: string; org: string; token_id: string; status: SettlementStatus; quantity: string; price: string; buyer_account_id: string;
  seller_account_id: string; venue: string; venue_reference: string; trade_time: Date; request_hash: string; created_at: Date;
  source: 'TRADING' | 'EXTERNAL'; trade_id: string | null; cash_asset: string; cash_amount: string | null;
  buyer_investor_id: string | null; seller_investor_id: string | null; buyer_org: string | null; seller_org: string | null;
  buyer_wallet: string | null; seller_wallet: string | null; buyer_fee: string; seller_fee: string;
  trading_reservations: TradingShares | null; held: Held | null; occasion: TransferOccasion; held_state: 'NONE' | 'HELD' | 'CONSUMED' | 'RELEASED';
  mode: 'GROSS' | 'NETTED'; token_address: string | null; token_chain: TokenChainJson | null; cash_token_address: string | null;
  eligibility: EligibilityJson | null; rejection: RuleResultJson[] | null; reason_code: FailureCode | null; reason: string | null;
  final: boolean; attempts: number; next_attempt_at: Date | null; lease_until: Date | null; lease_gen: string; lease_owner: string | null; last_error: string | null;
  release_pending: boolean; consent_deadline: Date | null; batch_id: string | null; tx_hash: string | null; block_number: string | null;
  settled_at: Date | null; attestation: object | null; attestation_signature: string | null; updated_at: Date;
  traceparent: string | null;
  booking_attempts: number; booking_stopped: BookingStopped | null;
}
/** A step after the chain settled a trade: custody's booking, the attestation, the commit that makes it SETTLED. */
export type FinishStep = 'BOOKING' | 'ATTESTATION' | 'COMMIT';
/** Why finishing a trade settled on chain stopped (no step: stored before there were others, the booking): an operator must act (retrySettlementBooking). */
export interface BookingStopped { step?: FinishStep; code: string; message: string; retryable: boolean; attempts: number; at: string }
export interface HistoryRow { settlement_id: string; seq: number; status: string; reason: string | null; reason_code: string | null; actor: string | null; at: Date }

const JSON_COLUMNS = new Set(['trading_reservations', 'held', 'token_chain', 'eligibility', 'rejection', 'attestation', 'booking_stopped']);
const PATCHABLE = new Set([
  'status', 'cash_amount', 'buyer_investor_id', 'seller_investor_id', 'buyer_org', 'seller_org', 'buyer_wallet', 'seller_wallet',
  'held', 'held_state', 'token_address', 'token_chain', 'cash_token_address', 'eligibility', 'rejection', 'reason_code', 'reason', 'final',
  'attempts', 'next_attempt_at', 'lease_until', 'last_error', 'release_pending', 'consent_deadline', 'batch_id', 'tx_hash', 'block_number',
  'settled_at', 'attestation', 'attestation_signature', 'booking_attempts', 'booking_stopped',
]);
export type SettlementPatch = Partial<Pick<SettlementRow, Extract<keyof SettlementRow, string>>>;

/** Patches a settlement; with `expected`, only while it is still in that status (null when it moved on). */
export function updateSettlement(q: Queryable, ref: RowRef, expected: SettlementStatus | null, patch: SettlementPatch): Promise<SettlementRow | null> {
  const set = setClause(patch, PATCHABLE, JSON_COLUMNS, 4);
  return fencedUpdate<SettlementRow>(q, 'settlements', ref, set.sql, '($3::text IS NULL OR status = $3)', [expected, ...set.params]);
}

export interface NewSettlement {
  id: string; org: string; token_id: string; quantity: string; price: string; buyer_account_id: string; seller_account_id: string;
  venue: string; venue_reference: string; trade_time: Date; request_hash: string; source: 'TRADING' | 'EXTERNAL'; trade_id: string | null;
  cash_asset: string; cash_amount: string; buyer_investor_id: string | null; seller_investor_id: string | null; buyer_org: string | null;
  seller_org: string | null; buyer_fee: string; seller_fee: string; trading_reservations: TradingShares | null; mode: 'GROSS' | 'NETTED';
  /** Why the tokens move (an external trade may record a gift or an estate); default SALE. */
  occasion?: TransferOccasion;
}

export type TransferOccasion = 'SALE' | 'GIFT' | 'INHERITANCE' | 'FAMILY_TRUST' | 'DIVORCE';

const INSERT_SQL = `INSERT INTO settlements (id, org, token_id, status, quantity, price, buyer_account_id, seller_account_id, venue, venue_reference,
    trade_time, request_hash, source, trade_id, cash_asset, cash_amount, buyer_investor_id, seller_investor_id, buyer_org, seller_org,
    buyer_fee, seller_fee, trading_reservations, mode, occasion, traceparent, next_attempt_at)
  VALUES ($1,$2,$3,'RECEIVED',$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22::jsonb,$23,$24,$25, now())
  ON CONFLICT DO NOTHING RETURNING *`;
const insertParams = (s: NewSettlement) => [
  s.id, s.org, s.token_id, s.quantity, s.price, s.buyer_account_id, s.seller_account_id, s.venue, s.venue_reference, s.trade_time, s.request_hash,
  s.source, s.trade_id, s.cash_asset, s.cash_amount, s.buyer_investor_id, s.seller_investor_id, s.buyer_org, s.seller_org, s.buyer_fee, s.seller_fee,
  s.trading_reservations ? JSON.stringify(s.trading_reservations) : null, s.mode, s.occasion ?? 'SALE', currentTraceparent(),
];

const BY_VENUE_REFERENCE = 'SELECT * FROM settlements WHERE venue = $1 AND venue_reference = $2';

/** The settlement a venue reported under this reference, if any. */
export async function settlementOfVenueReference(q: Queryable, venue: string, venueReference: string): Promise<SettlementRow | null> {
  const [r] = await q.query<SettlementRow>(BY_VENUE_REFERENCE, [venue, venueReference]);
  return r ?? null;
}

/** A trade from another venue: its reference is the idempotency key (same content returns the row, other content is refused). */
export function insertExternalSettlement(q: Queryable, s: NewSettlement) {
  return insertOnce<SettlementRow>(
    q,
    { sql: INSERT_SQL, params: insertParams(s) },
    { sql: BY_VENUE_REFERENCE, params: [s.venue, s.venue_reference] },
    s.request_hash,
    `${s.venue}/${s.venue_reference}`,
  );
}

/** A fill from trading: null when it is already recorded (the venue reference is the trade id). */
export async function insertTradeSettlement(q: Queryable, s: NewSettlement): Promise<SettlementRow | null> {
  const [r] = await q.query<SettlementRow>(INSERT_SQL, insertParams(s));
  return r ?? null;
}

interface HistoryIn { settlement_id: string; n: number; status: string; reason: string | null; reason_code: string | null; actor: string }

/** History rows in one statement (a group commit's, gathered): each settlement's numbered on from its last, in the order given. */
const HISTORY_ROWS: WriteKind<HistoryIn> = {
  order: 10,
  async write(q, rows) {
    await q.query(
      `INSERT INTO settlement_history (settlement_id, seq, status, reason, reason_code, actor)
       SELECT x.settlement_id, coalesce((SELECT max(h.seq) FROM settlement_history h WHERE h.settlement_id = x.settlement_id), 0)
                + row_number() OVER (PARTITION BY x.settlement_id ORDER BY x.n), x.status, x.reason, x.reason_code, x.actor
       FROM jsonb_to_recordset($1::jsonb) AS x(settlement_id text, n int, status text, reason text, reason_code text, actor text)`,
      [JSON.stringify(rows.map((r, n) => ({ ...r, n })))],
    );
  },
};

export function appendHistory(q: Queryable, settlementId: string, h: { status: string; reason: string | null; reasonCode: string | null; actor: string }): Promise<void> {
  return writeOrGather(q, HISTORY_ROWS, { settlement_id: settlementId, n: 0, status: h.status, reason: h.reason, reason_code: h.reasonCode, actor: h.actor });
}

export type { Scope as Visibility } from '../../kit/access.js';
import type { Scope as Visibility } from '../../kit/access.js';

/** Settlements a caller may see: every one for operators, else those of its organisation (as submitter or party), an investor only its own. */
export function settlementsVisible(q: Queryable, v: Visibility, f: { status?: string | null; tokenId?: string | null; limit?: number } = {}) {
  return q.query<SettlementRow>(
    `SELECT * FROM settlements
     WHERE ($1::boolean OR org = $2 OR buyer_org = $2 OR seller_org = $2)
       AND ($3::text IS NULL OR buyer_investor_id = $3 OR seller_investor_id = $3)
       AND ($4::text IS NULL OR status = $4) AND ($5::text IS NULL OR token_id = $5)
     ORDER BY created_at, id LIMIT $6`,
    [v.all, v.org, v.investorId ?? null, f.status ?? null, f.tokenId ?? null, f.limit ?? 1000],
  );
}

export const settlementsByIds = (q: Queryable, ids: readonly string[]) =>
  q.query<SettlementRow>('SELECT * FROM settlements WHERE id = ANY($1::text[])', [ids]);
export const settlementsByTradeIds = (q: Queryable, ids: readonly string[]) =>
  q.query<SettlementRow>('SELECT * FROM settlements WHERE trade_id = ANY($1::text[])', [ids]);
export const historyOf = (q: Queryable, ids: readonly string[]) =>
  q.query<HistoryRow>('SELECT * FROM settlement_history WHERE settlement_id = ANY($1::text[]) ORDER BY settlement_id, seq', [ids]);

export async function settlementForUpdate(q: Queryable, id: string): Promise<SettlementRow | null> {
  const [r] = await q.query<SettlementRow>('SELECT * FROM settlements WHERE id = $1 FOR UPDATE', [id]);
  return r ?? null;
}

/** The settlements still VERIFIED among `ids`, locked (in id order) for the batches about to take them; those that moved on are left out. */
export const verifiedForUpdate = (q: Queryable, ids: readonly string[]) =>
  q.query<SettlementRow>("SELECT * FROM settlements WHERE id = ANY($1::text[]) AND status = 'VERIFIED' ORDER BY id FOR UPDATE", [ids]);

/** Claims due settlements for this worker (ordered, each leased so that no other worker takes it meanwhile). */
export function claimDueSettlements(q: Queryable, leaseMs: number, limit: number, owner: string | null = null) {
  return q.query<SettlementRow>(
    `UPDATE settlements SET lease_until = now() + make_interval(secs => $1::double precision / 1000), lease_gen = lease_gen + 1, lease_owner = $3
     WHERE id IN (SELECT id FROM settlements WHERE next_attempt_at <= now() AND (lease_until IS NULL OR lease_until < now())
                  ORDER BY next_attempt_at, created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
     RETURNING *`,
    [leaseMs, limit, owner],
  ).then((rows) => rows.sort((a, b) => +a.created_at - +b.created_at || (a.id < b.id ? -1 : 1)));
}

/** Verified settlements of a token waiting for a netting cycle, oldest first, locked for this cycle. */
export const nettableForUpdate = (q: Queryable, tokenId: string, limit: number) =>
  q.query<SettlementRow>(
    `SELECT * FROM settlements WHERE status = 'VERIFIED' AND mode = 'NETTED' AND token_id = $1
     ORDER BY created_at, id LIMIT $2 FOR UPDATE SKIP LOCKED`,
    [tokenId, limit],
  );

export const nettableTokens = (q: Queryable) =>
  q.query<{ token_id: string }>("SELECT DISTINCT token_id FROM settlements WHERE status = 'VERIFIED' AND mode = 'NETTED'");

export const settlementsOfBatch = (q: Queryable, batchId: string) =>
  q.query<SettlementRow>('SELECT * FROM settlements WHERE batch_id = $1 ORDER BY created_at, id', [batchId]);

/** The ids of the batches' trades still SETTLING, in order of arrival. */
export const settlingIdsOfBatches = (q: Queryable, batchIds: readonly string[]) =>
  q.query<{ id: string; batch_id: string }>("SELECT id, batch_id FROM settlements WHERE batch_id = ANY($1::text[]) AND status = 'SETTLING' ORDER BY created_at, id", [batchIds]);

/** A batch's trades still SETTLING, in order of arrival, locked for the caller's transaction. */
export const settlingOfBatchForUpdate = (q: Queryable, batchId: string) =>
  q.query<SettlementRow>("SELECT * FROM settlements WHERE batch_id = $1 AND status = 'SETTLING' ORDER BY created_at, id FOR UPDATE", [batchId]);

/** VERIFIED settlements left waiting while no chain was configured: due again (gross ones to settle, any to complete their chain checks). */
export const wakeVerified = (q: Queryable) =>
  q.query("UPDATE settlements SET next_attempt_at = now() WHERE status = 'VERIFIED' AND next_attempt_at IS NULL AND (mode = 'GROSS' OR cash_token_address IS NULL)");

/** The SETTLING trades of the batches become due at `at` (their booking after the batches settled on chain); answers them in order of arrival. */
export async function markBatchTradesDue(q: Queryable, batchIds: readonly string[], at: Date): Promise<SettlementRow[]> {
  return q.query<SettlementRow>(
    "WITH due AS (UPDATE settlements SET next_attempt_at = $2, updated_at = now() WHERE batch_id = ANY($1::text[]) AND status = 'SETTLING' RETURNING *) SELECT * FROM due ORDER BY created_at, id",
    [batchIds, at],
  );
}

export async function settlementCountOfBatch(q: Queryable, batchId: string): Promise<number> {
  const [r] = await q.query<{ n: string }>('SELECT count(*) AS n FROM settlements WHERE batch_id = $1', [batchId]);
  return Number(r.n);
}
