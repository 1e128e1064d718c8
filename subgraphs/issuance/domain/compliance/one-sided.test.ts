import { RULE_CODES, evaluateTransfer } from './engine.js';
import { AT, investor, lot, nonAccredited, token, trade, utc } from './fixtures.js';
import type { Lot, PartySnapshot, RuleResult, TokenSnapshot, TransferEvaluation, TransferInput } from './types.js';

/** The same trade asked about the seller alone (a sell order) and about the buyer alone (a buy order). */
const sellerOnly = (input: TransferInput): TransferEvaluation => evaluateTransfer({ ...input, to: null });
const buyerOnly = (input: TransferInput): TransferEvaluation => evaluateTransfer({ ...input, from: null, senderLots: [] });

const failed = (e: TransferEvaluation) => e.results.filter((r) => !r.passed).map((r) => r.code);
const result = (e: TransferEvaluation, code: string): RuleResult | undefined => e.results.find((r) => r.code === code);
const partition = (e: TransferEvaluation) => [...e.results.map((r) => r.code), ...e.notApplicable, ...e.notEvaluated].sort();

const RECEIVER_RULES = ['KYC_VALID_RECEIVER', 'AML_CLEAR_RECEIVER', 'COUNTRY_NOT_SANCTIONED_RECEIVER', 'WALLET_NOT_FROZEN_RECEIVER', 'RECEIVER_NOT_LIQUIDATE_ONLY'];
const SENDER_RULES = ['KYC_VALID_SENDER', 'AML_CLEAR_SENDER', 'COUNTRY_NOT_SANCTIONED_SENDER', 'RULE_144_HOLDING_PERIOD', 'RULE_144_AFFILIATE_VOLUME_LIMIT', 'RULE_144_FORM_144_NOTICE', 'WALLET_NOT_FROZEN_SENDER', 'FREE_BALANCE_SENDER'];

