import type { Queryable } from '../kit/db/types.js';
import { backoffMs, type FailureCode } from './domain/status.js';
import { transition } from './lifecycle.js';
import { SERVICE_ACTOR, type SettlementServices } from './services.js';
import type { RuleResultJson, SettlementPatch, SettlementRow } from './store/settlements.js';

/**
 * The decisions that end an attempt: FAILED (retried with backoff until the
 * last attempt, then final with its reservations released) and REJECTED.
 */

/** Whether anything may be held at custody for the settlement (its own reservations, or trading's shares to take back). */
export const mayHold = (row: SettlementRow): boolean => row.held_state === 'HELD' || (row.source === 'TRADING' && !!row.trading_reservations) || row.source === 'EXTERNAL';

/** When reservations may be released: not before every consent given for the settlement has expired. */
export function releaseAt(s: SettlementServices, row: SettlementRow): Date {
  const now = s.now();
  return row.consent_deadline && row.consent_deadline > now ? new Date(row.consent_deadline.getTime() + 1_000) : now;
}

export async function fail(q: Queryable, s: SettlementServices, row: SettlementRow, code: FailureCode, reason: string, o: { patch?: SettlementPatch; detail?: Record<string, unknown> } = {}) {
  const attempts = row.attempts + 1;
  const final = attempts >= s.config.SETTLEMENT_MAX_ATTEMPTS;
  const merged = { ...row, ...o.patch } as SettlementRow;
  const release = final && mayHold(merged);
  const next = final
    ? (release ? releaseAt(s, merged) : null)
    : new Date(s.now().getTime() + backoffMs(attempts, s.config.SETTLEMENT_RETRY_MS, s.config.SETTLEMENT_RETRY_MAX_MS));
  return transition(q, row, 'FAILED', {
    actor: SERVICE_ACTOR, reasonCode: code, reason: reason.slice(0, 1000), final,
    patch: { ...o.patch, attempts, release_pending: release, next_attempt_at: next, lease_until: null, last_error: null },
    detail: { attempts, nextAttemptAt: final ? null : next?.toISOString() ?? null, ...o.detail },
  });
}

export async function reject(q: Queryable, s: SettlementServices, row: SettlementRow, reasons: RuleResultJson[], o: { patch?: SettlementPatch; detail?: Record<string, unknown> } = {}) {
  const merged = { ...row, ...o.patch } as SettlementRow;
  const release = mayHold(merged);
  const summary = reasons.map((r) => `${r.code}: ${r.message ?? ''}`.trim()).join('; ');
  return transition(q, row, 'REJECTED', {
    actor: SERVICE_ACTOR, reason: summary.slice(0, 1000),
    patch: { ...o.patch, rejection: reasons, release_pending: release, next_attempt_at: release ? releaseAt(s, merged) : null, lease_until: null, last_error: null },
    detail: { reasons, ...o.detail },
  });
}

/** A rule result that is not issuance's (unknown party, token not on chain...). */
export const refusal = (code: string, message: string): RuleResultJson => ({ code, passed: false, message, regulation: 'settlement' });
