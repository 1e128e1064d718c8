import { type Caller } from '../kit/auth.js';
import { canSee } from '../kit/access.js';
import type { Queryable } from '../kit/db/types.js';
import { appError } from '../kit/errors.js';
import { assertSameRequest, requestHash } from '../kit/idempotency.js';
import { parseAccountId, parseIdempotencyKey, parseText } from './inputs.js';
import { requireCustodian, unknownAccount, type CustodyEnv } from './services.js';
import { PendingEvents } from './events.js';
import type { WalletKeys } from './keys.js';
import { activeWalletForUpdate, retireWallet, setWalletSuccessor } from './store/accounts.js';
import { accountOwner } from './store/ledger.js';
import { insertRecovery, recoveryByKey, type RecoveryRow } from './store/recoveries.js';
import { broadcastingWithdrawalOf } from './store/withdrawals.js';

export interface RecoverWalletInput { accountId: string; reason: string; idempotencyKey: string }

/**
 * Custody's half of a wallet recovery: the account gets a new wallet (its key
 * generated and sealed here) and the lost one is retired; the books do not
 * move, balances belong to the account. Issuance's ISSUER_AGENT then runs
 * `recoverInvestorWallet(investorId, lostWallet, newWallet)` (ERC-3643
 * recoveryAddress), and the indexer sees that transfer as one between two
 * wallets of the same account: no deposit, the account's onChain unchanged.
 * Refused while a withdrawal signed by the lost wallet is in flight.
 */
/** Refuses to replace a wallet while a withdrawal it signed is on its way (its nonce and funds are the old wallet's). */
export async function refuseInFlight(q: Queryable, accountId: string, wallet: string, what: string): Promise<void> {
  const w = await broadcastingWithdrawalOf(q, accountId);
  if (w) throw appError('CUSTODY.WITHDRAWAL_IN_FLIGHT', `withdrawal ${w.id} signed by ${wallet} is on its way; ${what} once it is done`, { details: { withdrawalId: w.id } });
}

/** Retires the account's active wallet and opens its successor (key where `keys` generates it); the books do not move. */
export async function replaceWallet(q: Queryable, keys: WalletKeys, accountId: string, oldWalletId: string, now: Date): Promise<{ id: string; address: string }> {
  await retireWallet(q, oldWalletId, now);
  const fresh = await keys.open(q, accountId);
  await setWalletSuccessor(q, oldWalletId, fresh.id);
  return fresh;
}

export async function recoverCustodyWallet(env: CustodyEnv, keys: WalletKeys, caller: Caller, raw: RecoverWalletInput): Promise<RecoveryRow> {
  requireCustodian(caller);
  const input = { accountId: parseAccountId(raw.accountId), reason: parseText(raw.reason, 'reason'), idempotencyKey: parseIdempotencyKey(raw.idempotencyKey) };
  const hash = requestHash({ accountId: input.accountId, reason: input.reason });
  const account = await accountOwner(env.db, input.accountId);
  if (!account || !canSee(caller, { org: account.org, investorId: account.investor_id })) throw unknownAccount(input.accountId);
  return env.db.tx(async (q) => {
    // The active wallet's row lock serialises recoveries of one account.
    const lost = await activeWalletForUpdate(q, account.id);
    const prior = await recoveryByKey(q, caller.org, input.idempotencyKey);
    if (prior) {
      assertSameRequest(prior.request_hash, hash, input.idempotencyKey);
      return prior;
    }
    if (!lost) throw appError('CUSTODY.NO_WALLET', `account ${account.id} has no wallet`);
    await refuseInFlight(q, account.id, lost.address, 'recover');
    const now = env.now();
    const fresh = await replaceWallet(q, keys, account.id, lost.id, now);
    const walletId = fresh.id;
    const row = await insertRecovery(q, {
      id: walletId, org: account.org, account_id: account.id, lost_wallet: lost.address, new_wallet: fresh.address, reason: input.reason,
      requested_by: caller.subject, idempotency_key: input.idempotencyKey, request_hash: hash, created_at: now,
    });
    const events = new PendingEvents();
    events.add('account.wallet_recovered', account.id, {
      accountId: account.id, investorId: account.investor_id, org: account.org, lostWallet: lost.address, newWallet: fresh.address, reason: input.reason, by: caller.subject,
    });
    await events.appendTo(q);
    return row;
  });
}