describe('a question about one party of a secondary trade', () => {
  test('about the seller alone, the seller\'s rules are decided, the buyer\'s are listed as not evaluated, and the answer is never allowed', () => {
    const e = sellerOnly(trade());
    expect(e.missingParty).toBe('RECEIVER');
    expect(e.results.map((r) => r.code)).toEqual(expect.arrayContaining([...SENDER_RULES, 'TOKEN_NOT_PAUSED']));
    expect(e.results.every((r) => r.passed)).toBe(true);
    expect(e.notEvaluated).toEqual(RECEIVER_RULES);
    expect(e.allowed).toBe(false);
    expect(partition(e)).toEqual([...RULE_CODES].sort());
  });

  test('about the buyer alone, the buyer\'s rules are decided and the seller\'s are listed as not evaluated', () => {
    const e = buyerOnly(trade());
    expect(e.missingParty).toBe('SENDER');
    expect(e.results.map((r) => r.code)).toEqual(expect.arrayContaining([...RECEIVER_RULES, 'TOKEN_NOT_PAUSED']));
    expect(e.notEvaluated).toEqual(SENDER_RULES);
    expect(e.allowed).toBe(false);
    expect(partition(e)).toEqual([...RULE_CODES].sort());
  });

  test('a full question is unchanged: nothing is missing and nothing is left unevaluated', () => {
    expect(evaluateTransfer(trade())).toMatchObject({ allowed: true, missingParty: null, notEvaluated: [] });
  });

  test('a sell of lots still in their Rule 144 holding period is refused with every seller-side reason at once, each time-bound one with its end', () => {
    const input = trade({
      token: token({ exemption: 'REG_D_506B', paused: true }, { lockupUntil: utc('2025-09-01'), minHolding: 10n, blockedCountries: ['DE'] }),
      from: investor('inv_seller', { balance: 1_000n, frozenAmount: 950n, jurisdiction: 'DE', usPerson: false }),
      senderLots: [lot(600n, '2024-01-01'), lot(400n, '2025-03-01')],
      amount: 995n,
    });
    const e = sellerOnly(input);
    expect(failed(e)).toEqual(['RULE_144_HOLDING_PERIOD', 'COUNTRY_NOT_BLOCKED_SENDER', 'MIN_HOLDING_SENDER', 'ISSUER_LOCKUP', 'TOKEN_NOT_PAUSED', 'FREE_BALANCE_SENDER']);
    expect(result(e, 'RULE_144_HOLDING_PERIOD')).toMatchObject({ currentValue: '600', limit: '995', blockingUntil: utc('2026-03-01'), regulation: '17 CFR 230.144(d)' });
    expect(result(e, 'ISSUER_LOCKUP')?.blockingUntil).toEqual(utc('2025-09-01'));
    expect(e.notEvaluated).toEqual(expect.arrayContaining(['KYC_VALID_RECEIVER', 'COUNTRY_NOT_BLOCKED_RECEIVER', 'MIN_HOLDING_RECEIVER']));
    // The full question with any buyer finds the same seller-side failures.
    expect(failed(evaluateTransfer(input))).toEqual(expect.arrayContaining(failed(e)));
  });

  test('a buyer who is a U.S. person is refused during a Reg S distribution compliance period, with its end; a liquidate-only buyer is refused too', () => {
    const regS = token({ exemption: 'REG_S', regS: { category: 'CATEGORY_3', securityType: 'EQUITY', domesticIssuer: true, distributionCompliancePeriodStart: utc('2025-05-01') } });
    const e = buyerOnly(trade({ token: regS, to: investor('inv_buyer', { liquidateOnly: true }) }));
    expect(failed(e)).toEqual(['REG_S_DISTRIBUTION_COMPLIANCE_PERIOD', 'RECEIVER_NOT_LIQUIDATE_ONLY']);
    expect(result(e, 'REG_S_DISTRIBUTION_COMPLIANCE_PERIOD')?.blockingUntil).toEqual(utc('2026-05-01'));
    // Domestic equity sold under Reg S is restricted: the seller's holding period is for the seller's question.
    expect(e.notEvaluated).toContain('RULE_144_HOLDING_PERIOD');
    // The seller alone cannot decide Reg S during the period (the buyer may be no U.S. person); once it ends, it can.
    expect(sellerOnly(trade({ token: regS })).notEvaluated).toContain('REG_S_DISTRIBUTION_COMPLIANCE_PERIOD');
    expect(result(sellerOnly(trade({ token: regS, at: utc('2026-05-01') })), 'REG_S_DISTRIBUTION_COMPLIANCE_PERIOD')?.passed).toBe(true);
  });

  test('the Reg CF resale year is decided by the party that settles it (matured lots, an accredited buyer) and otherwise left to the full question', () => {
    const regCf = token({ exemption: 'REG_CF' });
    const young = [lot(1_000n, '2025-03-01')];
    expect(result(sellerOnly(trade({ token: regCf })), 'REG_CF_RESALE_RESTRICTION')?.passed).toBe(true);
    expect(sellerOnly(trade({ token: regCf, senderLots: young })).notEvaluated).toContain('REG_CF_RESALE_RESTRICTION');
    expect(result(buyerOnly(trade({ token: regCf })), 'REG_CF_RESALE_RESTRICTION')).toMatchObject({ passed: true, message: expect.stringContaining('accredited') });
    expect(buyerOnly(trade({ token: regCf, to: nonAccredited('inv_buyer') })).notEvaluated).toContain('REG_CF_RESALE_RESTRICTION');
    expect(failed(evaluateTransfer(trade({ token: regCf, senderLots: young, to: nonAccredited('inv_buyer') })))).toEqual(['REG_CF_RESALE_RESTRICTION']);
  });

  test('holder caps count the unknown party at its worst: decided when even that fits, left undecided when only the other party could make it fit', () => {
    const capped = token({}, { maxHolders: 50 });
    const atCap = { total: 50, nonAccredited: 0, usPersons: 50 };
    // The buyer holds none: with a seller who keeps a holding the token would have 51.
    expect(buyerOnly(trade({ token: capped, holders: atCap })).notEvaluated).toContain('POLICY_MAX_HOLDERS');
    // A buyer who already holds adds no holder, whoever sells.
    expect(result(buyerOnly(trade({ token: capped, holders: atCap, to: investor('inv_buyer', { balance: 10n }) })), 'POLICY_MAX_HOLDERS')?.passed).toBe(true);
    // A seller who sells everything makes room for any buyer.
    const sellsAll = { from: investor('inv_seller', { balance: 100n }), senderLots: [lot(100n, '2024-01-01')] };
    expect(result(sellerOnly(trade({ token: capped, holders: atCap, ...sellsAll })), 'POLICY_MAX_HOLDERS')?.passed).toBe(true);
    expect(sellerOnly(trade({ token: capped, holders: atCap })).notEvaluated).toContain('POLICY_MAX_HOLDERS');
    // Below the cap even a new holder fits: decided, and the message says so.
    expect(result(sellerOnly(trade({ token: capped, holders: { total: 10, nonAccredited: 0, usPersons: 10 } })), 'POLICY_MAX_HOLDERS'))
      .toMatchObject({ passed: true, message: expect.stringMatching(/^Whoever the receiver is, .* at most 11 holders/) });
  });
});

