/**
 * Votes of the holders of record: the checks of a question and of a ballot,
 * the count, and the EIP-712 record of the result that the issuer signs
 * (docs/votes.md says how to verify it with ethers alone). No I/O.
 */
import { TypedDataEncoder, getAddress, keccak256, toUtf8Bytes, type TypedDataField } from 'ethers';

export interface VoteLimits {
  /** Longest question, in characters. */
  maxQuestionChars: number;
  /** Most options a vote may offer. */
  maxOptions: number;
  /** Longest option, in characters. */
  maxOptionChars: number;
}

export interface Choice { option: string; units: bigint }

export class VoteInputError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** A question and 2..maxOptions distinct, non-empty options within the limits (trimmed). */
export function checkQuestion(limits: VoteLimits, question: string, options: readonly string[]): { question: string; options: string[] } {
  const q = question.trim();
  if (!q) throw new VoteInputError('INVALID_QUESTION', 'the question is empty');
  if (q.length > limits.maxQuestionChars) throw new VoteInputError('QUESTION_TOO_LONG', `the question has ${q.length} characters; at most ${limits.maxQuestionChars} (VOTE_MAX_QUESTION_CHARS)`);
  if (options.length < 2) throw new VoteInputError('TOO_FEW_OPTIONS', 'a vote needs at least two options');
  if (options.length > limits.maxOptions) throw new VoteInputError('TOO_MANY_OPTIONS', `${options.length} options; at most ${limits.maxOptions} (VOTE_MAX_OPTIONS)`);
  const opts = options.map((o) => o.trim());
  if (opts.some((o) => !o)) throw new VoteInputError('INVALID_OPTION', 'an option is empty');
  const long = opts.find((o) => o.length > limits.maxOptionChars);
  if (long) throw new VoteInputError('OPTION_TOO_LONG', `an option has ${long.length} characters; at most ${limits.maxOptionChars} (VOTE_MAX_OPTION_CHARS)`);
  if (new Set(opts).size !== opts.length) throw new VoteInputError('DUPLICATE_OPTION', 'options must be distinct');
  return { question: q, options: opts };
}

/**
 * A ballot's choices: known options, each at most once, units > 0, and in
 * total no more than the holder's units at the record date (a holder may
 * split its units across options, as a nominee voting for several clients does).
 */
export function checkBallot(options: readonly string[], entitled: bigint, choices: readonly Choice[]): { choices: Choice[]; units: bigint } {
  if (choices.length === 0) throw new VoteInputError('EMPTY_BALLOT', 'a ballot needs at least one choice');
  const seen = new Set<string>();
  let units = 0n;
  for (const c of choices) {
    if (!options.includes(c.option)) throw new VoteInputError('UNKNOWN_OPTION', `"${c.option.slice(0, 80)}" is not an option of this vote`);
    if (seen.has(c.option)) throw new VoteInputError('DUPLICATE_OPTION', `"${c.option.slice(0, 80)}" is chosen twice`);
    if (c.units <= 0n) throw new VoteInputError('INVALID_UNITS', 'units of a choice must be positive');
    seen.add(c.option);
    units += c.units;
  }
  if (units > entitled) throw new VoteInputError('VOTE.UNITS_EXCEED_ENTITLEMENT', `the ballot casts ${units} units; the holder held ${entitled} at the record date`);
  // Stored and signed in the vote's option order, whatever order they came in.
  return { choices: options.filter((o) => seen.has(o)).map((o) => ({ option: o, units: choices.find((c) => c.option === o)!.units })), units };
}

export interface CountedBallot { ballotId: string; investorId: string; choices: Choice[] }

/** Units per option (in option order) and units voted, over each holder's current ballot. */
export function tally(options: readonly string[], ballots: readonly CountedBallot[]): { unitsFor: bigint[]; unitsVoted: bigint } {
  const unitsFor = options.map(() => 0n);
  let unitsVoted = 0n;
  for (const b of ballots) {
    for (const c of b.choices) {
      unitsFor[options.indexOf(c.option)] += c.units;
      unitsVoted += c.units;
    }
  }
  return { unitsFor, unitsVoted };
}

