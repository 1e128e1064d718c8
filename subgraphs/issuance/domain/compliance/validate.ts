/**
 * Checks that a snapshot can describe a real transfer before any rule runs,
 * so that rules can rely on it (a sender when there should be one, Reg S
 * terms on a Reg S token...). Throws ComplianceInputError naming the field.
 */
import { isCountryCode } from '../../../kit/countries.js';
import { check } from './errors.js';
import type { PartySnapshot, TransferInput, TransferPolicy } from './types.js';

const EXEMPTIONS = ['REG_D_506B', 'REG_D_506C', 'REG_S', 'REG_A_TIER1', 'REG_A_TIER2', 'REG_CF'];
const KINDS = ['PRIMARY_ISSUANCE', 'SECONDARY_TRADE', 'FORCED_TRANSFER'];
const OCCASIONS = ['SALE', 'GIFT', 'INHERITANCE', 'FAMILY_TRUST', 'DIVORCE'];

const isDate = (d: unknown): d is Date => d instanceof Date && !Number.isNaN(d.getTime());
const isCount = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
const isNonNegative = (v: unknown): v is bigint => typeof v === 'bigint' && v >= 0n;

export function validateTransferInput(input: TransferInput): void {
  check(KINDS.includes(input.kind), 'kind', `must be one of ${KINDS.join(', ')}`);
  check(input.occasion === undefined || OCCASIONS.includes(input.occasion), 'occasion', `must be one of ${OCCASIONS.join(', ')}`);
  check(isDate(input.at), 'at', 'must be a valid Date');
  check(typeof input.amount === 'bigint' && input.amount > 0n, 'amount', 'must be a bigint greater than zero');
  check(input.priceCents === undefined || isNonNegative(input.priceCents), 'priceCents', 'must be a non-negative bigint');

  const primary = input.kind === 'PRIMARY_ISSUANCE';
  if (primary) check(input.from === null, 'from', 'must be null for a primary issuance');
  if (input.kind === 'FORCED_TRANSFER') check(input.from !== null, 'from', 'is required for a forced transfer');
  // A secondary trade may leave out one party (a one-sided question), never both.
  check(input.to !== null || (!primary && input.kind !== 'FORCED_TRANSFER' && input.from !== null), 'to',
    input.from === null ? 'a question needs a sender, a receiver or both' : `is required for a ${primary ? 'primary issuance' : 'forced transfer'}`);
  if (input.from === null) check(input.senderLots.length === 0, 'senderLots', 'must be empty without a sender');

  const { token } = input;
  check(EXEMPTIONS.includes(token.exemption), 'token.exemption', `must be one of ${EXEMPTIONS.join(', ')}`);
  check(Number.isInteger(token.decimals) && token.decimals >= 0 && token.decimals <= 18, 'token.decimals', 'must be an integer from 0 to 18');
  check(isNonNegative(token.totalSupply), 'token.totalSupply', 'must be a non-negative bigint');
  check(token.issuerReportingSince === null || isDate(token.issuerReportingSince), 'token.issuerReportingSince', 'must be a valid Date or null');
  if (token.exemption === 'REG_S') {
    const s = token.regS;
    check(s !== undefined, 'token.regS', 'the Reg S category, security type and distribution compliance period start are required for a REG_S token');
    check(['CATEGORY_1', 'CATEGORY_2', 'CATEGORY_3'].includes(s.category), 'token.regS.category', 'must be CATEGORY_1, CATEGORY_2 or CATEGORY_3');
    check(['EQUITY', 'DEBT'].includes(s.securityType), 'token.regS.securityType', 'must be EQUITY or DEBT');
    check(isDate(s.distributionCompliancePeriodStart), 'token.regS.distributionCompliancePeriodStart', 'must be a valid Date');
  }
  validatePolicy(token.policy);

  if (input.from) validateParty(input.from, 'from');
  if (input.to) validateParty(input.to, 'to');

  input.senderLots.forEach((lot, i) => {
    const f = `senderLots[${i}]`;
    check(typeof lot.amount === 'bigint' && lot.amount > 0n, `${f}.amount`, 'must be a bigint greater than zero');
    check(isDate(lot.acquiredAt), `${f}.acquiredAt`, 'must be a valid Date');
    check(lot.holdingPeriodStart === undefined || isDate(lot.holdingPeriodStart), `${f}.holdingPeriodStart`, 'must be a valid Date');
    check(lot.issuedAt === undefined || isDate(lot.issuedAt), `${f}.issuedAt`, 'must be a valid Date');
  });

  const h = input.holders;
  check(isCount(h.total) && isCount(h.nonAccredited) && isCount(h.usPersons), 'holders', 'counts must be non-negative integers');
  check(h.nonAccredited <= h.total && h.usPersons <= h.total, 'holders', 'non-accredited and U.S. holders cannot outnumber all holders');
  const distinctHolders = (input.from && input.from.balance > 0n ? 1 : 0) + (input.to && input.to.balance > 0n && input.from?.investorId !== input.to.investorId ? 1 : 0);
  check(h.total >= distinctHolders, 'holders.total', 'must count the parties that already hold the token');

  if (primary && token.exemption === 'REG_D_506B') {
    check(input.offering !== undefined, 'offering', 'the offering\'s purchaser counts are required for a 506(b) primary issuance');
    check(isCount(input.offering.nonAccreditedPurchasers), 'offering.nonAccreditedPurchasers', 'must be a non-negative integer');
  }
  const limited = token.exemption === 'REG_CF' || (token.exemption === 'REG_A_TIER2' && !token.listedOnNationalExchange);
  if (primary && limited) check(input.priceCents !== undefined, 'priceCents', 'the purchase price is required to check the investment limit');
  (input.receiverPriorInvestments ?? []).forEach((inv, i) => {
    check(isDate(inv.at), `receiverPriorInvestments[${i}].at`, 'must be a valid Date');
    check(isNonNegative(inv.amountCents), `receiverPriorInvestments[${i}].amountCents`, 'must be a non-negative bigint');
  });
}

