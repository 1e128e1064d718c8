import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { verifyTypedData } from 'ethers';
import type { FormattedExecutionResult } from 'graphql';
import { DEMO_SUBGRAPH_ENV, seedStack } from '../../scripts/demoMarket.js';
import type { SeedReport } from '../../scripts/seed.js';
import { signUserToken, type Role } from '../../subgraphs/kit/auth.js';
import { issuanceServices } from '../../subgraphs/issuance/index.js';
import { ballotsHash } from '../../subgraphs/issuance/domain/tally.js';
import { dbLabel } from '../support/db.js';
import { gql, gqlOk, startTestStack, type TestStack } from '../support/stack.js';
import { until } from '../support/wait.js';
import { wsClient } from '../support/ws.js';
import { balances, type CapTableAnswer } from './answers.js';

const VOTE = `id status eligibleUnits options recordDate closesAt
  entitlements { investorId units unitsCast }
  ballots { id investorId units current castByOrg choices { option units } }
  result { closedAt tally { option units } unitsVoted ballotsCounted typedData signature signer digest }
  auditTrail { action details }`;

/** The parts of the answers these tests read. */
interface Ballot { id: string; investorId: string; units: string; current: boolean; castByOrg: string; choices: { option: string; units: string }[] }
interface Vote {
  id: string; status: string; eligibleUnits: string; options: string[]; recordDate: string; closesAt: string;
  entitlements: { investorId: string; units: string; unitsCast: string }[];
  ballots: Ballot[];
  result: { closedAt: string; tally: { option: string; units: string }[]; unitsVoted: string; ballotsCounted: number; typedData: string | null; signature: string | null; signer: string | null; digest: string | null } | null;
  auditTrail: { action: string; details: string }[];
}
interface VoteStatusEvent { voteStatusChanged: { cursor: string; status: string; vote: { status: string; result: { unitsVoted: string } | null } | null } }

