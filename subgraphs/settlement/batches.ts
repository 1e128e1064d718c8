import { getAddress } from 'ethers';
import { Coalescer } from '../kit/coalesce.js';
import { gathering } from '../kit/db/deferred-writes.js';
import { isChainError } from '../kit/chain/errors.js';
import type { Queryable } from '../kit/db/types.js';
import { errorCode, rootErrorCode } from '../kit/errors.js';
import { newId } from '../kit/ids.js';
import { attest } from './attest.js';
import { finishNotDone } from './booking.js';
import { batchesIn, chainBatchIdOf } from './chain.js';
import { grossLegs, nettedLegs, type Batch, type TradeLegs } from './domain/legs.js';
import { failureOfRevert, type FailureCode } from './domain/status.js';
import { transition } from './lifecycle.js';
import { fail } from './outcomes.js';
import { SERVICE_ACTOR, isTransient, message, type SettlementServices } from './services.js';
import { recordBatchConsents, recordBatchSettled, recordBatchSubmitted } from './batch-writes.js';
import {
  nettableForUpdate, settlementsOfBatch, settlingOfBatchForUpdate, updateSettlement, verifiedForUpdate, type SettlementRow,
} from './store/settlements.js';
import { batchById, insertBatches, updateBatch, type BatchRow, type ConsentJson, type PayerJson } from './store/batches.js';
import { approvalKnown, recordApproval } from './store/chain.js';

/**
 * DvP batches: what the contract settles at once, one trade (gross) or many
 * trades of a token (netted). A netted batch is its own transaction; the gross
 * batches ready at the same time share one (settleMany), each settling or
 * failing on its own, its outcome read from the receipt's events. The batch
 * row is written before anything is sent, and the contract settles a batch id
 * at most once, so after any crash the chain itself says whether it happened:
 *
 *   PREPARED --consents from custody, sent--> SUBMITTED --mined--> SETTLED
 *   PREPARED | SUBMITTED --reverted, or consents expired unsent--> FAILED
 *
 * SETTLED: each trade's reservations are consumed at custody and the
 * counter-assets credited, its attestation signed, and it becomes SETTLED.
 * FAILED: each trade becomes FAILED (tried again later or final).
 */

const CONSENT_MARGIN_MS = 30_000;

interface PayerAssets extends PayerJson { assets: { asset: string; token: string }[] }

function tradeLegsOf(row: SettlementRow): TradeLegs {
  const held = row.held ?? { sell: [], buy: [] };
  return {
    settlementId: row.id, tokenAddress: row.token_address!, cashAddress: row.cash_token_address!, quantity: BigInt(row.quantity), cashAmount: BigInt(row.cash_amount!),
    seller: { accountId: row.seller_account_id, wallet: row.seller_wallet! }, buyer: { accountId: row.buyer_account_id, wallet: row.buyer_wallet! },
    sellKeys: held.sell.map((h) => h.key), buyKeys: held.buy.map((h) => h.key),
  };
}

/** Which custody asset each paid token is, per payer (custody approves and consents per asset). */
function payersWithAssets(batch: Batch, rows: SettlementRow[]): PayerAssets[] {
  const assetOf = new Map<string, string>();
  for (const r of rows) {
    assetOf.set(r.token_address!.toLowerCase(), r.token_id);
    assetOf.set(r.cash_token_address!.toLowerCase(), r.cash_asset);
  }
  return batch.payers.map((p) => {
    const tokens = [...new Set(batch.legs.filter((l) => l.from === p.wallet).map((l) => l.token))];
    return { ...p, assets: tokens.map((t) => ({ token: t, asset: assetOf.get(t.toLowerCase())! })) };
  });
}

interface Target { dvp: string; chainId: number; deadline: Date }

async function targetOf(s: SettlementServices): Promise<Target> {
  const dvp = await s.chain.dvp();
  const { chainId } = await s.chain.client();
  return { dvp: dvp.target as string, chainId, deadline: new Date(s.now().getTime() + s.config.SETTLEMENT_CONSENT_TTL_SECONDS * 1000) };
}

