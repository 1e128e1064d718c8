import { type Caller } from '../kit/auth.js';
import { canSee } from '../kit/access.js';
import type { Queryable } from '../kit/db/types.js';
import { appError, notFound } from '../kit/errors.js';
import { newId } from '../kit/ids.js';
import { assertSameRequest, requestHash } from '../kit/idempotency.js';
import { parseAccountId, parseId, parseIdempotencyKey, parseText } from './inputs.js';
import { approvalRefusal, quorumMet } from './domain/policy.js';
import { invalidState, requireCustodian, unknownAccount, type CustodyEnv } from './services.js';
import { PendingEvents } from './events.js';
import { MAX_CONSENT_SECONDS } from './dvp-signing.js';
import type { WalletKeys } from './keys.js';
import { effectivePolicy } from './policies.js';
import { refuseInFlight, replaceWallet } from './recovery.js';
import { activeWalletForUpdate, sweptWalletForUpdate } from './store/accounts.js';
import { consentInFlightOf } from './store/consents.js';
import { accountOwner } from './store/ledger.js';
import * as store from './store/sweeps.js';
import type { SweepRow } from './store/sweeps.js';

/**
 * Moving an account off a software-sealed wallet to one whose key is generated in the HSM
 * (SIGNER=pkcs11). A CUSTODIAN requests it; the account's withdrawal quorum approves it (the
 * initiator does not count). On quorum the old wallet is retired and the new HSM wallet opened
 * (as a recovery does), and the sweep mover (sweep-mover.ts) moves everything the old wallet
 * holds: the cash token (signed with the old sealed key), the security tokens (issuance's ERC-3643
 * recovery, asked over its internal call) and the native balance left for gas. The books never
 * move: balances belong to the account, and the indexer sees transfers between two wallets of one
 * account. Reservations stay as they are; approved withdrawals and DvP consents of the account
 * wait until the sweep is COMPLETED (internal-dvp.ts refuses with CUSTODY.WALLET_SWEEP_IN_PROGRESS).
 */
export interface RequestSweepInput { accountId: string; idempotencyKey: string }

const sweepPending = (s: SweepRow) =>
  appError('CUSTODY.SWEEP_PENDING', `account ${s.account_id} already has sweep ${s.id} (${s.status})`, { details: { sweepId: s.id, accountId: s.account_id } });

const sweepEvent = (s: SweepRow) => ({ sweepId: s.id, accountId: s.account_id, oldWallet: s.old_wallet, newWallet: s.new_wallet, status: s.status });

export async function requestWalletSweep(env: CustodyEnv, keys: WalletKeys, caller: Caller, raw: RequestSweepInput): Promise<SweepRow> {
  requireCustodian(caller);
  const input = { accountId: parseAccountId(raw.accountId), idempotencyKey: parseIdempotencyKey(raw.idempotencyKey) };
  const hash = requestHash({ accountId: input.accountId });
  const account = await accountOwner(env.db, input.accountId);
  // Another organisation's account does not exist for this caller (an investor of it neither: custodians only).
  if (!account || account.org !== caller.org || !canSee(caller, { org: account.org, investorId: account.investor_id })) throw unknownAccount(input.accountId);
  return env.db.tx(async (q) => {
    // The active wallet's row lock serialises sweeps and recoveries of one account.
    const old = await activeWalletForUpdate(q, account.id);
    const prior = await store.sweepByKey(q, caller.org, input.idempotencyKey);
    if (prior) {
      assertSameRequest(prior.request_hash, hash, input.idempotencyKey);
      return prior;
    }
    if (keys.kind !== 'pkcs11') throw appError('CUSTODY.SIGNER_NOT_PKCS11', 'wallets are swept to keys in an HSM: this custody service runs with SIGNER=software');
    if (!old) throw appError('CUSTODY.NO_WALLET', `account ${account.id} has no wallet`);
    const open = await store.openSweepOf(q, account.id);
    if (open) throw sweepPending(open);
    if (old.key_label) throw appError('CUSTODY.WALLET_IN_HSM', `the wallet ${old.address} of account ${account.id} already has its key in the HSM`, { details: { accountId: account.id, wallet: old.address } });
    await refuseInFlight(q, account.id, old.address, 'sweep');
    const { policy } = await effectivePolicy(q, env.defaults, account.org, account.id);
    const s = await store.insertSweep(q, {
      id: newId('swp'), org: account.org, account_id: account.id, old_wallet: old.address, initiated_by: caller.subject,
      approvals_required: policy.approvalsRequired, approvers: policy.approvers, idempotency_key: input.idempotencyKey, request_hash: hash, created_at: env.now(),
    });
    const events = new PendingEvents();
    events.add('wallet_sweep.requested', s.id, { ...sweepEvent(s), by: caller.subject });
    await events.appendTo(q);
    return s;
  });
}

