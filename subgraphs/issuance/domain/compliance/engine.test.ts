import { RULE_CATALOGUE, RULE_CODES, evaluateTransfer } from './engine.js';
import { ComplianceInputError } from './errors.js';
import { AT, investor, issuance, lot, nonAccredited, token, trade, utc } from './fixtures.js';
import { RULES } from './rules/index.js';
import type { TransferInput } from './types.js';

const fieldOf = (f: () => unknown): string | undefined => {
  try { f(); } catch (e) { return e instanceof ComplianceInputError ? e.field : `unexpected ${String(e)}`; }
  return undefined;
};

describe('evaluateTransfer', () => {
  test('the rules are reported in the order of RULE_CODES, each code once', () => {
    expect(RULES.map((r) => r.code)).toEqual([...RULE_CODES]);
    expect(new Set(RULE_CODES).size).toBe(RULE_CODES.length);
    expect(RULE_CATALOGUE.map((r) => r.code)).toEqual([...RULE_CODES]);
    for (const { regulation } of RULE_CATALOGUE) expect(regulation.length).toBeGreaterThan(0);
  });

  test('a compliant trade is allowed, with every applicable rule reported as passed', () => {
    const evaluation = evaluateTransfer(trade());
    expect(evaluation.allowed).toBe(true);
    expect(evaluation.results.map((r) => r.code)).toEqual([
      'KYC_VALID_RECEIVER', 'KYC_VALID_SENDER', 'AML_CLEAR_RECEIVER', 'AML_CLEAR_SENDER',
      'COUNTRY_NOT_SANCTIONED_RECEIVER', 'COUNTRY_NOT_SANCTIONED_SENDER', 'RULE_144_HOLDING_PERIOD', 'RULE_144_AFFILIATE_VOLUME_LIMIT', 'RULE_144_FORM_144_NOTICE',
      'HOLDER_CAP_12G_TOTAL', 'HOLDER_CAP_12G_NON_ACCREDITED',
      'TOKEN_NOT_PAUSED', 'WALLET_NOT_FROZEN_SENDER', 'WALLET_NOT_FROZEN_RECEIVER', 'FREE_BALANCE_SENDER', 'RECEIVER_NOT_LIQUIDATE_ONLY',
    ]);
    for (const r of evaluation.results) {
      expect(r.passed).toBe(true);
      expect(r.message).toMatch(/^[A-Z0-9$].*\.$/);
    }
  });

  test('every rule is either reported or listed as not applicable, never both', () => {
    for (const input of [trade(), issuance(), trade({ kind: 'FORCED_TRANSFER' })]) {
      const { results, notApplicable } = evaluateTransfer(input);
      const reported = results.map((r) => r.code);
      expect([...reported, ...notApplicable].sort()).toEqual([...RULE_CODES].sort());
    }
  });

  test('when several rules fail, every result is still present and the transfer is refused', () => {
    const input = trade({
      at: utc('2025-06-15T12:00:00Z'),
      token: token({ exemption: 'REG_D_506B', paused: true }, { minHolding: 10n }),
      from: investor('inv_seller', { balance: 1_000n, walletFrozen: true }),
      to: nonAccredited('inv_buyer', { kyc: { status: 'APPROVED', approvedAt: utc('2024-01-01'), expiresAt: null }, liquidateOnly: true }),
      senderLots: [lot(1_000n, '2025-01-01')],
      amount: 995n,
    });
    const evaluation = evaluateTransfer(input);
    expect(evaluation.allowed).toBe(false);
    const failed = evaluation.results.filter((r) => !r.passed).map((r) => r.code);
    expect(failed).toEqual([
      'KYC_VALID_RECEIVER', 'RULE_144_HOLDING_PERIOD', 'MIN_HOLDING_SENDER',
      'TOKEN_NOT_PAUSED', 'WALLET_NOT_FROZEN_SENDER', 'RECEIVER_NOT_LIQUIDATE_ONLY',
    ]);
    expect(evaluation.results.filter((r) => r.passed).length).toBeGreaterThan(0);
    expect(evaluation.results.length + evaluation.notApplicable.length).toBe(RULE_CODES.length);
  });

  test('only failed time-bound results carry the date they stop blocking', () => {
    const blocked = evaluateTransfer(trade({ senderLots: [lot(1_000n, '2025-01-01')] }));
    const withDate = blocked.results.filter((r) => r.blockingUntil);
    expect(withDate.map((r) => r.code)).toEqual(['RULE_144_HOLDING_PERIOD']);
    expect(withDate[0].blockingUntil).toEqual(utc('2026-01-01'));
    expect(evaluateTransfer(trade()).results.some((r) => r.blockingUntil)).toBe(false);
  });

  test('the same snapshot always gives the same answer and is left untouched', () => {
    const input = trade();
    const before = JSON.stringify(input, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v));
    const first = evaluateTransfer(input);
    expect(evaluateTransfer(input)).toEqual(first);
    expect(JSON.stringify(input, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v))).toBe(before);
  });

  test('an input that cannot describe a real transfer is refused with the field named', () => {
    expect(fieldOf(() => evaluateTransfer(trade({ amount: 0n })))).toBe('amount');
    expect(fieldOf(() => evaluateTransfer(trade({ amount: -5n })))).toBe('amount');
    expect(fieldOf(() => evaluateTransfer(issuance({ from: investor('inv_x') })))).toBe('from');
    expect(fieldOf(() => evaluateTransfer(trade({ kind: 'FORCED_TRANSFER', from: null, senderLots: [] })))).toBe('from');
    expect(fieldOf(() => evaluateTransfer(trade({ kind: 'FORCED_TRANSFER', to: null })))).toBe('to');
    expect(fieldOf(() => evaluateTransfer(issuance({ to: null })))).toBe('to');
    expect(fieldOf(() => evaluateTransfer(trade({ from: null, to: null, senderLots: [] })))).toBe('to');
    expect(fieldOf(() => evaluateTransfer(trade({ from: null })))).toBe('senderLots');
    expect(fieldOf(() => evaluateTransfer(trade({ at: new Date(Number.NaN) })))).toBe('at');
    expect(fieldOf(() => evaluateTransfer(trade({ token: token({ exemption: 'REG_S' }) })))).toBe('token.regS');
    expect(fieldOf(() => evaluateTransfer(issuance({ token: token({ exemption: 'REG_D_506B' }) })))).toBe('offering');
    expect(fieldOf(() => evaluateTransfer(issuance({ token: token({ exemption: 'REG_CF' }), priceCents: undefined })))).toBe('priceCents');
    expect(fieldOf(() => evaluateTransfer(trade({ to: investor('inv_buyer', { jurisdiction: 'XX' }) })))).toBe('to.jurisdiction');
    expect(fieldOf(() => evaluateTransfer(trade({ token: token({}, { blockedCountries: ['usa'] }) })))).toBe('token.policy.blockedCountries[0]');
    expect(fieldOf(() => evaluateTransfer(trade({ holders: { total: 5, nonAccredited: 6, usPersons: 0 } })))).toBe('holders');
    expect(fieldOf(() => evaluateTransfer(trade({ holders: { total: 0, nonAccredited: 0, usPersons: 0 } })))).toBe('holders.total');
    expect(fieldOf(() => evaluateTransfer(trade({ senderLots: [lot(0n, '2024-01-01')] })))).toBe('senderLots[0].amount');
  });
});

