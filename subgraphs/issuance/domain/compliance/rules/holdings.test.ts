import { applies, investor, issuance, resultOf, token, trade } from '../fixtures.js';
import type { TransferInput, TransferPolicy } from '../types.js';

const withPolicy = (policy: TransferPolicy, extra: Partial<TransferInput> = {}): TransferInput => trade({ token: token({}, policy), ...extra });

describe('maximum balance per holder', () => {
  const RULE = 'MAX_BALANCE_RECEIVER';

  test('the receiver may reach the maximum exactly, not one unit more', () => {
    expect(resultOf(withPolicy({ maxBalance: 500n }, { to: investor('inv_buyer', { balance: 400n }) }), RULE).passed).toBe(true);
    const r = resultOf(withPolicy({ maxBalance: 500n }, { to: investor('inv_buyer', { balance: 401n }) }), RULE);
    expect(r.passed).toBe(false);
    expect(r.currentValue).toBe('501');
    expect(r.limit).toBe('500');
    expect(r.regulation).toBe('issuer policy');
  });

  test('amounts are shown with the token\'s decimals', () => {
    const t = token({ decimals: 2 }, { maxBalance: 50_000n });
    const r = resultOf(trade({ token: t, amount: 60_000n, from: investor('inv_seller', { balance: 100_000n }), senderLots: [] }), RULE);
    expect(r.currentValue).toBe('600');
    expect(r.limit).toBe('500');
  });

  test('moving tokens between two wallets of the same investor does not change its holding', () => {
    const same = investor('inv_same', { balance: 1_000n });
    expect(resultOf(withPolicy({ maxBalance: 500n }, { from: same, to: same }), RULE).passed).toBe(true);
  });
});

describe('maximum share of supply per holder', () => {
  const RULE = 'MAX_SUPPLY_SHARE_RECEIVER';

  test('the receiver may hold exactly the maximum share, not one unit more', () => {
    const at = (balance: bigint) => withPolicy({ maxSupplyShareBps: 1_000 }, { to: investor('inv_buyer', { balance }) });
    const ok = resultOf(at(99_900n), RULE);
    expect(ok.passed).toBe(true);
    expect(ok.currentValue).toBe('10.00%');
    expect(ok.limit).toBe('10%');
    const over = resultOf(at(99_901n), RULE);
    expect(over.passed).toBe(false);
    expect(over.currentValue).toBe('10.01%');
  });

  test('a primary issuance counts the supply after minting', () => {
    const input = issuance({ token: token({ totalSupply: 900_000n }, { maxSupplyShareBps: 1_000 }), amount: 100_000n });
    expect(resultOf(input, RULE).passed).toBe(true);
  });
});

describe('minimum holding', () => {
  const policy = { minHolding: 50n };

  test('the sender must keep nothing or at least the minimum', () => {
    expect(resultOf(withPolicy(policy, { amount: 950n }), 'MIN_HOLDING_SENDER').passed).toBe(true);
    expect(resultOf(withPolicy(policy, { amount: 1_000n }), 'MIN_HOLDING_SENDER').passed).toBe(true);
    const r = resultOf(withPolicy(policy, { amount: 960n }), 'MIN_HOLDING_SENDER');
    expect(r.passed).toBe(false);
    expect(r.currentValue).toBe('40');
    expect(r.limit).toBe('50');
  });

  test('the receiver must end with at least the minimum', () => {
    expect(resultOf(withPolicy(policy, { amount: 40n }), 'MIN_HOLDING_RECEIVER').passed).toBe(false);
    expect(resultOf(withPolicy(policy, { amount: 40n, to: investor('inv_buyer', { balance: 10n }) }), 'MIN_HOLDING_RECEIVER').passed).toBe(true);
  });

  test('a sender holding less than the amount cannot keep a valid holding', () => {
    expect(resultOf(withPolicy(policy, { amount: 1_100n }), 'MIN_HOLDING_SENDER').passed).toBe(false);
  });

  test('a primary issuance has no sender remainder, and a forced transfer overrides the policy', () => {
    expect(applies(issuance({ token: token({}, policy) }), 'MIN_HOLDING_SENDER')).toBe(false);
    expect(applies(issuance({ token: token({}, policy) }), 'MIN_HOLDING_RECEIVER')).toBe(true);
    expect(applies(withPolicy(policy, { kind: 'FORCED_TRANSFER' }), 'MIN_HOLDING_RECEIVER')).toBe(false);
  });
});
