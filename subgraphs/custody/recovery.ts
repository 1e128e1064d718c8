import { type Caller } from '../kit/auth.js';
import { canSee } from '../kit/access.js';
import type { Queryable } from '../kit/db/types.js';
import { appError } from '../kit/errors.js';
import { assertSameRequest, requestHash } from '../kit/idempotency.js';
import { parseAccountId, parseIdempotencyKey, parseText } from './domain/inputs.js';
import { requireCustodian, unknownAccount, type CustodyEnv } from './services.js';
import { PendingEvents } from './events.js';
import type { WalletKeys } from './keys.js';
import { accountOwner } from './store-ledger.js';

export interface RecoverWalletInput { accountId: string; reason: string; idempotencyKey: string }
export interface RecoveryRow {
  id: string; org: string; account_id: string; lost_wallet: string; new_wallet: string; reason: string;
  requested_by: string; idempotency_key: string; request_hash: string; created_at: Date;
}

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
  const [w] = await q.query<{ id: string }>(`SELECT id FROM withdrawals WHERE account_id = $1 AND status = 'BROADCASTING' LIMIT 1`, [accountId]);
  if (w) throw appError('CUSTODY.WITHDRAWAL_IN_FLIGHT', `withdrawal ${w.id} signed by ${wallet} is on its way; ${what} once it is done`, { details: { withdrawalId: w.id } });
}

/** Retires the account's active wallet and opens its successor (key where `keys` generates it); the books do not move. */
export async function replaceWallet(q: Queryable, keys: WalletKeys, accountId: string, oldWalletId: string, now: Date): Promise<{ id: string; address: string }> {
  await q.query('UPDATE wallets SET retired_at = $2 WHERE id = $1', [oldWalletId, now]);
  const fresh = await keys.open(q, accountId);
  await q.query('UPDATE wallets SET replaced_by = $2 WHERE id = $1', [oldWalletId, fresh.id]);
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
    const [lost] = await q.query<{ id: string; address: string }>('SELECT id, address FROM wallets WHERE account_id = $1 AND retired_at IS NULL FOR UPDATE', [account.id]);
    const [prior] = await q.query<RecoveryRow>('SELECT * FROM wallet_recoveries WHERE org = $1 AND idempotency_key = $2', [caller.org, input.idempotencyKey]);
    if (prior) {
      assertSameRequest(prior.request_hash, hash, input.idempotencyKey);
      return prior;
    }
    if (!lost) throw appError('CUSTODY.NO_WALLET', `account ${account.id} has no wallet`);
    await refuseInFlight(q, account.id, lost.address, 'recover');
    const now = env.now();
    const fresh = await replaceWallet(q, keys, account.id, lost.id, now);
    const walletId = fresh.id;
    const [row] = await q.query<RecoveryRow>(
      `INSERT INTO wallet_recoveries (id, org, account_id, lost_wallet, new_wallet, reason, requested_by, idempotency_key, request_hash, created_at)
       VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING *`,
      [walletId, account.org, account.id, lost.address, fresh.address, input.reason, caller.subject, input.idempotencyKey, hash, now],
    );
    const events = new PendingEvents();
    events.add('account.wallet_recovered', account.id, {
      accountId: account.id, investorId: account.investor_id, org: account.org, lostWallet: lost.address, newWallet: fresh.address, reason: input.reason, by: caller.subject,
    });
    await events.appendTo(q);
    return row;
  });
}
