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
import type { InvestorRow } from './store/investors.js';

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
  type TokenWithCounts = TokenRow & { hc_total: number | null; hc_non_accredited: number | null; hc_us_persons: number | null };
  const tokens = keyedLoader<string, TokenWithCounts>((ids) => q.query(
    `SELECT t.*, hc.total AS hc_total, hc.non_accredited AS hc_non_accredited, hc.us_persons AS hc_us_persons
     FROM security_tokens t LEFT JOIN holder_counts hc ON hc.token_id = t.id WHERE t.id = ANY($1::text[])`, [ids]), (r) => r.id);
  const investors = keyedLoader<string, InvestorRow>((ids) => q.query('SELECT * FROM investors WHERE id = ANY($1::text[])', [ids]), (r) => r.id);
  const relations = new DataLoader<string, IssuerRelation>((keys) => issuerRelations(q, keys.map((k) => {
    const [investorId, at, from] = k.split('\u0000');
    return { investorId, at: new Date(at), from: new Date(from) };
  })));
  // A pair without a controls row has none; without a position it holds nothing.
  const holdings = new DataLoader<string, ControlsRow & { balance: string }>(async (keys) => {
    const [tokenIds, investorIds] = split(keys);
    const rows = await q.query<ControlsRow & { balance: string; n: string }>(
      `SELECT k.n, k.token_id, k.investor_id, coalesce(c.wallet_frozen, false) AS wallet_frozen, coalesce(c.frozen_amount, 0)::text AS frozen_amount,
         coalesce(c.liquidate_only, false) AS liquidate_only, coalesce(p.balance, 0)::text AS balance
       FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(token_id, investor_id, n)
       LEFT JOIN investor_controls c USING (token_id, investor_id) LEFT JOIN positions p USING (token_id, investor_id)`,
      [tokenIds, investorIds],
    );
    const out = new Array<ControlsRow & { balance: string }>(keys.length);
    for (const { n, ...r } of rows) out[Number(n) - 1] = r;
    return out;
  });
  // The order of a group is the order the lots are consumed in: oldest holding period first.
  const lots = groupedLoader<string, LotRow>((keys) => {
    const [tokenIds, investorIds] = split(keys);
    return q.query(
      `SELECT l.* FROM lots l JOIN unnest($1::text[], $2::text[]) AS k(token_id, investor_id) USING (token_id, investor_id)
       WHERE l.remaining > 0 ORDER BY l.token_id, l.investor_id, l.holding_period_start, l.id`,
      [tokenIds, investorIds],
    );
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
