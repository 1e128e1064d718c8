import type { Queryable } from '../../kit/db/types.js';

/** SQL of what custody reads from the chain: cursors, movements of our wallets, deposits. */

export const assetCursor = (asset: string) => `asset:${asset}`;

export interface OurWallet { address: string; account_id: string }
export interface MovementRow {
  txHash: string; logIndex: number; wallet: string; accountId: string; asset: string; counterparty: string;
  delta: bigint; kind: 'DEPOSIT' | 'INTERNAL' | 'OUTGOING'; block: number; blockTime: Date;
}
export interface DepositRow {
  tx_hash: string; log_index: number; account_id: string; asset: string; wallet: string; from_address: string;
  amount: string; block: string; block_time: Date; operation_id: string; credited_at: Date;
}

/** Assets the indexer follows: those with a contract address. */
export const indexedAssets = (q: Queryable) =>
  q.query<{ id: string; contract_address: string }>('SELECT id, contract_address FROM assets WHERE contract_address IS NOT NULL ORDER BY id');

/** Custody wallets (active or retired) among the addresses, by lower-cased address. */
export async function ourWallets(q: Queryable, addresses: readonly string[]): Promise<Map<string, OurWallet>> {
  if (!addresses.length) return new Map();
  const rows = await q.query<OurWallet>('SELECT address, account_id FROM wallets WHERE lower(address) = ANY($1::text[])', [[...new Set(addresses.map((a) => a.toLowerCase()))]]);
  return new Map(rows.map((r) => [r.address.toLowerCase(), r]));
}

/** Which of the transactions are withdrawals custody signed. */
export async function withdrawalTxs(q: Queryable, hashes: readonly string[]): Promise<Set<string>> {
  if (!hashes.length) return new Set();
  const rows = await q.query<{ tx_hash: string }>('SELECT tx_hash FROM withdrawals WHERE tx_hash = ANY($1::text[])', [[...new Set(hashes)]]);
  return new Set(rows.map((r) => r.tx_hash));
}

export const movementKey = (m: { txHash: string; logIndex: number; wallet: string }) => `${m.txHash}:${m.logIndex}:${m.wallet.toLowerCase()}`;

/**
 * Records wallet sides of logs and moves each account's on-chain figure by those recorded now, in one
 * statement for the lot (the balance rows in key order); answers the keys (movementKey) recorded now,
 * a side recorded before being left as it was.
 */
export async function recordMovements(q: Queryable, ms: readonly MovementRow[]): Promise<Set<string>> {
  if (!ms.length) return new Set();
  const rows = await q.query<{ tx_hash: string; log_index: number; wallet: string }>(
    `WITH m AS (
       SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[])
         AS m(tx_hash, log_index, wallet, account_id, asset, counterparty, delta, kind, block, block_time)
     ), ins AS (
       INSERT INTO chain_movements (tx_hash, log_index, wallet, account_id, asset, counterparty, delta, kind, block, block_time)
       SELECT tx_hash, log_index, wallet, account_id, asset, counterparty, delta::numeric, kind, block, block_time::timestamptz FROM m
       ON CONFLICT DO NOTHING RETURNING tx_hash, log_index, wallet, account_id, asset, delta
     ), bal AS (
       INSERT INTO balances AS b (account_id, asset, on_chain)
       SELECT account_id, asset, sum(delta) FROM ins GROUP BY account_id, asset ORDER BY account_id, asset
       ON CONFLICT (account_id, asset) DO UPDATE SET on_chain = coalesce(b.on_chain, 0) + EXCLUDED.on_chain
     )
     SELECT tx_hash, log_index, wallet FROM ins`,
    [ms.map((m) => m.txHash), ms.map((m) => m.logIndex), ms.map((m) => m.wallet), ms.map((m) => m.accountId), ms.map((m) => m.asset), ms.map((m) => m.counterparty),
      ms.map((m) => m.delta.toString()), ms.map((m) => m.kind), ms.map((m) => m.block), ms.map((m) => m.blockTime.toISOString())],
  );
  return new Set(rows.map((r) => movementKey({ txHash: r.tx_hash, logIndex: r.log_index, wallet: r.wallet })));
}

export async function insertDeposit(q: Queryable, d: Omit<DepositRow, 'credited_at' | 'block'> & { block: number }): Promise<void> {
  await q.query(
    `INSERT INTO deposits (tx_hash, log_index, account_id, asset, wallet, from_address, amount, block, block_time, operation_id)
     VALUES ($1,$2,$3,$4,$5,$6,$7::numeric,$8,$9,$10)`,
    [d.tx_hash, d.log_index, d.account_id, d.asset, d.wallet, d.from_address, d.amount, d.block, d.block_time, d.operation_id],
  );
}

export const setCursorTime = (q: Queryable, name: string, time: Date) =>
  q.query('UPDATE chain_cursors SET block_time = $2 WHERE name = $1', [name, time]);

export const depositsOfAccounts = (q: Queryable, accountIds: readonly string[]) =>
  q.query<DepositRow>('SELECT * FROM deposits WHERE account_id = ANY($1::text[]) ORDER BY block DESC, log_index DESC', [accountIds]);

export const depositsOfOrg = (q: Queryable, org: string, f: { accountId: string | null; asset: string | null }) =>
  q.query<DepositRow>(
    `SELECT d.* FROM deposits d JOIN custody_accounts a ON a.id = d.account_id
     WHERE a.org = $1 AND ($2::text IS NULL OR d.account_id = $2) AND ($3::text IS NULL OR d.asset = $3)
     ORDER BY d.block DESC, d.log_index DESC`,
    [org, f.accountId, f.asset],
  );

/** Indexed block (and its time) per asset, for `onChainBlock`. */
export const cursorsOfAssets = (q: Queryable, assets: readonly string[]) =>
  q.query<{ asset: string; block: string; block_time: Date | null }>(
    `SELECT substr(name, 7) AS asset, block, block_time FROM chain_cursors WHERE name = ANY($1::text[])`,
    [assets.map(assetCursor)],
  );
