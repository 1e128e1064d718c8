/**
 * Redemptions: the issuer's agent announces that at a date every holding of a token is bought back
 * at a price per unit and burned, with, for a bond, its final coupon paid at the same instant. What
 * happens at the date is redemption-steps.ts; the payments go through the distribution payment path
 * (a distribution of kind REDEMPTION, and a COUPON one), so they carry its guarantees: exact
 * integers, PENDING -> PAID with the transaction or FAILED with the reason and retried, a frozen or
 * sanctioned holder HELD, paid once across kill -9.
 */
import type { Caller } from '../kit/auth.js';
import type { Db } from '../kit/db/types.js';
import { appError, badInput } from '../kit/errors.js';
import { replayOf, requestHash } from '../kit/idempotency.js';
import { newId } from '../kit/ids.js';
import { appendEvent } from '../kit/outbox.js';
import { scopeOf } from '../kit/access.js';
import { checkIdempotencyKey, positive, tokenOfIssuer } from './access.js';
import { requireDeployed } from './deploy.js';
import { checkPayment, readsWhole, type DistributionEnv } from './distributions.js';
import { audit } from './store/records.js';
import { splitPending } from './store/splits.js';
import { tokenRow } from './store/tokens.js';
import { insertRedemption, redemptionByKey, redemptionOfToken, visibleHolders, visibleRedemptions, type RedemptionRow } from './store/redemptions.js';

export interface AnnounceRedemptionInput {
  idempotencyKey: string; tokenId: string; redemptionDate: Date; pricePerUnit: bigint; asset: string; payingAccountId: string;
  finalCoupon?: { amountPerUnit?: bigint | null; totalAmount?: bigint | null } | null;
}

export async function announceRedemption(db: Db, env: Pick<DistributionEnv, 'custodyAccount' | 'now'>, caller: Caller, i: AnnounceRedemptionInput): Promise<RedemptionRow> {
  checkIdempotencyKey(i.idempotencyKey);
  const t = await tokenOfIssuer(db, caller, i.tokenId, ['ISSUER_AGENT']);
  const coupon = i.finalCoupon ?? null;
  const hash = requestHash({ ...i, finalCoupon: coupon && { amountPerUnit: coupon.amountPerUnit ?? null, totalAmount: coupon.totalAmount ?? null } });
  // A replay gets its redemption back whatever happened since (its date passed, a split announced): before any check.
  const prior = replayOf(await redemptionByKey(db, t.issuer_org, i.idempotencyKey), hash, i.idempotencyKey);
  if (prior) return prior;

  positive(i.pricePerUnit, 'pricePerUnit');
  if (coupon) {
    if ((coupon.amountPerUnit == null) === (coupon.totalAmount == null)) throw badInput('AMOUNT_REQUIRED', 'a final coupon gives exactly one of amountPerUnit or totalAmount');
    positive(coupon.amountPerUnit ?? coupon.totalAmount!, coupon.amountPerUnit != null ? 'finalCoupon.amountPerUnit' : 'finalCoupon.totalAmount');
  }
  // Holdings are bought back from whoever holds them at the date: a date already past cannot be honoured (the books cannot
  // buy back from a holder who has sold since), so it is refused rather than read as "now".
  if (i.redemptionDate.getTime() < env.now().getTime()) {
    throw appError('REDEMPTION.DATE_IN_PAST', 'the redemption date must not be earlier than now', { details: { redemptionDate: i.redemptionDate.toISOString() } });
  }
  requireDeployed(t);
  await checkPayment(db, env, t, i.asset, i.payingAccountId);

  return db.tx(async (q) => {
    // Under the token's lock, as announceSplit checks the redemption: of a split and a redemption announced at once, one is refused.
    await tokenRow(q, t.id, true);
    // A retry that raced the first request finds its redemption here, before the checks that redemption would now fail.
    const raced = replayOf(await redemptionByKey(q, t.issuer_org, i.idempotencyKey), hash, i.idempotencyKey);
    if (raced) return raced;
    const other = await redemptionOfToken(q, t.id);
    if (other) throw appError('REDEMPTION.ALREADY_ANNOUNCED', `token ${t.id} already has redemption ${other.id}`, { details: { redemptionId: other.id } });
    if (await splitPending(q, t.id)) throw appError('REDEMPTION.SPLIT_PENDING', `token ${t.id} has a split not done yet; announce the redemption after it`);
    const { row, created } = await insertRedemption(q, {
      id: newId('red'), token_id: t.id, issuer_org: t.issuer_org, redemption_at: i.redemptionDate, price_per_unit: i.pricePerUnit.toString(), asset: i.asset,
      paying_account_id: i.payingAccountId, coupon_per_unit: coupon?.amountPerUnit?.toString() ?? null, coupon_total: coupon?.totalAmount?.toString() ?? null,
      announced_by: caller.subject, idempotency_key: i.idempotencyKey, request_hash: hash,
    }).catch((e: unknown) => {
      // Two announcements of the same token racing: the unique index keeps one.
      if (String((e as { code?: string }).code) === '23505' && /token_id/.test((e as Error).message)) throw appError('REDEMPTION.ALREADY_ANNOUNCED', `token ${t.id} already has a redemption`);
      throw e;
    });
    if (created) {
      await audit(q, caller, 'redemption.announced', row.id, null, { tokenId: t.id, redemptionDate: row.redemption_at, pricePerUnit: row.price_per_unit, coupon });
      await appendEvent(q, 'redemption.status', row.id, { redemptionId: row.id, tokenId: t.id, status: row.status, redemptionAt: row.redemption_at });
    }
    return row;
  });
}

/** Whether the caller reads the redemption whole (every holder line, sums, the paying account): as for distributions. */
export const readsRedemption = (caller: Caller, r: RedemptionRow) => readsWhole(caller, r);

/** A token's redemption as the caller sees it: the issuer side always; others when one of their investors has a line in it. */
export function listRedemptions(db: Db, caller: Caller, tokenId: string): Promise<RedemptionRow[]> {
  const s = scopeOf(caller);
  if (!s.all && s.org === '-') return Promise.resolve([]);
  const issuerOrg = caller.kind === 'user' && readsWhole(caller, { issuer_org: caller.org }) ? caller.org : null;
  return visibleRedemptions(db, { issuerOrg: s.all ? null : issuerOrg, scope: s, tokenId });
}

export const holderLines = (db: Db, caller: Caller, r: RedemptionRow) =>
  visibleHolders(db, { redemptionId: r.id, whole: readsRedemption(caller, r), scope: scopeOf(caller) });
