/**
 * Snapshot builders for tests and benchmarks: a plain, compliant secondary
 * trade of a Reg D 506(c) token between two verified, accredited U.S.
 * investors, which each scenario then bends. Dates are UTC.
 */
import type { RuleCode } from './codes.js';
import type { ComplianceConfig } from './config.js';
import { evaluateTransfer } from './engine.js';
import type { Lot, PartySnapshot, RuleResult, TokenSnapshot, TransferInput, TransferPolicy } from './types.js';

export const utc = (iso: string): Date => new Date(iso.includes('T') ? iso : `${iso}T00:00:00.000Z`);

/** The instant most scenarios are evaluated at. */
export const AT = utc('2025-06-15T12:00:00Z');

export function investor(id: string, overrides: Partial<PartySnapshot> = {}): PartySnapshot {
  return {
    investorId: id,
    type: 'INDIVIDUAL',
    jurisdiction: 'US',
    usPerson: true,
    kyc: { status: 'APPROVED', approvedAt: utc('2025-01-10'), expiresAt: null },
    aml: { status: 'CLEAR', screenedAt: utc('2025-06-01') },
    accreditation: { accredited: true, method: 'THIRD_PARTY_LETTER', verifiedAt: utc('2025-05-01'), expiresAt: null },
    issuerRelation: 'NONE',
    relationToCounterparty: null,
    walletFrozen: false,
    frozenAmount: 0n,
    liquidateOnly: false,
    annualIncomeCents: 300_000_00n,
    netWorthCents: 2_000_000_00n,
    balance: 0n,
    ...overrides,
  };
}

export const nonAccredited = (id: string, overrides: Partial<PartySnapshot> = {}): PartySnapshot =>
  investor(id, { accreditation: null, annualIncomeCents: 60_000_00n, netWorthCents: 80_000_00n, ...overrides });

export function token(overrides: Partial<TokenSnapshot> = {}, policy: TransferPolicy = {}): TokenSnapshot {
  return {
    tokenId: 'tok_test',
    decimals: 0,
    exemption: 'REG_D_506C',
    issuerReportingSince: null,
    paused: false,
    totalSupply: 1_000_000n,
    policy,
    ...overrides,
  };
}

export const lot = (amount: bigint, acquired: string, extra: Partial<Lot> = {}): Lot => ({ amount, acquiredAt: utc(acquired), ...extra });

/** A secondary trade of 100 units from a seller holding one lot of 1,000 bought on 2024-01-01. */
export function trade(overrides: Partial<TransferInput> = {}): TransferInput {
  return {
    kind: 'SECONDARY_TRADE',
    at: AT,
    amount: 100n,
    token: token(),
    from: investor('inv_seller', { balance: 1_000n }),
    to: investor('inv_buyer'),
    senderLots: [lot(1_000n, '2024-01-01')],
    holders: { total: 50, nonAccredited: 0, usPersons: 50 },
    ...overrides,
  };
}

/** A primary issuance of 100 units to an investor who holds none yet. */
export function issuance(overrides: Partial<TransferInput> = {}): TransferInput {
  return {
    kind: 'PRIMARY_ISSUANCE',
    at: AT,
    amount: 100n,
    priceCents: 100_000n,
    token: token(),
    from: null,
    to: investor('inv_buyer'),
    senderLots: [],
    holders: { total: 50, nonAccredited: 0, usPersons: 50 },
    ...overrides,
  };
}

/** The result of one rule; throws when the rule was not applicable, so a test cannot pass by its absence. */
export function resultOf(input: TransferInput, code: RuleCode, config?: ComplianceConfig): RuleResult {
  const evaluation = evaluateTransfer(input, config);
  const found = evaluation.results.find((r) => r.code === code);
  if (!found) throw new Error(`${code} was not applicable (not applicable: ${evaluation.notApplicable.join(', ')})`);
  return found;
}

/** Whether a rule was reported at all for this input. */
export const applies = (input: TransferInput, code: RuleCode): boolean =>
  evaluateTransfer(input).results.some((r) => r.code === code);