/** A batch for each group of verified trades (locked by the caller), all in one statement, and the trades SETTLING in it; in the order given. */
async function openBatches(s: SettlementServices, q: Queryable, mode: 'GROSS' | 'NETTED', groups: SettlementRow[][], t: Target): Promise<BatchRow[]> {
  const made = groups.map((rows) => {
    const batch = mode === 'GROSS' ? grossLegs(tradeLegsOf(rows[0])) : nettedLegs(rows.map(tradeLegsOf));
    const id = `bat_${newId('stl').slice(4)}`;
    const legs = batch.legs.map((l) => ({ token: getAddress(l.token), from: getAddress(l.from), to: getAddress(l.to), amount: l.amount.toString() }));
    return { rows, b: { id, chainBatchId: chainBatchIdOf(id), mode, tokenId: rows[0].token_id, dvp: t.dvp, chainId: t.chainId, legs, payers: payersWithAssets(batch, rows), deadline: t.deadline } };
  });
  const opened = await insertBatches(q, made.map((m) => m.b), s.config.SETTLEMENT_LEASE_MS, s.leases.owner);
  for (const { rows, b } of made) {
    for (const r of rows) {
      await transition(q, r, 'SETTLING', {
        actor: SERVICE_ACTOR,
        patch: { batch_id: b.id, consent_deadline: t.deadline, next_attempt_at: null, lease_until: null, last_error: null },
        detail: { batchId: b.id, chainBatchId: b.chainBatchId, mode, trades: rows.length, legs: b.legs },
      });
    }
  }
  return opened;
}

async function open(s: SettlementServices, mode: 'GROSS' | 'NETTED', pick: (q: Queryable) => Promise<SettlementRow[]>): Promise<BatchRow | null> {
  const t = await targetOf(s);
  return s.commit.tx((q) => gathering(q, async () => {
    const rows = await pick(q);
    return rows.length ? (await openBatches(s, q, mode, [rows], t))[0] : null;
  }));
}

/**
 * Gross batches opened at the same time (the trades verified together), per services: their trades locked in one
 * statement, their rows inserted in another, in one transaction.
 */
const grossOpeners = new WeakMap<SettlementServices, Coalescer<SettlementRow, BatchRow | null>>();

/** A verified gross settlement gets its own batch (null if it moved on meanwhile). */
export function openGrossBatch(s: SettlementServices, row: SettlementRow): Promise<BatchRow | null> {
  let opener = grossOpeners.get(s);
  if (!opener) {
    opener = new Coalescer(async (items) => {
      const t = await targetOf(s);
      return s.commit.tx((q) => gathering(q, async () => {
        const locked = new Map((await verifiedForUpdate(q, items.map((r) => r.id))).map((r) => [r.id, r]));
        const rows = [...locked.values()];
        const opened = new Map((await openBatches(s, q, 'GROSS', rows.map((r) => [r]), t)).map((b, i) => [rows[i].id, b]));
        // A trade asked for twice in one group gets its batch once.
        return items.map((r) => {
          const b = opened.get(r.id) ?? null;
          opened.delete(r.id);
          return b;
        });
      }));
    }, { maxBatch: s.config.SETTLEMENT_GROUP_COMMIT_MAX, maxInFlight: 1 });
    grossOpeners.set(s, opener);
  }
  return opener.request(row);
}

/** The verified netted settlements of a token, up to the batch limit, in one batch (all with the same cash token). */
export function openNettedBatch(s: SettlementServices, tokenId: string): Promise<BatchRow | null> {
  return open(s, 'NETTED', async (q) => {
    const rows = (await nettableForUpdate(q, tokenId, s.config.SETTLEMENT_NETTING_MAX_TRADES)).filter((r) => r.token_address && r.cash_token_address && r.held);
    const cash = rows[0]?.cash_token_address?.toLowerCase();
    return rows.filter((r) => r.cash_token_address!.toLowerCase() === cash);
  });
}

const later = (s: SettlementServices, ms: number) => new Date(s.now().getTime() + ms);

/**
 * Approvals this process has seen recorded, per services: a standing allowance once recorded stays recorded (the
 * table is never cleared), so each gross batch need not read it again for both payers.
 */
const approvalsSeen = new WeakMap<SettlementServices, Set<string>>();

async function approvalRecorded(s: SettlementServices, wallet: string, token: string, spender: string): Promise<boolean> {
  let seen = approvalsSeen.get(s);
  if (!seen) approvalsSeen.set(s, (seen = new Set()));
  const key = `${wallet}:${token}:${spender}`.toLowerCase();
  if (seen.has(key)) return true;
  if (!(await approvalKnown(s.db, wallet, token, spender))) return false;
  seen.add(key);
  return true;
}