function validateParty(p: PartySnapshot, f: string): void {
  check(typeof p.investorId === 'string' && p.investorId.length > 0, `${f}.investorId`, 'is required');
  check(p.type === 'INDIVIDUAL' || p.type === 'ENTITY', `${f}.type`, 'must be INDIVIDUAL or ENTITY');
  check(isCountryCode(p.jurisdiction), `${f}.jurisdiction`, `"${p.jurisdiction}" is not an ISO 3166-1 alpha-2 code`);
  check(isNonNegative(p.balance), `${f}.balance`, 'must be a non-negative bigint');
  check(isNonNegative(p.frozenAmount), `${f}.frozenAmount`, 'must be a non-negative bigint');
  check(p.annualIncomeCents === null || isNonNegative(p.annualIncomeCents), `${f}.annualIncomeCents`, 'must be a non-negative bigint or null');
  check(p.netWorthCents === null || isNonNegative(p.netWorthCents), `${f}.netWorthCents`, 'must be a non-negative bigint or null');
  for (const [name, d] of [['kyc.approvedAt', p.kyc.approvedAt], ['kyc.expiresAt', p.kyc.expiresAt], ['aml.screenedAt', p.aml.screenedAt]] as const) {
    check(d === null || isDate(d), `${f}.${name}`, 'must be a valid Date or null');
  }
  if (p.accreditation) {
    check(isDate(p.accreditation.verifiedAt), `${f}.accreditation.verifiedAt`, 'must be a valid Date');
    check(p.accreditation.expiresAt === null || isDate(p.accreditation.expiresAt), `${f}.accreditation.expiresAt`, 'must be a valid Date or null');
  }
}

function validatePolicy(p: TransferPolicy): void {
  for (const list of ['allowedCountries', 'blockedCountries'] as const) {
    (p[list] ?? []).forEach((code, i) => check(isCountryCode(code), `token.policy.${list}[${i}]`, `"${code}" is not an ISO 3166-1 alpha-2 code`));
  }
  check(p.maxBalance === undefined || isNonNegative(p.maxBalance), 'token.policy.maxBalance', 'must be a non-negative bigint');
  check(p.minHolding === undefined || isNonNegative(p.minHolding), 'token.policy.minHolding', 'must be a non-negative bigint');
  check(p.maxSupplyShareBps === undefined || (isCount(p.maxSupplyShareBps) && p.maxSupplyShareBps <= 10_000), 'token.policy.maxSupplyShareBps', 'must be an integer from 0 to 10,000');
  check(p.maxHolders === undefined || isCount(p.maxHolders), 'token.policy.maxHolders', 'must be a non-negative integer');
  check(p.maxUsHolders === undefined || isCount(p.maxUsHolders), 'token.policy.maxUsHolders', 'must be a non-negative integer');
}
