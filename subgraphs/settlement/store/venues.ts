import type { Queryable } from '../../kit/db/types.js';

/** SQL of the venues allowed to submit external trades, per token. */

export async function venueMayTrade(q: Queryable, venue: string, tokenId: string): Promise<boolean> {
  const [r] = await q.query('SELECT 1 FROM venue_tokens WHERE venue = $1 AND token_id = $2', [venue, tokenId]);
  return !!r;
}
export async function setVenueToken(q: Queryable, venue: string, tokenId: string, authorized: boolean, by: string): Promise<boolean> {
  if (authorized) {
    const r = await q.query('INSERT INTO venue_tokens (venue, token_id, authorized_by) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING venue', [venue, tokenId, by]);
    return r.length > 0;
  }
  const r = await q.query('DELETE FROM venue_tokens WHERE venue = $1 AND token_id = $2 RETURNING venue', [venue, tokenId]);
  return r.length > 0;
}
