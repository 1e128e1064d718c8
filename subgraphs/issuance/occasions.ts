import type { Queryable } from '../kit/db/types.js';
import { receivedLot, type ComplianceConfig, type TransferOccasion } from './domain/compliance/index.js';
import { tokenSnapshot } from './snapshot.js';
import { insertOccasion, issuerRelationAt, receivedLots, setLotOrigin } from './store/holdings.js';
import { enqueueChainJob } from './store/chain.js';
import { tokenRow } from './store/tokens.js';
import { knownParties } from './store/investors.js';

/** What issuance reads of settlement's `settlement.status` event. */
export interface SettledOccasion {
  status: string; tokenId: string; txHash: string | null; occasion?: TransferOccasion | null;
  sellerInvestorId: string | null; buyerInvestorId: string | null;
}

/** A settled external trade that was not a sale, recorded as the settlement agent reported it. */
export async function occasionFromSettlement(q: Queryable, config: ComplianceConfig, e: SettledOccasion): Promise<void> {
  if (e.status !== 'SETTLED' || !e.occasion || e.occasion === 'SALE' || !e.txHash || !e.sellerInvestorId || !e.buyerInvestorId) return;
  // Only parties and tokens issuance knows (anything else could never be recorded and would stop the feed).
  if ((await knownParties(q, [e.sellerInvestorId, e.buyerInvestorId], e.tokenId)) !== 3) return;
  await recordOccasion(q, config, { tokenId: e.tokenId, txHash: e.txHash, from: e.sellerInvestorId, to: e.buyerInvestorId, occasion: e.occasion, recordedBy: 'settlement' });
}

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
  const token = tokenSnapshot((await tokenRow(q, o.tokenId))!);
  for (const l of lots) {
    const at = new Date(l.acquired_at);
    const origin = receivedLot(
      { holdingPeriodStart: new Date(l.parent_start), issuedAt: new Date(l.parent_issued_at), restricted: l.parent_restricted },
      { at, senderRelation: await issuerRelationAt(q, o.from, at), occasion: o.occasion, token },
      config,
    );
    await setLotOrigin(q, l.id, origin);
  }
  await enqueueChainJob(q, 'SYNC_LOCKS', o.to, { tokenId: o.tokenId });
}
