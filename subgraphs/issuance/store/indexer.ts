import type { Queryable } from '../../kit/db/types.js';
import type { LotRow } from './holdings.js';

/**
 * SQL of the books the holdings indexer moves with a range of Transfers (chain/range.ts): wallet
 * holdings, investor positions and holder counters, lots and what consumed them, and how far
 * each token is indexed. Each reads or writes what the whole range needs in one statement.
 */

/** How far the token's lots follow the chain (a distribution's record date waits for it: record-dates.ts). */
export async function indexedThrough(q: Queryable, tokenId: string, block: number, at: Date): Promise<void> {
  await q.query(
    `INSERT INTO token_indexed_through (token_id, block, block_time) VALUES ($1, $2, $3)
     ON CONFLICT (token_id) DO UPDATE SET block = EXCLUDED.block, block_time = EXCLUDED.block_time`,
    [tokenId, block, at],
  );
}

/** The last block applied to the token's books, locked (null before the first range). */
export async function indexedBlock(q: Queryable, tokenId: string): Promise<number | null> {
  const [r] = await q.query<{ block: string }>('SELECT block FROM token_indexed_through WHERE token_id = $1 FOR UPDATE', [tokenId]);
  return r ? Number(r.block) : null;
}

export interface Holder { investor_id: string; accredited: boolean | null; accreditation_verified_at: Date | null; accreditation_expires_at: Date | null; us_person: boolean }

/** The investor each of the addresses belongs to, with what counts it as a holder, by lower-cased address. */
export async function walletHolders(q: Queryable, addresses: readonly string[]): Promise<Map<string, Holder>> {
  if (!addresses.length) return new Map();
  const rows = await q.query<Holder & { address: string }>(
    `SELECT lower(w.address) AS address, w.investor_id, i.accredited, i.accreditation_verified_at, i.accreditation_expires_at, i.us_person
     FROM investor_wallets w JOIN investors i ON i.id = w.investor_id WHERE lower(w.address) = ANY($1::text[])`,
    [[...new Set(addresses.map((a) => a.toLowerCase()))]],
  );
  return new Map(rows.map(({ address, ...h }) => [address, h]));
}

/** A wallet's net move over a range: `mustExist` when its first move sends (the books must hold it already). */
export interface HoldingMove { address: string; investorId: string | null; delta: bigint; block: number; mustExist: boolean }

/**
 * Moves the wallets' holdings by their net deltas; answers each moved wallet's balance after. A wallet
 * the books do not hold yet is inserted only when the range first gives it tokens (an UPDATE for the
 * others: PostgreSQL checks the CHECK on an insert candidate before it sees the conflict).
 */
export async function moveHoldings(q: Queryable, tokenId: string, ms: readonly HoldingMove[]): Promise<Map<string, bigint>> {
  const rows = await q.query<{ address: string; balance: string }>(
    `WITH d AS (
       SELECT * FROM unnest($2::text[], $3::text[], $4::numeric[], $5::bigint[], $6::boolean[]) AS d(address, investor_id, delta, block, must_exist)
     ), up AS (
       UPDATE holdings h SET balance = h.balance + d.delta, block = d.block, investor_id = coalesce(h.investor_id, d.investor_id)
       FROM d WHERE h.token_id = $1 AND h.address = d.address RETURNING h.address, h.balance
     ), ins AS (
       INSERT INTO holdings (token_id, address, investor_id, balance, block)
       SELECT $1, d.address, d.investor_id, d.delta, d.block FROM d WHERE NOT d.must_exist AND d.address NOT IN (SELECT address FROM up)
       ON CONFLICT (token_id, address) DO UPDATE SET balance = holdings.balance + EXCLUDED.balance, block = EXCLUDED.block,
         investor_id = coalesce(holdings.investor_id, EXCLUDED.investor_id)
       RETURNING address, balance
     )
     SELECT address, balance FROM up UNION ALL SELECT address, balance FROM ins`,
    [tokenId, ms.map((m) => m.address), ms.map((m) => m.investorId), ms.map((m) => m.delta.toString()), ms.map((m) => m.block), ms.map((m) => m.mustExist)],
  );
  return new Map(rows.map((r) => [r.address, BigInt(r.balance)]));
}

export interface CountedPosition { investor_id: string; balance: string; counted_accredited: boolean; counted_us: boolean }

/** The investors' positions in the token, locked in investor order (an investor without one has none). */
export async function positionsForUpdate(q: Queryable, tokenId: string, investorIds: readonly string[]): Promise<Map<string, CountedPosition>> {
  const rows = await q.query<CountedPosition>(
    'SELECT investor_id, balance, counted_accredited, counted_us FROM positions WHERE token_id = $1 AND investor_id = ANY($2::text[]) ORDER BY investor_id FOR UPDATE',
    [tokenId, [...investorIds]],
  );
  return new Map(rows.map((r) => [r.investor_id, r]));
}

export interface PositionWrite { investorId: string; balance: bigint; accredited: boolean; us: boolean }

export async function setPositions(q: Queryable, tokenId: string, ps: readonly PositionWrite[]): Promise<void> {
  if (!ps.length) return;
  await q.query(
    `INSERT INTO positions (token_id, investor_id, balance, counted_accredited, counted_us)
     SELECT $1, p.investor_id, p.balance, p.accredited, p.us FROM unnest($2::text[], $3::numeric[], $4::boolean[], $5::boolean[]) AS p(investor_id, balance, accredited, us)
     ORDER BY p.investor_id
     ON CONFLICT (token_id, investor_id) DO UPDATE SET balance = EXCLUDED.balance, counted_accredited = EXCLUDED.counted_accredited, counted_us = EXCLUDED.counted_us`,
    [tokenId, ps.map((p) => p.investorId), ps.map((p) => p.balance.toString()), ps.map((p) => p.accredited), ps.map((p) => p.us)],
  );
}

