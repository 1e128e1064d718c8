import type { Caller } from '../kit/auth.js';
import { requireRole } from '../kit/access.js';
import type { Db } from '../kit/db/types.js';
import { appError, badInput, notFound } from '../kit/errors.js';
import { assertSameRequest, requestHash } from '../kit/idempotency.js';
import { isId } from '../kit/inputs.js';
import { appendEvents } from '../kit/outbox.js';
import { checkIdempotencyKey, requireReason } from './access.js';
import { holdReason } from './distribution-payments.js';
import { entitlementEvent } from './distributions.js';
import { entitlementWithHolder, setEntitlement, type DueEntitlement } from './store/distribution-payments.js';
import { entitlementActionByKey, insertEntitlementAction, type EntitlementRow } from './store/distributions.js';
import { audit } from './store/records.js';

/**
 * The issuer's hand on one entitlement: release a HELD one (the holder no longer frozen or
 * sanctioned) or retry a FAILED one (after DISTRIBUTION_MAX_ATTEMPTS the runner stops). Neither
 * pays: both make it due now, and the payment runner instructs it as attempt n+1, so custody's
 * one-live-payment-per-entitlement index and the (entitlement, attempt) key still decide. The
 * entitlement is locked while acting, and each action is stored under its idempotency key (who,
 * when, why), so a replay, or two calls at once, act once.
 */
export type EntitlementAction = 'RELEASE' | 'RETRY';
export interface EntitlementActionInput { idempotencyKey: string; entitlementId: string; reason: string }

const priorAction = entitlementActionByKey;

/** A held holder is released only once no longer frozen or sanctioned (the payment path's own test, holdReason). */
export function requireUnblocked(h: Parameters<typeof holdReason>[0], sanctioned: readonly string[]): void {
  const still = holdReason(h, sanctioned);
  if (still) throw appError('ISSUANCE.HOLDER_STILL_BLOCKED', `the holder is still blocked: ${still}`, { details: { holdReason: still } });
}

/** What the action changes on the entitlement, or the typed refusal. */
function change(action: EntitlementAction, e: DueEntitlement, sanctioned: readonly string[], now: Date): Parameters<typeof setEntitlement>[2] {
  if (action === 'RELEASE') {
    if (e.status !== 'HELD') throw appError('ISSUANCE.ENTITLEMENT_NOT_HELD', `entitlement ${e.id} is ${e.status}, not HELD`, { details: { status: e.status } });
    requireUnblocked(e, sanctioned);
    // instructed_at cleared: a late result of an earlier attempt finds nothing awaiting it.
    return { status: 'PENDING', reason: null, next_attempt_at: now, instructed_at: null };
  }
  if (e.status !== 'FAILED') throw appError('ISSUANCE.ENTITLEMENT_NOT_FAILED', `entitlement ${e.id} is ${e.status}, not FAILED`, { details: { status: e.status } });
  return { next_attempt_at: now };
}

export async function actOnEntitlement(db: Db, sanctioned: readonly string[], caller: Caller, action: EntitlementAction, i: EntitlementActionInput, now: Date): Promise<EntitlementRow> {
  checkIdempotencyKey(i.idempotencyKey);
  const why = requireReason(i.reason);
  requireRole(caller, 'ISSUER_AGENT');
  if (!isId(i.entitlementId, 'ent')) throw badInput('INVALID_ID', 'entitlementId is not an entitlement id');
  const hash = requestHash({ action, entitlementId: i.entitlementId, reason: why });
  return db.tx(async (q) => {
    const e = await entitlementWithHolder(q, i.entitlementId);
    // Only the issuer's organisation decides; to anyone else the entitlement does not exist.
    if (!e || (caller.kind === 'user' && e.issuer_org !== caller.org)) throw notFound('entitlement', i.entitlementId);
    const prior = await priorAction(q, e.issuer_org, i.idempotencyKey);
    if (prior) {
      assertSameRequest(prior.request_hash, prior.entitlement_id === e.id ? hash : '', i.idempotencyKey);
      return e;
    }
    const row = await setEntitlement(q, e.id, change(action, e, sanctioned, now));
    const inserted = await insertEntitlementAction(q, {
      issuerOrg: e.issuer_org, key: i.idempotencyKey, entitlementId: e.id, action, reason: why, fromStatus: e.status, attempts: e.attempts, actor: caller.subject, requestHash: hash, at: now,
    });
    // The key taken meanwhile for another entitlement (this one was locked, so not for it): refused, this transaction undone.
    if (!inserted) assertSameRequest((await priorAction(q, e.issuer_org, i.idempotencyKey))!.request_hash, '', i.idempotencyKey);
    await audit(q, caller, action === 'RELEASE' ? 'entitlement.released' : 'entitlement.retried', e.id, why, { distributionId: e.distribution_id, fromStatus: e.status, attempts: e.attempts });
    await appendEvents(q, [{ topic: 'entitlement.updated', key: e.id, payload: entitlementEvent(row, { id: e.distribution_id, token_id: e.token_id, issuer_org: e.issuer_org }, e.investor_org) }]);
    return row;
  });
}
