import type { Db, Queryable } from '../kit/db/types.js';
import type { Logger } from '../kit/log.js';
import type { KitSigner } from '../kit/signer/index.js';
import type { BroadcastSettings, SignedTransfer, TransferSender } from './broadcaster.js';
import { startDraining, TransferError } from './broadcaster.js';
import { CASH } from './inputs.js';
import { PendingEvents } from './events.js';
import { accountOwner, assetById } from './store/ledger.js';
import * as store from './store/sweeps.js';
import type { SweepPatch, SweepPhase, SweepRow, SweptToken } from './store/sweeps.js';
import { later, message, nextForFlight, sendThenRecord } from './transfer-flight.js';

/**
 * Moves everything an approved sweep's old (sealed) wallet holds to the new HSM wallet, a phase
 * after another:
 *
 *   CASH   the cash token, by a transfer signed with the old key
 *   TOKENS the security tokens, by issuance's ERC-3643 recovery (its agent signs; idempotent)
 *   GAS    the native balance less that transfer's gas (the old key signs, price fixed so that
 *          exactly the balance is spent): nothing is left behind
 *   -> COMPLETED
 *
 * A transfer follows the withdrawal broadcaster's discipline (transfer-flight.ts): signed and
 * stored before it is sent, so a restart re-sends that very transaction (same nonce) and nothing
 * moves twice; re-sent at most once per rebroadcast interval while the node does not know it; a
 * new one is signed only once the stored one is known dead, for what the chain then shows.
 * The books do not move: balances belong to the account, the indexer sees moves between two
 * wallets of one account.
 */
export interface SweepDeps {
  db: Db;
  now(): Date;
  sender: TransferSender;
  signerOf(q: Queryable, address: string): Promise<KitSigner>;
  /** The cash token balance of an address on chain. */
  balanceOf(token: string, holder: string): Promise<bigint>;
  /** Signs the whole native balance of `from` over to `to`, less the gas of that transfer; null when the balance does not pay for it. */
  signNative(from: string, to: string, signer: KitSigner): Promise<(SignedTransfer & { amount: bigint }) | null>;
  /** Asks issuance to recover the investor's security tokens from the old wallet to the new one. */
  recoverTokens(r: { investorId: string; lostWallet: string; newWallet: string; sweepId: string }): Promise<{ moved: SweptToken[] }>;
  settings: BroadcastSettings;
  /** How long one replica has the TOKENS phase to itself while issuance works (other replicas skip the sweep meanwhile). */
  leaseMs: number;
  log?: Logger;
}

export type SweepStep = 'signed' | 'sent' | 'pending' | 'moved' | 'completed' | 'retry';

const NEXT: Record<SweepPhase, SweepPhase | null> = { CASH: 'TOKENS', TOKENS: 'GAS', GAS: null };
const DONE_COLUMNS = { CASH: 'cash_tx_hash', GAS: 'gas_tx_hash' } as const;

/** The phase is done: on to the next one at once, or the sweep is complete. */
async function phaseDone(q: Queryable, s: SweepRow, patch: SweepPatch, events: PendingEvents): Promise<'moved' | 'completed'> {
  const next = NEXT[s.phase!];
  const clear = { raw_tx: null, tx_hash: null, submitted_at: null, last_error: null };
  events.add('wallet_sweep.phase_done', s.id, { sweepId: s.id, accountId: s.account_id, phase: s.phase, txHash: patch.cash_tx_hash ?? patch.gas_tx_hash ?? null, tokensMoved: patch.tokens_moved ?? null });
  if (next) {
    await store.setSweep(q, s.id, { ...patch, ...clear, phase: next, next_attempt_at: null });
    return 'moved';
  }
  const done = await store.setSweep(q, s.id, { ...patch, ...clear, status: 'COMPLETED', phase: null, next_attempt_at: null });
  events.add('wallet_sweep.completed', s.id, {
    sweepId: s.id, accountId: s.account_id, oldWallet: s.old_wallet, newWallet: s.new_wallet, cashAmount: done.cash_amount, cashTxHash: done.cash_tx_hash,
    tokensMoved: done.tokens_moved, gasAmount: done.gas_amount, gasTxHash: done.gas_tx_hash,
  });
  return 'completed';
}

/** Signs the phase's transfer for what the old wallet holds now (null: nothing to move). */
async function signFor(q: Queryable, d: SweepDeps, s: SweepRow): Promise<(SignedTransfer & { amount: bigint }) | null> {
  const signer = await d.signerOf(q, s.old_wallet);
  if (s.phase === 'GAS') return d.signNative(s.old_wallet, s.new_wallet!, signer);
  const cash = await assetById(q, CASH);
  const amount = cash?.contract_address ? await d.balanceOf(cash.contract_address, s.old_wallet) : 0n;
  if (amount === 0n) return null;
  return { ...(await d.sender.sign({ withdrawalId: s.id, from: s.old_wallet, token: cash!.contract_address!, to: s.new_wallet!, amount }, signer)), amount };
}

