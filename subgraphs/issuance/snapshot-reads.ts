/**
 * The keyed reads a transfer decision makes (token, parties, their controls,
 * positions and lots, the holder counters), as loaders: the questions of one
 * batch that are decided together share one set-based statement per kind of
 * row instead of one statement per question. Rows read under the same key
 * come in one statement (a token with its holder counts, a holding's issuer
 * controls with its position): fewer round trips, and one snapshot for both.
 * A set of reads lives for one call (never a cache across calls: every
 * decision sees the current state).
 */
import DataLoader from 'dataloader';
import type { Queryable } from '../kit/db/types.js';
import { groupedLoader, keyedLoader } from '../kit/loaders.js';
import { addPeriod, type IssuerRelation, type Period } from './domain/compliance/index.js';
import { issuerRelations, type ControlsRow, type CountsRow, type LotRow } from './store/holdings.js';
import type { TokenRow } from './store/tokens.js';
import { investorsByIds, type InvestorRow } from './store/investors.js';
import { holdingsOfPairs, openLotsOfPairs, tokensWithCounts, type TokenWithCounts } from './store/snapshot.js';

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
  const tokens = keyedLoader<string, TokenWithCounts>((ids) => tokensWithCounts(q, ids), (r) => r.id);
  const investors = keyedLoader<string, InvestorRow>((ids) => investorsByIds(q, ids), (r) => r.id);
  const relations = new DataLoader<string, IssuerRelation>((keys) => issuerRelations(q, keys.map((k) => {
    const [investorId, at, from] = k.split('\u0000');
    return { investorId, at: new Date(at), from: new Date(from) };
  })));
  // A pair without a controls row has none; without a position it holds nothing.
  const holdings = new DataLoader<string, ControlsRow & { balance: string }>(async (keys) => {
    const [tokenIds, investorIds] = split(keys);
    const rows = await holdingsOfPairs(q, tokenIds, investorIds);
    const out = new Array<ControlsRow & { balance: string }>(keys.length);
    for (const { n, ...r } of rows) out[Number(n) - 1] = r;
    return out;
  });
  // The order of a group is the order the lots are consumed in: oldest holding period first.
  const lots = groupedLoader<string, LotRow>((keys) => {
    const [tokenIds, investorIds] = split(keys);
    return openLotsOfPairs(q, tokenIds, investorIds);
  }, (r) => pair(r.token_id, r.investor_id));
  return {
    token: async (id) => {
      const t = await tokens.load(id);
      if (!t) return null;
      const { hc_total: _t, hc_non_accredited: _n, hc_us_persons: _u, ...row } = t;
      return row;
    },
    investor: (id) => investors.load(id),
    relation: (investorId, at, lookback = {}) =>
      relations.load([investorId, at.toISOString(), addPeriod(at, { months: -(lookback.months ?? 0), days: -(lookback.days ?? 0) }).toISOString()].join('\u0000')),
    controls: async (tokenId, investorId) => {
      const { balance: _b, ...c } = await holdings.load(pair(tokenId, investorId));
      return c;
    },
    position: async (tokenId, investorId) => BigInt((await holdings.load(pair(tokenId, investorId))).balance),
    openLots: (tokenId, investorId) => lots.load(pair(tokenId, investorId)),
    holderCounts: async (tokenId) => {
      const t = await tokens.load(tokenId);
      return { total: t?.hc_total ?? 0, non_accredited: t?.hc_non_accredited ?? 0, us_persons: t?.hc_us_persons ?? 0 };
    },
  };
}