/**
 * Refuses to retire a wallet whose DvP consent may still settle (it lives up to MAX_CONSENT_SECONDS): the batch would pay the account's
 * counter-asset into the old wallet after its sweep. Retry once the settlement is booked.
 */
async function refuseConsentsInFlight(q: Queryable, accountId: string, now: Date): Promise<void> {
  const c = await consentInFlightOf(q, accountId, new Date(now.getTime() - MAX_CONSENT_SECONDS * 1000));
  if (c) throw appError('CUSTODY.DVP_IN_FLIGHT', `a DvP consent of account ${accountId} (batch ${c.batch_id}) may still settle; sweep once it is booked`, { retryable: true, details: { accountId, batchId: c.batch_id } });
}

async function lockOwn(q: Queryable, caller: Caller, id: string): Promise<SweepRow> {
  const s = await store.sweepById(q, id, { forUpdate: true });
  if (!s || s.org !== caller.org) throw notFound('WalletSweep', id);
  return s;
}

export async function approveWalletSweep(env: CustodyEnv, keys: WalletKeys, caller: Caller, id: string): Promise<SweepRow> {
  requireCustodian(caller);
  parseId(id, 'swp', 'id');
  const now = env.now();
  return env.db.tx(async (q) => {
    const old = await sweptWalletForUpdate(q, id);
    const s = await lockOwn(q, caller, id);
    if (s.status !== 'PENDING_APPROVAL') throw invalidState('wallet sweep', id, s.status, 'PENDING_APPROVAL');
    const refusal = approvalRefusal({ approver: caller.subject, initiator: s.initiated_by, approvers: s.approvers });
    if (refusal) throw appError(refusal.code, refusal.message, { details: { sweepId: id } });
    const events = new PendingEvents();
    const added = await store.addSweepApproval(q, id, caller.subject, now);
    const approvals = (await store.sweepApprovals(q, [id])).length;
    if (added) events.add('wallet_sweep.approval_recorded', id, { sweepId: id, approver: caller.subject, approvals, approvalsRequired: s.approvals_required });
    let out = s;
    if (quorumMet(approvals, s.approvals_required)) {
      if (keys.kind !== 'pkcs11') throw appError('CUSTODY.SIGNER_NOT_PKCS11', 'wallets are swept to keys in an HSM: this custody service runs with SIGNER=software');
      if (!old || old.address !== s.old_wallet) throw invalidState('wallet sweep', id, 'stale (the account changed wallet since the request)', 'the requested wallet to be active');
      await refuseInFlight(q, s.account_id, old.address, 'sweep');
      await refuseConsentsInFlight(q, s.account_id, now);
      const fresh = await replaceWallet(q, keys, s.account_id, old.id, now);
      out = await store.setSweep(q, id, { status: 'MOVING', phase: 'CASH', new_wallet: fresh.address, next_attempt_at: now });
      const account = (await accountOwner(q, s.account_id))!;
      events.add('wallet_sweep.approved', id, sweepEvent(out));
      // What a recovery announces (the account's wallet changed); the sweep mover asks issuance for the security tokens itself.
      events.add('account.wallet_recovered', s.account_id, {
        accountId: s.account_id, investorId: account.investor_id, org: s.org, lostWallet: s.old_wallet, newWallet: fresh.address, reason: `sweep ${id} to the HSM`, by: caller.subject,
      });
    }
    await events.appendTo(q);
    return out;
  });
}

/** Any CUSTODIAN of the organisation, the initiator included, may stop a sweep not yet approved. */
export async function rejectWalletSweep(env: CustodyEnv, caller: Caller, id: string, reason: string): Promise<SweepRow> {
  requireCustodian(caller);
  parseId(id, 'swp', 'id');
  const why = parseText(reason, 'reason');
  return env.db.tx(async (q) => {
    const s = await lockOwn(q, caller, id);
    if (s.status !== 'PENDING_APPROVAL') throw invalidState('wallet sweep', id, s.status, 'PENDING_APPROVAL');
    const out = await store.setSweep(q, id, { status: 'REJECTED', decided_by: caller.subject, decision_reason: why });
    const events = new PendingEvents();
    events.add('wallet_sweep.rejected', id, { ...sweepEvent(out), by: caller.subject, reason: why });
    await events.appendTo(q);
    return out;
  });
}