export interface CountSteps { total: number; nonAccredited: number; usPersons: number }

/** Holders joining (positive) or leaving (negative) the counters, summed per bucket. */
export async function stepHolderCounts(q: Queryable, tokenId: string, s: CountSteps): Promise<void> {
  if (!s.total && !s.nonAccredited && !s.usPersons) return;
  await q.query(
    `UPDATE holder_counts SET total = total + $2, non_accredited = non_accredited + $3, us_persons = us_persons + $4 WHERE token_id = $1`,
    [tokenId, s.total, s.nonAccredited, s.usPersons],
  );
}

/** The investors' open lots of the token, each investor's oldest holding period first, locked. */
export const openLotsForUpdate = (q: Queryable, tokenId: string, investorIds: readonly string[]) => q.query<LotRow>(
  'SELECT * FROM lots WHERE token_id = $1 AND investor_id = ANY($2::text[]) AND remaining > 0 ORDER BY investor_id, holding_period_start, id FOR UPDATE',
  [tokenId, [...investorIds]],
);

export const txLotKey = (txHash: string, investorId: string) => `${txHash}\u0000${investorId}`;

/** Which of the (transaction, investor) pairs have a lot already (a mint's lot is written by issueTokens), as txLotKey. */
export async function lotsOfTxs(q: Queryable, pairs: readonly { txHash: string; investorId: string }[]): Promise<Set<string>> {
  if (!pairs.length) return new Set();
  const rows = await q.query<{ tx_hash: string; investor_id: string }>(
    'SELECT DISTINCT l.tx_hash, l.investor_id FROM lots l JOIN unnest($1::text[], $2::text[]) AS k(tx_hash, investor_id) USING (tx_hash, investor_id)',
    [pairs.map((p) => p.txHash), pairs.map((p) => p.investorId)],
  );
  return new Set(rows.map((r) => txLotKey(r.tx_hash, r.investor_id)));
}

export interface IndexedLot {
  id: string; investorId: string; amount: bigint; remaining: bigint; at: Date; holdingPeriodStart: Date; issuedAt: Date; restricted: boolean;
  source: 'TRANSFER' | 'ISSUANCE'; txHash: string; logIndex: number; parent: string | null;
}
export interface LotConsumption { lotId: string; amount: bigint; at: Date; txHash: string; logIndex: number }

/**
 * A range's lot changes in one statement: the lots it created (with what the range left of them), the
 * lots it consumed that were there before (their remaining amount after the range), and every
 * consumption. A consumption of a created lot whose key was taken meanwhile fails the whole range.
 */
export async function writeLots(q: Queryable, tokenId: string, w: { created: readonly IndexedLot[]; remaining: ReadonlyMap<string, bigint>; consumed: readonly LotConsumption[] }): Promise<void> {
  if (!w.created.length && !w.consumed.length) return;
  const c = w.created;
  const iso = (d: Date) => d.toISOString();
  await q.query(
    `WITH created AS (
       INSERT INTO lots (id, token_id, investor_id, amount, remaining, acquired_at, holding_period_start, issued_at, restricted, source, tx_hash, log_index, parent_lot_id)
       SELECT n.id, $1, n.investor_id, n.amount, n.remaining, n.at, n.start, n.issued, n.restricted, n.source, n.tx_hash, n.log_index, n.parent
       FROM unnest($2::text[], $3::text[], $4::numeric[], $5::numeric[], $6::timestamptz[], $7::timestamptz[], $8::timestamptz[], $9::boolean[], $10::text[], $11::text[], $12::int[], $13::text[])
         WITH ORDINALITY AS n(id, investor_id, amount, remaining, at, start, issued, restricted, source, tx_hash, log_index, parent, k)
       ORDER BY n.k
       ON CONFLICT (tx_hash, log_index, investor_id) DO NOTHING
     ), left_over AS (
       UPDATE lots l SET remaining = u.remaining FROM unnest($14::text[], $15::numeric[]) AS u(id, remaining) WHERE l.id = u.id
     )
     INSERT INTO lot_consumptions (lot_id, amount, at, tx_hash, log_index)
     SELECT * FROM unnest($16::text[], $17::numeric[], $18::timestamptz[], $19::text[], $20::int[])`,
    [tokenId, c.map((l) => l.id), c.map((l) => l.investorId), c.map((l) => l.amount.toString()), c.map((l) => l.remaining.toString()), c.map((l) => iso(l.at)),
      c.map((l) => iso(l.holdingPeriodStart)), c.map((l) => iso(l.issuedAt)), c.map((l) => l.restricted), c.map((l) => l.source), c.map((l) => l.txHash),
      c.map((l) => l.logIndex), c.map((l) => l.parent),
      [...w.remaining.keys()], [...w.remaining.values()].map(String),
      w.consumed.map((x) => x.lotId), w.consumed.map((x) => x.amount.toString()), w.consumed.map((x) => iso(x.at)), w.consumed.map((x) => x.txHash), w.consumed.map((x) => x.logIndex)],
  );
}
