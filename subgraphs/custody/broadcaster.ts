import type { Db, Queryable } from '../kit/db/types.js';
import type { Logger } from '../kit/log.js';
import type { KitSigner } from '../kit/signer/index.js';
import { startLoop } from '../kit/loop.js';
import { PendingEvents } from './events.js';
import { TransferError, later, message, nextForFlight, sendThenRecord, type BroadcastSettings, type SignedTransfer, type TransferSender } from './transfer-flight.js';
import { consumeIn, releaseIn } from './ledger.js';
import { walletOfAccount } from './store/accounts.js';
import { assetById } from './store/ledger.js';
import * as store from './store/withdrawals.js';
import type { WithdrawalRow } from './store/withdrawals.js';
import { CUSTODY_SERVICE } from './withdrawals.js';
import { paymentResult } from './distribution-payments.js';

/**
 * Sends approved withdrawals on chain through a TransferSender, so that the
 * state machine is the same against a test double and a real node.
 *
 *   APPROVED --sign (stored before sending)--> BROADCASTING --confirmed--> COMPLETED (reservation consumed)
 *   BROADCASTING --reverted / dropped / refused--> APPROVED (sign again later) or FAILED (reservation released)
 *
 * Distribution payments due from one paying account and asset go together (up to
 * paymentBatchMax): one `batchTransfer` signed once, its hash and raw transaction stored on every
 * withdrawal of the batch, and every step above taken by all of them at once. The token reverts
 * the whole batch on a bad leg, so a batch is never half paid.
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

/**
 * What goes out with the claimed withdrawal: alone, or (a distribution payment, APPROVED) with the
 * other payments due from its account and asset, up to paymentBatchMax; in flight, every
 * withdrawal sharing its transaction. Null when another worker holds part of that batch.
 */
async function batchOf(q: Queryable, d: BroadcastDeps, w: WithdrawalRow, now: Date): Promise<WithdrawalRow[] | null> {
  if (w.status === 'BROADCASTING') return store.withdrawalsOfTx(q, w.tx_hash!);
  const max = d.settings.paymentBatchMax ?? 1;
  if (!w.entitlement_id || max < 2 || !d.sender.signBatch) return [w];
  return [w, ...(await store.claimPaymentBatch(q, w, now, max - 1))];
}

/** Signs the batch's transaction (one transfer, or one `batchTransfer` for several) and stores it on every withdrawal before anything is sent. */
async function signBatch(q: Queryable, d: BroadcastDeps, claimed: WithdrawalRow[], now: Date, events: PendingEvents): Promise<{ batch: WithdrawalRow[]; step: BroadcastStep; toSend?: SignedTransfer }> {
  const [w] = claimed;
  const asset = await assetById(q, w.asset);
  const from = await walletOfAccount(q, w.account_id);
  if (!asset?.contract_address || !from) {
    const why = `cannot build the transfer: ${!from ? 'no wallet' : 'no contract address'}`;
    return { batch: claimed, step: await failAll(q, d, claimed.map((x) => ({ ...x, attempts: d.settings.maxAttempts })), why, events) };
  }
  // One signer per wallet at a time across replicas (README, replicas): else two read the same nonce and one transfer is dropped.
  if (!(await store.takeWalletNonce(q, from, w.account_id))) {
    for (const x of claimed) await store.setWithdrawal(q, x.id, { next_attempt_at: later(now, d.settings.pollMs) });
    return { batch: claimed, step: 'pending' };
  }
  let batch = claimed;
  const tried = () => batch.map((x) => ({ ...x, attempts: x.attempts + 1 }));
  let signed: SignedTransfer;
  try {
    // A token without batchTransfer: the first payment alone; the others stay APPROVED for the next steps.
    if (batch.length > 1 && d.sender.canBatch && !(await d.sender.canBatch(asset.contract_address, from))) batch = [w];
    const signer = await d.signerOf(q, from);
    signed = batch.length === 1
      ? await d.sender.sign({ withdrawalId: w.id, from, token: asset.contract_address, to: w.to_address, amount: BigInt(w.amount) }, signer)
      : await d.sender.signBatch!({ withdrawalIds: batch.map((x) => x.id), from, token: asset.contract_address, legs: batch.map((x) => ({ to: x.to_address, amount: BigInt(x.amount) })) }, signer);
  } catch (e) {
    // Nothing was sent. An unreachable node does not use up an attempt; anything else does.
    if (e instanceof TransferError && e.retryable) {
      for (const x of batch) await store.setWithdrawal(q, x.id, { last_error: `signing failed: ${message(e)}`, next_attempt_at: later(now, d.settings.retryMs) });
      return { batch, step: 'pending' };
    }
    for (const x of tried()) await store.setWithdrawal(q, x.id, { attempts: x.attempts });
    return { batch, step: await failAll(q, d, tried(), `signing failed: ${message(e)}`, events) };
  }
  for (const x of tried()) {
    await store.setWithdrawal(q, x.id, { status: 'BROADCASTING', attempts: x.attempts, raw_tx: signed.rawTx, tx_hash: signed.txHash, submitted_at: null, next_attempt_at: now, last_error: null });
    events.add('withdrawal.signed', x.id, { withdrawalId: x.id, txHash: signed.txHash, attempt: x.attempts, ...(batch.length > 1 ? { batchSize: batch.length } : {}) });
  }
  return { batch, step: 'signed', toSend: signed };
}

