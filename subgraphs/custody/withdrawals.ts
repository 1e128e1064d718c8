import { type Caller } from '../kit/auth.js';
import { canSee, requireRole } from '../kit/access.js';
import { appError, notFound } from '../kit/errors.js';
import { assertSameRequest, requestHash } from '../kit/idempotency.js';
import { PendingEvents } from './events.js';
import { invalidState, requireCustodian, unknownAccount, unknownAsset, type CustodyEnv } from './services.js';
import { CASH, parseAccountId, parseAmount, parseAsset, parseDestination, parseId, parseIdempotencyKey, parseText } from './inputs.js';
import { approvalRefusal, checkWithdrawal, quorumMet, type Refusal } from './domain/policy.js';
import { newId } from '../kit/ids.js';
import { OWN_SERVICE, releaseIn, reserveIn } from './ledger.js';
import { effectivePolicy } from './policies.js';
import { isWalletOfAccount, walletOfAccount } from './store/accounts.js';
import { accountOwner, assetById, balanceOf } from './store/ledger.js';
import * as store from './store/withdrawals.js';
import type { DestinationRow, WithdrawalRow } from './store/withdrawals.js';

/**
 * Withdrawals to outside addresses. A request that passes the policy
 * reserves its amount and waits for the quorum; once approved the
 * broadcaster sends it (broadcaster.ts). Refusals by policy or compliance
 * come back in the payload with every reason; bad input is thrown.
 */
export interface RequestWithdrawalInput { accountId: string; asset: string; amount: bigint; toAddress: string; idempotencyKey: string }
export interface RequestWithdrawalResult { withdrawal: WithdrawalRow | null; refusals: Refusal[] }

/** The reservation behind a withdrawal is custody's own, keyed by the withdrawal. */
export const CUSTODY_SERVICE = OWN_SERVICE;
export const withdrawalReservationKey = (withdrawalId: string) => `withdrawal:${withdrawalId}`;

async function visibleAccount(env: CustodyEnv, caller: Caller, accountId: string) {
  const a = await accountOwner(env.db, accountId);
  if (!a || !canSee(caller, { org: a.org, investorId: a.investor_id })) throw unknownAccount(accountId);
  return a;
}

export async function requestWithdrawal(env: CustodyEnv, caller: Caller, raw: RequestWithdrawalInput): Promise<RequestWithdrawalResult> {
  requireRole(caller, 'CUSTODIAN', 'INVESTOR');
  if (caller.kind !== 'user') throw appError('FORBIDDEN', 'withdrawals are requested by people, not services');
  const input = {
    accountId: parseAccountId(raw.accountId),
    asset: parseAsset(raw.asset),
    amount: parseAmount(raw.amount),
    toAddress: parseDestination(raw.toAddress),
    idempotencyKey: parseIdempotencyKey(raw.idempotencyKey),
  };
  const hash = requestHash({ accountId: input.accountId, asset: input.asset, amount: input.amount, toAddress: input.toAddress });
  const replay = async (w: WithdrawalRow | null) => {
    if (!w) return null;
    assertSameRequest(w.request_hash, hash, input.idempotencyKey);
    return { withdrawal: w, refusals: [] };
  };
  const prior = await replay(await store.withdrawalByKey(env.db, caller.org, input.idempotencyKey));
  if (prior) return prior;

  const account = await visibleAccount(env, caller, input.accountId);
  const asset = await assetById(env.db, input.asset);
  if (!asset) throw unknownAsset(input.asset);
  const wallet = await walletOfAccount(env.db, account.id);
  if (!wallet) throw appError('CUSTODY.NO_WALLET', `account ${account.id} has no wallet`);

  // Compliance before anything is reserved; a network call, so outside the transaction.
  const eligibility = input.asset === CASH ? [] : (await env.eligibility.check({
    tokenId: input.asset, fromInvestorId: account.investor_id, fromAccountId: account.id, fromAddress: wallet,
    toAddress: input.toAddress, amount: input.amount,
  })).reasons;

  const now = env.now();
  return env.db.tx(async (q) => {
    // The balance row lock serialises requests on this balance: availability and velocity are read under it.
    const balance = await balanceOf(q, account.id, input.asset, { forUpdate: true });
    const again = await replay(await store.withdrawalByKey(q, caller.org, input.idempotencyKey));
    if (again) return again;
    const { policy } = await effectivePolicy(q, env.defaults, account.org, account.id);
    const destination = await store.activeDestination(q, account.id, input.toAddress);
    const refusals = [
      ...checkWithdrawal({
        policy, asset: input.asset, amount: input.amount, now,
        destination: destination ? { usableFrom: destination.usable_from } : null,
        toOwnWallet: await isWalletOfAccount(q, account.id, input.toAddress),
        windowSum: await store.windowSum(q, account.id, input.asset, new Date(now.getTime() - policy.velocityWindowSeconds * 1000)),
        available: balance ? BigInt(balance.total) - BigInt(balance.reserved) : 0n,
        onChain: !!asset.contract_address,
      }),
      ...eligibility,
    ];
    if (refusals.length) return { withdrawal: null, refusals };

    const id = newId('wdr');
    const events = new PendingEvents();
    const { reservation } = await reserveIn(q, CUSTODY_SERVICE, {
      accountId: account.id, asset: input.asset, amount: input.amount, idempotencyKey: withdrawalReservationKey(id), reason: `withdrawal ${id}`,
    }, events);
    const w = await store.insertWithdrawal(q, {
      id, org: account.org, account_id: account.id, asset: input.asset, amount: input.amount.toString(), to_address: input.toAddress,
      destination_id: destination!.id, reservation_id: reservation.reservationId, initiated_by: caller.subject,
      approvals_required: policy.approvalsRequired, approvers: policy.approvers,
      idempotency_key: input.idempotencyKey, request_hash: hash, created_at: now,
    });
    events.add('withdrawal.requested', w.id, withdrawalEvent(w));
    await events.appendTo(q);
    return { withdrawal: w, refusals: [] };
  });
}

