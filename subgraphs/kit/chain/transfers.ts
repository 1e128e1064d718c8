// ERC-20 / ERC-3643 Transfer logs read from a durable block cursor: what every indexer of balances shares.
import { getAddress, id as topicId, type JsonRpcProvider, type Log } from 'ethers';
import type { Db, Queryable } from '../db/types.js';

export const TRANSFER_TOPIC = topicId('Transfer(address,address,uint256)');
export const ZERO_ADDRESS = '0x0000000000000000000000000000000000000000';

/** The checksummed address in an indexed 32-byte topic. */
export const topicAddress = (topic: string): string => getAddress('0x' + topic.slice(26));

export interface TransferLog {
  from: string;
  to: string;
  amount: bigint;
  txHash: string;
  logIndex: number;
  block: number;
}

export const decodeTransfer = (l: Log): TransferLog => ({
  from: topicAddress(l.topics[1]), to: topicAddress(l.topics[2]), amount: BigInt(l.data),
  txHash: l.transactionHash, logIndex: l.index, block: l.blockNumber,
});

/** The timestamp of each block asked for, one request per distinct block. */
export async function blockTimes(provider: JsonRpcProvider, blocks: readonly number[]): Promise<Map<number, Date>> {
  const times = new Map<number, Date>();
  for (const b of blocks) {
    if (!times.has(b)) times.set(b, new Date(Number((await provider.getBlock(b))!.timestamp) * 1000));
  }
  return times;
}

export interface TransferScan {
  db: Db;
  provider: JsonRpcProvider;
  /** Row of the `chain_cursors (name, block)` table this scan moves. */
  cursor: string;
  /** Contract whose Transfer logs are read. */
  token: string;
  /** Where the cursor starts when it has no row yet (the last block already covered). */
  initialBlock: number;
  /** Last block to read (the confirmed head). */
  head: number;
  /** Most blocks asked for in one eth_getLogs (nodes cap the range). */
  maxRange: number;
  /** Applies one range inside the transaction that moves the cursor to `to`; `times` holds every log's block and `to`. */
  apply(q: Queryable, logs: Log[], range: { from: number; to: number; times: Map<number, Date> }): Promise<void>;
}

/**
 * Reads Transfer logs range by range up to the head. Each range is applied in
 * one transaction together with the cursor, so a restart resumes exactly where
 * the last commit stopped and no log is applied twice; the cursor row is the
 * lock, so two replicas never apply the same range. Returns the ranges applied.
 */
export async function scanTransfers(s: TransferScan): Promise<number> {
  let applied = 0;
  for (;;) {
    const [c] = await s.db.query<{ block: string }>('SELECT block FROM chain_cursors WHERE name = $1', [s.cursor]);
    const from = Number(c?.block ?? s.initialBlock) + 1;
    if (from > s.head) return applied;
    const to = Math.min(s.head, from + s.maxRange - 1);
    const logs = await s.provider.getLogs({ address: s.token, topics: [TRANSFER_TOPIC], fromBlock: from, toBlock: to });
    // Network reads before the transaction: PGlite has one connection, a transaction waiting on the node would stall every query.
    const times = await blockTimes(s.provider, [...logs.map((l) => l.blockNumber), to]);
    const moved = await s.db.tx(async (q) => {
      await q.query('INSERT INTO chain_cursors (name, block) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [s.cursor, from - 1]);
      const [cur] = await q.query<{ block: string }>('SELECT block FROM chain_cursors WHERE name = $1 FOR UPDATE', [s.cursor]);
      if (Number(cur.block) !== from - 1) return false; // another replica took this range
      await s.apply(q, logs, { from, to, times });
      await q.query('UPDATE chain_cursors SET block = $2 WHERE name = $1', [s.cursor, to]);
      return true;
    });
    if (moved) applied++;
  }
}
