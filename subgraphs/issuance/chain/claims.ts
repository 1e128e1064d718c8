import { addPeriod, type ComplianceConfig } from '../domain/compliance/index.js';
import { ClaimTopic } from './trex.js';
import { countryNumeric } from '../../kit/countries.js';
import type { InvestorRow } from '../store/investors.js';
import { accreditedNow } from '../accreditation.js';

export interface DesiredClaim {
  topic: number;
  /** Distinct per issuance: a revoked claim cannot be re-issued with the same data (revocation is by signature). */
  data: string;
  expiresAt: Date | null;
}

const earliest = (...ds: (Date | null)[]) => ds.filter((d): d is Date => !!d).sort((a, b) => +a - +b)[0] ?? null;

/**
 * The claims an investor's ONCHAINID should carry now, from its records.
 * KYC stands for "identity verified and screening clear": it needs an
 * approved, unexpired KYC and a clear AML screening that is not stale, so
 * that the chain refuses whoever the engine refuses on either ground.
 */
export function desiredClaims(i: InvestorRow, config: ComplianceConfig, now = new Date()): DesiredClaim[] {
  const out: DesiredClaim[] = [{ topic: Number(ClaimTopic.COUNTRY), data: `country:${countryNumeric(i.jurisdiction)}`, expiresAt: null }];
  if (i.kyc_status === 'APPROVED' && i.kyc_approved_at && i.aml_status === 'CLEAR' && i.aml_screened_at) {
    const kycUntil = i.kyc_expires_at ? new Date(i.kyc_expires_at) : addPeriod(new Date(i.kyc_approved_at), config.kyc.validity);
    const amlUntil = addPeriod(new Date(i.aml_screened_at), config.aml.maxScreeningAge);
    const until = earliest(kycUntil, amlUntil)!;
    if (until > now) {
      out.push({ topic: Number(ClaimTopic.KYC), data: `kyc:${new Date(i.kyc_approved_at).toISOString()}|aml:${new Date(i.aml_screened_at).toISOString()}`, expiresAt: until });
    }
  }
  if (accreditedNow(i, config, now)) {
    const until = i.accreditation_expires_at ? new Date(i.accreditation_expires_at) : addPeriod(new Date(i.accreditation_verified_at!), config.accreditation.validity);
    out.push({ topic: Number(ClaimTopic.ACCREDITATION), data: `accredited:${i.accreditation_method}:${new Date(i.accreditation_verified_at!).toISOString()}`, expiresAt: until });
  }
  return out;
}