/**
 * keccak256 of the UTF-8 JSON array [[ballotId, investorId, [[option, units], ...]], ...]
 * of the counted ballots, by investor id: an auditor recomputes it from the
 * ballots (Vote.ballots, the audit trail) to see the signed count covers them.
 */
export function ballotsHash(ballots: readonly CountedBallot[]): string {
  const rows = [...ballots].sort((a, b) => (a.investorId < b.investorId ? -1 : a.investorId > b.investorId ? 1 : 0))
    .map((b) => [b.ballotId, b.investorId, b.choices.map((c) => [c.option, c.units.toString()])]);
  return keccak256(toUtf8Bytes(JSON.stringify(rows)));
}

export const VOTE_RESULT_DOMAIN_NAME = 'Tokenstack Vote Result';
export const VOTE_RESULT_DOMAIN_VERSION = '1';

export const VOTE_RESULT_TYPES: Record<string, TypedDataField[]> = {
  VoteResult: [
    { name: 'voteId', type: 'string' },
    { name: 'tokenId', type: 'string' },
    { name: 'securityToken', type: 'address' },
    { name: 'question', type: 'string' },
    { name: 'options', type: 'string[]' },
    { name: 'unitsFor', type: 'uint256[]' },
    { name: 'unitsVoted', type: 'uint256' },
    { name: 'eligibleUnits', type: 'uint256' },
    { name: 'ballots', type: 'uint256' },
    { name: 'ballotsHash', type: 'bytes32' },
    { name: 'recordDate', type: 'uint256' },
    { name: 'closesAt', type: 'uint256' },
    { name: 'closedAt', type: 'uint256' },
  ],
};

export interface VoteResultDomain { name: string; version: string; chainId: number; verifyingContract: string }

/** The signed record as JSON: integers as decimal strings (instants in unix seconds), so it survives any JSON round trip. */
export interface VoteResultRecord {
  voteId: string; tokenId: string; securityToken: string; question: string; options: string[]; unitsFor: string[];
  unitsVoted: string; eligibleUnits: string; ballots: string; ballotsHash: string; recordDate: string; closesAt: string; closedAt: string;
}

/** The verifying contract is the token itself: a result names the security it counts. */
export const voteResultDomain = (chainId: number, securityToken: string): VoteResultDomain =>
  ({ name: VOTE_RESULT_DOMAIN_NAME, version: VOTE_RESULT_DOMAIN_VERSION, chainId, verifyingContract: getAddress(securityToken) });

const unix = (d: Date) => String(Math.floor(d.getTime() / 1000));

export function voteResultRecord(v: {
  voteId: string; tokenId: string; securityToken: string; question: string; options: string[]; eligibleUnits: bigint;
  recordDate: Date; closesAt: Date; closedAt: Date; ballots: readonly CountedBallot[];
}): VoteResultRecord {
  const { unitsFor, unitsVoted } = tally(v.options, v.ballots);
  return {
    voteId: v.voteId, tokenId: v.tokenId, securityToken: getAddress(v.securityToken), question: v.question, options: v.options,
    unitsFor: unitsFor.map(String), unitsVoted: String(unitsVoted), eligibleUnits: String(v.eligibleUnits), ballots: String(v.ballots.length),
    ballotsHash: ballotsHash(v.ballots), recordDate: unix(v.recordDate), closesAt: unix(v.closesAt), closedAt: unix(v.closedAt),
  };
}

export const voteResultDigest = (domain: VoteResultDomain, record: VoteResultRecord): string => TypedDataEncoder.hash(domain, VOTE_RESULT_TYPES, record);

/** The typed data in the shape wallets and eth_signTypedData_v4 take. */
export function voteResultTypedData(domain: VoteResultDomain, record: VoteResultRecord) {
  return {
    domain,
    types: {
      EIP712Domain: [
        { name: 'name', type: 'string' }, { name: 'version', type: 'string' }, { name: 'chainId', type: 'uint256' }, { name: 'verifyingContract', type: 'address' },
      ],
      ...VOTE_RESULT_TYPES,
    },
    primaryType: 'VoteResult',
    message: record,
  };
}
