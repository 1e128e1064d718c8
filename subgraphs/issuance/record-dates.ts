import type { Db } from '../kit/db/types.js';
import { appendEvents } from '../kit/outbox.js';
import { entitlementsOfRecord, recordEntitlements } from './distributions.js';
import type { DistributionKind, WithholdingConfig } from './domain/withholding.js';
import { audit } from './store/records.js';
import { distributionAtRecordDate, setFixed } from './store/distributions.js';
import type { DistributionRow } from './store/distributions.js';
import { tokenRow } from './store/tokens.js';

/**
 * Distributions announced before their record date: each pass fixes the entitlements of those whose
 * record date the chain has passed (store/distributions.ts says when), one distribution per
 * transaction, from `capTable(asOf: recordDate)` exactly as an announcement with a past record date
 * does. The row is locked and fixed_at set in that transaction, so a restart or a second replica
 * fixes each once. Nobody held at the record date: the distribution lapses (no entitlements).
 */
const ISSUANCE = { subject: 'issuance', org: 'issuance' };

const termsOf = (d: DistributionRow) => ({
  kind: d.kind as DistributionKind, recordDate: d.record_date, excludeIssuer: d.exclude_issuer,
  amountPerUnit: d.amount_per_unit === null ? null : BigInt(d.amount_per_unit), totalAmount: d.total_amount === null ? null : BigInt(d.total_amount),
});

/** Fixes one distribution due; false when none is. */
export function fixNextRecordDate(db: Db, withholding: WithholdingConfig, now: Date): Promise<boolean> {
  return db.tx(async (q) => {
    const d = await distributionAtRecordDate(q, now);
    if (!d) return false;
    const t = (await tokenRow(q, d.token_id))!;
    const fixed = await entitlementsOfRecord(q, withholding, t, termsOf(d), now);
    if (fixed) {
      await recordEntitlements(q, { ...ISSUANCE, org: d.issuer_org }, await setFixed(q, d.id, now, fixed), fixed, 'distribution.fixed');
      return true;
    }
    const why = 'nobody held the token at the record date';
    await setFixed(q, d.id, now, { lapsed: why });
    await audit(q, { ...ISSUANCE, org: d.issuer_org }, 'distribution.lapsed', d.token_id, why, { distributionId: d.id });
    await appendEvents(q, [{ topic: 'distribution.lapsed', key: d.id, payload: { distributionId: d.id, tokenId: d.token_id, recordDate: d.record_date, reason: why } }]);
    return true;
  });
}

/** A pass: fixes every distribution due, then tells the payment runner (a payment date may be past already). */
export async function fixDueRecordDates(db: Db, withholding: WithholdingConfig, now: () => Date, kickPayments: () => void): Promise<number> {
  let n = 0;
  while (await fixNextRecordDate(db, withholding, now())) n++;
  if (n) kickPayments();
  return n;
}
