import type { Queryable } from '../kit/db/types.js';
import { receivedLot, type ComplianceConfig, type TransferOccasion } from './domain/compliance/index.js';
import { tokenSnapshot } from './snapshot.js';
import { insertOccasion, issuerRelationAt, receivedLots } from './store-holdings.js';
import { enqueueChainJob } from './store-records.js';
import type { TokenRow } from './store.js';

/**
 * Records why tokens moved in a transaction when it was not a sale (a gift,
 * an inheritance, a family trust, a divorce), so that the receiver's lots
 * tack the giver's holding period (17 CFR 230.144(d)(3)). The indexer reads
 * the record when it sees the transaction; if it saw it first, the lots it
 * wrote are derived again here with the same function, and the receiver's
 * on-chain locks are queued for a sync. Recording the same thing twice
 * changes nothing.
 */
export async function recordOccasion(
  q: Queryable, config: ComplianceConfig,
  o: { tokenId: string; txHash: string; from: string; to: string; occasion: TransferOccasion; recordedBy: string },
): Promise<void> {
  if (o.occasion === 'SALE') return;
  await insertOccasion(q, o);
  const lots = await receivedLots(q, o.txHash, o.from, o.to);
  if (!lots.length) return;
  const [t] = await q.query<TokenRow>('SELECT * FROM security_tokens WHERE id = $1', [o.tokenId]);
  const token = tokenSnapshot(t);
  for (const l of lots) {
    const at = new Date(l.acquired_at);
    const origin = receivedLot(
      { holdingPeriodStart: new Date(l.parent_start), issuedAt: new Date(l.parent_issued_at), restricted: l.parent_restricted },
      { at, senderRelation: await issuerRelationAt(q, o.from, at), occasion: o.occasion, token },
      config,
    );
    await q.query('UPDATE lots SET holding_period_start = $2, issued_at = $3, restricted = $4 WHERE id = $1',
      [l.id, origin.holdingPeriodStart, origin.issuedAt, origin.restricted]);
  }
  await enqueueChainJob(q, 'SYNC_LOCKS', o.to, { tokenId: o.tokenId });
}
