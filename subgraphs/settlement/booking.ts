import { rootErrorCode } from '../kit/errors.js';
import { backoffMs } from './domain/status.js';
import { SERVICE_ACTOR, isTransient, message, type SettlementServices } from './services.js';
import { appendAnchoredAudit } from './store/audit.js';
import { updateSettlement, type FinishStep, type SettlementRow } from './store/settlements.js';

/**
 * A step after the chain has settled a trade that does not go through: custody's
 * booking, the attestation, or the final commit that makes it SETTLED. The chain
 * moved the assets, so the trade can neither fail (a retry would settle it
 * twice) nor be SETTLED with books or records that do not follow. It stays
 * SETTLING and, the steps sharing one count of attempts (`booking_attempts`):
 *
 * - a failure of the moment (custody unreachable, its transaction lost, the
 *   attestation key or the database failing) is tried again with backoff
 *   (SETTLEMENT_RETRY_MS doubling to SETTLEMENT_RETRY_MAX_MS), at most
 *   SETTLEMENT_BOOKING_MAX_ATTEMPTS times; each step is idempotent (custody's
 *   booking under the settlement's key, the commit only from SETTLING), so a
 *   retry never books or settles twice;
 * - a refusal custody decided (a credit past the largest balance, a reservation
 *   it does not know), or the last attempt, stops it: nothing is due any more,
 *   `booking_stopped` says why and at which step (Settlement.bookingStopped), an
 *   anchored audit entry BOOKING.STOPPED goes to the audit log and its outbox,
 *   the process logs an error and tokenstack_settlement_bookings_stopped counts
 *   it. An operator puts the cause right and asks again (retrySettlementBooking).
 */
export async function finishNotDone(s: SettlementServices, row: SettlementRow, e: unknown, step: FinishStep): Promise<void> {
  const attempts = row.booking_attempts + 1;
  // Only custody can refuse for good; the attestation or the commit failing is of the moment until the attempts run out.
  const retryable = step !== 'BOOKING' || isTransient(e);
  const err = message(e);
  if (retryable && attempts < s.config.SETTLEMENT_BOOKING_MAX_ATTEMPTS) {
    s.log.warn({ settlementId: row.id, step, attempts, err }, 'settled on chain; finishing will be retried');
    const next = new Date(s.now().getTime() + backoffMs(attempts, s.config.SETTLEMENT_RETRY_MS, s.config.SETTLEMENT_RETRY_MAX_MS));
    await updateSettlement(s.db, row, 'SETTLING', { booking_attempts: attempts, next_attempt_at: next, lease_until: null, last_error: err });
    return;
  }
  // Custody's own code (CUSTODY.BALANCE_OVERFLOW; behind DOWNSTREAM.UNAVAILABLE, its cause), not the transport's; ours for the steps after it.
  const code = step === 'BOOKING' ? rootErrorCode(e) ?? 'INTERNAL' : `SETTLEMENT.${step}_FAILED`;
  const stopped = { step, code, message: err, retryable, attempts, at: s.now().toISOString() };
  s.log.error({ settlementId: row.id, ...stopped }, retryable
    ? `settled on chain; ${step.toLowerCase()} still failing after SETTLEMENT_BOOKING_MAX_ATTEMPTS: stopped, an operator must act`
    : 'settled on chain; custody refused the booking: stopped, an operator must act');
  await s.db.tx(async (q) => {
    const r = await updateSettlement(q, row, 'SETTLING', { booking_attempts: attempts, booking_stopped: stopped, next_attempt_at: null, lease_until: null, last_error: err });
    if (r) await appendAnchoredAudit(q, { settlementId: row.id, batchId: row.batch_id, kind: 'BOOKING.STOPPED', actor: SERVICE_ACTOR, detail: stopped });
  });
}
