import { type Caller } from '../kit/auth.js';
import { requireRole } from '../kit/access.js';
import { appError, badInput, forbidden, notFound } from '../kit/errors.js';
import { sees, visibilityOf } from './access.js';
import { CANCELLABLE } from './domain/status.js';
import { transition } from './lifecycle.js';
import { mayHold, releaseAt } from './outcomes.js';
import type { SettlementServices } from './services.js';
import { appendAnchoredAudit } from './store/audit.js';
import { settlementForUpdate } from './store/settlements.js';
import { setVenueToken } from './store/venues.js';
import { isId, isPrintable } from '../kit/inputs.js';

/** What a settlement agent decides by hand: cancelling a settlement, which tokens an external venue may submit. */

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
