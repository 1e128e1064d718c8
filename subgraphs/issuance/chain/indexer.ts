import { zeroPadValue, type Log } from 'ethers';
import { ZERO_ADDRESS as ZERO, scanTransfers, topicAddress as addressOf } from '../../kit/chain/transfers.js';
import type { Db, Queryable } from '../../kit/db/types.js';
import type { Logger } from '../../kit/log.js';
import { PolledWorker } from '../../kit/chain/polling.js';
import { newId } from '../../kit/ids.js';
import { appendEvent } from '../../kit/outbox.js';
import type { IssuanceChain } from './runtime.js';
import { deployedTokens, moveSupply, type TokenRow } from '../store/tokens.js';
import { accreditedNow } from '../accreditation.js';
import { receivedLot, untracedLot, type ComplianceConfig, type LotOrigin } from '../domain/compliance/index.js';
import { tokenSnapshot } from '../snapshot.js';
import { issuerRelationAt, occasionOf } from '../store/holdings.js';
import { enqueueChainJob } from '../store/chain.js';
import { splitInProgress } from '../store/splits.js';
import {
  consumeLot, indexedThrough, insertIndexedLot, lotOfTx, moveHolding, openLotsForUpdate, positionForUpdate, setPosition, stepHolderCounts, walletHolder, type Holder,
} from '../store/indexer.js';
import { locksFor, type LockableLot } from './rules.js';

const MAX_RANGE = 2_000;

export interface IndexerOptions {
  /** Blocks behind the head that count as final. */
  confirmations: number;
  pollMs: number;
}

/**
 * Books follow the chain: every Transfer of a deployed token moves wallet
 * holdings, investor positions, holder counters and lots, in one transaction
 * with the token's block cursor, so a restart resumes exactly where it
 * stopped and nothing is applied twice.
 */
export class HoldingsIndexer extends PolledWorker {
  lastError?: string;

  constructor(private readonly db: Db, private readonly chain: IssuanceChain, private readonly config: ComplianceConfig, private readonly o: IndexerOptions, private readonly log: Logger) {
    super(o.pollMs);
  }

  /** One pass over every deployed token up to the confirmed head; a call during a pass gets the next one. */
  syncOnce(): Promise<void> {
    return this.runPass();
  }

  protected async pass(): Promise<void> {
    if (!this.chain.configured) return;
    try {
      const tokens = await deployedTokens(this.db);
      if (!tokens.length) return;
      const client = await this.chain.client();
      const head = (await client.provider.getBlockNumber()) - this.o.confirmations;
      for (const t of tokens) await this.syncToken(t, head);
      this.lastError = undefined;
    } catch (e) {
      this.lastError = (e as Error).message;
      this.log.warn({ err: this.lastError }, 'holdings indexer will retry');
    }
  }

  private async syncToken(t: TokenRow, head: number): Promise<void> {
    const client = await this.chain.client();
    await scanTransfers({
      db: this.db, provider: client.provider, cursor: `token:${t.id}`, token: t.chain!.token, initialBlock: Number(t.deployed_block ?? 0), head, maxRange: MAX_RANGE,
      apply: async (q, logs, { to, times }) => {
        for (const l of logs) await applyTransfer(q, t, l, times.get(l.blockNumber)!, this.config);
        await indexedThrough(q, t.id, to, times.get(to)!);
      },
    });
  }
}

/**
 * Moves an investor's position; keeps the holder counters right when it
 * crosses zero. A new holder is counted by its accreditation in effect at the
 * block's time, and leaves the bucket it was counted in.
 */
async function movePosition(q: Queryable, tokenId: string, inv: Holder, delta: bigint, at: Date, config: ComplianceConfig) {
  const before = await positionForUpdate(q, tokenId, inv.investor_id);
  const old = BigInt(before?.balance ?? 0);
  const next = old + delta;
  const joins = old === 0n && next > 0n;
  const leaves = old > 0n && next === 0n;
  const accredited = joins ? accreditedNow(inv, config, at) : !!before?.counted_accredited;
  const us = joins ? inv.us_person : !!before?.counted_us;
  await setPosition(q, tokenId, inv.investor_id, next, accredited, us);
  const step = joins ? 1 : leaves ? -1 : 0;
  if (step) await stepHolderCounts(q, tokenId, step, accredited, us);
}

