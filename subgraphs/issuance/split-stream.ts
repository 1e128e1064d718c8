/**
 * splitStatusChanged: a token's splits as they are announced, applied to the
 * books, and done, from issuance's outbox (topic split.status) from a cursor.
 * A split's terms are announced to the market: any caller may follow them
 * (holders' rows stay behind Split.holders' scoping).
 */
import type { Db } from '../kit/db/types.js';
import { badInput } from '../kit/errors.js';
import { follow, parseCursor } from '../kit/follow.js';
import type { OutboxEvent, OutboxWatcher } from '../kit/outbox.js';
import { isId } from '../kit/inputs.js';

export interface SplitStatusEvent { cursor: string; splitId: string; tokenId: string; status: string }

export function splitStatusStream(db: Db, outbox: OutboxWatcher, a: { tokenId: string; after?: string | null }): AsyncIterableIterator<SplitStatusEvent> {
  if (!isId(a.tokenId, 'tok')) throw badInput('INVALID_TOKEN_ID', 'tokenId is not a token id');
  const payload = (e: OutboxEvent) => e.payload as unknown as { splitId: string; tokenId: string; status: string };
  return follow(db, outbox, {
    after: parseCursor(a.after), topics: ['split.status'], match: (e) => payload(e).tokenId === a.tokenId,
    map: (e) => ({ cursor: e.seq, splitId: payload(e).splitId, tokenId: payload(e).tokenId, status: payload(e).status }),
  });
}
