/**
 * Cash in lieu of the fractions a split leaves: a distribution of kind CASH_IN_LIEU linked to the
 * split, fixed in the transaction that scales the lots (so the cash owed and the new units appear
 * together, once), due at once, and paid by the distribution payment path (distribution-payments.ts:
 * custody pays each entitlement once, FAILED is retried, a frozen or sanctioned holder is HELD).
 * Withholding: the payment is the gross proceeds of a sale of the fraction (domain/withholding.ts).
 */
import type { Caller } from '../kit/auth.js';
import type { Queryable } from '../kit/db/types.js';
import { newId } from '../kit/ids.js';
import { entitlementRows, recordEntitlements, sumOf } from './distributions.js';
import type { WithholdingConfig } from './domain/withholding.js';
import { audit } from './store/records.js';
import * as store from './store/distributions.js';
import type { SplitHolderRow, SplitRow } from './store/splits.js';
import type { TokenRow } from './store/tokens.js';
import { investorsByIds } from './store/investors.js';

/** Returns the distribution's id, or null when nothing is owed. */
export async function fixCashInLieu(
  q: Queryable, withholding: WithholdingConfig, actor: Caller, s: SplitRow, t: TokenRow, holders: readonly SplitHolderRow[], at: Date,
): Promise<string | null> {
  const owed = holders.filter((h) => BigInt(h.cash_in_lieu) > 0n);
  if (!owed.length || !s.paying_account_id) return null;
  const investors = new Map((await investorsByIds(q, owed.map((h) => h.investor_id))).map((i) => [i.id, i]));
  const rows = await entitlementRows(q, withholding, t.id, 'CASH_IN_LIEU', owed.map((h) => ({ investorId: h.investor_id, units: BigInt(h.before), gross: BigInt(h.cash_in_lieu) })), investors, at);
  const fixed = { rows, investors, sums: { units: sumOf(rows, 'units'), gross: sumOf(rows, 'gross'), withheld: sumOf(rows, 'withheld'), net: sumOf(rows, 'net'), unallocated: '0' } };
  // The key has a space, which no caller's idempotency key may have: nothing announced can take it.
  const { row, created } = await store.insertDistribution(q, {
    id: newId('dis'), token_id: t.id, issuer_org: t.issuer_org, kind: 'CASH_IN_LIEU', record_date: at, payment_date: at, asset: 'CASH',
    paying_account_id: s.paying_account_id, amount_per_unit: null, total_amount: fixed.sums.gross, exclude_issuer: false, ...fixed.sums,
    fixed_at: at, lapsed_reason: null, announced_by: s.announced_by, idempotency_key: `split ${s.id}`, request_hash: s.request_hash, split_id: s.id,
  });
  if (!created) return row.id;
  await recordEntitlements(q, actor, row, fixed);
  await audit(q, actor, 'split.cash_in_lieu_fixed', s.id, null, { distributionId: row.id, gross: row.gross, withheld: row.withheld, holders: fixed.rows.length, payingAccountId: s.paying_account_id });
  return row.id;
}
