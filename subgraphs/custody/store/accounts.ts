import type { Queryable } from '../../kit/db/types.js';
import { insertOnce } from '../../kit/idempotency.js';

export interface AccountRow {
  id: string; org: string; investor_id: string; kind: string; idempotency_key: string; request_hash: string;
  created_at: Date; wallet_address: string;
}

// Accounts are read with their active wallet's address (recovery retires the old one); keys are never selected here.
const ACCOUNT_SELECT = `SELECT a.*, (SELECT w.address FROM wallets w WHERE w.account_id = a.id AND w.retired_at IS NULL) AS wallet_address
  FROM custody_accounts a`;

export async function insertAccount(q: Queryable, a: Omit<AccountRow, 'created_at' | 'wallet_address'>) {
  return insertOnce<Omit<AccountRow, 'wallet_address'>>(
    q,
    {
      sql: `INSERT INTO custody_accounts (id, org, investor_id, kind, idempotency_key, request_hash)
            VALUES ($1,$2,$3,$4,$5,$6) ON CONFLICT (org, idempotency_key) DO NOTHING RETURNING *`,
      params: [a.id, a.org, a.investor_id, a.kind, a.idempotency_key, a.request_hash],
    },
    { sql: 'SELECT * FROM custody_accounts WHERE org = $1 AND idempotency_key = $2', params: [a.org, a.idempotency_key] },
    a.request_hash,
    a.idempotency_key,
  );
}

/** A wallet row: its key sealed (encrypted + kekId) or in an HSM (keyLabel). */
export async function insertWallet(q: Queryable, w: { id: string; accountId: string; address: string; encrypted?: Buffer; kekId?: string; keyLabel?: string }) {
  await q.query('INSERT INTO wallets (id, account_id, address, encrypted_key, kek_id, key_label) VALUES ($1,$2,$3,$4,$5,$6)',
    [w.id, w.accountId, w.address, w.encrypted ?? null, w.kekId ?? null, w.keyLabel ?? null]);
}

export const accountsByIds = (q: Queryable, ids: readonly string[]) =>
  q.query<AccountRow>(`${ACCOUNT_SELECT} WHERE a.id = ANY($1::text[])`, [ids]);

export const accountsByInvestors = (q: Queryable, investorIds: readonly string[]) =>
  q.query<AccountRow>(`${ACCOUNT_SELECT} WHERE a.investor_id = ANY($1::text[]) ORDER BY a.created_at, a.id`, [investorIds]);

export const accountsOfOrg = (q: Queryable, org: string) =>
  q.query<AccountRow>(`${ACCOUNT_SELECT} WHERE a.org = $1 ORDER BY a.created_at, a.id`, [org]);

/** The sealed key of a wallet, for the signing path only. */
/** Where a wallet's key is: sealed in the row, or labelled in the HSM. */
export async function walletKeyOf(q: Queryable, address: string): Promise<{ address: string; encrypted_key: Buffer | null; key_label: string | null } | null> {
  const [r] = await q.query<{ encrypted_key: Buffer | Uint8Array | null; address: string; key_label: string | null }>('SELECT address, encrypted_key, key_label FROM wallets WHERE address = $1', [address]);
  return r ? { address: r.address, encrypted_key: r.encrypted_key ? Buffer.from(r.encrypted_key) : null, key_label: r.key_label } : null;
}

/** The account's active wallet: the one that signs (withdrawals, DvP consents). */
export async function walletOfAccount(q: Queryable, accountId: string): Promise<string | null> {
  const [r] = await q.query<{ address: string }>('SELECT address FROM wallets WHERE account_id = $1 AND retired_at IS NULL', [accountId]);
  return r?.address ?? null;
}

/** Whether the address is one of the account's custody wallets, active or retired. */
export async function isWalletOfAccount(q: Queryable, accountId: string, address: string): Promise<boolean> {
  const rows = await q.query('SELECT 1 FROM wallets WHERE account_id = $1 AND lower(address) = lower($2)', [accountId, address]);
  return rows.length > 0;
}

export interface WalletRow { id: string; account_id: string; address: string; created_at: Date; retired_at: Date | null; replaced_by: string | null }

/** Every wallet of the accounts, retired ones included (never the keys). */
export const walletsOfAccounts = (q: Queryable, accountIds: readonly string[]) =>
  q.query<WalletRow>('SELECT id, account_id, address, created_at, retired_at, replaced_by FROM wallets WHERE account_id = ANY($1::text[]) ORDER BY created_at, id', [accountIds]);

/** The account's active wallet, locked: its row lock serialises sweeps and recoveries of one account. */
export async function activeWalletForUpdate(q: Queryable, accountId: string): Promise<{ id: string; address: string; key_label: string | null } | null> {
  const [r] = await q.query<{ id: string; address: string; key_label: string | null }>('SELECT id, address, key_label FROM wallets WHERE account_id = $1 AND retired_at IS NULL FOR UPDATE', [accountId]);
  return r ?? null;
}

/** The active wallet of a sweep's account, locked (taken before the sweep's own row, as a request takes them). */
export async function sweptWalletForUpdate(q: Queryable, sweepId: string): Promise<{ id: string; address: string } | null> {
  const [r] = await q.query<{ id: string; address: string }>(
    'SELECT w.id, w.address FROM wallets w JOIN wallet_sweeps s ON s.account_id = w.account_id WHERE s.id = $1 AND w.retired_at IS NULL FOR UPDATE OF w', [sweepId]);
  return r ?? null;
}

export const retireWallet = (q: Queryable, walletId: string, at: Date) =>
  q.query('UPDATE wallets SET retired_at = $2 WHERE id = $1', [walletId, at]);

export const setWalletSuccessor = (q: Queryable, walletId: string, successorId: string) =>
  q.query('UPDATE wallets SET replaced_by = $2 WHERE id = $1', [walletId, successorId]);
