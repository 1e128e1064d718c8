import { rootErrorCode } from '../kit/errors.js';
import { backoffMs } from './domain/status.js';
import { SERVICE_ACTOR, isTransient, message, type SettlementServices } from './services.js';
import { appendAnchoredAudit } from './store/audit.js';
import { updateSettlement, type SettlementRow } from './store/settlements.js';

/**
 * Custody's booking of a trade the chain has settled, when it does not go
 * through. The chain moved the assets, so the trade can neither fail (a retry
 * would settle it twice) nor be SETTLED with books that do not follow. It stays
 * SETTLING and:
 *
 * - a failure of the moment (custody unreachable, its transaction lost) is
 *   tried again with backoff, at most SETTLEMENT_BOOKING_MAX_ATTEMPTS times;
 * - a refusal custody decided (a credit past the largest balance, a reservation
 *   it does not know), or the last attempt, stops it: nothing is due any more,
 *   `booking_stopped` says why (Settlement.bookingStopped), an anchored audit
 *   entry BOOKING.STOPPED goes to the audit log and its outbox, the process logs
 *   an error and tokenstack_settlement_bookings_stopped counts it. An operator
 *   puts the books right and asks again (retrySettlementBooking).
 */
export async function bookingNotDone(s: SettlementServices, row: SettlementRow, e: unknown): Promise<void> {
  const attempts = row.booking_attempts + 1;
  const retryable = isTransient(e);
  const err = message(e);
  if (retryable && attempts < s.config.SETTLEMENT_BOOKING_MAX_ATTEMPTS) {
    s.log.warn({ settlementId: row.id, attempts, err }, 'settled on chain; booking will be retried');
    const next = new Date(s.now().getTime() + backoffMs(attempts, s.config.SETTLEMENT_RETRY_MS, s.config.SETTLEMENT_RETRY_MAX_MS));
    await updateSettlement(s.db, row, 'SETTLING', { booking_attempts: attempts, next_attempt_at: next, lease_until: null, last_error: err });
    return;
  }
  // Custody's own code (CUSTODY.BALANCE_OVERFLOW; behind DOWNSTREAM.UNAVAILABLE, its cause), not the transport's.
  const stopped = { code: rootErrorCode(e) ?? 'INTERNAL', message: err, retryable, attempts, at: s.now().toISOString() };
  s.log.error({ settlementId: row.id, ...stopped }, retryable
    ? 'settled on chain; booking at custody still failing after SETTLEMENT_BOOKING_MAX_ATTEMPTS: stopped, an operator must act'
    : 'settled on chain; custody refused the booking: stopped, an operator must act');
  await s.db.tx(async (q) => {
    const r = await updateSettlement(q, row, 'SETTLING', { booking_attempts: attempts, booking_stopped: stopped, next_attempt_at: null, lease_until: null, last_error: err });
    if (r) await appendAnchoredAudit(q, { settlementId: row.id, batchId: row.batch_id, kind: 'BOOKING.STOPPED', actor: SERVICE_ACTOR, detail: stopped });
  });
}

