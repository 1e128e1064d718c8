import { describe, expect, test } from '@jest/globals';
import { canSee, inScope, investorOnly, isOperator, requireOperator, scopeOf, settlementOperator, type OperatorRule } from '../../subgraphs/kit/access.js';
import type { Caller, Role } from '../../subgraphs/kit/auth.js';

/**
 * The one visibility rule, as a table: caller (roles, organisation, investor
 * id) x row owner -> seen. canSee (one row), scopeOf + inScope (lists and
 * events) must give the same answer on every line.
 */
const user = (org: string, roles: Role[], investorId?: string): Caller => ({ kind: 'user', subject: `${org}-u`, org, roles, investorId, token: 't' });
const service: Caller = { kind: 'service', subject: 'trading', org: 'tokenstack', roles: [], token: 't' };
const venue: OperatorRule = { orgs: ['ats-co'], roles: ['ATS_OPERATOR'] };

type Row = [string, Caller, { org: string; investorId?: string }, OperatorRule | undefined, boolean];
const own = { org: 'broker-a', investorId: 'inv_1' };
const other = { org: 'broker-b', investorId: 'inv_9' };

const table: Row[] = [
  ['a service, any row', service, other, undefined, true],
  ['a broker of the owner organisation', user('broker-a', ['BROKER_DEALER']), own, undefined, true],
  ['a broker of another organisation', user('broker-b', ['BROKER_DEALER']), own, undefined, false],
  ['an auditor of the owner organisation', user('broker-a', ['AUDITOR']), own, undefined, true],
  ['the investor itself', user('broker-a', ['INVESTOR'], 'inv_1'), own, undefined, true],
  ['another investor of the same organisation', user('broker-a', ['INVESTOR'], 'inv_2'), own, undefined, false],
  ['an investor token naming no investor', user('broker-a', ['INVESTOR']), own, undefined, false],
  ['an investor who is also a broker of the organisation', user('broker-a', ['INVESTOR', 'BROKER_DEALER'], 'inv_2'), own, undefined, true],
  ['a user with no role at all (not an investor: nobody)', user('broker-a', []), own, undefined, false],
  ['the venue operator (ATS_OPERATOR of ats-co)', user('ats-co', ['ATS_OPERATOR']), own, venue, true],
  ['an ATS_OPERATOR of another organisation', user('rogue-co', ['ATS_OPERATOR']), own, venue, false],
  ['an ATS_OPERATOR of the owner organisation: only as that organisation', user('broker-a', ['ATS_OPERATOR']), own, venue, true],
  ['a BROKER_DEALER of the operator organisation: the role is not an operator role', user('ats-co', ['BROKER_DEALER']), own, venue, false],
  ['the venue operator where no operator rule applies', user('ats-co', ['ATS_OPERATOR']), own, undefined, false],
  ['the settlement operator', user('settle-co', ['SETTLEMENT_AGENT']), own, settlementOperator(['settle-co']), true],
  ['a SETTLEMENT_AGENT of another organisation', user('broker-b', ['SETTLEMENT_AGENT']), own, settlementOperator(['settle-co']), false],
  ['an investor of the operator organisation', user('settle-co', ['INVESTOR'], 'inv_1'), own, settlementOperator(['settle-co']), false],
];

describe('kit/access: who sees a row', () => {
  test.each(table)('%s', (_label, caller, owner, rule, seen) => {
    expect(canSee(caller, owner, rule)).toBe(seen);
    expect(inScope(scopeOf(caller, rule), [owner])).toBe(seen);
  });

  test('a row with two parties is seen by either party, an investor only on its own side', () => {
    const trade = [{ org: 'broker-a', investorId: 'inv_1' }, { org: 'broker-b', investorId: 'inv_9' }];
    expect(inScope(scopeOf(user('broker-b', ['BROKER_DEALER'])), trade)).toBe(true);
    expect(inScope(scopeOf(user('broker-c', ['BROKER_DEALER'])), trade)).toBe(false);
    expect(inScope(scopeOf(user('broker-b', ['INVESTOR'], 'inv_9')), trade)).toBe(true);
    expect(inScope(scopeOf(user('broker-b', ['INVESTOR'], 'inv_1')), trade)).toBe(false);
  });

  test('investor-only means INVESTOR and nothing else', () => {
    expect(investorOnly(user('o', ['INVESTOR'], 'i'))).toBe(true);
    expect(investorOnly(user('o', ['INVESTOR', 'AUDITOR'], 'i'))).toBe(false);
    expect(investorOnly(user('o', []))).toBe(false);
    expect(investorOnly(service)).toBe(false);
  });

  test('operator powers need the organisation and the role; the refusal names the setting', () => {
    expect(isOperator(user('ats-co', ['ATS_OPERATOR']), venue)).toBe(true);
    expect(isOperator(service, venue)).toBe(true);
    expect(isOperator(user('rogue-co', ['ATS_OPERATOR']), venue)).toBe(false);
    expect(isOperator(user('ats-co', ['ATS_OPERATOR']), { orgs: [], roles: ['ATS_OPERATOR'] })).toBe(false);
    expect(() => requireOperator(user('rogue-co', ['ATS_OPERATOR']), venue, 'TRADING_OPERATOR_ORGS')).toThrow(/TRADING_OPERATOR_ORGS/);
  });
});
