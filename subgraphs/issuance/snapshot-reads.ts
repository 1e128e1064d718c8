/**
 * The keyed reads a transfer decision makes (token, parties, their controls,
 * positions and lots, the holder counters), as loaders: the questions of one
 * batch that are decided together share one set-based statement per kind of
 * row instead of one statement per question. A set of reads lives for one
 * call (never a cache across calls: every decision sees the current state).
 */
import DataLoader from 'dataloader';
import type { Queryable } from '../kit/db/types.js';
import { groupedLoader, keyedLoader } from '../kit/loaders.js';
import { addPeriod, type IssuerRelation, type Period } from './domain/compliance/index.js';
import { controlsOfMany, issuerRelations, type ControlsRow, type CountsRow, type LotRow } from './store-holdings.js';
import type { InvestorRow, TokenRow } from './store.js';

export interface SnapshotReads {
  token(id: string): Promise<TokenRow | null>;
  investor(id: string): Promise<InvestorRow | null>;
  /** The investor's relation to the issuer at `at`, looking back `lookback` for a past affiliation. */
  relation(investorId: string, at: Date, lookback?: Period): Promise<IssuerRelation>;
  controls(tokenId: string, investorId: string): Promise<ControlsRow>;
  position(tokenId: string, investorId: string): Promise<bigint>;
  openLots(tokenId: string, investorId: string): Promise<LotRow[]>;
  holderCounts(tokenId: string): Promise<CountsRow>;
}

const pair = (a: string, b: string) => `${a}\u0000${b}`;
const split = (keys: readonly string[]) => {
  const parts = keys.map((k) => k.split('\u0000'));
  return [parts.map((p) => p[0]), parts.map((p) => p[1])];
};

/** Loaders over `q` for the questions decided together. */
export function snapshotReads(q: Queryable): SnapshotReads {
  const tokens = keyedLoader<string, TokenRow>((ids) => q.query('SELECT * FROM security_tokens WHERE id = ANY($1::text[])', [ids]), (r) => r.id);
  const investors = keyedLoader<string, InvestorRow>((ids) => q.query('SELECT * FROM investors WHERE id = ANY($1::text[])', [ids]), (r) => r.id);
  const relations = new DataLoader<string, IssuerRelation>((keys) => issuerRelations(q, keys.map((k) => {
    const [investorId, at, from] = k.split('\u0000');
    return { investorId, at: new Date(at), from: new Date(from) };
  })));
  const controls = new DataLoader<string, ControlsRow>((keys) => {
    const [tokenIds, investorIds] = split(keys);
    return controlsOfMany(q, tokenIds.map((tokenId, i) => ({ tokenId, investorId: investorIds[i] })));
  });
  const positions = keyedLoader<string, { token_id: string; investor_id: string; balance: string }>((keys) => {
    const [tokenIds, investorIds] = split(keys);
    return q.query('SELECT p.token_id, p.investor_id, p.balance FROM positions p JOIN unnest($1::text[], $2::text[]) AS k(token_id, investor_id) USING (token_id, investor_id)', [tokenIds, investorIds]);
  }, (r) => pair(r.token_id, r.investor_id));
  // The order of a group is the order the lots are consumed in: oldest holding period first.
  const lots = groupedLoader<string, LotRow>((keys) => {
    const [tokenIds, investorIds] = split(keys);
    return q.query(
      `SELECT l.* FROM lots l JOIN unnest($1::text[], $2::text[]) AS k(token_id, investor_id) USING (token_id, investor_id)
       WHERE l.remaining > 0 ORDER BY l.token_id, l.investor_id, l.holding_period_start, l.id`,
      [tokenIds, investorIds],
    );
  }, (r) => pair(r.token_id, r.investor_id));
  const counts = keyedLoader<string, CountsRow & { token_id: string }>((ids) => q.query('SELECT token_id, total, non_accredited, us_persons FROM holder_counts WHERE token_id = ANY($1::text[])', [ids]), (r) => r.token_id);
  return {
    token: (id) => tokens.load(id),
    investor: (id) => investors.load(id),
    relation: (investorId, at, lookback = {}) =>
      relations.load([investorId, at.toISOString(), addPeriod(at, { months: -(lookback.months ?? 0), days: -(lookback.days ?? 0) }).toISOString()].join('\u0000')),
    controls: (tokenId, investorId) => controls.load(pair(tokenId, investorId)),
    position: async (tokenId, investorId) => BigInt((await positions.load(pair(tokenId, investorId)))?.balance ?? 0),
    openLots: (tokenId, investorId) => lots.load(pair(tokenId, investorId)),
    holderCounts: async (tokenId) => {
      const c = await counts.load(tokenId);
      return c ? { total: c.total, non_accredited: c.non_accredited, us_persons: c.us_persons } : { total: 0, non_accredited: 0, us_persons: 0 };
    },
  };
}
