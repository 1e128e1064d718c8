/**
 * Votes of the holders of record. The issuer opens a vote on a token with a
 * record date in the past: the cap table as of that instant (from the lots)
 * becomes the entitlements, fixed then, so trades that settle later move
 * nothing. A holder votes with at most its units at the record date, itself
 * or through the organisations that act for it (the one that onboarded it, its
 * custodians); a later ballot replaces the holder's earlier one until the vote
 * closes. At closesAt the current ballots are counted and the result is signed
 * (EIP-712) with the issuance service's claim signer. Every ballot is audited.
 */
import type { Caller } from '../kit/auth.js';
import { canSee, investorOnly, requireRole } from '../kit/access.js';
import type { Db, Queryable } from '../kit/db/types.js';
import { appError, badInput, notFound } from '../kit/errors.js';
import { assertSameRequest, requestHash } from '../kit/idempotency.js';
import { newId } from '../kit/ids.js';
import { appendEvent } from '../kit/outbox.js';
import type { KitSigner } from '../kit/signer/index.js';
import { checkIdempotencyKey, tokenOfIssuer } from './access.js';
import { canReadCapTable, capTable } from './captable.js';
import {
  checkBallot, checkQuestion, VOTE_RESULT_TYPES, VoteInputError, voteResultDigest, voteResultDomain, voteResultRecord, voteResultTypedData,
  type Choice, type VoteLimits,
} from './domain/tally.js';
import { audit } from './store/records.js';
import { tokenRow, type TokenRow } from './store/tokens.js';
import { investorOrgs } from './store/investors.js';
import {
  actingOrgs, ballotByKey, choicesOf, closeVoteRow, currentBallots, dueVotes, entitlement, insertBallot, insertEntitlements, insertVote,
  holdersVotedBy, voteById, voteByKey, votesOfIssuer, votesOfOrg, votingOrgs, type BallotRow, type VoteRow,
} from './store/votes.js';

export interface VoteSettings extends VoteLimits {
  /** Longest a vote may stay open, in days. */
  maxOpenDays: number;
}

export interface VoteEnv {
  db: Db;
  limits: VoteSettings;
  /** The service clock (tests move it to close a vote without waiting). */
  now(): Date;
  /** Signs the result; without one the result is tallied but unsigned. */
  signer?: KitSigner;
  /** Brings the holdings up to date with the chain before a record-date snapshot. */
  syncHoldings(): Promise<void>;
}

/** What a caller may see of a vote: everything (the issuer's side), or the entitlements and ballots of the holders it acts for. */
export interface VoteView { row: VoteRow; token: TokenRow; all: boolean; investorIds: ReadonlySet<string> }

const inputError = (e: unknown): never => {
  if (e instanceof VoteInputError) throw e.code.includes('.') ? appError(e.code, e.message) : badInput(e.code, e.message);
  throw e;
};

const LIST_LIMIT = 500;

const tokenOf = async (q: Queryable, id: string): Promise<TokenRow> => (await tokenRow(q, id))!;

export interface OpenVoteInput { tokenId: string; recordDate: Date; question: string; options: string[]; closesAt: Date; idempotencyKey: string }

export async function openVote(env: VoteEnv, caller: Caller, input: OpenVoteInput): Promise<VoteView> {
  const { db } = env;
  checkIdempotencyKey(input.idempotencyKey);
  const token = await tokenOfIssuer(db, caller, input.tokenId, ['ISSUER_AGENT']);
  let checked: { question: string; options: string[] };
  try {
    checked = checkQuestion(env.limits, input.question, input.options);
  } catch (e) {
    return inputError(e);
  }
  const hash = requestHash({ tokenId: token.id, recordDate: input.recordDate, closesAt: input.closesAt, ...checked });
  const prior = await voteByKey(db, caller.org, input.idempotencyKey);
  if (prior) {
    assertSameRequest(prior.request_hash, hash, input.idempotencyKey);
    return { row: prior, token, all: true, investorIds: new Set() };
  }
  const now = env.now();
  if (input.recordDate.getTime() > now.getTime()) throw appError('VOTE.RECORD_DATE_IN_FUTURE', 'the record date must not be in the future: the holders of record are read from the books as of that instant');
  if (input.closesAt.getTime() <= now.getTime()) throw appError('VOTE.CLOSES_IN_PAST', 'closesAt must be in the future');
  if (input.closesAt.getTime() - now.getTime() > env.limits.maxOpenDays * 86_400_000) {
    throw appError('VOTE.OPEN_TOO_LONG', `a vote may stay open at most ${env.limits.maxOpenDays} days (VOTE_MAX_OPEN_DAYS)`);
  }
  await env.syncHoldings();
  // The issuer's own holding (treasury units) does not vote (Delaware GCL 160(c); README, interpretations).
  const holders = (await capTable(db, token, input.recordDate)).holders.filter((h) => h.balance > 0n && h.investor.issuer_relation !== 'ISSUER');
  if (!holders.length) throw appError('VOTE.NO_HOLDERS_OF_RECORD', `token ${token.id} had no holders at ${input.recordDate.toISOString()}`);
  const eligible = holders.reduce((s, h) => s + h.balance, 0n);
  const orgs = await actingOrgs(db, token.id, holders.map((h) => h.investor.id));
  const row = await db.tx(async (q) => {
    const { row: v, created } = await insertVote(q, {
      id: newId('vot'), token_id: token.id, record_date: input.recordDate, question: checked.question, options: checked.options, closes_at: input.closesAt,
      eligible_units: eligible.toString(), opened_by: caller.subject, org: caller.org, idempotency_key: input.idempotencyKey, request_hash: hash,
    });
    if (!created) return v;
    await insertEntitlements(q, v.id, holders.map((h) => ({ investorId: h.investor.id, units: h.balance, orgs: orgs.get(h.investor.id) ?? [] })));
    await audit(q, caller, 'vote.opened', v.id, null, {
      tokenId: token.id, recordDate: input.recordDate, closesAt: input.closesAt, question: checked.question, options: checked.options, eligibleUnits: eligible, holders: holders.length,
    });
    await appendEvent(q, 'vote.status', v.id, statusPayload(v, token, 'OPEN', [...new Set([...orgs.values()].flat())]));
    return v;
  });
  return { row, token, all: true, investorIds: new Set() };
}