/** Every withdrawal of a dead batch is retried or FAILED on its own attempts; the step is the first one's. */
async function failAll(q: Queryable, d: BroadcastDeps, batch: WithdrawalRow[], why: string, events: PendingEvents): Promise<BroadcastStep> {
  const steps: BroadcastStep[] = [];
  for (const x of batch) steps.push(await attemptFailed(q, d, x, why, events));
  return steps[0];
}

/** The batch's transaction is confirmed: every withdrawal COMPLETED, its reservation consumed, its entitlement PAID. */
async function completeAll(q: Queryable, batch: WithdrawalRow[], events: PendingEvents): Promise<void> {
  for (const w of batch) {
    await consumeIn(q, CUSTODY_SERVICE, { ref: { reservationId: w.reservation_id }, amount: BigInt(w.amount), idempotencyKey: `withdrawal-complete:${w.id}` }, events);
    await store.setWithdrawal(q, w.id, { status: 'COMPLETED', next_attempt_at: null, last_error: null });
    events.add('withdrawal.completed', w.id, { withdrawalId: w.id, accountId: w.account_id, asset: w.asset, amount: w.amount, toAddress: w.to_address, txHash: w.tx_hash });
    if (w.entitlement_id) events.add('distribution.payment_result', w.entitlement_id, paymentResult(w, 'PAID', null));
  }
}

/**
 * One step of work on the next due withdrawal (with the batch it goes in); null when none is due.
 * `withdrawalIds` are every withdrawal the step moved (more than one for a batch).
 */
export async function broadcastOnce(d: BroadcastDeps): Promise<{ withdrawalId: string; withdrawalIds: string[]; step: BroadcastStep } | null> {
  const now = d.now();
  const claimed = await d.db.tx(async (q) => {
    const first = await store.claimNextBroadcast(q, now);
    let batch = first && (await batchOf(q, d, first, now));
    if (!batch) return null;
    const [w] = batch;
    const events = new PendingEvents();
    let step: BroadcastStep;
    let toSend: SignedTransfer | undefined;
    if (w.status === 'APPROVED') {
      ({ batch, step, toSend } = await signBatch(q, d, batch, now, events));
    } else {
      const signed = signedOf(w);
      const f = await nextForFlight(d.sender, signed, w.submitted_at, now, d.settings);
      if (f.next === 'confirmed') {
        await completeAll(q, batch, events);
        step = 'completed';
      } else if (f.next === 'dead') {
        step = await failAll(q, d, batch, f.why, events);
      } else if (f.next === 'resend') {
        toSend = signed;
        step = 'signed';
      } else {
        for (const x of batch) await store.setWithdrawal(q, x.id, { next_attempt_at: f.at, ...(f.error ? { last_error: f.error } : {}) });
        step = 'pending';
      }
    }
    await events.appendTo(q);
    return { ids: batch.map((x) => x.id), step, toSend };
  });
  if (!claimed) return null;
  const out = { withdrawalId: claimed.ids[0], withdrawalIds: claimed.ids };
  if (!claimed.toSend) return { ...out, step: claimed.step };
  return { ...out, step: await send(d, claimed.toSend) };
}

/** Sends outside any transaction; the result is recorded only on the withdrawals still waiting on this very transaction. */
const send = (d: BroadcastDeps, signed: SignedTransfer): Promise<BroadcastStep> => sendThenRecord(d.db, d.sender, signed,
  async (q) => {
    const batch = await store.withdrawalsOfTx(q, signed.txHash);
    return batch?.length ? batch : null;
  },
  async (q, batch, error): Promise<BroadcastStep> => {
    const now = d.now();
    if (!error) {
      for (const w of batch) await store.setWithdrawal(q, w.id, { submitted_at: now, next_attempt_at: later(now, d.settings.pollMs) });
      return 'sent';
    }
    if (error instanceof TransferError && !error.retryable) {
      // Refused by the node: this transaction is not in flight anywhere we sent it.
      const events = new PendingEvents();
      const step = await failAll(q, d, batch, `node refused ${signed.txHash}: ${message(error)}`, events);
      await events.appendTo(q);
      return step;
    }
    // Unreachable node: the same signed transaction goes again later.
    d.log?.warn({ withdrawalIds: batch.map((w) => w.id), err: message(error) }, 'withdrawal broadcast failed; will retry');
    for (const w of batch) await store.setWithdrawal(q, w.id, { last_error: message(error), next_attempt_at: later(now, d.settings.retryMs) });
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