describe('a one-sided answer never contradicts the full answer, whoever the counterparty is', () => {
  const at = AT;
  const tokens: [string, TokenSnapshot][] = [
    ['506(c)', token()],
    ['506(b) with policy', token({ exemption: 'REG_D_506B' }, { minHolding: 10n, maxBalance: 400n, maxSupplyShareBps: 5, blockedCountries: ['DE'] })],
    ['506(c) locked up, capped, allow list', token({}, { lockupUntil: utc('2025-07-01'), maxHolders: 50, maxUsHolders: 50, allowedCountries: ['US'] })],
    ['Reg CF', token({ exemption: 'REG_CF' })],
    ['Reg S category 3 domestic equity', token({ exemption: 'REG_S', regS: { category: 'CATEGORY_3', securityType: 'EQUITY', domesticIssuer: true, distributionCompliancePeriodStart: utc('2025-05-01') } })],
    ['Reg A Tier 2, 3(c)(1) fund', token({ exemption: 'REG_A_TIER2' }, { fund3c1: { qualifyingVentureCapitalFund: false } })],
    ['paused', token({ paused: true })],
  ];
  const seller = (overrides: Partial<PartySnapshot> = {}, lots: Lot[] = [lot(1_000n, '2024-01-01')]) => ({ party: investor('inv_seller', { balance: 1_000n, ...overrides }), lots });
  const sellers: [string, ReturnType<typeof seller>][] = [
    ['seasoned', seller()],
    ['young lots', seller({}, [lot(1_000n, '2025-03-01')])],
    ['frozen wallet', seller({ walletFrozen: true })],
    ['mostly frozen', seller({ frozenAmount: 950n })],
    ['the issuer, young lots', seller({ issuerRelation: 'ISSUER' }, [lot(1_000n, '2025-03-01')])],
    ['selling out', seller({ balance: 100n }, [lot(100n, '2024-01-01')])],
    ['in Germany', seller({ jurisdiction: 'DE', usPerson: false })],
    ['KYC pending', seller({ kyc: { status: 'PENDING', approvedAt: null, expiresAt: null } })],
  ];
  const buyers: [string, PartySnapshot][] = [
    ['accredited', investor('inv_buyer')],
    ['not accredited', nonAccredited('inv_buyer')],
    ['in Germany, not accredited', nonAccredited('inv_buyer', { jurisdiction: 'DE', usPerson: false })],
    ['liquidate-only', investor('inv_buyer', { liquidateOnly: true })],
    ['already holding', investor('inv_buyer', { balance: 500n })],
    ['frozen', investor('inv_buyer', { walletFrozen: true })],
    ['in Iran', investor('inv_buyer', { jurisdiction: 'IR', usPerson: false })],
  ];

  test('every rule either side decides has the full answer\'s outcome, and every failure of the full answer is found by a side or left undecided by both', () => {
    let decided = 0;
    for (const [tLabel, t] of tokens) for (const [sLabel, s] of sellers) for (const [bLabel, b] of buyers) {
      const label = `${tLabel} / seller ${sLabel} / buyer ${bLabel}`;
      const input = trade({ token: t, from: s.party, to: b, senderLots: s.lots, amount: 100n, at });
      const full = evaluateTransfer(input);
      const sides = [sellerOnly(input), buyerOnly(input)];
      for (const one of sides) {
        expect([label, one.allowed, partition(one)]).toEqual([label, false, [...RULE_CODES].sort()]);
        for (const r of one.results) {
          expect([label, r.code, r.passed]).toEqual([label, r.code, result(full, r.code)?.passed]);
          decided++;
        }
      }
      for (const code of failed(full)) {
        const found = sides.some((one) => failed(one).includes(code)) || sides.every((one) => one.notEvaluated.includes(code));
        expect([label, code, found]).toEqual([label, code, true]);
      }
    }
    expect(decided).toBeGreaterThan(tokens.length * sellers.length * buyers.length * 10);
  });
});