/** The outbox event of a vote's status (voteStatusChanged): `orgs` are the organisations acting for a holder of record. */
export interface VoteStatusPayload { voteId: string; tokenId: string; issuerOrg: string; status: 'OPEN' | 'CLOSED'; orgs: string[]; at: string }

function statusPayload(v: VoteRow, t: TokenRow, status: 'OPEN' | 'CLOSED', orgs: string[]): VoteStatusPayload {
  return { voteId: v.id, tokenId: t.id, issuerOrg: t.issuer_org, status, orgs, at: new Date().toISOString() };
}

export interface CastBallotInput { voteId: string; investorId: string; choices: Choice[]; idempotencyKey: string }

/** May the caller act for the investor: the investor itself, or a user of an organisation that onboarded it or holds its custody account. */
async function actsFor(q: Queryable, caller: Caller, investorId: string, orgs?: readonly string[]): Promise<boolean> {
  if (caller.kind === 'service') return true;
  const of = orgs ?? (await investorOrgs(q, [investorId])).map((r) => r.org);
  return of.some((org) => canSee(caller, { org, investorId }));
}

/**
 * A holder's ballot. Who may cast it is fixed with the entitlement when the
 * vote opened (the onboarding organisation, the custodians holding the token
 * then), so an account opened for the holder afterwards brings no vote.
 */
export async function castBallot(env: VoteEnv, caller: Caller, input: CastBallotInput): Promise<BallotRow> {
  checkIdempotencyKey(input.idempotencyKey);
  requireRole(caller, 'BROKER_DEALER', 'CUSTODIAN', 'INVESTOR');
  if (!(await actsFor(env.db, caller, input.investorId))) throw notFound('investor', input.investorId);
  const hash = requestHash({ voteId: input.voteId, investorId: input.investorId, choices: input.choices });
  return env.db.tx(async (q) => {
    const vote = await voteById(q, input.voteId, ' FOR SHARE');
    if (!vote) throw notFound('vote', input.voteId);
    const ent = await entitlement(q, vote.id, input.investorId, true);
    if (!ent) throw appError('VOTE.NOT_A_HOLDER', `investor ${input.investorId} held no units at the record date of vote ${vote.id}`);
    if (!(await actsFor(q, caller, input.investorId, ent.orgs))) throw notFound('investor', input.investorId);
    const prior = await ballotByKey(q, vote.id, caller.org, input.idempotencyKey);
    if (prior) {
      assertSameRequest(prior.request_hash, hash, input.idempotencyKey);
      return prior;
    }
    if (vote.status === 'CLOSED' || env.now().getTime() >= new Date(vote.closes_at).getTime()) {
      throw appError('VOTE.CLOSED', `vote ${vote.id} closed at ${new Date(vote.closes_at).toISOString()}`);
    }
    let checked: { choices: Choice[]; units: bigint };
    try {
      checked = checkBallot(vote.options, BigInt(ent.units), input.choices);
    } catch (e) {
      return inputError(e);
    }
    const { row, replaced } = await insertBallot(q, {
      id: newId('blt'), vote_id: vote.id, investor_id: input.investorId, choices: checked.choices.map((c) => ({ option: c.option, units: c.units.toString() })),
      units: checked.units.toString(), cast_by: caller.subject, cast_by_org: caller.org, idempotency_key: input.idempotencyKey, request_hash: hash,
    });
    await audit(q, caller, 'vote.ballot_cast', vote.id, null, { ballotId: row.id, investorId: input.investorId, choices: checked.choices, units: checked.units, replaces: replaced });
    return row;
  });
}

