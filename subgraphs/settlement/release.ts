import { errorCode } from '../kit/errors.js';
import { appendAnchoredAudit } from './store/audit.js';
import { updateSettlement, type SettlementRow } from './store/settlements.js';
import { SERVICE_ACTOR, type SettlementServices } from './services.js';
import { heldKeys } from './verify.js';

/** Codes that mean there is nothing (more) to give back under a key. */
const NOTHING_HELD = new Set(['CUSTODY.UNKNOWN_RESERVATION', 'CUSTODY.EXCEEDS_RESERVATION']);

/**
 * Gives back at custody everything a settlement that ended without settling
 * holds: its own reservations, and trading's shares of a fill (taken over
 * first, then released, so they return to the account's available balance).
 * Runs only once every consent given for the settlement has expired, so no
 * DvP transaction can still move what is released.
 */
export async function releaseStep(s: SettlementServices, row: SettlementRow): Promise<void> {
  if (row.consent_deadline && row.consent_deadline > s.now()) {
    await updateSettlement(s.db, row, row.status, { next_attempt_at: new Date(row.consent_deadline.getTime() + 1_000), lease_until: null });
    return;
  }
  const released: string[] = [];
  for (const k of heldKeys(row)) {
    try {
      if (k.tradingKey) await s.peers.adopt({ tradingKey: k.tradingKey, amount: k.amount, key: k.key, reason: `settlement ${row.id}` });
    } catch (e) {
      if (!NOTHING_HELD.has(errorCode(e) ?? '')) throw e;
    }
    try {
      await s.peers.release(k.key);
      released.push(k.key);
    } catch (e) {
      if (!NOTHING_HELD.has(errorCode(e) ?? '')) throw e;
    }
  }
  await s.commit.tx(async (q) => {
    const r = await updateSettlement(q, row, row.status, { release_pending: false, held_state: 'RELEASED', next_attempt_at: null, lease_until: null, last_error: null });
    if (r) await appendAnchoredAudit(q, { settlementId: row.id, kind: 'CUSTODY.RELEASED', actor: SERVICE_ACTOR, detail: { status: row.status, released } });
  });
}