/** Standing allowance of the DvP contract for each asset a payer pays (once per wallet, token and contract). */
async function ensureApprovals(s: SettlementServices, b: BatchRow, p: PayerAssets): Promise<void> {
  for (const { asset, token } of p.assets) {
    if (await approvalRecorded(s, p.wallet, token, b.dvp_address)) continue;
    await s.chain.ensureGas(p.wallet);
    let r;
    try {
      r = await s.peers.approveSpender({ accountId: p.accountId, asset, spender: b.dvp_address });
    } catch (e) {
      if (rootErrorCode(e) !== 'CUSTODY.WALLET_NEEDS_GAS') throw e; // retryable: it arrives as DOWNSTREAM.UNAVAILABLE with this cause
      await s.chain.ensureGas(p.wallet); // the balance fell meanwhile: one more top-up, then once more
      r = await s.peers.approveSpender({ accountId: p.accountId, asset, spender: b.dvp_address });
    }
    await recordApproval(s.db, p.wallet, token, b.dvp_address, r.txHash);
  }
}

class ConsentRefused extends Error {
  constructor(readonly code: FailureCode, msg: string) {
    super(msg);
  }
}

/** Every payer's consent, asked for at once (in the payers' order): with those of the other batches prepared meanwhile they travel to custody in one list (peers.ts). */
async function gatherConsents(s: SettlementServices, b: BatchRow): Promise<ConsentJson[]> {
  const ask = async (p: PayerAssets): Promise<ConsentJson> => {
    await ensureApprovals(s, b, p);
    try {
      const c = await s.peers.consent({
        accountId: p.accountId, reservationKeys: p.reservationKeys, chainId: Number(b.chain_id), dvp: b.dvp_address, batchId: b.chain_batch_id,
        legs: b.legs, deadline: Math.floor(b.consent_deadline.getTime() / 1000),
      });
      return { signer: c.signer, nonces: c.nonces, deadline: c.deadline, signature: c.signature };
    } catch (e) {
      if (isTransient(e) || !errorCode(e)?.startsWith('CUSTODY.')) throw e;
      const paysCash = p.assets.some((a) => a.asset === 'CASH');
      throw new ConsentRefused(paysCash && p.assets.length === 1 ? 'AWAITING_CASH' : 'AWAITING_SECURITIES', `custody refused the consent of ${p.wallet}: ${message(e)}`);
    }
  };
  const answers = await Promise.allSettled((b.payers as PayerAssets[]).map(ask));
  // A refusal decides the batch; otherwise the first failure of the machinery is retried.
  const refused = answers.find((a): a is PromiseRejectedResult => a.status === 'rejected' && a.reason instanceof ConsentRefused);
  const failed = refused ?? answers.find((a): a is PromiseRejectedResult => a.status === 'rejected');
  if (failed) throw failed.reason;
  return answers.map((a) => (a as PromiseFulfilledResult<ConsentJson>).value);
}

