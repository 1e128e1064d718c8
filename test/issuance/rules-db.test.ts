import { reclassifyLapsedAccreditation } from '../../subgraphs/issuance/store/holdings.js';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { GraphQLError } from 'graphql';
import { defaultComplianceConfig, RULE_CODES, type RuleCode } from '../../subgraphs/issuance/domain/compliance/index.js';
import { transferEligibility } from '../../subgraphs/issuance/eligibility.js';
import type { SnapshotRequest } from '../../subgraphs/issuance/snapshot.js';
import type { Db } from '../../subgraphs/kit/db/index.js';
import { dbLabel } from '../support/db.js';
import {
  AT, failedCodes, JUST_BEFORE, NON_ACCREDITED, openIssuanceDb, Scenario, utc, type InvestorSpec, type LotSpec, type TokenSpec,
} from './support-db.js';

/**
 * Every rule of the issuance issue, on dated scenarios written into the
 * tables and asked through transferEligibility: the snapshot read and the
 * engine together. Boundaries are exact instants: a period that ends at T
 * blocks at T - 1 ms (saying it blocks until T) and no longer at T.
 */
describe(`every rule works through the database snapshot, on dated scenarios (${dbLabel()})`, () => {
  let db: Db;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    ({ db, cleanup } = await openIssuanceDb());
  });
  afterAll(async () => {
    await cleanup?.();
  });

  const REG_D_506B: TokenSpec = { exemption: 'REG_D_506B' };
  const MATURE_LOT: LotSpec = { amount: 1_000n, acquired: '2024-01-01' };

  /** A token, a seller holding `lots` and a buyer holding nothing. */
  async function trade(token: TokenSpec = REG_D_506B, o: { seller?: InvestorSpec; buyer?: InvestorSpec; lots?: LotSpec[] } = {}) {
    const s = await Scenario.create(db, token);
    await s.investor('seller', o.seller);
    await s.investor('buyer', o.buyer);
    await s.holds('seller', o.lots ?? [MATURE_LOT]);
    return s;
  }
  const sale = (amount = 100n, at = AT) => ({ from: 'seller', to: 'buyer', amount, at });

  describe('a plain case', () => {
    test('a compliant secondary trade of a 506(b) token is allowed, and reports the rules that apply to it', async () => {
      const s = await trade();
      const e = await s.check(sale());
      expect(e.allowed).toBe(true);
      expect(e.evaluatedAt).toEqual(AT);
      expect(e.results.map((r) => r.code)).toEqual([
        'KYC_VALID_RECEIVER', 'KYC_VALID_SENDER', 'AML_CLEAR_RECEIVER', 'AML_CLEAR_SENDER',
        'COUNTRY_NOT_SANCTIONED_RECEIVER', 'COUNTRY_NOT_SANCTIONED_SENDER', 'RULE_144_HOLDING_PERIOD', 'RULE_144_AFFILIATE_VOLUME_LIMIT', 'RULE_144_FORM_144_NOTICE',
        'HOLDER_CAP_12G_TOTAL', 'HOLDER_CAP_12G_NON_ACCREDITED',
        'TOKEN_NOT_PAUSED', 'WALLET_NOT_FROZEN_SENDER', 'WALLET_NOT_FROZEN_RECEIVER', 'FREE_BALANCE_SENDER', 'RECEIVER_NOT_LIQUIDATE_ONLY',
      ]);
      for (const r of e.results) expect(r).toMatchObject({ passed: true, message: expect.any(String), regulation: expect.any(String) });
      expect([...e.results.map((r) => r.code), ...e.notApplicable].sort()).toEqual([...RULE_CODES].sort());
    });
  });

  describe('identity: KYC and AML, both parties', () => {
    test('KYC_VALID_RECEIVER: an approval with a recorded expiry is valid until that instant and refused from it', async () => {
      const s = await trade(REG_D_506B, { buyer: { kyc: { approvedAt: '2025-01-10', expiresAt: AT } } });
      expect((await s.rule('KYC_VALID_RECEIVER', sale(100n, JUST_BEFORE(AT)))).passed).toBe(true);
      const r = await s.rule('KYC_VALID_RECEIVER', sale());
      expect(r).toMatchObject({ passed: false, currentValue: 'EXPIRED', limit: AT.toISOString() });
      expect((await s.rule('KYC_VALID_SENDER', sale())).passed).toBe(true);
    });

    test('KYC_VALID_SENDER: an approval without a recorded expiry lasts 12 months from the approval instant', async () => {
      const s = await trade(REG_D_506B, { seller: { kyc: { approvedAt: '2024-06-15T12:00:00Z', expiresAt: null } } });
      expect((await s.rule('KYC_VALID_SENDER', sale(100n, JUST_BEFORE(AT)))).passed).toBe(true);
      expect(await s.rule('KYC_VALID_SENDER', sale())).toMatchObject({ passed: false, currentValue: 'EXPIRED', limit: AT.toISOString() });
      expect((await s.rule('KYC_VALID_RECEIVER', sale())).passed).toBe(true);
    });

    test('a pending or rejected KYC refuses either party, an approval dated after the instant does not count yet, and a primary issuance checks only the receiver', async () => {
      const s = await trade(REG_D_506B, {
        seller: { kyc: { status: 'PENDING', approvedAt: null } },
        buyer: { kyc: { status: 'REJECTED', approvedAt: null } },
      });
      const e = await s.check(sale());
      expect(failedCodes(e)).toEqual(expect.arrayContaining(['KYC_VALID_RECEIVER', 'KYC_VALID_SENDER']));
      expect(e.results.find((r) => r.code === 'KYC_VALID_SENDER')!.currentValue).toBe('PENDING');
      expect(e.results.find((r) => r.code === 'KYC_VALID_RECEIVER')!.currentValue).toBe('REJECTED');

      await s.investor('late', { kyc: { approvedAt: '2025-06-20' } });
      expect(await s.rule('KYC_VALID_RECEIVER', { from: 'seller', to: 'late', amount: 100n })).toMatchObject({ passed: false, currentValue: 'NOT_YET_APPROVED' });

      const primary = await s.check({ from: null, to: 'buyer', amount: 100n });
      expect(primary.results.find((r) => r.code === 'KYC_VALID_RECEIVER')!.passed).toBe(false);
      expect(primary.notApplicable).toContain('KYC_VALID_SENDER');
    });

    test('AML_CLEAR_RECEIVER / AML_CLEAR_SENDER: a clear screening is relied on for 30 days, and a potential or confirmed match refuses', async () => {
      const s = await trade(REG_D_506B, {
        seller: { aml: { status: 'POTENTIAL_MATCH' } },
        buyer: { aml: { status: 'CLEAR', screenedAt: '2025-05-16T12:00:00Z' } },
      });
      expect((await s.rule('AML_CLEAR_RECEIVER', sale(100n, JUST_BEFORE(AT)))).passed).toBe(true);
      expect(await s.rule('AML_CLEAR_RECEIVER', sale())).toMatchObject({ passed: false, currentValue: 'STALE', limit: AT.toISOString() });
      expect(await s.rule('AML_CLEAR_SENDER', sale())).toMatchObject({ passed: false, currentValue: 'POTENTIAL_MATCH' });

      await s.investor('matched', { aml: { status: 'CONFIRMED_MATCH' } });
      expect(await s.rule('AML_CLEAR_RECEIVER', { from: 'seller', to: 'matched', amount: 100n })).toMatchObject({ passed: false, currentValue: 'CONFIRMED_MATCH' });
    });
  });

  describe('jurisdictions: sanctions and the issuer\'s country lists', () => {
    test('COUNTRY_NOT_SANCTIONED_*: a party in a comprehensively sanctioned country is refused on either side, even by a forced transfer', async () => {
      const s = await trade(REG_D_506B, { buyer: { jurisdiction: 'IR' } });
      expect(await s.rule('COUNTRY_NOT_SANCTIONED_RECEIVER', sale())).toMatchObject({ passed: false, currentValue: 'IR' });
      expect((await s.rule('COUNTRY_NOT_SANCTIONED_SENDER', sale())).passed).toBe(true);
      expect((await s.rule('COUNTRY_NOT_SANCTIONED_RECEIVER', { ...sale(), kind: 'FORCED_TRANSFER' })).passed).toBe(false);

      await s.investor('north', { jurisdiction: 'KP' });
      await s.holds('north', [MATURE_LOT]);
      await s.investor('clean', { jurisdiction: 'DE' });
      const e = await s.check({ from: 'north', to: 'clean', amount: 100n });
      expect(failedCodes(e)).toEqual(['COUNTRY_NOT_SANCTIONED_SENDER']);
    });

    test('COUNTRY_NOT_BLOCKED_* and COUNTRY_ALLOWED_RECEIVER: the issuer\'s block list binds both sides, its allow list the receiver', async () => {
      const s = await trade({ exemption: 'REG_D_506B', policy: { blockedCountries: ['CN', 'RU'] } }, { buyer: { jurisdiction: 'CN' } });
      expect(await s.rule('COUNTRY_NOT_BLOCKED_RECEIVER', sale())).toMatchObject({ passed: false, currentValue: 'CN' });
      expect((await s.rule('COUNTRY_NOT_BLOCKED_SENDER', sale())).passed).toBe(true);
      await s.investor('moscow', { jurisdiction: 'RU' });
      await s.holds('moscow', [MATURE_LOT]);
      await s.investor('berlin', { jurisdiction: 'DE' });
      const e = await s.check({ from: 'moscow', to: 'berlin', amount: 100n });
      expect(failedCodes(e)).toEqual(['COUNTRY_NOT_BLOCKED_SENDER']);
      expect(e.notApplicable).toContain('COUNTRY_ALLOWED_RECEIVER');

      const allow = await trade({ exemption: 'REG_D_506B', policy: { allowedCountries: ['US', 'DE'] } }, { buyer: { jurisdiction: 'FR' } });
      expect(await allow.rule('COUNTRY_ALLOWED_RECEIVER', sale())).toMatchObject({ passed: false, currentValue: 'FR', limit: 'US, DE' });
      await allow.investor('munich', { jurisdiction: 'DE' });
      expect((await allow.rule('COUNTRY_ALLOWED_RECEIVER', { from: 'seller', to: 'munich', amount: 100n })).passed).toBe(true);
    });
  });

  describe('Reg D 506 offerings (primary issuance)', () => {
    test('REG_D_506C_ACCREDITED_ONLY: only verified accredited purchasers, until the verification expires (recorded, or 90 days by default)', async () => {
      const s = await Scenario.create(db, { exemption: 'REG_D_506C' });
      await s.investor('none', NON_ACCREDITED);
      await s.investor('self', { accreditation: { method: 'SELF_CERTIFIED' } });
      await s.investor('recorded', { accreditation: { verifiedAt: '2025-05-01', expiresAt: AT } });
      await s.investor('default', { accreditation: { verifiedAt: '2025-03-17T12:00:00Z', expiresAt: null } });
      const issue = (to: string, at = AT) => s.rule('REG_D_506C_ACCREDITED_ONLY', { from: null, to, amount: 100n, at });

      expect(await issue('none')).toMatchObject({ passed: false, currentValue: 'NOT_ACCREDITED' });
      expect(await issue('self')).toMatchObject({ passed: false, currentValue: 'SELF_CERTIFIED' });
      for (const who of ['recorded', 'default']) {
        expect(await issue(who, JUST_BEFORE(AT))).toMatchObject({ passed: true, currentValue: 'THIRD_PARTY_LETTER', limit: AT.toISOString() });
        expect(await issue(who)).toMatchObject({ passed: false, currentValue: 'EXPIRED', limit: AT.toISOString() });
      }
      // A resale is not an offering: Rule 144 governs it, not 506(c).
      await s.holds('recorded', [MATURE_LOT]);
      expect((await s.check({ from: 'recorded', to: 'none', amount: 10n })).notApplicable).toContain('REG_D_506C_ACCREDITED_ONLY');
    });

    test('REG_D_506B_NON_ACCREDITED_PURCHASERS: the purchases table allows the 35th non-accredited purchaser and refuses the 36th', async () => {
      const s = await Scenario.create(db, REG_D_506B);
      await s.purchasers(34, { accredited: false, at: '2025-03-01' });
      await s.purchasers(20, { accredited: true, at: '2025-03-01' });
      await s.investor('repeat', NON_ACCREDITED);
      await s.investor('newcomer', NON_ACCREDITED);
      await s.investor('wealthy');
      const issue = (to: string) => s.rule('REG_D_506B_NON_ACCREDITED_PURCHASERS', { from: null, to, amount: 100n });

      expect(await issue('newcomer')).toMatchObject({ passed: true, currentValue: '35', limit: '35' });
      // A second purchase by the same investor counts it once.
      await s.purchase('repeat', { amountCents: 500_00n, at: '2025-04-01' });
      await s.purchase('repeat', { amountCents: 500_00n, at: '2025-05-01' });
      expect(await issue('newcomer')).toMatchObject({ passed: false, currentValue: '36', limit: '35' });
      expect((await issue('repeat')).passed).toBe(true);
      expect((await issue('wealthy')).passed).toBe(true);
    });
  });

  describe('Rule 144 holding period, per lot', () => {
    test('RULE_144_HOLDING_PERIOD: a non-reporting issuer\'s lot may be resold 12 months after acquisition, to the instant', async () => {
      const s = await trade(REG_D_506B, { lots: [{ amount: 1_000n, acquired: '2024-06-15T12:00:00Z' }] });
      const before = await s.rule('RULE_144_HOLDING_PERIOD', sale(100n, JUST_BEFORE(AT)));
      expect(before).toMatchObject({ passed: false, currentValue: '0', limit: '100', blockingUntil: AT });
      expect(await s.rule('RULE_144_HOLDING_PERIOD', sale())).toMatchObject({ passed: true, currentValue: '1,000' });
    });

    test('RULE_144_HOLDING_PERIOD: matured lots cover a sale, a younger lot blocks until it matures, consumed parts of lots do not count, and a tacked start counts', async () => {
      const s = await trade(REG_D_506B, {
        lots: [
          { amount: 1_000n, remaining: 300n, acquired: '2024-01-01' },
          { amount: 700n, acquired: '2025-03-01' },
        ],
      });
      expect(await s.rule('RULE_144_HOLDING_PERIOD', sale(300n))).toMatchObject({ passed: true, currentValue: '300' });
      expect(await s.rule('RULE_144_HOLDING_PERIOD', sale(301n))).toMatchObject({ passed: false, currentValue: '300', blockingUntil: utc('2026-03-01') });

      await s.investor('heir');
      await s.holds('heir', [{ amount: 500n, acquired: '2025-05-01', holdingPeriodStart: '2023-05-01' }]);
      expect((await s.rule('RULE_144_HOLDING_PERIOD', { from: 'heir', to: 'buyer', amount: 500n })).passed).toBe(true);
    });

    test('RULE_144_HOLDING_PERIOD: 6 months for an issuer reporting for 90 days, and not before its 90 days are up', async () => {
      const lots = [{ amount: 1_000n, acquired: '2024-12-15T12:00:00Z' }];
      const seasoned = await trade({ exemption: 'REG_D_506B', reportingSince: '2024-01-01' }, { lots });
      expect(await seasoned.rule('RULE_144_HOLDING_PERIOD', sale(100n, JUST_BEFORE(AT)))).toMatchObject({ passed: false, blockingUntil: AT });
      expect((await seasoned.rule('RULE_144_HOLDING_PERIOD', sale())).passed).toBe(true);

      // Reporting since 2025-05-01: the 6-month period applies only from 2025-07-30 (90 days later).
      const recent = await trade({ exemption: 'REG_D_506B', reportingSince: '2025-05-01' }, { lots });
      expect(await recent.rule('RULE_144_HOLDING_PERIOD', sale())).toMatchObject({ passed: false, blockingUntil: utc('2025-07-30') });
      expect((await recent.rule('RULE_144_HOLDING_PERIOD', sale(100n, utc('2025-07-30')))).passed).toBe(true);
    });
  });

  describe('offshore resales under Rule 904, by issuer policy', () => {
    test('RULE_144_HOLDING_PERIOD: with allowOffshoreResales a buyer outside the U.S. who is not a U.S. person buys within the period; a U.S. buyer waits to the instant', async () => {
      const s = await trade({ exemption: 'REG_D_506B', policy: { allowOffshoreResales: true } }, {
        buyer: { jurisdiction: 'DE' }, lots: [{ amount: 1_000n, acquired: '2024-06-15T12:00:00Z' }],
      });
      await s.investor('local');
      for (const at of [utc('2025-06-14T12:00:00Z'), AT, utc('2025-06-16T12:00:00Z')]) {
        expect((await s.rule('RULE_144_HOLDING_PERIOD', sale(100n, at))).passed).toBe(true);
      }
      expect(await s.rule('RULE_144_HOLDING_PERIOD', { from: 'seller', to: 'local', amount: 100n, at: utc('2025-06-14T12:00:00Z') })).toMatchObject({ passed: false, blockingUntil: AT });
      expect((await s.rule('RULE_144_HOLDING_PERIOD', { from: 'seller', to: 'local', amount: 100n, at: AT })).passed).toBe(true);
      const off = await trade(REG_D_506B, { buyer: { jurisdiction: 'DE' }, lots: [{ amount: 1_000n, acquired: '2024-06-15T12:00:00Z' }] });
      expect((await off.rule('RULE_144_HOLDING_PERIOD', sale(100n, utc('2025-06-14T12:00:00Z')))).passed).toBe(false);
    });
  });

  describe('Reg CF resale restriction', () => {
    const REG_CF: TokenSpec = { exemption: 'REG_CF' };

    test('REG_CF_RESALE_RESTRICTION: no transfer to a non-accredited stranger during the 12 months from issue, to the instant', async () => {
      const s = await trade(REG_CF, { buyer: NON_ACCREDITED, lots: [{ amount: 1_000n, acquired: '2024-06-15T12:00:00Z' }] });
      expect(await s.rule('REG_CF_RESALE_RESTRICTION', sale(100n, JUST_BEFORE(AT)))).toMatchObject({ passed: false, blockingUntil: AT });
      expect((await s.rule('REG_CF_RESALE_RESTRICTION', sale())).passed).toBe(true);
      expect((await s.check(sale())).notApplicable).toEqual(expect.arrayContaining(['RULE_144_HOLDING_PERIOD', 'HOLDER_CAP_12G_TOTAL']));
    });

    test('REG_CF_RESALE_RESTRICTION: within the year a transfer to an accredited investor or to the issuer is allowed, and the year runs from the lot\'s issue', async () => {
      const s = await trade(REG_CF, { buyer: NON_ACCREDITED, lots: [{ amount: 1_000n, acquired: '2025-03-01' }] });
      expect(await s.rule('REG_CF_RESALE_RESTRICTION', sale())).toMatchObject({ passed: false, blockingUntil: utc('2026-03-01') });
      await s.investor('accredited');
      await s.investor('issuer', { ...NON_ACCREDITED, issuerRelation: 'ISSUER' });
      for (const to of ['accredited', 'issuer']) {
        const r = await s.rule('REG_CF_RESALE_RESTRICTION', { from: 'seller', to, amount: 100n });
        expect(r.passed).toBe(true);
        expect(r.message).toMatch(/227\.501\(a\)\([12]\)/);
      }
      await s.investor('second');
      await s.holds('second', [{ amount: 500n, acquired: '2025-05-01', issued: '2024-05-01' }]);
      expect((await s.rule('REG_CF_RESALE_RESTRICTION', { from: 'second', to: 'buyer', amount: 500n })).passed).toBe(true);
    });
  });

  describe('Reg S distribution compliance period', () => {
    // Each period ends exactly at AT.
    test.each([
      ['Category 2 (40 days)', { category: 'CATEGORY_2', securityType: 'EQUITY', periodStart: '2025-05-06T12:00:00Z' }, null],
      ['Category 3 debt (40 days)', { category: 'CATEGORY_3', securityType: 'DEBT', periodStart: '2025-05-06T12:00:00Z' }, null],
      ['Category 3 equity of a non-reporting issuer (1 year)', { category: 'CATEGORY_3', securityType: 'EQUITY', periodStart: '2024-06-15T12:00:00Z' }, null],
      ['Category 3 equity of a reporting issuer (6 months)', { category: 'CATEGORY_3', securityType: 'EQUITY', periodStart: '2024-12-15T12:00:00Z' }, '2024-01-01'],
    ] as const)('REG_S_DISTRIBUTION_COMPLIANCE_PERIOD, %s: no transfer to a U.S. person until the period ends, to the instant; non-U.S. persons are not restricted', async (_label, regS, reportingSince) => {
      const s = await trade({ exemption: 'REG_S', regS, reportingSince }, { seller: { jurisdiction: 'GB' }, buyer: { jurisdiction: 'US' } });
      await s.investor('paris', { jurisdiction: 'FR' });
      const code = 'REG_S_DISTRIBUTION_COMPLIANCE_PERIOD';
      expect(await s.rule(code, sale(100n, JUST_BEFORE(AT)))).toMatchObject({ passed: false, currentValue: 'U.S. person', limit: AT.toISOString(), blockingUntil: AT });
      expect((await s.rule(code, sale())).passed).toBe(true);
      expect((await s.rule(code, { from: 'seller', to: 'paris', amount: 100n, at: JUST_BEFORE(AT) })).passed).toBe(true);
      // The offering itself may not sell to U.S. persons either.
      expect((await s.rule(code, { from: null, to: 'buyer', amount: 100n, at: JUST_BEFORE(AT) })).passed).toBe(false);
    });

    test('REG_S_DISTRIBUTION_COMPLIANCE_PERIOD: Category 1 has no period, and an issuer that began reporting after the offering keeps the 1-year period', async () => {
      const cat1 = await trade({ exemption: 'REG_S', regS: { category: 'CATEGORY_1', securityType: 'EQUITY', periodStart: '2025-06-01' } }, { seller: { jurisdiction: 'GB' } });
      expect((await cat1.rule('REG_S_DISTRIBUTION_COMPLIANCE_PERIOD', sale())).passed).toBe(true);
      const late = await trade(
        { exemption: 'REG_S', reportingSince: '2025-01-01', regS: { category: 'CATEGORY_3', securityType: 'EQUITY', periodStart: '2024-12-15T12:00:00Z' } },
        { seller: { jurisdiction: 'GB' } },
      );
      expect(await late.rule('REG_S_DISTRIBUTION_COMPLIANCE_PERIOD', sale())).toMatchObject({ passed: false, blockingUntil: utc('2025-12-15T12:00:00Z') });
    });

    test('a domestic issuer\'s Reg S equity is restricted, so Rule 144 applies to its resales too', async () => {
      const s = await trade(
        { exemption: 'REG_S', regS: { category: 'CATEGORY_3', securityType: 'EQUITY', domesticIssuer: true, periodStart: '2024-01-01' } },
        { seller: { jurisdiction: 'GB' }, buyer: { jurisdiction: 'DE' }, lots: [{ amount: 1_000n, acquired: '2025-01-01' }] },
      );
      expect(await s.rule('RULE_144_HOLDING_PERIOD', sale())).toMatchObject({ passed: false, blockingUntil: utc('2026-01-01') });
    });
  });

  describe('investment limits of non-accredited purchasers', () => {
    test('REG_CF_INVESTMENT_LIMIT: Reg CF purchases in any issuer\'s offering over the trailing 12 months count, and one drops out 12 months after it was made', async () => {
      // $60,000 income, $80,000 net worth: the greater of $2,500 and 5% of $80,000, so $4,000.
      const s = await Scenario.create(db, { exemption: 'REG_CF' });
      await s.investor('crowd', NON_ACCREDITED);
      await s.investor('rich');
      const otherCf = await s.otherToken({ exemption: 'REG_CF' });
      const regA = await s.otherToken({ exemption: 'REG_A_TIER2' });
      await s.purchase('crowd', { amountCents: 2_000_00n, at: '2024-06-15T12:00:00Z' }); // this offering, drops out at AT
      await s.purchase('crowd', { amountCents: 1_500_00n, at: '2025-01-01', tokenId: otherCf }); // another issuer's Reg CF offering
      await s.purchase('crowd', { amountCents: 5_000_00n, at: '2025-02-01', tokenId: regA }); // not Reg CF: does not count
      await s.purchase('crowd', { amountCents: 9_000_00n, at: '2024-03-01' }); // outside the window
      const buy = (to: string, at: Date, priceCents = 2_500_00n) =>
        s.rule('REG_CF_INVESTMENT_LIMIT', { from: null, to, amount: 25n, at, priceCents });

      expect(await buy('crowd', JUST_BEFORE(AT))).toMatchObject({ passed: false, currentValue: '$6,000.00', limit: '$4,000.00', blockingUntil: AT });
      expect(await buy('crowd', AT)).toMatchObject({ passed: true, currentValue: '$4,000.00', limit: '$4,000.00' });
      expect(await buy('crowd', AT, 2_500_01n)).toMatchObject({ passed: false, currentValue: '$4,000.01', blockingUntil: utc('2026-01-01') });
      expect((await buy('rich', AT, 1_000_000_00n)).passed).toBe(true);
    });

    test('REG_A_TIER2_INVESTMENT_LIMIT: every purchase in this offering counts against 10% of the greater of income or net worth; other offerings do not; a listed token has no limit', async () => {
      // $100,000 income, $50,000 net worth: a $10,000 limit.
      const s = await Scenario.create(db, { exemption: 'REG_A_TIER2' });
      await s.investor('retail', { accreditation: null, annualIncomeCents: 100_000_00n, netWorthCents: 50_000_00n });
      await s.investor('unknown', { accreditation: null, annualIncomeCents: null, netWorthCents: null });
      const otherOffering = await s.otherToken({ exemption: 'REG_A_TIER2' });
      await s.purchase('retail', { amountCents: 8_000_00n, at: '2023-01-01' }); // long ago: still counts (per offering)
      await s.purchase('retail', { amountCents: 9_000_00n, at: '2025-05-01', tokenId: otherOffering });
      const buy = (to: string, priceCents: bigint) => s.rule('REG_A_TIER2_INVESTMENT_LIMIT', { from: null, to, amount: 20n, priceCents });

      expect(await buy('retail', 2_000_00n)).toMatchObject({ passed: true, currentValue: '$10,000.00', limit: '$10,000.00' });
      expect(await buy('retail', 2_000_01n)).toMatchObject({ passed: false, currentValue: '$10,000.01', limit: '$10,000.00' });
      expect(await buy('unknown', 1n)).toMatchObject({ passed: false, limit: '$0.00' });

      const listed = await Scenario.create(db, { exemption: 'REG_A_TIER2', listedOnNationalExchange: true });
      await listed.investor('retail', { accreditation: null, annualIncomeCents: 100_000_00n, netWorthCents: 50_000_00n });
      expect((await listed.check({ from: null, to: 'retail', amount: 20n, priceCents: 50_000_00n })).notApplicable).toContain('REG_A_TIER2_INVESTMENT_LIMIT');
    });
  });

  describe('holder caps, from the holder counters', () => {
    const newHolder = sale();

    test('HOLDER_CAP_12G_TOTAL: a new holder may bring the token to 1,999 holders of record, not to 2,000; replacing a holder is allowed', async () => {
      const s = await trade();
      await s.holderCounts({ total: 1_998, nonAccredited: 0, usPersons: 1_998 });
      expect(await s.rule('HOLDER_CAP_12G_TOTAL', newHolder)).toMatchObject({ passed: true, currentValue: '1,999', limit: '1,999' });
      await s.holderCounts({ total: 1_999, nonAccredited: 0, usPersons: 1_999 });
      expect(await s.rule('HOLDER_CAP_12G_TOTAL', newHolder)).toMatchObject({ passed: false, currentValue: '2,000', limit: '1,999' });
      expect(await s.rule('HOLDER_CAP_12G_TOTAL', sale(1_000n))).toMatchObject({ passed: true, currentValue: '1,999' });
    });

    test('HOLDER_CAP_12G_NON_ACCREDITED: a non-accredited newcomer may bring the token to 499 non-accredited holders, not to 500; an accredited one is not counted', async () => {
      const s = await trade(REG_D_506B, { buyer: NON_ACCREDITED });
      await s.investor('accredited');
      await s.holderCounts({ total: 600, nonAccredited: 498, usPersons: 600 });
      expect(await s.rule('HOLDER_CAP_12G_NON_ACCREDITED', newHolder)).toMatchObject({ passed: true, currentValue: '499', limit: '499' });
      await s.holderCounts({ total: 600, nonAccredited: 499, usPersons: 600 });
      expect(await s.rule('HOLDER_CAP_12G_NON_ACCREDITED', newHolder)).toMatchObject({ passed: false, currentValue: '500', limit: '499' });
      expect((await s.rule('HOLDER_CAP_12G_NON_ACCREDITED', { from: 'seller', to: 'accredited', amount: 100n })).passed).toBe(true);
    });

    test('HOLDER_CAP_3C1: a 3(c)(1) fund may reach 100 beneficial owners (250 for a qualifying venture capital fund), not one more', async () => {
      const s = await trade({ exemption: 'REG_D_506B', policy: { fund3c1: true } });
      await s.holderCounts({ total: 99, nonAccredited: 0, usPersons: 99 });
      expect(await s.rule('HOLDER_CAP_3C1', newHolder)).toMatchObject({ passed: true, currentValue: '100', limit: '100' });
      await s.holderCounts({ total: 100, nonAccredited: 0, usPersons: 100 });
      expect(await s.rule('HOLDER_CAP_3C1', newHolder)).toMatchObject({ passed: false, currentValue: '101', limit: '100' });

      const vc = await trade({ exemption: 'REG_D_506B', policy: { fund3c1: true, qualifyingVentureCapitalFund: true } });
      await vc.holderCounts({ total: 249, nonAccredited: 0, usPersons: 249 });
      expect(await vc.rule('HOLDER_CAP_3C1', newHolder)).toMatchObject({ passed: true, currentValue: '250', limit: '250' });
      await vc.holderCounts({ total: 250, nonAccredited: 0, usPersons: 250 });
      expect((await vc.rule('HOLDER_CAP_3C1', newHolder)).passed).toBe(false);
    });

    test('Reg CF and Reg A Tier 2 holders are excluded from the 12(g) count unless the issuer opts in', async () => {
      for (const exemption of ['REG_CF', 'REG_A_TIER2'] as const) {
        const s = await trade({ exemption, policy: {} }, { lots: [{ amount: 1_000n, acquired: '2023-01-01' }] });
        expect((await s.check(newHolder)).notApplicable).toEqual(expect.arrayContaining(['HOLDER_CAP_12G_TOTAL', 'HOLDER_CAP_12G_NON_ACCREDITED']));
        const opted = await trade({ exemption, policy: { apply12gHolderCaps: true } }, { lots: [{ amount: 1_000n, acquired: '2023-01-01' }] });
        await opted.holderCounts({ total: 1_999, nonAccredited: 0, usPersons: 1_999 });
        expect((await opted.rule('HOLDER_CAP_12G_TOTAL', newHolder)).passed).toBe(false);
      }
    });

    test('POLICY_MAX_HOLDERS and POLICY_MAX_US_HOLDERS: the issuer\'s own caps on holders and on U.S. holders', async () => {
      const s = await trade({ exemption: 'REG_D_506B', policy: { maxHolders: 10, maxUsHolders: 5 } });
      await s.investor('berlin', { jurisdiction: 'DE' });
      await s.holderCounts({ total: 9, nonAccredited: 0, usPersons: 4 });
      expect(failedCodes(await s.check(newHolder))).toEqual([]);
      await s.holderCounts({ total: 9, nonAccredited: 0, usPersons: 5 });
      expect(failedCodes(await s.check(newHolder))).toEqual(['POLICY_MAX_US_HOLDERS']);
      expect(failedCodes(await s.check({ from: 'seller', to: 'berlin', amount: 100n }))).toEqual([]);
      await s.holderCounts({ total: 10, nonAccredited: 0, usPersons: 5 });
      expect(failedCodes(await s.check({ from: 'seller', to: 'berlin', amount: 100n }))).toEqual(['POLICY_MAX_HOLDERS']);
    });
  });

  describe('issuer policy on a single holding', () => {
    test('MAX_BALANCE_RECEIVER: the receiver may end with the maximum, not one base unit more', async () => {
      const s = await trade({ exemption: 'REG_D_506B', policy: { maxBalance: '1000' } });
      await s.holds('buyer', [{ amount: 900n, acquired: '2024-01-01' }]);
      expect(await s.rule('MAX_BALANCE_RECEIVER', sale(100n))).toMatchObject({ passed: true, currentValue: '1,000', limit: '1,000' });
      expect(await s.rule('MAX_BALANCE_RECEIVER', sale(101n))).toMatchObject({ passed: false, currentValue: '1,001', limit: '1,000' });
    });

    test('MAX_SUPPLY_SHARE_RECEIVER: at most 10% of the supply, which a primary issuance grows', async () => {
      const s = await trade({ exemption: 'REG_D_506B', policy: { maxSupplyShareBps: 1_000 }, otherSupply: 8_100n });
      await s.holds('buyer', [{ amount: 900n, acquired: '2024-01-01' }]); // supply 10,000
      expect(await s.rule('MAX_SUPPLY_SHARE_RECEIVER', sale(100n))).toMatchObject({ passed: true, currentValue: '10.00%', limit: '10%' });
      expect(await s.rule('MAX_SUPPLY_SHARE_RECEIVER', sale(101n))).toMatchObject({ passed: false, currentValue: '10.01%' });
      // Minting 111 makes 1,011 of 10,111 (9.999%); 112 makes 1,012 of 10,112 (10.008%).
      expect((await s.rule('MAX_SUPPLY_SHARE_RECEIVER', { from: null, to: 'buyer', amount: 111n })).passed).toBe(true);
      expect((await s.rule('MAX_SUPPLY_SHARE_RECEIVER', { from: null, to: 'buyer', amount: 112n })).passed).toBe(false);
    });

    test('MIN_HOLDING_SENDER / MIN_HOLDING_RECEIVER: each side must end at zero or at least the minimum', async () => {
      const s = await trade({ exemption: 'REG_D_506B', policy: { minHolding: '100' } });
      expect(await s.rule('MIN_HOLDING_SENDER', sale(901n))).toMatchObject({ passed: false, currentValue: '99', limit: '100' });
      expect((await s.rule('MIN_HOLDING_SENDER', sale(900n))).passed).toBe(true);
      expect((await s.rule('MIN_HOLDING_SENDER', sale(1_000n))).passed).toBe(true);
      expect(await s.rule('MIN_HOLDING_RECEIVER', sale(99n))).toMatchObject({ passed: false, currentValue: '99' });
      expect((await s.rule('MIN_HOLDING_RECEIVER', sale(100n))).passed).toBe(true);
    });
  });

  describe('issuer controls', () => {
    test('TOKEN_NOT_PAUSED: a paused token refuses trades between investors until it is unpaused; the issuer may still mint', async () => {
      const s = await trade({ exemption: 'REG_D_506B', paused: true });
      expect(await s.rule('TOKEN_NOT_PAUSED', sale())).toMatchObject({ passed: false, currentValue: 'PAUSED' });
      expect((await s.check({ from: null, to: 'buyer', amount: 100n })).notApplicable).toContain('TOKEN_NOT_PAUSED');
      await s.setToken({ paused: false });
      expect((await s.check(sale())).allowed).toBe(true);
    });

    test('WALLET_NOT_FROZEN_SENDER / WALLET_NOT_FROZEN_RECEIVER: a frozen investor can neither send nor receive this token, and a freeze on another token does not leak', async () => {
      const s = await trade();
      await s.controls('seller', { walletFrozen: true });
      expect(failedCodes(await s.check(sale()))).toEqual(['WALLET_NOT_FROZEN_SENDER']);
      await s.controls('seller', {});
      await s.controls('buyer', { walletFrozen: true });
      expect(failedCodes(await s.check(sale()))).toEqual(['WALLET_NOT_FROZEN_RECEIVER']);
      await s.controls('buyer', {});
      await s.controls('buyer', { walletFrozen: true }, await s.otherToken(REG_D_506B));
      expect((await s.check(sale())).allowed).toBe(true);
    });

    test('FREE_BALANCE_SENDER: partially frozen tokens cannot leave the wallet, but a forced transfer releases them', async () => {
      const s = await trade();
      await s.controls('seller', { frozenAmount: 950n });
      expect(await s.rule('FREE_BALANCE_SENDER', sale(50n))).toMatchObject({ passed: true, currentValue: '50', limit: '50' });
      expect(await s.rule('FREE_BALANCE_SENDER', sale(51n))).toMatchObject({ passed: false, currentValue: '50', limit: '51' });
      expect((await s.rule('FREE_BALANCE_SENDER', { ...sale(1_000n), kind: 'FORCED_TRANSFER' })).passed).toBe(true);
      expect((await s.rule('FREE_BALANCE_SENDER', { ...sale(1_001n), kind: 'FORCED_TRANSFER' })).passed).toBe(false);
    });

    test('RECEIVER_NOT_LIQUIDATE_ONLY: a liquidate-only investor may sell but not acquire', async () => {
      const s = await trade();
      await s.controls('buyer', { liquidateOnly: true });
      expect(failedCodes(await s.check(sale()))).toEqual(['RECEIVER_NOT_LIQUIDATE_ONLY']);
      expect(failedCodes(await s.check({ from: null, to: 'buyer', amount: 100n }))).toEqual(['RECEIVER_NOT_LIQUIDATE_ONLY']);
      await s.controls('seller', { liquidateOnly: true });
      await s.investor('other');
      expect((await s.check({ from: 'seller', to: 'other', amount: 100n })).allowed).toBe(true);
    });
  });

  describe('the whole answer', () => {
    test('when several rules fail, every applicable rule is still reported, in RULE_CODES order', async () => {
      const s = await trade(
        { exemption: 'REG_D_506B', paused: true, policy: { blockedCountries: ['CN'], minHolding: '10', maxBalance: '500' } },
        {
          seller: { kyc: { approvedAt: '2024-01-01' } },
          buyer: { ...NON_ACCREDITED, jurisdiction: 'CN', aml: { status: 'PENDING', screenedAt: null } },
          lots: [{ amount: 1_000n, acquired: '2025-01-01' }],
        },
      );
      await s.controls('seller', { walletFrozen: true, frozenAmount: 100n });
      await s.controls('buyer', { liquidateOnly: true });
      const e = await s.check(sale(995n));
      expect(e.allowed).toBe(false);
      expect(failedCodes(e)).toEqual([
        'KYC_VALID_SENDER', 'AML_CLEAR_RECEIVER', 'RULE_144_HOLDING_PERIOD', 'COUNTRY_NOT_BLOCKED_RECEIVER',
        'MAX_BALANCE_RECEIVER', 'MIN_HOLDING_SENDER', 'TOKEN_NOT_PAUSED', 'WALLET_NOT_FROZEN_SENDER', 'FREE_BALANCE_SENDER',
        'RECEIVER_NOT_LIQUIDATE_ONLY',
      ]);
      const applicable: RuleCode[] = [
        'KYC_VALID_RECEIVER', 'KYC_VALID_SENDER', 'AML_CLEAR_RECEIVER', 'AML_CLEAR_SENDER',
        'COUNTRY_NOT_SANCTIONED_RECEIVER', 'COUNTRY_NOT_SANCTIONED_SENDER', 'RULE_144_HOLDING_PERIOD', 'RULE_144_AFFILIATE_VOLUME_LIMIT', 'RULE_144_FORM_144_NOTICE',
        'HOLDER_CAP_12G_TOTAL', 'HOLDER_CAP_12G_NON_ACCREDITED', 'COUNTRY_NOT_BLOCKED_RECEIVER', 'COUNTRY_NOT_BLOCKED_SENDER',
        'MAX_BALANCE_RECEIVER', 'MIN_HOLDING_SENDER', 'MIN_HOLDING_RECEIVER',
        'TOKEN_NOT_PAUSED', 'WALLET_NOT_FROZEN_SENDER', 'WALLET_NOT_FROZEN_RECEIVER', 'FREE_BALANCE_SENDER', 'RECEIVER_NOT_LIQUIDATE_ONLY',
      ];
      expect(e.results.map((r) => r.code)).toEqual(applicable);
      expect(e.results.filter((r) => r.passed).length).toBeGreaterThan(0);
      expect(e.results.length + e.notApplicable.length).toBe(RULE_CODES.length);
      expect(e.results.find((r) => r.code === 'RULE_144_HOLDING_PERIOD')!.blockingUntil).toEqual(utc('2026-01-01'));
    });
  });

  describe('decisions as of an instant and counters that follow accreditation', () => {
    test('REG_A_TIER2_INVESTMENT_LIMIT: a purchase made after the instant asked about does not count yet', async () => {
      const s = await Scenario.create(db, { exemption: 'REG_A_TIER2' });
      await s.investor('retail', { accreditation: null, annualIncomeCents: 100_000_00n, netWorthCents: 50_000_00n });
      await s.purchase('retail', { amountCents: 9_000_00n, at: '2025-09-01' });
      expect(await s.rule('REG_A_TIER2_INVESTMENT_LIMIT', { from: null, to: 'retail', amount: 20n, priceCents: 2_000_00n })).toMatchObject({ passed: true, currentValue: '$2,000.00' });
    });

    test('REG_D_506B_NON_ACCREDITED_PURCHASERS: purchasers who bought after the instant asked about are not counted yet', async () => {
      const s = await Scenario.create(db, REG_D_506B);
      await s.purchasers(35, { accredited: false, at: '2025-09-01' });
      await s.investor('early', NON_ACCREDITED);
      expect(await s.rule('REG_D_506B_NON_ACCREDITED_PURCHASERS', { from: null, to: 'early', amount: 100n })).toMatchObject({ passed: true, currentValue: '1' });
    });

    test('REG_CF_RESALE_RESTRICTION: within the year a gift to a family member and an inheritance pass, a sale to a stranger does not', async () => {
      const s = await trade({ exemption: 'REG_CF' }, { buyer: NON_ACCREDITED, lots: [{ amount: 1_000n, acquired: '2025-03-01' }] });
      expect((await s.rule('REG_CF_RESALE_RESTRICTION', { from: 'seller', to: 'buyer', amount: 100n })).passed).toBe(false);
      expect((await s.rule('REG_CF_RESALE_RESTRICTION', { from: 'seller', to: 'buyer', amount: 100n, occasion: 'GIFT', receiverRelation: 'CHILD' })).passed).toBe(true);
      expect((await s.rule('REG_CF_RESALE_RESTRICTION', { from: 'seller', to: 'buyer', amount: 100n, occasion: 'INHERITANCE' })).passed).toBe(true);
    });

    test('a holder whose accreditation lapsed moves to the non-accredited count once, so the counters agree with the engine', async () => {
      const s = await Scenario.create(db, REG_D_506B);
      // Flag still true, but the verification (2025-01-01, 90 days by default) ran out long ago.
      await s.investor('lapsed', { accreditation: { verifiedAt: '2025-01-01' } });
      await s.holds('lapsed', [MATURE_LOT]);
      const counts = async () => (await db.query<{ non_accredited: number }>('SELECT non_accredited FROM holder_counts WHERE token_id = $1', [s.tokenId]))[0].non_accredited;
      const before = await counts();
      expect(await reclassifyLapsedAccreditation(db, defaultComplianceConfig.accreditation.validity)).toBeGreaterThanOrEqual(1);
      expect(await counts()).toBe(before + 1);
      await reclassifyLapsedAccreditation(db, defaultComplianceConfig.accreditation.validity);
      expect(await counts()).toBe(before + 1);
    });
  });

  describe('questions that cannot be asked', () => {
    const codeOf = async (p: Promise<unknown>): Promise<string | undefined> => {
      try {
        await p;
      } catch (e) {
        expect(e).toBeInstanceOf(GraphQLError);
        return (e as GraphQLError).extensions.code as string;
      }
      throw new Error('expected a typed error');
    };

    test('an unknown token, receiver or sender is NOT_FOUND; a zero or negative amount is INPUT.INVALID_AMOUNT', async () => {
      const s = await trade();
      const ask = (o: Partial<SnapshotRequest>) => transferEligibility(db, defaultComplianceConfig, {
        tokenId: s.tokenId, fromInvestorId: s.idOf('seller'), toInvestorId: s.idOf('buyer'), amount: 100n, at: AT, kind: 'SECONDARY_TRADE', ...o,
      });
      expect(await codeOf(ask({ tokenId: 'tok_missing' }))).toBe('NOT_FOUND');
      expect(await codeOf(ask({ toInvestorId: 'inv_missing' }))).toBe('NOT_FOUND');
      expect(await codeOf(ask({ fromInvestorId: 'inv_missing' }))).toBe('NOT_FOUND');
      expect(await codeOf(ask({ fromInvestorId: null, kind: 'PRIMARY_ISSUANCE', toInvestorId: 'inv_missing' }))).toBe('NOT_FOUND');
      expect(await codeOf(ask({ amount: 0n }))).toBe('INPUT.INVALID_AMOUNT');
      expect(await codeOf(ask({ amount: -5n }))).toBe('INPUT.INVALID_AMOUNT');
      expect(await codeOf(ask({ fromInvestorId: null, kind: 'PRIMARY_ISSUANCE', amount: 0n }))).toBe('INPUT.INVALID_AMOUNT');
    });
  });
});