const withdrawalEvent = (w: WithdrawalRow) => ({
  withdrawalId: w.id, accountId: w.account_id, asset: w.asset, amount: w.amount, toAddress: w.to_address, status: w.status,
});

/** Locks a withdrawal of the caller's organisation; another organisation's does not exist for them. */
async function lockOwn(q: Parameters<typeof store.withdrawalById>[0], caller: Caller, id: string): Promise<WithdrawalRow> {
  const w = await store.withdrawalById(q, id, { forUpdate: true });
  if (!w || w.org !== caller.org) throw notFound('Withdrawal', id);
  return w;
}

export async function approveWithdrawal(env: CustodyEnv, caller: Caller, id: string): Promise<WithdrawalRow> {
  requireCustodian(caller);
  parseId(id, 'wdr', 'id');
  const now = env.now();
  return env.db.tx(async (q) => {
    const w = await lockOwn(q, caller, id);
    if (w.status !== 'PENDING_APPROVAL') throw invalidState('withdrawal', id, w.status, 'PENDING_APPROVAL');
    const refusal = approvalRefusal({ approver: caller.subject, initiator: w.initiated_by, approvers: w.approvers });
    if (refusal) throw appError(refusal.code, refusal.message, { details: { withdrawalId: id } });
    const events = new PendingEvents();
    const added = await store.addWithdrawalApproval(q, id, caller.subject, now);
    const approvals = (await store.withdrawalApprovals(q, [id])).length;
    let out = w;
    if (added) events.add('withdrawal.approval_recorded', id, { withdrawalId: id, approver: caller.subject, approvals, approvalsRequired: w.approvals_required });
    if (quorumMet(approvals, w.approvals_required)) {
      // Queued for the broadcaster.
      out = await store.setWithdrawal(q, id, { status: 'APPROVED', next_attempt_at: now });
      events.add('withdrawal.approved', id, withdrawalEvent(out));
    }
    await events.appendTo(q);
    return out;
  });
}

/** Any CUSTODIAN of the organisation, the initiator included, may stop a withdrawal not yet sent. */
export async function rejectWithdrawal(env: CustodyEnv, caller: Caller, id: string, reason: string): Promise<WithdrawalRow> {
  requireCustodian(caller);
  parseId(id, 'wdr', 'id');
  const why = parseText(reason, 'reason');
  return env.db.tx(async (q) => {
    const w = await lockOwn(q, caller, id);
    if (w.status !== 'PENDING_APPROVAL' && w.status !== 'APPROVED') throw invalidState('withdrawal', id, w.status, 'PENDING_APPROVAL or APPROVED');
    const events = new PendingEvents();
    await releaseIn(q, CUSTODY_SERVICE, { ref: { reservationId: w.reservation_id } }, events);
    const out = await store.setWithdrawal(q, id, { status: 'REJECTED', decided_by: caller.subject, decision_reason: why, next_attempt_at: null });
    events.add('withdrawal.rejected', id, { ...withdrawalEvent(out), by: caller.subject, reason: why });
    await events.appendTo(q);
    return out;
  });
}

export interface AddDestinationInput { accountId: string; address: string; label: string }

/** Adds an address to the account's allow-list, usable after the policy's delay. Adding a listed address returns its entry. */
export async function addWithdrawalDestination(env: CustodyEnv, caller: Caller, raw: AddDestinationInput): Promise<DestinationRow> {
  requireCustodian(caller);
  const accountId = parseAccountId(raw.accountId);
  const address = parseDestination(raw.address, 'address');
  const label = parseText(raw.label, 'label', 100);
  const account = await visibleAccount(env, caller, accountId);
  const now = env.now();
  return env.db.tx(async (q) => {
    if (await isWalletOfAccount(q, account.id, address)) {
      throw appError('CUSTODY.OWN_WALLET', `${address} is a custody wallet of account ${account.id}: a withdrawal to it would move nothing`, { details: { accountId: account.id, address } });
    }
    const { policy } = await effectivePolicy(q, env.defaults, account.org, account.id);
    const { row, created } = await store.insertDestination(q, {
      id: newId('dst'), account_id: account.id, address, label, added_by: caller.subject,
      usable_from: new Date(now.getTime() + policy.destinationDelaySeconds * 1000), created_at: now,
    });
    if (created) {
      const events = new PendingEvents();
      events.add('destination.added', account.id, { destinationId: row.id, accountId: account.id, address, label, addedBy: caller.subject, usableFrom: row.usable_from });
      await events.appendTo(q);
    }
    return row;
  });
}

export async function removeWithdrawalDestination(env: CustodyEnv, caller: Caller, id: string): Promise<DestinationRow> {
  requireCustodian(caller);
  parseId(id, 'dst', 'id');
  return env.db.tx(async (q) => {
    const d = await store.destinationById(q, id, { forUpdate: true });
    const a = d ? await accountOwner(q, d.account_id) : null;
    if (!d || !a || a.org !== caller.org) throw notFound('WithdrawalDestination', id);
    if (d.removed_at) return d;
    const out = await store.removeDestination(q, id, caller.subject, env.now());
    const events = new PendingEvents();
    events.add('destination.removed', d.account_id, { destinationId: id, accountId: d.account_id, address: d.address, removedBy: caller.subject });
    await events.appendTo(q);
    return out;
  });
}
