import { choicesOf, type BallotRow, type EntitlementRow } from '../store/votes.js';
import type { IssuanceContext as Ctx } from '../services.js';
import type { AuditRow } from '../store/records.js';
import { voteStatusStream, type VoteStatusEvent } from '../vote-stream.js';
import { castBallot, openVote, voteFor, votesFor, type CastBallotInput, type OpenVoteInput, type VoteView } from '../votes.js';

const shown = <T extends { investor_id: string }>(v: VoteView, rows: T[]) => (v.all ? rows : rows.filter((r) => v.investorIds.has(r.investor_id)));

export const voteResolvers = {
  Query: {
    votes: (_: unknown, a: { tokenId?: string | null }, ctx: Ctx) => votesFor(ctx.db, ctx.caller, a.tokenId ?? null),
    vote: (_: unknown, a: { id: string }, ctx: Ctx) => voteFor(ctx.db, ctx.caller, a.id),
  },
  Mutation: {
    openVote: (_: unknown, a: { input: OpenVoteInput }, ctx: Ctx) => openVote(ctx.services.votes, ctx.caller, a.input),
    castBallot: (_: unknown, a: { input: CastBallotInput }, ctx: Ctx) => castBallot(ctx.services.votes, ctx.caller, a.input),
  },
  Subscription: {
    voteStatusChanged: {
      subscribe: (_: unknown, a: { voteId?: string | null; tokenId?: string | null; after?: string | null }, ctx: Ctx) =>
        voteStatusStream(ctx.db, ctx.services.outbox, ctx.caller, a),
      resolve: (e: VoteStatusEvent) => e,
    },
  },
  VoteStatusEvent: {
    vote: (e: VoteStatusEvent, _: unknown, ctx: Ctx) => voteFor(ctx.db, ctx.caller, e.voteId),
  },
  Vote: {
    id: (v: VoteView) => v.row.id,
    token: (v: VoteView) => v.token,
    recordDate: (v: VoteView) => v.row.record_date,
    question: (v: VoteView) => v.row.question,
    options: (v: VoteView) => v.row.options,
    closesAt: (v: VoteView) => v.row.closes_at,
    status: (v: VoteView) => v.row.status,
    openedAt: (v: VoteView) => v.row.opened_at,
    eligibleUnits: (v: VoteView) => BigInt(v.row.eligible_units),
    entitlements: async (v: VoteView, _: unknown, ctx: Ctx) => {
      const [ents, ballots] = await Promise.all([ctx.loaders.voteEntitlements.load(v.row.id), ctx.loaders.ballots.load(v.row.id)]);
      return shown(v, ents).map((e: EntitlementRow) => ({
        investorId: e.investor_id, units: BigInt(e.units),
        unitsCast: BigInt(ballots.find((b: BallotRow) => b.current && b.investor_id === e.investor_id)?.units ?? 0),
      }));
    },
    ballots: async (v: VoteView, _: unknown, ctx: Ctx) => shown(v, await ctx.loaders.ballots.load(v.row.id)),
    result: (v: VoteView) => {
      const r = v.row.result;
      if (!r || !v.row.closed_at) return null;
      return {
        closedAt: v.row.closed_at, tally: v.row.options.map((option, i) => ({ option, units: BigInt(r.unitsFor[i]) })), unitsVoted: BigInt(r.unitsVoted),
        ballotsCounted: r.ballots, typedData: r.typedData ? JSON.stringify(r.typedData) : null, signature: v.row.signature, signer: v.row.signer, digest: r.digest,
      };
    },
    auditTrail: async (v: VoteView, _: unknown, ctx: Ctx) => (v.all ? await ctx.loaders.audit.load(v.row.id) : []).map((e: AuditRow) => ({
      at: e.at, actor: e.actor, action: e.action, reason: e.reason, details: JSON.stringify(e.details),
    })),
  },
  Ballot: {
    voteId: (b: BallotRow) => b.vote_id,
    investorId: (b: BallotRow) => b.investor_id,
    choices: (b: BallotRow) => choicesOf(b),
    units: (b: BallotRow) => BigInt(b.units),
    castBy: (b: BallotRow) => b.cast_by,
    castByOrg: (b: BallotRow) => b.cast_by_org,
    castAt: (b: BallotRow) => b.cast_at,
  },
};
