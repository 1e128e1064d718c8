import type { Queryable } from '../../kit/db/types.js';
import type { ControlsRow, LotRow } from './holdings.js';
import type { TokenRow } from './tokens.js';

/**
 * SQL of the keyed reads a transfer decision makes (snapshot-reads.ts), one set-based statement
 * per kind of row for the questions decided together.
 */

export type TokenWithCounts = TokenRow & { hc_total: number | null; hc_non_accredited: number | null; hc_us_persons: number | null };

/** Tokens with their holder counts, in one statement (one snapshot for both). */
export const tokensWithCounts = (q: Queryable, ids: readonly string[]) => q.query<TokenWithCounts>(
  `SELECT t.*, hc.total AS hc_total, hc.non_accredited AS hc_non_accredited, hc.us_persons AS hc_us_persons
   FROM security_tokens t LEFT JOIN holder_counts hc ON hc.token_id = t.id WHERE t.id = ANY($1::text[])`, [ids]);

/**
 * The issuer controls and the position of each (token, investor) pair, numbered from 1 in the
 * order asked (`n`); a pair without a controls row has none, without a position it holds nothing.
 */
export const holdingsOfPairs = (q: Queryable, tokenIds: readonly string[], investorIds: readonly string[]) =>
  q.query<ControlsRow & { balance: string; n: string }>(
    `SELECT k.n, k.token_id, k.investor_id, coalesce(c.wallet_frozen, false) AS wallet_frozen, coalesce(c.frozen_amount, 0)::text AS frozen_amount,
       coalesce(c.liquidate_only, false) AS liquidate_only, coalesce(p.balance, 0)::text AS balance
     FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS k(token_id, investor_id, n)
     LEFT JOIN investor_controls c USING (token_id, investor_id) LEFT JOIN positions p USING (token_id, investor_id)`,
    [tokenIds, investorIds],
  );

/** The open lots of each pair, in the order they are consumed in: oldest holding period first. */
export const openLotsOfPairs = (q: Queryable, tokenIds: readonly string[], investorIds: readonly string[]) => q.query<LotRow>(
  `SELECT l.* FROM lots l JOIN unnest($1::text[], $2::text[]) AS k(token_id, investor_id) USING (token_id, investor_id)
   WHERE l.remaining > 0 ORDER BY l.token_id, l.investor_id, l.holding_period_start, l.id`,
  [tokenIds, investorIds],
);