/**
 * Lots follow the tokens: the sender's oldest lots are consumed first; a
 * receiver that is another investor gets one lot per piece, acquired at the
 * block's time, whose holding period and restricted state follow from the
 * sender's lot (receivedLot: a buyer from a non-affiliate tacks, a buyer from
 * an affiliate starts afresh, a receiver by gift or another recorded occasion
 * tacks). A move between two wallets of the same investor changes
 * no lot. A mint's lot is written by issueTokens with the acquisition date it
 * was given; it is created here only if that is missing. Where a moved piece
 * is locked on chain (or the sender's lock must shrink), the wallets' locks
 * are queued for a sync, so the rules module follows the same lots.
 */
async function moveLots(q: Queryable, t: TokenRow, from: string | null, to: string | null, amount: bigint, l: Log, at: Date, config: ComplianceConfig) {
  if (from && to && from === to) return;
  const token = tokenSnapshot(t);
  const pieces: { amount: bigint; origin: LotOrigin; parent: string | null }[] = [];
  const consumed: LockableLot[] = [];
  if (from) {
    let left = amount;
    const receipt = { at, senderRelation: await issuerRelationAt(q, from, at), occasion: await occasionOf(q, l.transactionHash, from, to), token };
    const lots = await openLotsForUpdate(q, t.id, from);
    for (const lot of lots) {
      if (left === 0n) break;
      const take = BigInt(lot.remaining) < left ? BigInt(lot.remaining) : left;
      await consumeLot(q, lot.id, take, at, l.transactionHash, l.index);
      const source = { holdingPeriodStart: new Date(lot.holding_period_start), issuedAt: new Date(lot.issued_at), restricted: lot.restricted };
      consumed.push({ ...lot, remaining: take.toString() });
      pieces.push({ amount: take, origin: receivedLot(source, receipt, config), parent: lot.id });
      left -= take;
    }
    if (left > 0n) pieces.push({ amount: left, origin: untracedLot(at, token), parent: null }); // tokens the books had no lot for (reconciliation shows them)
  } else {
    if (await lotOfTx(q, l.transactionHash, to)) return;
    pieces.push({ amount, origin: untracedLot(at, token), parent: null });
  }
  if (from && locksFor(t, consumed, config).length) await enqueueChainJob(q, 'SYNC_LOCKS', from, { tokenId: t.id });
  if (!to) return;
  for (const [i, p] of pieces.entries()) {
    await insertIndexedLot(q, {
      id: newId('lot'), tokenId: t.id, investorId: to, amount: p.amount, at, holdingPeriodStart: p.origin.holdingPeriodStart, issuedAt: p.origin.issuedAt,
      restricted: p.origin.restricted, source: from ? 'TRANSFER' : 'ISSUANCE', txHash: l.transactionHash, logIndex: l.index * 100 + i, parent: p.parent,
    });
  }
  const received = pieces.map((p) => ({ remaining: p.amount.toString(), holding_period_start: p.origin.holdingPeriodStart, issued_at: p.origin.issuedAt, restricted: p.origin.restricted }));
  if (from && locksFor(t, received, config).length) await enqueueChainJob(q, 'SYNC_LOCKS', to, { tokenId: t.id });
}

export async function applyTransfer(q: Queryable, t: TokenRow, l: Log, at: Date, config: ComplianceConfig): Promise<void> {
  const from = addressOf(l.topics[1]);
  const to = addressOf(l.topics[2]);
  const amount = BigInt(l.data);
  const fromInv = from === ZERO ? undefined : await walletHolder(q, from);
  const toInv = to === ZERO ? undefined : await walletHolder(q, to);
  if (from !== ZERO) await moveHolding(q, t.id, from, fromInv?.investor_id ?? null, -amount, l.blockNumber);
  if (to !== ZERO) await moveHolding(q, t.id, to, toInv?.investor_id ?? null, amount, l.blockNumber);
  if (!(fromInv && toInv && fromInv.investor_id === toInv.investor_id)) {
    if (fromInv) await movePosition(q, t.id, fromInv, -amount, at, config);
    if (toInv) await movePosition(q, t.id, toInv, amount, at, config);
  }
  if (from === ZERO) await moveSupply(q, t.id, amount);
  if (to === ZERO) await moveSupply(q, t.id, -amount);
  // A split's mints and burns bring the chain to lots the split has already scaled.
  const bySplit = (from === ZERO || to === ZERO) && (await splitInProgress(q, t.id));
  if (!bySplit) await moveLots(q, t, fromInv?.investor_id ?? null, toInv?.investor_id ?? null, amount, l, at, config);
  await appendEvent(q, 'token.transfer', t.id, {
    tokenId: t.id, from, to, amount, fromInvestorId: fromInv?.investor_id ?? null, toInvestorId: toInv?.investor_id ?? null,
    txHash: l.transactionHash, block: l.blockNumber, logIndex: l.index,
  });
}

export const paddedTopic = (a: string) => zeroPadValue(a, 32);