const SYSTEM: Caller = { kind: 'service', subject: 'issuance', org: 'tokenstack', roles: [], token: '' };

/** Closes every vote due by the service clock: counts the current ballots, signs the result, records it; each vote once. */
export async function closeDueVotes(env: VoteEnv): Promise<number> {
  let closed = 0;
  for (const { id } of await dueVotes(env.db, env.now(), 100)) {
    const done = await env.db.tx(async (q) => {
      const vote = await voteById(q, id, ' FOR UPDATE');
      if (!vote || vote.status !== 'OPEN') return false;
      const token = await tokenOf(q, vote.token_id);
      const ballots = (await currentBallots(q, vote.id)).map((b) => ({ ballotId: b.id, investorId: b.investor_id, choices: choicesOf(b) }));
      const closedAt = env.now();
      const record = voteResultRecord({
        voteId: vote.id, tokenId: token.id, securityToken: token.chain?.token ?? '0x0000000000000000000000000000000000000000', question: vote.question, options: vote.options,
        eligibleUnits: BigInt(vote.eligible_units), recordDate: new Date(vote.record_date), closesAt: new Date(vote.closes_at), closedAt, ballots,
      });
      // Signed only for a token on chain: the domain names its chain and contract.
      const domain = token.chain ? voteResultDomain(token.chain.chainId, token.chain.token) : null;
      const signature = domain && env.signer ? await env.signer.signTypedData(domain, VOTE_RESULT_TYPES, record) : null;
      const row = await closeVoteRow(q, vote.id, closedAt, {
        unitsFor: record.unitsFor, unitsVoted: record.unitsVoted, ballots: ballots.length,
        typedData: domain ? voteResultTypedData(domain, record) : null, digest: domain ? voteResultDigest(domain, record) : null,
      }, signature, signature ? env.signer!.address : null);
      await audit(q, SYSTEM, 'vote.closed', vote.id, null, { unitsFor: record.unitsFor, unitsVoted: record.unitsVoted, ballots: ballots.length, signature });
      await appendEvent(q, 'vote.status', vote.id, statusPayload(row, token, 'CLOSED', await votingOrgs(q, vote.id)));
      return true;
    });
    if (done) closed++;
  }
  return closed;
}

/** The investor an investor-only caller is limited to ('-' for one whose token names none); null for an institution. */
const onlyInvestor = (caller: Caller): string | null => (investorOnly(caller) ? (caller.investorId ?? '-') : null);

/** What the caller may see of a vote; null when nothing (it is then not found). */
export async function viewOf(q: Queryable, caller: Caller, row: VoteRow, token?: TokenRow): Promise<VoteView | null> {
  const t = token ?? (await tokenOf(q, row.token_id));
  if (canReadCapTable(caller, t)) return { row, token: t, all: true, investorIds: new Set() };
  if (caller.kind !== 'user' || caller.roles.length === 0) return null;
  const ents = await holdersVotedBy(q, row.id, caller.org, onlyInvestor(caller));
  return ents.length ? { row, token: t, all: false, investorIds: new Set(ents.map((e) => e.investor_id)) } : null;
}

export async function voteFor(q: Queryable, caller: Caller, id: string): Promise<VoteView | null> {
  const row = await voteById(q, id);
  return row ? viewOf(q, caller, row) : null;
}

/** Votes of the tokens the caller's organisation issues (issuer side) and votes its holders may cast, newest first. */
export async function votesFor(q: Queryable, caller: Caller, tokenId: string | null): Promise<VoteView[]> {
  const issuerSide = caller.kind === 'user' && caller.roles.some((r) => r === 'ISSUER_AGENT' || r === 'AUDITOR' || r === 'COMPLIANCE_OFFICER');
  const rows = new Map<string, VoteRow>();
  if (issuerSide) for (const v of await votesOfIssuer(q, caller.org, tokenId, LIST_LIMIT)) rows.set(v.id, v);
  if (caller.kind === 'user' && caller.roles.length) for (const v of await votesOfOrg(q, caller.org, onlyInvestor(caller), tokenId, LIST_LIMIT)) rows.set(v.id, v);
  const views = await Promise.all([...rows.values()].map((v) => viewOf(q, caller, v)));
  return views.filter((v): v is VoteView => !!v).sort((a, b) => new Date(b.row.opened_at).getTime() - new Date(a.row.opened_at).getTime());
}
