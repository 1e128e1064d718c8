import type { Queryable } from '../../kit/db/types.js';
import type { LotRow } from './holdings.js';

/**
 * SQL of the books the holdings indexer moves with each Transfer (chain/indexer.ts): wallet
 * holdings, investor positions and holder counters, lots and what consumed them, and how far
 * each token is indexed.
 */

/** How far the token's lots follow the chain (a distribution's record date waits for it: record-dates.ts). */
export async function indexedThrough(q: Queryable, tokenId: string, block: number, at: Date): Promise<void> {
  await q.query(
    `INSERT INTO token_indexed_through (token_id, block, block_time) VALUES ($1, $2, $3)
     ON CONFLICT (token_id) DO UPDATE SET block = EXCLUDED.block, block_time = EXCLUDED.block_time`,
    [tokenId, block, at],
  );
}

export interface Holder { investor_id: string; accredited: boolean | null; accreditation_verified_at: Date | null; accreditation_expires_at: Date | null; us_person: boolean }

/** The investor a wallet belongs to, with what counts it as a holder. */
export async function walletHolder(q: Queryable, address: string): Promise<Holder | undefined> {
  const [r] = await q.query<Holder>(
    `SELECT w.investor_id, i.accredited, i.accreditation_verified_at, i.accreditation_expires_at, i.us_person
     FROM investor_wallets w JOIN investors i ON i.id = w.investor_id WHERE lower(w.address) = lower($1)`,
    [address],
  );
  return r;
}

export async function moveHolding(q: Queryable, tokenId: string, address: string, investorId: string | null, delta: bigint, block: number): Promise<void> {
  if (delta < 0n) {
    // An UPDATE, not an upsert: PostgreSQL checks the CHECK on the insert candidate before it sees the conflict.
    const moved = await q.query('UPDATE holdings SET balance = balance + $3, block = $4 WHERE token_id = $1 AND address = $2 RETURNING 1', [tokenId, address, delta.toString(), block]);
    if (!moved.length) throw new Error(`chain shows ${address} sending ${-delta} of ${tokenId} but the books have no holding for it`);
    return;
  }
  await q.query(
    `INSERT INTO holdings (token_id, address, investor_id, balance, block) VALUES ($1,$2,$3,$4,$5)
     ON CONFLICT (token_id, address) DO UPDATE SET balance = holdings.balance + $4, block = $5, investor_id = coalesce(holdings.investor_id, $3)`,
    [tokenId, address, investorId, delta.toString(), block],
  );
}

export interface CountedPosition { balance: string; counted_accredited: boolean; counted_us: boolean }

export async function positionForUpdate(q: Queryable, tokenId: string, investorId: string): Promise<CountedPosition | undefined> {
  const [p] = await q.query<CountedPosition>(
    'SELECT balance, counted_accredited, counted_us FROM positions WHERE token_id = $1 AND investor_id = $2 FOR UPDATE', [tokenId, investorId],
  );
  return p;
}

export async function setPosition(q: Queryable, tokenId: string, investorId: string, balance: bigint, accredited: boolean, us: boolean): Promise<void> {
  await q.query(
    `INSERT INTO positions (token_id, investor_id, balance, counted_accredited, counted_us) VALUES ($1,$2,$3,$4,$5)
     ON CONFLICT (token_id, investor_id) DO UPDATE SET balance = $3, counted_accredited = $4, counted_us = $5`,
    [tokenId, investorId, balance.toString(), accredited, us],
  );
}

/** A holder joins (step 1) or leaves (step -1) the counters, in the buckets it is counted in. */
export async function stepHolderCounts(q: Queryable, tokenId: string, step: number, accredited: boolean, us: boolean): Promise<void> {
  await q.query(
    `UPDATE holder_counts SET total = total + $2, non_accredited = non_accredited + $3, us_persons = us_persons + $4 WHERE token_id = $1`,
    [tokenId, step, accredited ? 0 : step, us ? step : 0],
  );
}

/** The investor's open lots of the token, oldest holding period first, locked. */
export const openLotsForUpdate = (q: Queryable, tokenId: string, investorId: string) => q.query<LotRow>(
  'SELECT * FROM lots WHERE token_id = $1 AND investor_id = $2 AND remaining > 0 ORDER BY holding_period_start, id FOR UPDATE',
  [tokenId, investorId],
);

/** Takes `amount` from a lot, recording the consumption with the log that moved it. */
export async function consumeLot(q: Queryable, lotId: string, amount: bigint, at: Date, txHash: string, logIndex: number): Promise<void> {
  await q.query('UPDATE lots SET remaining = remaining - $2 WHERE id = $1', [lotId, amount.toString()]);
  await q.query('INSERT INTO lot_consumptions (lot_id, amount, at, tx_hash, log_index) VALUES ($1,$2,$3,$4,$5)', [lotId, amount.toString(), at, txHash, logIndex]);
}

/** Whether the transaction already wrote the investor's lot (a mint's lot is written by issueTokens). */
export async function lotOfTx(q: Queryable, txHash: string, investorId: string | null): Promise<boolean> {
  const [known] = await q.query('SELECT 1 FROM lots WHERE tx_hash = $1 AND investor_id = $2', [txHash, investorId]);
  return !!known;
}

export interface IndexedLot {
  id: string; tokenId: string; investorId: string; amount: bigint; at: Date; holdingPeriodStart: Date; issuedAt: Date; restricted: boolean;
  source: 'TRANSFER' | 'ISSUANCE'; txHash: string; logIndex: number; parent: string | null;
}

export async function insertIndexedLot(q: Queryable, l: IndexedLot): Promise<void> {
  await q.query(
    `INSERT INTO lots (id, token_id, investor_id, amount, remaining, acquired_at, holding_period_start, issued_at, restricted, source, tx_hash, log_index, parent_lot_id)
     VALUES ($1,$2,$3,$4,$4,$5,$6,$7,$8,$9,$10,$11,$12) ON CONFLICT (tx_hash, log_index, investor_id) DO NOTHING`,
    [l.id, l.tokenId, l.investorId, l.amount.toString(), l.at, l.holdingPeriodStart, l.issuedAt, l.restricted, l.source, l.txHash, l.logIndex, l.parent],
  );
}
