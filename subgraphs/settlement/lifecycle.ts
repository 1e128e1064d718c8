import type { Queryable } from '../kit/db/types.js';
import { appError } from '../kit/errors.js';
import { appendEventOrGather } from '../kit/outbox.js';
import { canTransition, type FailureCode, type SettlementStatus } from './domain/status.js';
import { appendAudit } from './store/audit.js';
import { appendHistory, updateSettlement, type SettlementPatch, type SettlementRow } from './store/settlements.js';

/**
 * Every status change goes through here, in the caller's transaction: the row
 * (only if still in the status the caller saw), its history, an audit entry
 * and the `settlement.status` outbox event commit together or not at all.
 */
export interface TransitionOptions {
  actor: string;
  reasonCode?: FailureCode | null;
  reason?: string | null;
  /** FAILED only: no more attempts. */
  final?: boolean;
  patch?: SettlementPatch;
  /** Extra facts for the audit entry (rule results, transaction hash...). */
  detail?: Record<string, unknown>;
}

export const statusChanged = (id: string, expected: string) =>
  appError('SETTLEMENT.STATUS_CHANGED', `settlement ${id} is no longer ${expected}`, { details: { settlementId: id } });

export const orgsOf = (s: SettlementRow): string[] => [...new Set([s.org, s.buyer_org, s.seller_org].filter((x): x is string => !!x))];

/** The `settlement.status` payload: what subscribers see, and the audit head it anchors. */
export function statusEvent(s: SettlementRow, previous: SettlementStatus | null, audit: { seq: string; hash: string }) {
  return {
    settlementId: s.id, status: s.status, previousStatus: previous, reasonCode: s.reason_code, reason: s.reason, final: s.final,
    at: new Date().toISOString(), tokenId: s.token_id, venue: s.venue, venueReference: s.venue_reference, tradeId: s.trade_id,
    buyerAccountId: s.buyer_account_id, sellerAccountId: s.seller_account_id, buyerInvestorId: s.buyer_investor_id, sellerInvestorId: s.seller_investor_id,
    orgs: orgsOf(s), txHash: s.tx_hash, auditSeq: audit.seq, auditHash: audit.hash, occasion: s.occasion,
  };
}

export async function transition(q: Queryable, s: SettlementRow, to: SettlementStatus, o: TransitionOptions): Promise<SettlementRow> {
  if (!canTransition(s.status, to)) {
    throw appError('SETTLEMENT.INVALID_TRANSITION', `a ${s.status} settlement cannot become ${to}`, { details: { settlementId: s.id, status: s.status } });
  }
  const final = to === 'REJECTED' || to === 'SETTLED' || to === 'CANCELLED' || (to === 'FAILED' && !!o.final);
  const row = await updateSettlement(q, s, s.status, {
    ...o.patch,
    status: to,
    final,
    reason_code: to === 'FAILED' ? (o.reasonCode ?? 'CHAIN_ERROR') : null,
    reason: o.reason ?? null,
  });
  if (!row) throw statusChanged(s.id, s.status);
  await appendHistory(q, s.id, { status: to, reason: o.reason ?? null, reasonCode: row.reason_code, actor: o.actor });
  const audit = await appendAudit(q, {
    settlementId: s.id, batchId: row.batch_id, kind: `STATUS.${to}`, actor: o.actor,
    detail: { from: s.status, to, final, reasonCode: row.reason_code, reason: o.reason ?? null, ...o.detail },
  });
  await appendEventOrGather(q, 'settlement.status', s.id, statusEvent(row, s.status, audit));
  return row;
}

/** The first status of a new settlement: history, audit and event like every later one. */
export async function recordReceived(q: Queryable, s: SettlementRow, actor: string, detail: Record<string, unknown>): Promise<void> {
  await appendHistory(q, s.id, { status: 'RECEIVED', reason: null, reasonCode: null, actor });
  const audit = await appendAudit(q, { settlementId: s.id, kind: 'STATUS.RECEIVED', actor, detail: { to: 'RECEIVED', ...detail } });
  await appendEventOrGather(q, 'settlement.status', s.id, statusEvent(s, null, audit));
}
