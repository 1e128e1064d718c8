import { evaluateTransfer } from '../engine.js';
import { applies, investor, issuance, resultOf, token, trade } from '../fixtures.js';

describe('issuer controls', () => {
  test('a paused token refuses transfers between investors', () => {
    const r = resultOf(trade({ token: token({ paused: true }) }), 'TOKEN_NOT_PAUSED');
    expect(r.passed).toBe(false);
    expect(r.regulation).toBe('ERC-3643 issuer control');
    expect(resultOf(trade(), 'TOKEN_NOT_PAUSED').passed).toBe(true);
  });

  test('a pause does not stop the agent\'s mint or forced transfer, as on ERC-3643', () => {
    expect(applies(issuance({ token: token({ paused: true }) }), 'TOKEN_NOT_PAUSED')).toBe(false);
    expect(applies(trade({ token: token({ paused: true }), kind: 'FORCED_TRANSFER' }), 'TOKEN_NOT_PAUSED')).toBe(false);
  });

  test('a frozen wallet can neither send nor receive', () => {
    expect(resultOf(trade({ from: investor('inv_seller', { balance: 1_000n, walletFrozen: true }) }), 'WALLET_NOT_FROZEN_SENDER').passed).toBe(false);
    expect(resultOf(trade({ to: investor('inv_buyer', { walletFrozen: true }) }), 'WALLET_NOT_FROZEN_RECEIVER').passed).toBe(false);
    expect(resultOf(issuance({ to: investor('inv_buyer', { walletFrozen: true }) }), 'WALLET_NOT_FROZEN_RECEIVER').passed).toBe(false);
  });

  test('partially frozen tokens cannot leave the wallet: only the free balance covers the amount', () => {
    const seller = investor('inv_seller', { balance: 1_000n, frozenAmount: 950n });
    const r = resultOf(trade({ from: seller, amount: 100n }), 'FREE_BALANCE_SENDER');
    expect(r.passed).toBe(false);
    expect(r.currentValue).toBe('50');
    expect(r.limit).toBe('100');
    expect(r.message).toContain('950 frozen');
    expect(resultOf(trade({ from: seller, amount: 50n }), 'FREE_BALANCE_SENDER').passed).toBe(true);
  });

  test('a forced transfer may move frozen tokens but not more than the sender holds', () => {
    const seller = investor('inv_seller', { balance: 1_000n, frozenAmount: 1_000n, walletFrozen: true });
    const forced = trade({ kind: 'FORCED_TRANSFER', from: seller, amount: 1_000n });
    expect(resultOf(forced, 'FREE_BALANCE_SENDER').passed).toBe(true);
    expect(applies(forced, 'WALLET_NOT_FROZEN_SENDER')).toBe(false);
    expect(resultOf({ ...forced, amount: 1_001n }, 'FREE_BALANCE_SENDER').passed).toBe(false);
  });

  test('a liquidate-only investor may sell but not buy', () => {
    const r = resultOf(trade({ to: investor('inv_buyer', { liquidateOnly: true }) }), 'RECEIVER_NOT_LIQUIDATE_ONLY');
    expect(r.passed).toBe(false);
    expect(r.regulation).toBe('issuer control');
    const sellerOnly = trade({ from: investor('inv_seller', { balance: 1_000n, liquidateOnly: true }) });
    expect(evaluateTransfer(sellerOnly).allowed).toBe(true);
    expect(resultOf(issuance({ to: investor('inv_buyer', { liquidateOnly: true }) }), 'RECEIVER_NOT_LIQUIDATE_ONLY').passed).toBe(false);
  });
});
