import { Coalescer } from '../kit/coalesce.js';
import { gathering } from '../kit/db/deferred-writes.js';
import type { Queryable } from '../kit/db/types.js';
import { SERVICE_ACTOR, type SettlementServices } from './services.js';
import { appendAnchoredAudit, appendAudit } from './store/audit.js';
import { markBatchesSettled, markSubmitted, recordConsents, type BatchRow, type ConsentJson, type SettledFacts } from './store/batches.js';
import { markBatchTradesDue, settlingIdsOfBatches, type SettlementRow } from './store/settlements.js';

/**
 * The writes of a DvP batch's steps, made together for the batches that take
 * the same step at the same time (the gross batches of one transaction are
 * consented in one list call, sent in one transaction and mined in one
 * receipt): one statement per step for all of them, with their audit entries
 * in one more, instead of one each per batch. Each batch keeps its own row,
 * lease fence and outcome: one whose lease was taken over is refused alone
 * (LEASE_LOST), one that moved on is answered null, the others are written.
 * Each write is exactly the per-batch write it stands for, so what a crash
 * leaves (all of a step's rows written or none) is what the per-batch steps
 * could leave.
 */

interface Writers {
  consents: Coalescer<{ batch: BatchRow; consents: ConsentJson[] }, BatchRow | null>;
  submitted: Coalescer<{ batch: BatchRow; txHash: string }, BatchRow | null>;
  settled: Coalescer<{ batch: BatchRow; facts: SettledFacts }, Settled | null>;
}

/** A batch as recorded settled, and its trades that became due for their booking then. */
export interface Settled { batch: BatchRow; due: SettlementRow[] }

const writers = new WeakMap<SettlementServices, Writers>();

const isRow = <T>(r: T | null | Error): r is T => r !== null && !(r instanceof Error);

function writersOf(s: SettlementServices): Writers {
  let w = writers.get(s);
  if (w) return w;
  // Requests made in the same turn of the event loop leave together; those made while one is written, in the next.
  const opts = { maxBatch: s.config.SETTLEMENT_GROUP_COMMIT_MAX, maxInFlight: 1 };
  w = {
    consents: new Coalescer((items) => recordConsents(s.db, items), opts),
    submitted: new Coalescer((items) => s.commit.tx((q) => gathering(q, async () => {
      const out = await markSubmitted(q, items);
      await auditBatches(q, out.filter(isRow), 'CHAIN.SUBMITTED', (r) => ({ txHash: r.tx_hash, chainBatchId: r.chain_batch_id, legs: r.legs.length }));
      return out;
    })), opts),
    settled: new Coalescer((items) => s.commit.tx((q) => gathering(q, async () => {
      const out = await markBatchesSettled(q, items);
      const rows = out.filter(isRow);
      // Each trade is due for its booking: done at once by the caller, and by any worker after a lease if this process dies first.
      const due = rows.length ? await markBatchTradesDue(q, rows.map((r) => r.id), new Date(s.now().getTime() + s.config.SETTLEMENT_LEASE_MS)) : [];
      const dueOf = groupBy(due);
      await auditBatches(q, rows, 'CHAIN.SETTLED', (r) => ({ txHash: r.tx_hash, blockNumber: String(r.block_number), chainBatchId: r.chain_batch_id }), dueOf);
      return out.map((r) => (isRow(r) ? { batch: r, due: dueOf.get(r.id) ?? [] } : r));
    })), opts),
  };
  writers.set(s, w);
  return w;
}

function groupBy<T extends { batch_id: string | null }>(rows: T[]): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const r of rows) {
    const list = m.get(r.batch_id!);
    if (list) list.push(r);
    else m.set(r.batch_id!, [r]);
  }
  return m;
}

/** Records the batch's consents while it is PREPARED (null when it moved on). */
export const recordBatchConsents = (s: SettlementServices, batch: BatchRow, consents: ConsentJson[]) => writersOf(s).consents.request({ batch, consents });

/** Records the PREPARED batch sent in `txHash`, with an audit entry per trade (null when it moved on). */
export const recordBatchSubmitted = (s: SettlementServices, batch: BatchRow, txHash: string) => writersOf(s).submitted.request({ batch, txHash });

/** Records the batch settled on chain and its trades due for their booking, with an audit entry per trade (null when it was settled or failed already). */
export const recordBatchSettled = (s: SettlementServices, batch: BatchRow, facts: SettledFacts) => writersOf(s).settled.request({ batch, facts });

/**
 * An audit entry per trade still SETTLING of each batch, in order of arrival (`ids`: the trades per batch when the
 * caller has just read them); each batch's last entry is anchored in the outbox as well.
 */
async function auditBatches(q: Queryable, batches: BatchRow[], kind: string, detailOf: (b: BatchRow) => Record<string, unknown>, ids?: Map<string, { id: string }[]>): Promise<void> {
  if (!batches.length) return;
  const trades = ids ?? groupBy(await settlingIdsOfBatches(q, batches.map((b) => b.id)));
  for (const b of batches) {
    const rows = trades.get(b.id) ?? [];
    const detail = detailOf(b);
    for (const [i, r] of rows.entries()) {
      const entry = { settlementId: r.id, batchId: b.id, kind, actor: SERVICE_ACTOR, detail };
      await (i === rows.length - 1 ? appendAnchoredAudit(q, entry) : appendAudit(q, entry));
    }
  }
}