/** Moves a batch as far as it can go now; returns its row as left. Safe to run twice at once: every write is conditional. */
export async function driveBatch(s: SettlementServices, batch: BatchRow): Promise<BatchRow> {
  let b = batch;
  // The trades this step marked due when it recorded the batch settled: finished without reading them again.
  let due: SettlementRow[] | undefined;
  try {
    for (;;) {
      if (b.status === 'SETTLED') {
        await finalizeAll(s, b, due);
        return b;
      }
      if (b.status === 'FAILED') return b;
      // Whatever happened before (a crash after sending), the contract knows whether the batch settled.
      // A batch without consents was never sent: nothing to ask.
      const settledAt = b.consents ? await s.chain.settledAt(b.chain_batch_id) : 0;
      if (settledAt > 0) {
        ({ batch: b, due } = await markSettled(s, b, settledAt));
        continue;
      }
      if (b.status === 'PREPARED') {
        const deadline = b.consent_deadline.getTime();
        if (s.now().getTime() > deadline - CONSENT_MARGIN_MS) {
          // Too late to send. Never consented: nothing can be on its way. Consented: a transaction sent before (by a
          // process since gone, or still queued in this one) may yet be mined until the deadline; the batch fails only
          // once the chain can no longer settle it (checked above: not settled by then).
          if (!b.consents || s.now().getTime() > deadline + CONSENT_MARGIN_MS) return failBatch(s, b, 'CHAIN_ERROR', 'the consents expired before the batch could be sent');
          return (await updateBatch(s.db, b, ['PREPARED'], { next_attempt_at: new Date(deadline + CONSENT_MARGIN_MS + 1_000), lease_until: null })) ?? b;
        }
        let consents = b.consents;
        if (!consents) {
          try {
            consents = await gatherConsents(s, b);
          } catch (e) {
            if (e instanceof ConsentRefused) return failBatch(s, b, e.code, e.message);
            throw e;
          }
          b = (await recordBatchConsents(s, b, consents)) ?? b;
        }
        let txHash: string;
        try {
          txHash = b.mode === 'GROSS'
            ? await s.chain.submitGross({ chainBatchId: b.chain_batch_id, legs: b.legs, consents })
            : await s.chain.submit(b.chain_batch_id, b.legs, consents);
        } catch (e) {
          if (!isChainError(e, 'CHAIN_REVERTED') || e.retryable) throw e;
          const at = await s.chain.settledAt(b.chain_batch_id);
          if (at > 0) {
            ({ batch: b, due } = await markSettled(s, b, at));
            continue;
          }
          return failBatch(s, b, failureOfRevert(e.reason ?? e.message), `the DvP transaction would revert: ${e.reason ?? e.message}`);
        }
        const sent = await recordBatchSubmitted(s, b, txHash);
        if (!sent) return b;
        b = sent;
        continue;
      }
      // SUBMITTED: wait for the outcome.
      const out = await s.chain.outcome(b.tx_hash!, b.chain_batch_id);
      if (out.kind === 'success') {
        ({ batch: b, due } = await markSettled(s, b, out.receipt.blockNumber, out.receipt));
        continue;
      }
      if (out.kind === 'reverted') {
        const at = await s.chain.settledAt(b.chain_batch_id);
        if (at > 0) {
          ({ batch: b, due } = await markSettled(s, b, at));
          continue;
        }
        return failBatch(s, b, failureOfRevert(out.reason), `the DvP transaction ${b.tx_hash} reverted: ${out.reason ?? 'no reason given'}`);
      }
      if (out.kind === 'pending') {
        return (await updateBatch(s.db, b, ['SUBMITTED'], { next_attempt_at: later(s, s.config.SETTLEMENT_POLL_MS), lease_until: null })) ?? b;
      }
      // The node does not know the transaction (dropped): send the same consents again while they last.
      b = (await updateBatch(s.db, b, ['SUBMITTED'], { status: 'PREPARED', tx_hash: null, last_error: `transaction ${b.tx_hash} was dropped` })) ?? b;
    }
  } catch (e) {
    if (errorCode(e) === 'SETTLEMENT.LEASE_LOST') throw e; // another worker has it now: nothing more to write
    if (!isTransient(e)) s.log.error({ batchId: b.id, err: message(e) }, 'DvP batch step failed; will retry');
    return (await updateBatch(s.db, b, ['PREPARED', 'SUBMITTED', 'SETTLED'], { next_attempt_at: later(s, s.config.SETTLEMENT_RETRY_MS), lease_until: null, last_error: message(e) })) ?? b;
  }
}

/** Records the batch settled on chain and its trades due for their booking: the batch as left, and those trades if this step marked them. */
async function markSettled(s: SettlementServices, b: BatchRow, block: number, receipt?: GasReceipt | null): Promise<{ batch: BatchRow; due?: SettlementRow[] }> {
  // With the receipt of our own transaction in hand its hash is known; otherwise the contract's event says which one it was.
  const tx = receipt ? { txHash: receipt.hash, blockNumber: block, time: await s.chain.blockTime(block) } : await s.chain.settledTx(b.chain_batch_id, block);
  receipt ??= await receiptOf(s, tx.txHash);
  // Gross batches that shared a transaction share its gas: each is given its part.
  const gasUsed = receipt ? receipt.gasUsed / BigInt(batchesIn(receipt)) : null;
  // With the other batches of its transaction recorded at the same time (batch-writes.ts).
  const settled = await recordBatchSettled(s, b, {
    txHash: tx.txHash, blockNumber: String(tx.blockNumber), blockTime: tx.time, gasUsed: gasUsed?.toString() ?? null, gasPrice: receipt?.gasPrice.toString() ?? null,
  });
  if (!settled) return { batch: (await batchById(s.db, b.id))! };
  if (receipt && gasUsed !== null) s.recordGas?.(settled.batch.mode, gasUsed, receipt.gasPrice); // once: only the step that marked it settled
  return settled;
}

interface GasReceipt { hash: string; gasUsed: bigint; gasPrice: bigint; logs: readonly { topics: readonly string[] }[] }

