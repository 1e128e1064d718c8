/**
 * A redemption's HELD holder (frozen or sanctioned at the date) released by the issuer's agent once it
 * no longer is (the rule of releaseEntitlement: refused ISSUANCE.HOLDER_STILL_BLOCKED while blocked).
 * In one transaction, under the redemption's lock: the line becomes REDEEMED with what its units are
 * owed at the redemption's price, an entitlement in the redemption's REDEMPTION distribution, not due
 * yet, the holder's wallets join the burns, and a DONE redemption is BURNING again. The runner then
 * burns them as it burned the others (amounts read from the chain, never twice) and releases the
 * payment once the books show them empty (redemption-steps.ts). Stored under the idempotency key with
 * who, when and why (redemption_releases, and the audit log): a replay answers the line as it is now.
 */
import { requireRole } from '../kit/access.js';
import type { Caller } from '../kit/auth.js';
import { appError, badInput, notFound } from '../kit/errors.js';
import { assertSameRequest, requestHash } from '../kit/idempotency.js';
import { isId } from '../kit/inputs.js';
import { appendEvents } from '../kit/outbox.js';
import { checkIdempotencyKey, requireReason } from './access.js';
import { entitlementEvent, entitlementRows, sumOf } from './distributions.js';
import { perUnit } from './domain/entitlements.js';
import { requireUnblocked } from './entitlement-actions.js';
import { insertRedemptionPayments, type RedemptionEnv } from './redemption-steps.js';
import { addToDistribution, insertEntitlements } from './store/distributions.js';
import { audit } from './store/records.js';
import {
  holderLine, holderRedeemed, insertBurns, insertRelease, lineWithHolderNow, redemptionById, redemptionJoined, releaseByKey, type RedemptionHolderRow,
} from './store/redemptions.js';
import { holdingsOfToken } from './store/splits.js';
import { tokenRow } from './store/tokens.js';
import { investorRow } from './store/investors.js';

export interface ReleaseHolderInput { idempotencyKey: string; redemptionId: string; investorId: string; reason: string }

export async function releaseRedemptionHolder(env: Pick<RedemptionEnv, 'db' | 'withholding' | 'sanctionedCountries' | 'now'>, caller: Caller, i: ReleaseHolderInput): Promise<RedemptionHolderRow> {
  checkIdempotencyKey(i.idempotencyKey);
  const why = requireReason(i.reason);
  requireRole(caller, 'ISSUER_AGENT');
  if (!isId(i.redemptionId, 'red')) throw badInput('INVALID_ID', 'redemptionId is not a redemption id');
  if (!isId(i.investorId, 'inv')) throw badInput('INVALID_ID', 'investorId is not an investor id');
  const hash = requestHash({ redemptionId: i.redemptionId, investorId: i.investorId, reason: why });
  return env.db.tx(async (q) => {
    const r = await redemptionById(q, i.redemptionId, true);
    // Only the issuer's organisation decides; to anyone else the redemption does not exist.
    if (!r || (caller.kind === 'user' && r.issuer_org !== caller.org)) throw notFound('redemption', i.redemptionId);
    const prior = await releaseByKey(q, r.issuer_org, i.idempotencyKey);
    if (prior) {
      assertSameRequest(prior.request_hash, prior.redemption_id === r.id ? hash : '', i.idempotencyKey);
      return (await holderLine(q, prior.redemption_id, prior.investor_id))!;
    }
    const h = await lineWithHolderNow(q, r.id, i.investorId);
    if (!h) throw notFound('redemption holder', i.investorId);
    if (h.status !== 'HELD') throw appError('REDEMPTION.HOLDER_NOT_HELD', `investor ${h.investor_id} is ${h.status} in redemption ${r.id}, not HELD`, { details: { status: h.status } });
    requireUnblocked(h, env.sanctionedCountries);
    const now = env.now();
    if (!(await insertRelease(q, { issuer_org: r.issuer_org, idempotency_key: i.idempotencyKey, redemption_id: r.id, investor_id: h.investor_id, reason: why, held_reason: h.reason!, actor: caller.subject, request_hash: hash, at: now }))) {
      // The key taken meanwhile for another line: refused, this transaction undone.
      assertSameRequest((await releaseByKey(q, r.issuer_org, i.idempotencyKey))!.request_hash, '', i.idempotencyKey);
    }

    const t = (await tokenRow(q, r.token_id))!;
    const investor = (await investorRow(q, h.investor_id))!;
    // Bought back at the redemption's price for the units it held at the date; the issuer's own holding is retired unpaid.
    const price = perUnit(BigInt(r.price_per_unit), t.decimals, investor.issuer_relation === 'ISSUER' ? [] : [{ investorId: h.investor_id, units: BigInt(h.units) }]);
    const rows = await entitlementRows(q, env.withholding, t.id, 'REDEMPTION', price.allocations, new Map([[investor.id, investor]]), now);
    const events: { topic: string; key: string; payload: unknown }[] = [];
    let distributionId = r.distribution_id;
    let entitlementId: string | null = null;
    if (rows.length && distributionId) {
      const [ent] = await insertEntitlements(q, distributionId, null, rows);
      const d = await addToDistribution(q, distributionId, {
        units: sumOf(rows, 'units'), gross: sumOf(rows, 'gross'), withheld: sumOf(rows, 'withheld'), net: sumOf(rows, 'net'), unallocated: price.unallocated.toString(),
      });
      entitlementId = ent.id;
      events.push({ topic: 'entitlement.updated', key: ent.id, payload: entitlementEvent(ent, d, investor.org) });
    } else if (rows.length) {
      // Every holder was held at the date: the redemption's price distribution starts with this one.
      const made = await insertRedemptionPayments(q, r, t, 'REDEMPTION', rows, { per: r.price_per_unit, total: null, unallocated: price.unallocated, at: r.fixed_at! }, () => investor.org);
      [distributionId, entitlementId] = [made.row.id, made.ents[0].id];
      events.push(...made.events);
    }
    const gross = rows.length ? rows[0].gross : '0';
    await holderRedeemed(q, r.id, h.investor_id, gross, entitlementId);
    await insertBurns(q, (await holdingsOfToken(q, t.id)).filter((w) => w.investor_id === h.investor_id)
      .map((w) => ({ redemption_id: r.id, address: w.address, investor_id: h.investor_id, before: w.balance })));
    await redemptionJoined(q, r.id, { units: h.units, gross, unallocated: price.unallocated, distributionId });
    await audit(q, caller, 'redemption.holder_released', r.id, why, { investorId: h.investor_id, heldReason: h.reason, units: h.units, gross, entitlementId });
    if (r.status === 'DONE') events.push({ topic: 'redemption.status', key: r.id, payload: { redemptionId: r.id, tokenId: t.id, status: 'BURNING' } });
    await appendEvents(q, events);
    return (await holderLine(q, r.id, h.investor_id))!;
  });
}
