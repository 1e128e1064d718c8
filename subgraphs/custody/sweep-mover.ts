import type { Db, Queryable } from '../kit/db/types.js';
import type { Logger } from '../kit/log.js';
import type { KitSigner } from '../kit/signer/index.js';
import type { BroadcastSettings, SignedTransfer, TransferOutcome, TransferSender } from './broadcaster.js';
import { startDraining, TransferError } from './broadcaster.js';
import { CASH } from './domain/inputs.js';
import { PendingEvents } from './events.js';
import { assetById } from './store-ledger.js';
import * as store from './store-sweeps.js';
import type { SweepRow } from './store-sweeps.js';

/**
 * Moves the cash token of an approved sweep from the old (sealed) wallet to the new HSM wallet,
 * with the withdrawal broadcaster's discipline: the transfer is signed with the old key and stored
 * before it is sent, so a restart re-sends that very transaction (same nonce) and the cash moves
 * at most once; a new transfer is signed only once the stored one is known dead, for the balance
 * the chain then shows. The books do not move.
 */
export interface SweepDeps {
  db: Db;
  now(): Date;
  sender: TransferSender;
  signerOf(q: Queryable, address: string): Promise<KitSigner>;
  /** The cash token balance of an address on chain. */
  balanceOf(token: string, holder: string): Promise<bigint>;
  settings: BroadcastSettings;
  log?: Logger;
}

export type SweepStep = 'signed' | 'sent' | 'pending' | 'completed' | 'retry';

const later = (now: Date, ms: number) => new Date(now.getTime() + ms);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e)).slice(0, 500);

async function completed(q: Queryable, s: SweepRow, events: PendingEvents): Promise<'completed'> {
  await store.setSweep(q, s.id, { status: 'COMPLETED', next_attempt_at: null, last_error: null });
  events.add('wallet_sweep.completed', s.id, { sweepId: s.id, accountId: s.account_id, oldWallet: s.old_wallet, newWallet: s.new_wallet, cashAmount: s.cash_amount, txHash: s.tx_hash });
  return 'completed';
}

/** One step of the next due sweep; null when none is due. */
export async function sweepOnce(d: SweepDeps): Promise<{ sweepId: string; step: SweepStep } | null> {
  const claimed = await d.db.tx(async (q) => {
    const s = await store.claimNextSweep(q, d.now());
    if (!s) return null;
    const now = d.now();
    const events = new PendingEvents();
    let step: SweepStep;
    let toSend: SignedTransfer | undefined;
    const cash = await assetById(q, CASH);
    if (!s.raw_tx) {
      const amount = cash?.contract_address ? await d.balanceOf(cash.contract_address, s.old_wallet) : 0n;
      if (amount === 0n) {
        step = await completed(q, s, events);
      } else {
        try {
          const signed = await d.sender.sign({ withdrawalId: s.id, from: s.old_wallet, token: cash!.contract_address!, to: s.new_wallet!, amount }, await d.signerOf(q, s.old_wallet));
          await store.setSweep(q, s.id, { cash_amount: amount.toString(), raw_tx: signed.rawTx, tx_hash: signed.txHash, attempts: s.attempts + 1, last_error: null, next_attempt_at: now });
          events.add('wallet_sweep.signed', s.id, { sweepId: s.id, txHash: signed.txHash, amount: amount.toString() });
          toSend = signed;
          step = 'signed';
        } catch (e) {
          await store.setSweep(q, s.id, { last_error: `signing failed: ${message(e)}`, next_attempt_at: later(now, d.settings.retryMs) });
          step = 'retry';
        }
      }
    } else {
      const signed = { rawTx: s.raw_tx, txHash: s.tx_hash! };
      let outcome: TransferOutcome | Error;
      try {
        outcome = await d.sender.outcome(signed);
      } catch (e) {
        outcome = e as Error;
      }
      if (outcome instanceof Error) {
        await store.setSweep(q, s.id, { last_error: `outcome unknown: ${message(outcome)}`, next_attempt_at: later(now, d.settings.retryMs) });
        step = 'pending';
      } else if (outcome === 'confirmed') {
        step = await completed(q, s, events);
      } else if (outcome === 'reverted' || outcome === 'dropped') {
        // Dead for sure: sign again for whatever the old wallet still holds.
        await store.setSweep(q, s.id, { raw_tx: null, tx_hash: null, last_error: `transfer ${s.tx_hash} ${outcome}`, next_attempt_at: later(now, d.settings.retryMs) });
        step = 'retry';
      } else if (outcome === 'unknown') {
        toSend = signed;
        step = 'signed';
      } else {
        await store.setSweep(q, s.id, { next_attempt_at: later(now, d.settings.pollMs) });
        step = 'pending';
      }
    }
    await events.appendTo(q);
    return { s, step, toSend };
  });
  if (!claimed) return null;
  if (!claimed.toSend) return { sweepId: claimed.s.id, step: claimed.step };
  try {
    await d.sender.broadcast(claimed.toSend);
  } catch (e) {
    // Refused (no gas in the old wallet, say) or unreachable: the error is on the sweep for the
    // operator, and the next step asks the chain for the outcome and re-sends or re-signs.
    d.log?.warn({ sweepId: claimed.s.id, err: message(e), retryable: e instanceof TransferError ? e.retryable : undefined }, 'sweep transfer not sent; will retry');
    await store.noteUnsent(d.db, claimed.s.id, claimed.toSend.txHash, `not sent: ${message(e)}`, later(d.now(), d.settings.retryMs));
    return { sweepId: claimed.s.id, step: 'pending' };
  }
  return { sweepId: claimed.s.id, step: 'sent' };
}

/** Works through due sweeps until none is left, then waits; returns the stopper. */
export const startSweepMover = (d: SweepDeps, intervalMs: number): (() => Promise<void>) =>
  startDraining(() => sweepOnce(d), intervalMs, (e) => d.log?.error({ err: message(e) }, 'wallet sweep step failed'));