/** The receipt of a settled transaction this process did not wait for (found by the contract's event); null if the node has none. */
async function receiptOf(s: SettlementServices, txHash: string): Promise<GasReceipt | null> {
  const c = await s.chain.client();
  return c.read(c.provider.getTransactionReceipt(txHash)).catch(() => null);
}

async function failBatch(s: SettlementServices, b: BatchRow, code: FailureCode, reason: string): Promise<BatchRow> {
  return s.commit.tx(async (q) => {
    const r = await updateBatch(q, b, ['PREPARED', 'SUBMITTED'], { status: 'FAILED', reason_code: code, reason: reason.slice(0, 1000), next_attempt_at: null, lease_until: null });
    if (!r) return b;
    const rows = await settlingOfBatchForUpdate(q, b.id);
    for (const row of rows) await fail(q, s, row, code, reason, { detail: { batchId: b.id, txHash: b.tx_hash } });
    return r;
  });
}

/**
 * Books each trade of a settled batch at custody, attests it and marks it SETTLED (`due`: its SETTLING trades when
 * the caller has them). A trade that cannot be finished now is due again later; one whose booking stopped
 * (booking.ts) waits for an operator.
 */
async function finalizeAll(s: SettlementServices, b: BatchRow, due?: SettlementRow[]): Promise<void> {
  const trades = due ?? (await settlementsOfBatch(s.db, b.id)).filter((row) => row.status === 'SETTLING');
  // All at once: their bookings travel to custody in one list call and their status changes commit together.
  await Promise.all(trades.map(async (row) => {
    try {
      await finalizeSettlement(s, row, b);
    } catch (e) {
      // What booking.ts could not even record (the database gone, the lease lost): due again after a pause.
      s.log.warn({ settlementId: row.id, err: message(e) }, 'settled on chain; finishing will be retried');
      await updateSettlement(s.db, row, 'SETTLING', { next_attempt_at: later(s, s.config.SETTLEMENT_RETRY_MS), lease_until: null, last_error: message(e) });
    }
  }));
}

/**
 * Custody follows the chain (idempotent per settlement), then the trade is SETTLED with its attestation. A booking,
 * attestation or commit that does not go through leaves the trade SETTLING, due again with backoff or stopped (booking.ts).
 */
export async function finalizeSettlement(s: SettlementServices, row: SettlementRow, b: BatchRow): Promise<SettlementRow> {
  if (row.booking_stopped) return row; // an operator's retrySettlementBooking clears it first
  const held = row.held ?? { sell: [], buy: [] };
  try {
    await s.peers.book({
      idempotencyKey: `stl:${row.id}:book`, reason: `settlement ${row.id}`,
      consume: [...held.sell, ...held.buy].map((h) => ({ key: h.key, amount: BigInt(h.amount) })),
      credit: [
        { accountId: row.buyer_account_id, asset: row.token_id, amount: BigInt(row.quantity) },
        { accountId: row.seller_account_id, asset: row.cash_asset, amount: BigInt(row.cash_amount!) },
      ],
    });
  } catch (e) {
    if (errorCode(e) === 'SETTLEMENT.LEASE_LOST') throw e;
    await finishNotDone(s, row, e, 'BOOKING');
    return row;
  }
  let att: Awaited<ReturnType<typeof attest>>;
  try {
    att = await attest(s, row, b);
  } catch (e) {
    await finishNotDone(s, row, e, 'ATTESTATION');
    return row;
  }
  try {
    return await s.commit.tx((q) => transition(q, row, 'SETTLED', {
      actor: SERVICE_ACTOR,
      patch: {
        tx_hash: b.tx_hash, block_number: b.block_number, settled_at: b.block_time, held_state: 'CONSUMED',
        attestation: att?.attestation ?? null, attestation_signature: att?.signature ?? null, next_attempt_at: null, lease_until: null, last_error: null,
      },
      detail: { txHash: b.tx_hash, blockNumber: b.block_number, batchId: b.id, chainBatchId: b.chain_batch_id, attestationDigest: att?.attestation.digest ?? null, attestationSignature: att?.signature ?? null },
    }));
  } catch (e) {
    if (errorCode(e) === 'SETTLEMENT.STATUS_CHANGED') return row; // another worker finished it
    if (errorCode(e) === 'SETTLEMENT.LEASE_LOST') throw e;
    // Rolled back (a killed session, a refusing database): still SETTLING, booked; the retry books idempotently and commits.
    await finishNotDone(s, row, e, 'COMMIT');
    return row;
  }
}

