import type { Db, Queryable } from '../kit/db/types.js';
import type { Logger } from '../kit/log.js';
import type { KitSigner } from '../kit/signer/index.js';
import { startLoop } from '../kit/loop.js';
import { PendingEvents } from './events.js';
import { TransferError, later, message, nextForFlight, sendThenRecord, type BroadcastSettings, type SignedTransfer, type TransferSender } from './transfer-flight.js';
import { consumeIn, releaseIn } from './ledger.js';
import { walletOfAccount } from './store.js';
import { assetById } from './store-ledger.js';
import * as store from './store-withdrawals.js';
import type { WithdrawalRow } from './store-withdrawals.js';
import { CUSTODY_SERVICE } from './withdrawals.js';
import { paymentResult } from './distribution-payments.js';

/**
 * Sends approved withdrawals on chain through a TransferSender, so that the
 * state machine is the same against a test double and a real node.
 *
 *   APPROVED --sign (stored before sending)--> BROADCASTING --confirmed--> COMPLETED (reservation consumed)
 *   BROADCASTING --reverted / dropped / refused--> APPROVED (sign again later) or FAILED (reservation released)
 *
 * The signed transaction is committed before it is sent, so a restart at any
 * point re-sends the same transaction (same hash, same nonce) or learns its
 * outcome; a second transfer is signed only once the previous one is known
 * dead. Never half-done: the books move only when the chain says so.
 */
// The transfer types live with the flight they go through (transfer-flight.ts); re-exported for the senders.
export { TransferError, type BroadcastSettings, type SignedTransfer, type TransferOutcome, type TransferRequest, type TransferSender } from './transfer-flight.js';

export interface BroadcastDeps {
  db: Db;
  now(): Date;
  sender: TransferSender;
  /**
   * The wallet's signer, read through the claiming transaction (PGlite
   * has one connection: a query beside the transaction would wait for it forever).
   */
  signerOf(q: Queryable, address: string): Promise<KitSigner>;
  settings: BroadcastSettings;
  log?: Logger;
}

export type BroadcastStep = 'signed' | 'sent' | 'pending' | 'completed' | 'retry' | 'failed';

const signedOf = (w: WithdrawalRow): SignedTransfer => ({ txHash: w.tx_hash!, rawTx: w.raw_tx! });

/** A dead attempt: sign again after a pause, or give up and free the funds. */
async function attemptFailed(q: Queryable, d: BroadcastDeps, w: WithdrawalRow, why: string, events: PendingEvents): Promise<BroadcastStep> {
  const now = d.now();
  if (w.attempts < d.settings.maxAttempts) {
    await store.setWithdrawal(q, w.id, { status: 'APPROVED', raw_tx: null, tx_hash: null, submitted_at: null, last_error: why, next_attempt_at: later(now, d.settings.retryMs) });
    events.add('withdrawal.retry_scheduled', w.id, { withdrawalId: w.id, attempts: w.attempts, error: why });
    return 'retry';
  }
  await releaseIn(q, CUSTODY_SERVICE, { ref: { reservationId: w.reservation_id } }, events);
  await store.setWithdrawal(q, w.id, { status: 'FAILED', last_error: why, next_attempt_at: null });
  events.add('withdrawal.failed', w.id, { withdrawalId: w.id, accountId: w.account_id, asset: w.asset, amount: w.amount, attempts: w.attempts, error: why });
  if (w.entitlement_id) events.add('distribution.payment_result', w.entitlement_id, paymentResult(w, 'FAILED', why));
  return 'failed';
}

