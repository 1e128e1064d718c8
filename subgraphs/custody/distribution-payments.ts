import type { Queryable } from '../kit/db/types.js';
import { errorCode } from '../kit/errors.js';
import { newId } from '../kit/ids.js';
import { isId } from '../kit/inputs.js';
import { requestHash } from '../kit/idempotency.js';
import { PendingEvents } from './events.js';
import { reserveIn } from './ledger.js';
import { accountOwner, assetById } from './store/ledger.js';
import { isWalletOfAccount, walletOfAccount } from './store/accounts.js';
import { insertPaymentWithdrawal, paymentWithdrawal } from './store/distribution-payments.js';
import type { WithdrawalRow } from './store/withdrawals.js';
import { CUSTODY_SERVICE, withdrawalReservationKey } from './withdrawals.js';

/**
 * Pays distributions issuance instructs (its `distribution.payment` events, one per batch), each
 * entitlement's net amount from the issuer's paying account to the holder's registered wallet: a
 * custody wallet (the holder's account is credited by the indexer, as for any withdrawal into
 * custody) or an outside one. Each (entitlement, attempt) becomes one approved withdrawal, created
 * with its reservation in the consumer's transaction (the cursor moves with it: a replay creates
 * nothing), and the broadcaster sends it with its restart guarantees. The outcome goes back to
 * issuance as `distribution.payment_result`: PAID with the transaction, FAILED with the reason
 * (here when the payment cannot even be set up, from the broadcaster when the transfer failed), or
 * SKIPPED when the holder's wallet is a custody wallet of the paying account itself (active or
 * retired): the chain would move nothing, or only between the account's own wallets, while the books
 * consumed the amount; a holder that is the payer is owed nothing from itself.
 */
export interface PaymentItem { entitlementId: string; attempt: number; investorId: string; toAddress: string; amount: string }
export interface PaymentInstruction { distributionId: string; tokenId: string; asset: string; payingAccountId: string; items: PaymentItem[] }

export const paymentResult = (w: Pick<WithdrawalRow, 'id' | 'entitlement_id' | 'entitlement_attempt' | 'tx_hash' | 'to_address'>, status: 'PAID' | 'FAILED', reason: string | null) => ({
  entitlementId: w.entitlement_id, attempt: w.entitlement_attempt, status, txHash: status === 'PAID' ? w.tx_hash : null, withdrawalId: w.id, toAddress: w.to_address, reason,
});

const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

/** Why an instruction cannot be paid before anything is reserved, or null. */
async function refusal(q: Queryable, b: PaymentInstruction, it: PaymentItem): Promise<string | null> {
  if (!ADDRESS.test(it.toAddress)) return `the holder's wallet ${String(it.toAddress).slice(0, 60)} is not an address`;
  if (!/^[1-9]\d{0,77}$/.test(it.amount)) return `the amount ${String(it.amount).slice(0, 80)} is not a positive integer`;
  if (!isId(b.payingAccountId, 'acc') || !(await accountOwner(q, b.payingAccountId))) return `the paying account ${b.payingAccountId} does not exist at custody`;
  const asset = await assetById(q, b.asset);
  if (!asset?.contract_address) return `custody holds no ${b.asset} on chain`;
  if (!(await walletOfAccount(q, b.payingAccountId))) return `the paying account ${b.payingAccountId} has no wallet`;
  return null;
}

export async function payInstruction(q: Queryable, b: PaymentInstruction, now: Date): Promise<void> {
  const events = new PendingEvents();
  for (const it of b.items) {
    // At most one payment per (entitlement, attempt), and none while another attempt of it is alive.
    if (await paymentWithdrawal(q, it.entitlementId)) continue;
    const result = (status: 'FAILED' | 'SKIPPED', reason: string) => events.add('distribution.payment_result', it.entitlementId, { entitlementId: it.entitlementId, attempt: it.attempt, status, reason });
    const failed = (reason: string) => result('FAILED', reason);
    const why = await refusal(q, b, it);
    if (why) {
      failed(why);
      continue;
    }
    if (await isWalletOfAccount(q, b.payingAccountId, it.toAddress)) {
      result('SKIPPED', `the holder's wallet ${it.toAddress} is a custody wallet of the paying account ${b.payingAccountId}: a payment from the account to itself moves nothing`);
      continue;
    }
    const account = (await accountOwner(q, b.payingAccountId))!;
    const id = newId('wdr');
    const size = events.size;
    try {
      const { reservation } = await reserveIn(q, CUSTODY_SERVICE, {
        accountId: account.id, asset: b.asset, amount: BigInt(it.amount), idempotencyKey: withdrawalReservationKey(id), reason: `distribution ${b.distributionId} entitlement ${it.entitlementId}`,
      }, events);
      const w = await insertPaymentWithdrawal(q, {
        id, org: account.org, account_id: account.id, asset: b.asset, amount: it.amount, to_address: it.toAddress, reservation_id: reservation.reservationId,
        entitlement_id: it.entitlementId, entitlement_attempt: it.attempt, idempotency_key: `distribution:${it.entitlementId}:${it.attempt}`,
        request_hash: requestHash(it), created_at: now,
      });
      events.add('withdrawal.approved', w.id, { withdrawalId: w.id, accountId: w.account_id, asset: w.asset, amount: w.amount, toAddress: w.to_address, status: w.status, entitlementId: it.entitlementId });
    } catch (e) {
      // Short of funds (the only refusal reserveIn returns without aborting the transaction): FAILED, retried by issuance later.
      if (errorCode(e) !== 'CUSTODY.INSUFFICIENT_AVAILABLE') throw e;
      events.truncate(size);
      failed(`the paying account ${b.payingAccountId} has less than ${it.amount} ${b.asset} available`);
    }
  }
  await events.appendTo(q);
}
