import { describe, expect, test } from '@jest/globals';
import { Wallet, verifyTypedData } from 'ethers';
import { ballotsHash, checkBallot, checkQuestion, tally, VOTE_RESULT_TYPES, voteResultDomain, voteResultRecord, VoteInputError } from './tally.js';

const limits = { maxQuestionChars: 50, maxOptions: 3, maxOptionChars: 10 };
const code = (f: () => unknown) => { try { f(); return 'none'; } catch (e) { return (e as VoteInputError).code; } };

describe('votes: questions, ballots, the count and its signed record', () => {
  test('a question is trimmed and needs 2..max distinct options within the limits', () => {
    expect(checkQuestion(limits, '  Approve?  ', [' FOR', 'AGAINST '])).toEqual({ question: 'Approve?', options: ['FOR', 'AGAINST'] });
    expect(code(() => checkQuestion(limits, ' ', ['A', 'B']))).toBe('INVALID_QUESTION');
    expect(code(() => checkQuestion(limits, 'q'.repeat(51), ['A', 'B']))).toBe('QUESTION_TOO_LONG');
    expect(code(() => checkQuestion(limits, 'q', ['A']))).toBe('TOO_FEW_OPTIONS');
    expect(code(() => checkQuestion(limits, 'q', ['A', 'B', 'C', 'D']))).toBe('TOO_MANY_OPTIONS');
    expect(code(() => checkQuestion(limits, 'q', ['A', 'B'.repeat(11)]))).toBe('OPTION_TOO_LONG');
    expect(code(() => checkQuestion(limits, 'q', ['A', ' A']))).toBe('DUPLICATE_OPTION');
    expect(code(() => checkQuestion(limits, 'q', ['A', '']))).toBe('INVALID_OPTION');
  });

  test('a ballot may split the holder\'s units across options, never more than it held at the record date; choices come back in option order', () => {
    const opts = ['FOR', 'AGAINST', 'ABSTAIN'];
    expect(checkBallot(opts, 100n, [{ option: 'ABSTAIN', units: 40n }, { option: 'FOR', units: 60n }]))
      .toEqual({ choices: [{ option: 'FOR', units: 60n }, { option: 'ABSTAIN', units: 40n }], units: 100n });
    expect(code(() => checkBallot(opts, 100n, [{ option: 'FOR', units: 60n }, { option: 'AGAINST', units: 41n }]))).toBe('VOTE.UNITS_EXCEED_ENTITLEMENT');
    expect(code(() => checkBallot(opts, 100n, []))).toBe('EMPTY_BALLOT');
    expect(code(() => checkBallot(opts, 100n, [{ option: 'MAYBE', units: 1n }]))).toBe('UNKNOWN_OPTION');
    expect(code(() => checkBallot(opts, 100n, [{ option: 'FOR', units: 0n }]))).toBe('INVALID_UNITS');
    expect(code(() => checkBallot(opts, 100n, [{ option: 'FOR', units: 1n }, { option: 'FOR', units: 1n }]))).toBe('DUPLICATE_OPTION');
    // Units beyond any JS number stay exact.
    const big = 10n ** 40n + 1n;
    expect(checkBallot(opts, big, [{ option: 'FOR', units: big }]).units).toBe(big);
  });

  test('the count adds each holder\'s current ballot per option; the ballots hash does not depend on their order', () => {
    const b = [
      { ballotId: 'b1', investorId: 'inv_b', choices: [{ option: 'FOR', units: 5n }] },
      { ballotId: 'b2', investorId: 'inv_a', choices: [{ option: 'FOR', units: 2n }, { option: 'AGAINST', units: 3n }] },
    ];
    expect(tally(['FOR', 'AGAINST', 'ABSTAIN'], b)).toEqual({ unitsFor: [7n, 3n, 0n], unitsVoted: 10n });
    expect(ballotsHash(b)).toBe(ballotsHash([...b].reverse()));
    expect(ballotsHash(b)).not.toBe(ballotsHash([b[0]]));
  });

  test('the signed record recovers the signer with ethers alone; a changed figure recovers another address', async () => {
    const key = Wallet.createRandom();
    const domain = voteResultDomain(31337, '0x' + '11'.repeat(20));
    const record = voteResultRecord({
      voteId: 'vot_1', tokenId: 'tok_1', securityToken: '0x' + '11'.repeat(20), question: 'Approve?', options: ['FOR', 'AGAINST'], eligibleUnits: 10n,
      recordDate: new Date('2026-01-01T00:00:00Z'), closesAt: new Date('2026-02-01T00:00:00Z'), closedAt: new Date('2026-02-01T00:00:01Z'),
      ballots: [{ ballotId: 'b1', investorId: 'inv_a', choices: [{ option: 'FOR', units: 6n }] }],
    });
    expect(record).toMatchObject({ unitsFor: ['6', '0'], unitsVoted: '6', eligibleUnits: '10', ballots: '1', recordDate: '1767225600' });
    const sig = await key.signTypedData(domain, VOTE_RESULT_TYPES, record);
    expect(verifyTypedData(domain, VOTE_RESULT_TYPES, JSON.parse(JSON.stringify(record)), sig)).toBe(key.address);
    expect(verifyTypedData(domain, VOTE_RESULT_TYPES, { ...record, unitsFor: ['0', '6'] }, sig)).not.toBe(key.address);
    expect(verifyTypedData({ ...domain, chainId: 1 }, VOTE_RESULT_TYPES, record, sig)).not.toBe(key.address);
  });
});
