/**
 * What a party's records say at an instant. A record dated after the
 * evaluation instant did not exist yet, so it does not count: replaying a
 * past decision gives the answer that was right then.
 */
import type { ComplianceConfig } from './config.js';
import { addPeriod } from './time.js';
import type { AccreditationRecord, PartySnapshot, TokenSnapshot } from './types.js';

const notAfter = (d: Date, at: Date): boolean => d.getTime() <= at.getTime();
const before = (at: Date, end: Date): boolean => at.getTime() < end.getTime();

export function kycExpiry(p: PartySnapshot, config: ComplianceConfig): Date | null {
  if (p.kyc.expiresAt) return p.kyc.expiresAt;
  return p.kyc.approvedAt ? addPeriod(p.kyc.approvedAt, config.kyc.validity) : null;
}

export function amlExpiry(p: PartySnapshot, config: ComplianceConfig): Date | null {
  return p.aml.screenedAt ? addPeriod(p.aml.screenedAt, config.aml.maxScreeningAge) : null;
}

export function accreditationExpiry(a: AccreditationRecord, config: ComplianceConfig): Date {
  return a.expiresAt ?? addPeriod(a.verifiedAt, config.accreditation.validity);
}

/**
 * Accredited at `at`. With `verifiedOnly`, a self-certification does not
 * count (506(c) requires reasonable steps to verify).
 */
export function isAccredited(p: PartySnapshot, at: Date, config: ComplianceConfig, verifiedOnly = false): boolean {
  const a = p.accreditation;
  if (!a || !a.accredited) return false;
  if (verifiedOnly && a.method === 'SELF_CERTIFIED') return false;
  return notAfter(a.verifiedAt, at) && before(at, accreditationExpiry(a, config));
}

/** Valid from its start (inclusive) to its end (exclusive). */
export const isWithin = (at: Date, start: Date | null, end: Date | null): boolean =>
  start !== null && end !== null && notAfter(start, at) && before(at, end);

/**
 * The first instant at which the issuer counts as a reporting issuer for
 * Rule 144(d)(1)(i): after it has been reporting for the required history
 * (90 days). Assumes it stays current once reporting (144(c) compliance is
 * not checked here).
 */
export function rule144ReportingFrom(token: TokenSnapshot, config: ComplianceConfig): Date | null {
  return token.issuerReportingSince ? addPeriod(token.issuerReportingSince, config.rule144.reportingHistoryRequired) : null;
}

/**
 * A reporting issuer for Reg S (230.902(l)): reporting when the offering
 * began, which fixes the category's period for the whole offering. A newly
 * reporting issuer qualifies ("or for such shorter period").
 */
export function isRegSReportingIssuer(token: TokenSnapshot, periodStart: Date): boolean {
  return token.issuerReportingSince !== null && notAfter(token.issuerReportingSince, periodStart);
}