/** The seeded market (npm start's), a vote of ACME's holders, a trade settling on chain while it is open, ballots through the gateway. */
describe(`votes of the holders of record through the gateway (${dbLabel()}, anvil)`, () => {
  let stack: TestStack, seeded: SeedReport;
  let issuer: string, broker: string, otherBroker: string;
  let voteId: string;
  const user = (org: string, roles: Role[], investorId?: string) =>
    signUserToken({ secret: stack.secrets.jwtSecret, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject: `${org}-${roles.join('-')}-${investorId ?? ''}`, org, roles, investorId });
  const inv = (name: string) => seeded.investors[name];
  const ballot = (token: string, investorId: string, choices: { option: string; units: string }[], key: string) =>
    gql<{ castBallot: Ballot }>(stack.gateway.url, token, `mutation($in: CastBallotInput!) { castBallot(input: $in) { id investorId units current castByOrg choices { option units } } }`,
      { in: { idempotencyKey: key, voteId, investorId, choices } });
  const codeOf = (r: { body: { errors?: { extensions?: Record<string, unknown> }[] } }) => r.body.errors?.[0]?.extensions?.code;
  const voteAs = async (token: string) => (await gqlOk<{ vote: Vote | null }>(stack.gateway.url, token, `query($id: ID!) { vote(id: $id) { ${VOTE} } }`, { id: voteId })).vote;
  const services = () => issuanceServices(stack.subgraphs.issuance.runtime)!;

  beforeAll(async () => {
    stack = await startTestStack({ chain: 'anvil', subgraphEnv: DEMO_SUBGRAPH_ENV });
    seeded = await seedStack(stack, stack.token);
    issuer = await user('issuer-co', ['ISSUER_AGENT', 'COMPLIANCE_OFFICER', 'AUDITOR']);
    broker = await user('broker-co', ['BROKER_DEALER']);
    otherBroker = await user('other-bd', ['BROKER_DEALER', 'CUSTODIAN']);
  }, 600_000);
  afterAll(async () => stack?.stop());

  test('the seed opens one vote of ACME\'s holders, and seeding again opens no other', async () => {
    const votes = (await gqlOk<{ votes: { id: string; status: string; question: string; eligibleUnits: string }[] }>(stack.gateway.url, issuer, `query($t: ID!) { votes(tokenId: $t) { id status question eligibleUnits } }`, { t: seeded.tokens.ACME })).votes;
    expect(votes).toEqual([{ id: expect.stringMatching(/^vot_/), status: 'OPEN', question: 'Approve the 2027 equity incentive plan?', eligibleUnits: '10000' }]);
  });

  test('the issuer opens a vote: the holders of record are the cap table at the record date; a retry returns the same vote', async () => {
    const input = { idempotencyKey: 'acme-vote-1', tokenId: seeded.tokens.ACME, recordDate: new Date().toISOString(), closesAt: new Date(Date.now() + 86_400_000).toISOString(),
      question: 'Elect the board as proposed?', options: ['FOR', 'AGAINST', 'ABSTAIN'] };
    const open = (token: string, i: object) => gql<{ openVote: Vote }>(stack.gateway.url, token, `mutation($in: OpenVoteInput!) { openVote(input: $in) { ${VOTE} } }`, { in: i });
    const r = await open(issuer, input);
    expect(r.body.errors).toBeUndefined();
    const v = r.body.data!.openVote;
    voteId = v.id;
    expect(v).toMatchObject({ status: 'OPEN', eligibleUnits: '10000', options: ['FOR', 'AGAINST', 'ABSTAIN'], ballots: [], result: null });
    expect(Object.fromEntries(v.entitlements.map((e) => [e.investorId, e.units]))).toEqual({
      [inv('Avery Capital LLC')]: '5000', [inv('Northwind Pension Fund')]: '3000', [inv('Blake Morgan')]: '2000',
    });
    expect((await open(issuer, input)).body.data!.openVote.id).toBe(voteId);
    expect(codeOf(await open(issuer, { ...input, question: 'Something else?' }))).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    // Hostile openings: another organisation, a broker, a future record date, oversized or malformed questions.
    const fresh = (o: object) => ({ ...input, idempotencyKey: `k-${Math.random()}`, ...o });
    expect(codeOf(await open(otherBroker, fresh({})))).toBe('FORBIDDEN');
    expect(codeOf(await open(await user('other-issuer', ['ISSUER_AGENT']), fresh({})))).toBe('FORBIDDEN');
    expect(codeOf(await open(issuer, fresh({ recordDate: new Date(Date.now() + 3_600_000).toISOString() })))).toBe('VOTE.RECORD_DATE_IN_FUTURE');
    expect(codeOf(await open(issuer, fresh({ closesAt: new Date(Date.now() - 1000).toISOString() })))).toBe('VOTE.CLOSES_IN_PAST');
    expect(codeOf(await open(issuer, fresh({ closesAt: new Date(Date.now() + 1000 * 86_400_000).toISOString() })))).toBe('VOTE.OPEN_TOO_LONG');
    expect(codeOf(await open(issuer, fresh({ question: 'x'.repeat(2001) })))).toBe('INPUT.QUESTION_TOO_LONG');
    expect(codeOf(await open(issuer, fresh({ options: Array.from({ length: 21 }, (_, i) => `option ${i}`) })))).toBe('INPUT.TOO_MANY_OPTIONS');
    expect(codeOf(await open(issuer, fresh({ options: ['FOR', 'y'.repeat(201)] })))).toBe('INPUT.OPTION_TOO_LONG');
    expect(codeOf(await open(issuer, fresh({ options: ['FOR', 'FOR'] })))).toBe('INPUT.DUPLICATE_OPTION');
    expect(codeOf(await open(issuer, fresh({ options: ['FOR'] })))).toBe('INPUT.TOO_FEW_OPTIONS');
    expect(codeOf(await open(issuer, fresh({ recordDate: '2000-01-01T00:00:00Z' })))).toBe('VOTE.NO_HOLDERS_OF_RECORD');
    expect((await gqlOk<{ votes: { id: string }[] }>(stack.gateway.url, issuer, `query($t: ID!) { votes(tokenId: $t) { id } }`, { t: seeded.tokens.ACME })).votes).toHaveLength(2);
  });

  test('a trade that settles after the record date moves the cap table, not the votes', async () => {
    const placed = await gqlOk<{ placeOrder: { accepted: boolean; rejections: { code: string }[]; order: { status: string } | null } }>(stack.gateway.url, broker, `mutation($in: PlaceOrderInput!) { placeOrder(input: $in) { accepted rejections { code } order { status } } }`, {
      in: { tokenId: seeded.tokens.ACME, accountId: seeded.accounts['Jonas Berg'].id, side: 'BUY', type: 'LIMIT', price: '105', quantity: '500', clientOrderId: 'vote-test-buy' },
    });
    expect(placed.placeOrder).toMatchObject({ accepted: true, order: { status: 'FILLED' } });
    const holders = await until('the trade to settle and issuance to index it', async () => {
      const h = balances(await gqlOk<CapTableAnswer>(stack.gateway.url, issuer, `query($t: ID!) { securityToken(id: $t) { capTable { holders { investor { id } balance } } } }`, { t: seeded.tokens.ACME }));
      return h[inv('Jonas Berg')] === '500' && h;
    }, 180_000);
    expect(holders[inv('Avery Capital LLC')]).toBe('4500');
    const v = (await voteAs(issuer))!;
    expect(v.eligibleUnits).toBe('10000');
    expect(v.entitlements.find((e) => e.investorId === inv('Avery Capital LLC'))!.units).toBe('5000');
    expect(v.entitlements.some((e) => e.investorId === inv('Jonas Berg'))).toBe(false);
  }, 240_000);

  test('a broker votes for its clients with their units at the record date; refusals are typed', async () => {
    // Avery sold 500 since the record date: it still votes its 5,000.
    const avery = await ballot(broker, inv('Avery Capital LLC'), [{ option: 'FOR', units: '5000' }], 'avery-1');
    expect(avery.body.errors).toBeUndefined();
    expect(avery.body.data!.castBallot).toMatchObject({ units: '5000', current: true, castByOrg: 'broker-co' });
    // A replay is the same ballot; the same key with other content is refused.
    expect((await ballot(broker, inv('Avery Capital LLC'), [{ option: 'FOR', units: '5000' }], 'avery-1')).body.data!.castBallot.id).toBe(avery.body.data!.castBallot.id);
    expect(codeOf(await ballot(broker, inv('Avery Capital LLC'), [{ option: 'AGAINST', units: '5000' }], 'avery-1'))).toBe('INPUT.IDEMPOTENCY_KEY_REUSED');
    // A split vote within the holding; more than held at the record date is refused.
    expect(codeOf(await ballot(broker, inv('Northwind Pension Fund'), [{ option: 'FOR', units: '2000' }, { option: 'AGAINST', units: '1001' }], 'nw-0'))).toBe('VOTE.UNITS_EXCEED_ENTITLEMENT');
    expect((await ballot(broker, inv('Northwind Pension Fund'), [{ option: 'FOR', units: '2000' }, { option: 'AGAINST', units: '1000' }], 'nw-1')).body.errors).toBeUndefined();
    // The buyer after the record date, and a client that never held, are not holders of record.
    expect(codeOf(await ballot(broker, inv('Jonas Berg'), [{ option: 'FOR', units: '500' }], 'jonas-1'))).toBe('VOTE.NOT_A_HOLDER');
    expect(codeOf(await ballot(broker, inv('Casey Lee'), [{ option: 'FOR', units: '1' }], 'casey-1'))).toBe('VOTE.NOT_A_HOLDER');
    // Another organisation's broker cannot vote for broker-co's client, nor see the vote.
    expect(codeOf(await ballot(otherBroker, inv('Blake Morgan'), [{ option: 'AGAINST', units: '2000' }], 'steal-1'))).toBe('NOT_FOUND');
    expect(await voteAs(otherBroker)).toBeNull();
    expect((await gqlOk<{ votes: { id: string }[] }>(stack.gateway.url, otherBroker, '{ votes { id } }')).votes).toEqual([]);
    // Malformed ballots.
    expect(codeOf(await ballot(broker, inv('Blake Morgan'), [{ option: 'MAYBE', units: '1' }], 'b-x'))).toBe('INPUT.UNKNOWN_OPTION');
    expect(codeOf(await ballot(broker, inv('Blake Morgan'), [{ option: 'FOR', units: '0' }], 'b-y'))).toBe('INPUT.INVALID_UNITS');
    expect(codeOf(await ballot(broker, inv('Blake Morgan'), [{ option: 'FOR', units: '1' }, { option: 'FOR', units: '1' }], 'b-z'))).toBe('INPUT.DUPLICATE_OPTION');
    expect(codeOf(await ballot(broker, inv('Blake Morgan'), [], 'b-w'))).toBe('INPUT.EMPTY_BALLOT');
    expect(codeOf(await ballot(broker, inv('Blake Morgan'), [{ option: 'FOR', units: '1' }], 'k'.repeat(129)))).toBe('INPUT.INVALID_IDEMPOTENCY_KEY');
    expect(codeOf(await ballot(issuer, inv('Blake Morgan'), [{ option: 'FOR', units: '1' }], 'issuer-1'))).toBe('FORBIDDEN');
    // Blake votes himself (an INVESTOR of his custodian's organisation), then changes his mind: the later ballot counts.
    const blake = await user('broker-co', ['INVESTOR'], inv('Blake Morgan'));
    expect((await ballot(blake, inv('Blake Morgan'), [{ option: 'AGAINST', units: '2000' }], 'blake-1')).body.errors).toBeUndefined();
    expect(codeOf(await ballot(blake, inv('Avery Capital LLC'), [{ option: 'AGAINST', units: '1' }], 'blake-for-avery'))).toBe('NOT_FOUND');
    expect((await ballot(blake, inv('Blake Morgan'), [{ option: 'FOR', units: '2000' }], 'blake-2')).body.errors).toBeUndefined();
    const mine = (await voteAs(blake))!;
    expect(mine.entitlements).toEqual([{ investorId: inv('Blake Morgan'), units: '2000', unitsCast: '2000' }]);
    expect(mine.ballots.map((b) => [b.choices[0].option, b.current])).toEqual([['AGAINST', false], ['FOR', true]]);
    expect(mine.auditTrail).toEqual([]);
    // The broker sees its three clients of record, not more.
    expect((await voteAs(broker))!.entitlements.map((e) => e.investorId).sort()).toEqual([inv('Avery Capital LLC'), inv('Blake Morgan'), inv('Northwind Pension Fund')].sort());
  });

  test('at closesAt the vote is counted and signed: the result verifies with ethers, every ballot is in the audit trail, later ballots are refused', async () => {
    const client = wsClient(stack.gateway.url, broker);
    const events: FormattedExecutionResult<VoteStatusEvent, unknown>[] = [];
    const done = new Promise<void>((resolve, reject) => {
      client.subscribe<VoteStatusEvent>({ query: `subscription($v: ID!) { voteStatusChanged(voteId: $v, after: "0") { cursor status vote { status result { unitsVoted } } } }`, variables: { v: voteId } }, {
        next: (e) => { events.push(e); if (e.data?.voteStatusChanged.status === 'CLOSED') resolve(); },
        error: reject, complete: () => resolve(),
      });
    });
    try {
      await until('the OPEN event', () => events.length > 0);
      // The service clock moves past closesAt (no test waits a day); the closer counts on its next pass.
      const s = services();
      s.now = () => new Date(Date.now() + 2 * 86_400_000);
      const v = await until('the vote to close', async () => { const x = await voteAs(issuer); return x?.status === 'CLOSED' && x; }, 60_000);
      await done;
      expect(events.map((e) => e.data!.voteStatusChanged.status)).toEqual(['OPEN', 'CLOSED']);
      expect(events[1].data!.voteStatusChanged.vote).toEqual({ status: 'CLOSED', result: { unitsVoted: '10000' } });

      expect(v.result).toMatchObject({
        tally: [{ option: 'FOR', units: '9000' }, { option: 'AGAINST', units: '1000' }, { option: 'ABSTAIN', units: '0' }], unitsVoted: '10000', ballotsCounted: 3,
      });
      const { domain, types, message } = JSON.parse(v.result!.typedData!);
      const { EIP712Domain: _domainType, ...structs } = types;
      const signer = verifyTypedData(domain, structs, message, v.result!.signature!);
      expect(signer).toBe(s.chain.claimSignerAddress());
      expect(v.result!.signer).toBe(signer);
      expect(message).toMatchObject({ voteId, tokenId: seeded.tokens.ACME, unitsFor: ['9000', '1000', '0'], eligibleUnits: '10000', ballots: '3' });
      // The signed count covers exactly the current ballots shown.
      const current = v.ballots.filter((b) => b.current).map((b) => ({ ballotId: b.id, investorId: b.investorId, choices: b.choices.map((c) => ({ option: c.option, units: BigInt(c.units) })) }));
      expect(message.ballotsHash).toBe(ballotsHash(current));
      // A changed figure recovers another address.
      expect(verifyTypedData(domain, structs, { ...message, unitsFor: ['1000', '9000', '0'] }, v.result!.signature!)).not.toBe(signer);
      // Every ballot, the replaced one too, is in the audit trail.
      const cast = v.auditTrail.filter((e) => e.action === 'vote.ballot_cast');
      expect(cast).toHaveLength(4);
      expect(v.auditTrail.map((e) => e.action)).toEqual(['vote.opened', 'vote.ballot_cast', 'vote.ballot_cast', 'vote.ballot_cast', 'vote.ballot_cast', 'vote.closed']);
      expect(codeOf(await ballot(broker, inv('Blake Morgan'), [{ option: 'AGAINST', units: '2000' }], 'late-1'))).toBe('VOTE.CLOSED');
      // A replay of a ballot cast before the close still answers the ballot it recorded.
      expect((await ballot(broker, inv('Avery Capital LLC'), [{ option: 'FOR', units: '5000' }], 'avery-1')).body.data!.castBallot.current).toBe(true);
    } finally {
      await client.dispose();
    }
  }, 120_000);
});
