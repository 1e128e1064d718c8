import { addPeriod, type ComplianceConfig } from './domain/compliance/index.js';
import type { InvestorRow } from './store/investors.js';

type AccreditationColumns = Pick<InvestorRow, 'accredited' | 'accreditation_verified_at' | 'accreditation_expires_at'>;

/** Whether accreditation counts at an instant, as the engine decides it (unexpired; without an expiry it lasts the configured validity). */
export function accreditedNow(i: AccreditationColumns, config: ComplianceConfig, now = new Date()): boolean {
  if (!i.accredited || !i.accreditation_verified_at) return false;
  const until = i.accreditation_expires_at ?? addPeriod(new Date(i.accreditation_verified_at), config.accreditation.validity);
  return new Date(until).getTime() > now.getTime();
}
