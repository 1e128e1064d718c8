import type { Queryable } from '../../kit/db/types.js';
import { insertOnce } from '../../kit/idempotency.js';
import type { Choice } from '../domain/tally.js';

export interface VoteRow {
  id: string; token_id: string; record_date: Date; question: string; options: string[]; closes_at: Date; status: 'OPEN' | 'CLOSED';
  eligible_units: string; opened_by: string; org: string; idempotency_key: string; request_hash: string; opened_at: Date;
  closed_at: Date | null; result: StoredVoteResult | null; signature: string | null; signer: string | null;
}
/** What Vote.result shows: the tally, and (when the issuance service has a claim signer) the signed EIP-712 record. */
export interface StoredVoteResult { unitsFor: string[]; unitsVoted: string; ballots: number; typedData: unknown | null; digest: string | null }

export interface EntitlementRow { vote_id: string; investor_id: string; units: string; orgs: string[] }
export interface StoredChoice { option: string; units: string }
export interface BallotRow {
  id: string; vote_id: string; investor_id: string; choices: StoredChoice[]; units: string; current: boolean; cast_by: string; cast_by_org: string;
  idempotency_key: string; request_hash: string; cast_at: Date;
}

export const choicesOf = (b: BallotRow): Choice[] => b.choices.map((c) => ({ option: c.option, units: BigInt(c.units) }));

type NewVote = Pick<VoteRow, 'id' | 'token_id' | 'record_date' | 'question' | 'options' | 'closes_at' | 'eligible_units' | 'opened_by' | 'org' | 'idempotency_key' | 'request_hash'>;

export function insertVote(q: Queryable, v: NewVote) {
  return insertOnce<VoteRow>(
    q,
    {
      sql: `INSERT INTO votes (id, token_id, record_date, question, options, closes_at, eligible_units, opened_by, org, idempotency_key, request_hash)
            VALUES ($1,$2,$3,$4,$5::jsonb,$6,$7,$8,$9,$10,$11) ON CONFLICT (org, idempotency_key) DO NOTHING RETURNING *`,
      params: [v.id, v.token_id, v.record_date, v.question, JSON.stringify(v.options), v.closes_at, v.eligible_units, v.opened_by, v.org, v.idempotency_key, v.request_hash],
    },
    { sql: 'SELECT * FROM votes WHERE org = $1 AND idempotency_key = $2', params: [v.org, v.idempotency_key] },
    v.request_hash,
    v.idempotency_key,
  );
}

/** The record-date snapshot, in one statement (orgs as JSON arrays: unnest cannot take an array of arrays). */
export async function insertEntitlements(q: Queryable, voteId: string, rows: { investorId: string; units: bigint; orgs: string[] }[]): Promise<void> {
  await q.query(
    `INSERT INTO vote_entitlements (vote_id, investor_id, units, orgs)
     SELECT $1, i, u::numeric, ARRAY(SELECT jsonb_array_elements_text(o::jsonb)) FROM unnest($2::text[], $3::text[], $4::text[]) AS t(i, u, o)`,
    [voteId, rows.map((r) => r.investorId), rows.map((r) => r.units.toString()), rows.map((r) => JSON.stringify(r.orgs))],
  );
}

export async function voteById(q: Queryable, id: string, lock: '' | ' FOR UPDATE' | ' FOR SHARE' = ''): Promise<VoteRow | undefined> {
  const [v] = await q.query<VoteRow>(`SELECT * FROM votes WHERE id = $1${lock}`, [id]);
  return v;
}

export const votesByIds = (q: Queryable, ids: readonly string[]) => q.query<VoteRow>('SELECT * FROM votes WHERE id = ANY($1::text[])', [ids]);

/** Votes of the tokens an organisation issues, newest first. */
export const votesOfIssuer = (q: Queryable, org: string, tokenId: string | null, limit: number) =>
  q.query<VoteRow>(
    `SELECT v.* FROM votes v JOIN security_tokens t ON t.id = v.token_id WHERE t.issuer_org = $1 AND ($2::text IS NULL OR v.token_id = $2)
     ORDER BY v.opened_at DESC, v.id LIMIT $3`, [org, tokenId, limit]);

/** Votes in which the organisation acts for a holder of record (only for `investorId`, when given), newest first. */
export const votesOfOrg = (q: Queryable, org: string, investorId: string | null, tokenId: string | null, limit: number) =>
  q.query<VoteRow>(
    `SELECT v.* FROM votes v WHERE ($3::text IS NULL OR v.token_id = $3)
       AND EXISTS (SELECT 1 FROM vote_entitlements e WHERE e.vote_id = v.id AND $1 = ANY(e.orgs) AND ($2::text IS NULL OR e.investor_id = $2))
     ORDER BY v.opened_at DESC, v.id LIMIT $4`, [org, investorId, tokenId, limit]);

