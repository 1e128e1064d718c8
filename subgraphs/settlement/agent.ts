import { type Caller } from '../kit/auth.js';
import { requireRole } from '../kit/access.js';
import { appError, badInput, forbidden, notFound } from '../kit/errors.js';
import { sees, visibilityOf } from './access.js';
import { CANCELLABLE } from './domain/status.js';
import { transition } from './lifecycle.js';
import { mayHold, releaseAt } from './outcomes.js';
import type { SettlementServices } from './services.js';
import { appendAnchoredAudit } from './store/audit.js';
import { settlementForUpdate, updateSettlement } from './store/settlements.js';
import { setVenueToken } from './store/venues.js';
import { isId, isPrintable } from '../kit/inputs.js';

/** What a settlement agent decides by hand: cancelling a settlement, booking again one whose booking stopped, which tokens an external venue may submit. */

export async function cancelSettlement(s: SettlementServices, caller: Caller, id: string, reason: string) {
  requireRole(caller, 'SETTLEMENT_AGENT');
  const why = reason.trim();
  if (!why || why.length > 500 || /[\x00-\x1f\x7f]/.test(why)) throw badInput('INVALID_REASON', 'reason must be 1 to 500 printable characters');
  return s.db.tx(async (q) => {
    const row = await settlementForUpdate(q, id);
    if (!row || !sees(visibilityOf(caller, s.config), row)) throw notFound('settlement', id);
    if (!CANCELLABLE.includes(row.status) || row.final) {
      throw appError('SETTLEMENT.NOT_CANCELLABLE', `a ${row.final ? 'final ' : ''}${row.status} settlement cannot be cancelled${row.status === 'SETTLING' ? ' (its DvP transaction is in flight)' : ''}`,
        { details: { settlementId: id, status: row.status } });
    }
    const release = mayHold(row);
    return transition(q, row, 'CANCELLED', {
      actor: caller.subject, reason: why,
      patch: { release_pending: release, next_attempt_at: release ? releaseAt(s, row) : null },
      detail: { org: caller.org },
    });
  });
}

/**
 * A trade the chain settled whose finishing stopped (booking.ts: custody's booking, the attestation or the final
 * commit) is tried again at once, with a fresh count of attempts: the operator has put right the cause (what custody
 * refused, custody or the key or the database back). Only the settlement operator's agents: the books of both parties are at stake.
 */
export async function retrySettlementBooking(s: SettlementServices, caller: Caller, id: string) {
  requireRole(caller, 'SETTLEMENT_AGENT');
  if (!s.config.SETTLEMENT_OPERATOR_ORGS.includes(caller.org)) throw forbidden('only a settlement agent of the settlement operator (SETTLEMENT_OPERATOR_ORGS) may have a booking retried');
  return s.db.tx(async (q) => {
    const row = isId(id, 'stl') ? await settlementForUpdate(q, id) : null;
    if (!row || !sees(visibilityOf(caller, s.config), row)) throw notFound('settlement', id);
    if (row.status !== 'SETTLING' || !row.booking_stopped) {
      throw appError('SETTLEMENT.BOOKING_NOT_STOPPED', `settlement ${id} has no stopped booking (it is ${row.status})`, { details: { settlementId: id, status: row.status } });
    }
    const r = await updateSettlement(q, row.id, 'SETTLING', { booking_stopped: null, booking_attempts: 0, next_attempt_at: s.now(), lease_until: null });
    await appendAnchoredAudit(q, { settlementId: row.id, batchId: row.batch_id, kind: 'BOOKING.RETRIED', actor: caller.subject, detail: { org: caller.org, stopped: row.booking_stopped } });
    return r!;
  });
}

export async function authorizeVenueToken(s: SettlementServices, caller: Caller, venue: string, tokenId: string, authorized: boolean) {
  requireRole(caller, 'SETTLEMENT_AGENT');
  // Which venues may feed the platform is the operator's decision, not any member organisation's.
  if (!s.config.SETTLEMENT_OPERATOR_ORGS.includes(caller.org)) throw forbidden('only a settlement agent of the settlement operator (SETTLEMENT_OPERATOR_ORGS) may authorise a venue');
  if (!isPrintable(venue, 64)) throw badInput('INVALID_VENUE', 'venue must be 1 to 64 printable characters');
  if (venue === s.config.SETTLEMENT_TRADING_VENUE) throw badInput('RESERVED_VENUE', `${venue} is this platform's own venue`);
  if (!isId(tokenId, 'tok')) throw badInput('INVALID_TOKEN_ID', 'tokenId is not a token id');
  if (authorized && !(await s.peers.token(tokenId))) throw appError('SETTLEMENT.UNKNOWN_TOKEN', `issuance knows no token ${tokenId}`, { details: { tokenId } });
  await s.db.tx(async (q) => {
    if (await setVenueToken(q, venue, tokenId, authorized, caller.subject)) {
      await appendAnchoredAudit(q, { settlementId: null, kind: authorized ? 'VENUE.AUTHORIZED' : 'VENUE.REVOKED', actor: caller.subject, detail: { venue, tokenId, org: caller.org } });
    }
  });
  return { venue, tokenId, authorized };
}
