/**
 * voteStatusChanged: follows issuance's outbox (topic vote.status) from a
 * cursor, like every public subscription (kit/follow.ts). A caller sees the
 * events of votes it may see: the issuer's side those of its tokens, an
 * organisation acting for a holder of record those of that holder's votes.
 * An investor acting alone follows one vote, named by voteId.
 */
import type { Caller } from '../kit/auth.js';
import { investorOnly } from '../kit/access.js';
import type { Db } from '../kit/db/types.js';
import { badInput, notFound } from '../kit/errors.js';
import { follow, parseCursor } from '../kit/follow.js';
import type { OutboxEvent, OutboxWatcher } from '../kit/outbox.js';
import { voteFor, type VoteStatusPayload } from './votes.js';
import { isId } from '../kit/inputs.js';

export interface VoteStatusEvent { cursor: string; voteId: string; tokenId: string; status: string; at: Date }


export async function voteStatusStream(db: Db, outbox: OutboxWatcher, caller: Caller, a: { voteId?: string | null; tokenId?: string | null; after?: string | null }) {
  if (a.voteId && !isId(a.voteId, 'vot')) throw badInput('INVALID_VOTE_ID', 'voteId is not a vote id');
  if (a.tokenId && !isId(a.tokenId, 'tok')) throw badInput('INVALID_TOKEN_ID', 'tokenId is not a token id');
  const after = parseCursor(a.after);
  if (investorOnly(caller) && !a.voteId) throw badInput('VOTE_ID_REQUIRED', 'an investor follows one vote at a time: give voteId');
  // A named vote is checked once, here: who may see it does not change while it runs.
  const named = a.voteId ? await voteFor(db, caller, a.voteId) : null;
  if (a.voteId && !named) throw notFound('vote', a.voteId);
  const issuerRoles = caller.kind === 'user' && caller.roles.some((r) => r === 'ISSUER_AGENT' || r === 'AUDITOR' || r === 'COMPLIANCE_OFFICER');
  const match = (e: OutboxEvent) => {
    const p = e.payload as unknown as VoteStatusPayload;
    if (a.voteId) return p.voteId === a.voteId;
    if (a.tokenId && p.tokenId !== a.tokenId) return false;
    return caller.kind === 'service' || (issuerRoles && p.issuerOrg === caller.org) || p.orgs.includes(caller.org);
  };
  return follow(db, outbox, {
    after, topics: ['vote.status'], match,
    map: (e): VoteStatusEvent => {
      const p = e.payload as unknown as VoteStatusPayload;
      return { cursor: e.seq, voteId: p.voteId, tokenId: p.tokenId, status: p.status, at: new Date(p.at) };
    },
  });
}