export async function entitlement(q: Queryable, voteId: string, investorId: string, lock = false): Promise<EntitlementRow | undefined> {
  const [e] = await q.query<EntitlementRow>(`SELECT * FROM vote_entitlements WHERE vote_id = $1 AND investor_id = $2${lock ? ' FOR UPDATE' : ''}`, [voteId, investorId]);
  return e;
}

export const entitlementsOf = (q: Queryable, voteIds: readonly string[]) =>
  q.query<EntitlementRow>('SELECT * FROM vote_entitlements WHERE vote_id = ANY($1::text[]) ORDER BY vote_id, investor_id', [voteIds]);

/** Every ballot of the votes, oldest first (superseded ones too). */
export const ballotsOf = (q: Queryable, voteIds: readonly string[]) =>
  q.query<BallotRow>('SELECT * FROM ballots WHERE vote_id = ANY($1::text[]) ORDER BY vote_id, cast_at, id', [voteIds]);

export const currentBallots = (q: Queryable, voteId: string) =>
  q.query<BallotRow>('SELECT * FROM ballots WHERE vote_id = $1 AND current ORDER BY investor_id', [voteId]);

export async function ballotByKey(q: Queryable, voteId: string, org: string, key: string): Promise<BallotRow | undefined> {
  const [b] = await q.query<BallotRow>('SELECT * FROM ballots WHERE vote_id = $1 AND cast_by_org = $2 AND idempotency_key = $3', [voteId, org, key]);
  return b;
}

type NewBallot = Omit<BallotRow, 'current' | 'cast_at'>;

/** The holder's new ballot replaces its current one (kept, no longer counted). */
export async function insertBallot(q: Queryable, b: NewBallot): Promise<{ row: BallotRow; replaced: string | null }> {
  const [old] = await q.query<{ id: string }>('UPDATE ballots SET current = false WHERE vote_id = $1 AND investor_id = $2 AND current RETURNING id', [b.vote_id, b.investor_id]);
  const [row] = await q.query<BallotRow>(
    `INSERT INTO ballots (id, vote_id, investor_id, choices, units, cast_by, cast_by_org, idempotency_key, request_hash)
     VALUES ($1,$2,$3,$4::jsonb,$5,$6,$7,$8,$9) RETURNING *`,
    [b.id, b.vote_id, b.investor_id, JSON.stringify(b.choices), b.units, b.cast_by, b.cast_by_org, b.idempotency_key, b.request_hash],
  );
  return { row, replaced: old?.id ?? null };
}

export const dueVotes = (q: Queryable, now: Date, limit: number) =>
  q.query<{ id: string }>("SELECT id FROM votes WHERE status = 'OPEN' AND closes_at <= $1 ORDER BY closes_at, id LIMIT $2", [now, limit]);

export async function closeVoteRow(q: Queryable, id: string, closedAt: Date, result: StoredVoteResult, signature: string | null, signer: string | null): Promise<VoteRow> {
  const [v] = await q.query<VoteRow>(
    `UPDATE votes SET status = 'CLOSED', closed_at = $2, result = $3::jsonb, signature = $4, signer = $5 WHERE id = $1 RETURNING *`,
    [id, closedAt, JSON.stringify(result), signature, signer],
  );
  return v;
}

/** The organisations acting for each holder of a token now: the one that onboarded it, and the custodians whose wallets hold the token. */
export async function actingOrgs(q: Queryable, tokenId: string, investorIds: readonly string[]): Promise<Map<string, string[]>> {
  const rows = await q.query<{ id: string; org: string }>(
    `SELECT id, org FROM investors WHERE id = ANY($2::text[])
     UNION SELECT c.investor_id, c.org FROM custodian_wallets c JOIN holdings h ON lower(h.address) = lower(c.address) AND h.token_id = $1
       WHERE c.investor_id = ANY($2::text[]) AND h.balance > 0`, [tokenId, investorIds]);
  const out = new Map<string, string[]>();
  for (const r of rows) out.set(r.id, [...(out.get(r.id) ?? []), r.org].sort());
  return out;
}

export async function voteByKey(q: Queryable, org: string, key: string): Promise<VoteRow | undefined> {
  const [prior] = await q.query<VoteRow>('SELECT * FROM votes WHERE org = $1 AND idempotency_key = $2', [org, key]);
  return prior;
}

/** Every organisation that votes for some entitled holder (they hear the result). */
export async function votingOrgs(q: Queryable, voteId: string): Promise<string[]> {
  const [o] = await q.query<{ orgs: string[] | null }>('SELECT array_agg(DISTINCT org) AS orgs FROM vote_entitlements, unnest(orgs) AS org WHERE vote_id = $1', [voteId]);
  return o?.orgs ?? [];
}

/** The entitled holders `org` votes for (only `investorId`'s, if given). */
export const holdersVotedBy = (q: Queryable, voteId: string, org: string, investorId: string | null) => q.query<{ investor_id: string }>(
  'SELECT investor_id FROM vote_entitlements WHERE vote_id = $1 AND $2 = ANY(orgs) AND ($3::text IS NULL OR investor_id = $3)', [voteId, org, investorId]);