/** One step of work on the next due withdrawal; null when none is due. */
export async function broadcastOnce(d: BroadcastDeps): Promise<{ withdrawalId: string; step: BroadcastStep } | null> {
  const now = d.now();
  const claimed = await d.db.tx(async (q) => {
    const w = await store.claimNextBroadcast(q, now);
    if (!w) return null;
    const events = new PendingEvents();
    let step: BroadcastStep;
    let toSend: SignedTransfer | null = null;
    if (w.status === 'APPROVED') {
      const asset = await assetById(q, w.asset);
      const from = await walletOfAccount(q, w.account_id);
      const attempt = { ...w, attempts: w.attempts + 1 };
      if (!asset?.contract_address || !from) {
        step = await attemptFailed(q, d, { ...attempt, attempts: d.settings.maxAttempts }, `cannot build the transfer: ${!from ? 'no wallet' : 'no contract address'}`, events);
      } else {
        let signed: SignedTransfer | undefined;
        try {
          signed = await d.sender.sign({ withdrawalId: w.id, from, token: asset.contract_address, to: w.to_address, amount: BigInt(w.amount) }, await d.signerOf(q, from));
        } catch (e) {
          // Nothing was sent. An unreachable node does not use up an attempt; anything else does.
          if (e instanceof TransferError && e.retryable) {
            await store.setWithdrawal(q, w.id, { last_error: `signing failed: ${message(e)}`, next_attempt_at: later(now, d.settings.retryMs) });
            step = 'pending';
          } else {
            await store.setWithdrawal(q, w.id, { attempts: attempt.attempts });
            step = await attemptFailed(q, d, attempt, `signing failed: ${message(e)}`, events);
          }
        }
        if (signed) {
          await store.setWithdrawal(q, w.id, { status: 'BROADCASTING', attempts: attempt.attempts, raw_tx: signed.rawTx, tx_hash: signed.txHash, submitted_at: null, next_attempt_at: now, last_error: null });
          events.add('withdrawal.signed', w.id, { withdrawalId: w.id, txHash: signed.txHash, attempt: attempt.attempts });
          toSend = signed;
          step = 'signed';
        }
      }
    } else {
      const signed = signedOf(w);
      const f = await nextForFlight(d.sender, signed, w.submitted_at, now, d.settings);
      if (f.next === 'confirmed') {
        await consumeIn(q, CUSTODY_SERVICE, { ref: { reservationId: w.reservation_id }, amount: BigInt(w.amount), idempotencyKey: `withdrawal-complete:${w.id}` }, events);
        await store.setWithdrawal(q, w.id, { status: 'COMPLETED', next_attempt_at: null, last_error: null });
        events.add('withdrawal.completed', w.id, { withdrawalId: w.id, accountId: w.account_id, asset: w.asset, amount: w.amount, toAddress: w.to_address, txHash: w.tx_hash });
        if (w.entitlement_id) events.add('distribution.payment_result', w.entitlement_id, paymentResult(w, 'PAID', null));
        step = 'completed';
      } else if (f.next === 'dead') {
        step = await attemptFailed(q, d, w, f.why, events);
      } else if (f.next === 'resend') {
        toSend = signed;
        step = 'signed';
      } else {
        await store.setWithdrawal(q, w.id, { next_attempt_at: f.at, ...(f.error ? { last_error: f.error } : {}) });
        step = 'pending';
      }
    }
    await events.appendTo(q);
    return { w, step: step!, toSend };
  });
  if (!claimed) return null;
  if (!claimed.toSend) return { withdrawalId: claimed.w.id, step: claimed.step };
  return { withdrawalId: claimed.w.id, step: await send(d, claimed.w.id, claimed.toSend) };
}

/** Sends outside any transaction; the result is recorded only if the withdrawal still waits on this very transaction. */
const send = (d: BroadcastDeps, id: string, signed: SignedTransfer): Promise<BroadcastStep> => sendThenRecord(d.db, d.sender, signed,
  async (q) => {
    const w = await store.withdrawalById(q, id, { forUpdate: true });
    return w && w.status === 'BROADCASTING' && w.tx_hash === signed.txHash ? w : null;
  },
  async (q, w, error): Promise<BroadcastStep> => {
    const now = d.now();
    if (!error) {
      await store.setWithdrawal(q, id, { submitted_at: now, next_attempt_at: later(now, d.settings.pollMs) });
      return 'sent';
    }
    if (error instanceof TransferError && !error.retryable) {
      // Refused by the node: this transaction is not in flight anywhere we sent it.
      const events = new PendingEvents();
      const step = await attemptFailed(q, d, w, `node refused ${signed.txHash}: ${message(error)}`, events);
      await events.appendTo(q);
      return step;
    }
    // Unreachable node: the same signed transaction goes again later.
    d.log?.warn({ withdrawalId: id, err: message(error) }, 'withdrawal broadcast failed; will retry');
    await store.setWithdrawal(q, id, { last_error: message(error), next_attempt_at: later(now, d.settings.retryMs) });
    return 'pending';
  }, 'pending');

/** Runs `once` until it finds nothing due, then waits `intervalMs`; returns the stopper. */
export function startDraining(once: () => Promise<unknown>, intervalMs: number, onError: (e: unknown) => void): () => Promise<void> {
  let stopped = false;
  const stop = startLoop(async () => {
    while (!stopped && (await once())) { /* next one at once */ }
  }, intervalMs, { immediate: true, onError });
  return async () => {
    stopped = true;
    await stop();
  };
}

/** Works through due withdrawals until none is left, then waits; returns the stopper. */
export const startBroadcaster = (d: BroadcastDeps, intervalMs: number): (() => Promise<void>) =>
  startDraining(() => broadcastOnce(d), intervalMs, (e) => d.log?.error({ err: message(e) }, 'withdrawal broadcaster step failed'));