describe('the cost of an evaluation does not grow with the number of holders', () => {
  /** Counts every property read the engine makes on the snapshot: a deterministic measure of its work. */
  function counted<T extends object>(value: T, counter: { reads: number }): T {
    return new Proxy(value, {
      get(target, key, receiver) {
        counter.reads++;
        const v = Reflect.get(target, key, receiver);
        return v !== null && typeof v === 'object' && !(v instanceof Date) ? counted(v, counter) : v;
      },
    });
  }

  /** Paths of every array in the snapshot, with their lengths. */
  function arrays(value: unknown, path = ''): Record<string, number> {
    if (Array.isArray(value)) return { [path]: value.length, ...Object.assign({}, ...value.map((v, i) => arrays(v, `${path}[${i}]`))) };
    if (value === null || typeof value !== 'object' || value instanceof Date) return {};
    return Object.assign({}, ...Object.entries(value).map(([k, v]) => arrays(v, path ? `${path}.${k}` : k)));
  }

  const population = (holders: number): TransferInput => trade({
    token: token({ exemption: 'REG_CF', totalSupply: 10_000_000n }, { blockedCountries: ['RU'], allowedCountries: ['US', 'GB'], maxBalance: 1_000_000n, minHolding: 1n }),
    senderLots: [lot(600n, '2023-01-01'), lot(400n, '2024-01-01')],
    holders: { total: holders, nonAccredited: Math.floor(holders / 2), usPersons: holders },
    at: AT,
  });

  test('a token with 100,000 holders arrives as the same snapshot as one with 10: counts, and no per-holder lists', () => {
    const small = population(10);
    const large = population(100_000);
    expect(arrays(large)).toEqual(arrays(small));
    expect(Object.keys(arrays(large)).sort()).toEqual(['senderLots', 'token.policy.allowedCountries', 'token.policy.blockedCountries']);
    expect(Object.values(large.holders).every((n) => typeof n === 'number')).toBe(true);
  });

  test('evaluating it reads exactly as much of the snapshot for 100,000 holders as for 10', () => {
    const reads = (input: TransferInput): number => {
      const counter = { reads: 0 };
      const evaluation = evaluateTransfer(counted(input, counter));
      expect(evaluation.allowed).toBe(true);
      return counter.reads;
    };
    const small = reads(population(10));
    expect(small).toBeGreaterThan(0);
    expect(reads(population(100_000))).toBe(small);
    expect(reads(population(10_000_000))).toBe(small);
  });
});
