import type { Queryable } from '../../kit/db/types.js';

/** SQL of chain facts: the DvP contract in use (chain_settings) and the spender approvals already given. */

export async function approvalKnown(q: Queryable, wallet: string, token: string, spender: string): Promise<boolean> {
  const [r] = await q.query('SELECT 1 FROM spender_approvals WHERE wallet = lower($1) AND token = lower($2) AND spender = lower($3)', [wallet, token, spender]);
  return !!r;
}
export async function recordApproval(q: Queryable, wallet: string, token: string, spender: string, txHash: string | null): Promise<void> {
  await q.query('INSERT INTO spender_approvals (wallet, token, spender, tx_hash) VALUES (lower($1), lower($2), lower($3), $4) ON CONFLICT DO NOTHING', [wallet, token, spender, txHash]);
}

export async function chainSetting(q: Queryable, name: string): Promise<string | null> {
  const [r] = await q.query<{ value: string }>('SELECT value FROM chain_settings WHERE name = $1', [name]);
  return r?.value ?? null;
}
/** Records a value unless one is there; returns the value that stands. */
export async function putChainSetting(q: Queryable, name: string, value: string): Promise<string> {
  await q.query('INSERT INTO chain_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, value]);
  return (await chainSetting(q, name))!;
}