/** A step of the CASH or GAS phase, inside the claiming transaction; `toSend` goes out after it commits. */
async function transferStep(q: Queryable, d: SweepDeps, s: SweepRow, events: PendingEvents): Promise<{ step: SweepStep; toSend?: SignedTransfer }> {
  const now = d.now();
  const phase = s.phase as 'CASH' | 'GAS';
  const amountColumn = phase === 'CASH' ? 'cash_amount' : 'gas_amount';
  if (!s.raw_tx) {
    let signed;
    try {
      signed = await signFor(q, d, s);
    } catch (e) {
      await store.setSweep(q, s.id, { last_error: `signing failed: ${message(e)}`, next_attempt_at: later(now, d.settings.retryMs) });
      return { step: 'retry' };
    }
    if (!signed) return { step: await phaseDone(q, s, { [amountColumn]: s[amountColumn] ?? '0' }, events) };
    await store.setSweep(q, s.id, {
      [amountColumn]: signed.amount.toString(), raw_tx: signed.rawTx, tx_hash: signed.txHash, submitted_at: null, attempts: s.attempts + 1, last_error: null, next_attempt_at: now,
    });
    events.add('wallet_sweep.signed', s.id, { sweepId: s.id, phase, txHash: signed.txHash, amount: signed.amount.toString() });
    return { step: 'signed', toSend: signed };
  }
  const signed = { rawTx: s.raw_tx, txHash: s.tx_hash! };
  const f = await nextForFlight(d.sender, signed, s.submitted_at, now, d.settings);
  if (f.next === 'confirmed') return { step: await phaseDone(q, s, { [DONE_COLUMNS[phase]]: s.tx_hash }, events) };
  if (f.next === 'dead') {
    // Dead for sure: sign again for whatever the old wallet still holds.
    await store.setSweep(q, s.id, { raw_tx: null, tx_hash: null, submitted_at: null, last_error: f.why, next_attempt_at: later(now, d.settings.retryMs) });
    return { step: 'retry' };
  }
  if (f.next === 'resend') return { step: 'signed', toSend: signed };
  await store.setSweep(q, s.id, { next_attempt_at: f.at, ...(f.error ? { last_error: f.error } : {}) });
  return { step: 'pending' };
}

/** The TOKENS phase: issuance's recovery, asked outside any transaction (it waits for the chain), under a lease. */
async function tokensStep(d: SweepDeps, s: SweepRow, investorId: string | null): Promise<SweepStep> {
  let moved: SweptToken[] = [];
  if (investorId) {
    try {
      moved = (await d.recoverTokens({ investorId, lostWallet: s.old_wallet, newWallet: s.new_wallet!, sweepId: s.id })).moved;
    } catch (e) {
      // Issuance down, or it refused (the error is on the sweep for the operator): asked again later; the recovery is idempotent.
      d.log?.warn({ sweepId: s.id, err: message(e) }, 'security tokens not recovered yet; will retry');
      await d.db.tx((q) => store.setSweep(q, s.id, { last_error: `token recovery: ${message(e)}`, next_attempt_at: later(d.now(), d.settings.retryMs) }));
      return 'retry';
    }
  }
  return d.db.tx(async (q) => {
    const now = await store.sweepById(q, s.id, { forUpdate: true });
    if (now?.status !== 'MOVING' || now.phase !== 'TOKENS') return 'pending';
    const events = new PendingEvents();
    // A replay answers with nothing moved: what the first answer listed stays.
    const step = await phaseDone(q, now, { tokens_moved: moved.length || !now.tokens_moved ? moved : now.tokens_moved }, events);
    await events.appendTo(q);
    return step;
  });
}

/** One step of the next due sweep; null when none is due. */
export async function sweepOnce(d: SweepDeps): Promise<{ sweepId: string; step: SweepStep } | null> {
  const claimed = await d.db.tx(async (q) => {
    const s = await store.claimNextSweep(q, d.now());
    if (!s) return null;
    if (s.phase === 'TOKENS') {
      await store.setSweep(q, s.id, { next_attempt_at: later(d.now(), d.leaseMs) });
      const account = await accountOwner(q, s.account_id);
      return { s, tokens: { investorId: account?.investor_id ?? null } };
    }
    const events = new PendingEvents();
    const r = await transferStep(q, d, s, events);
    await events.appendTo(q);
    return { s, tokens: null, ...r };
  });
  if (!claimed) return null;
  const id = claimed.s.id;
  if (claimed.tokens) return { sweepId: id, step: await tokensStep(d, claimed.s, claimed.tokens.investorId) };
  const { toSend } = claimed;
  if (!toSend) return { sweepId: id, step: claimed.step };
  const step = await sendThenRecord(d.db, d.sender, toSend, (q) => store.sweepWaitingOn(q, id, toSend.txHash), async (q, _s, error): Promise<SweepStep> => {
    const now = d.now();
    if (!error) {
      await store.setSweep(q, id, { submitted_at: now, next_attempt_at: later(now, d.settings.pollMs) });
      return 'sent';
    }
    // Refused (no gas in the old wallet, say) or unreachable: the error is on the sweep for the
    // operator; the stored transaction (its nonce unused) goes again after the retry pause.
    d.log?.warn({ sweepId: id, err: message(error), retryable: error instanceof TransferError ? error.retryable : undefined }, 'sweep transfer not sent; will retry');
    await store.setSweep(q, id, { last_error: `not sent: ${message(error)}`, submitted_at: null, next_attempt_at: later(now, d.settings.retryMs) });
    return 'pending';
  }, 'pending');
  return { sweepId: id, step };
}

/** Works through due sweeps until none is left, then waits; returns the stopper. */
export const startSweepMover = (d: SweepDeps, intervalMs: number): (() => Promise<void>) =>
  startDraining(() => sweepOnce(d), intervalMs, (e) => d.log?.error({ err: message(e) }, 'wallet sweep step failed'));
