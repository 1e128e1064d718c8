import type { Caller, Role } from '../kit/auth.js';
import type { SettlementConfig } from './settings.js';
import type { SettlementRow, Visibility } from './store.js';

/**
 * Who sees which settlement: services everything; SETTLEMENT_AGENT, AUDITOR and
 * COMPLIANCE_OFFICER users of an operator organisation (SETTLEMENT_OPERATOR_ORGS)
 * everything; any other user the settlements its organisation submitted or is
 * party to; an investor only its own.
 */
const OVERSIGHT: Role[] = ['SETTLEMENT_AGENT', 'AUDITOR', 'COMPLIANCE_OFFICER'];

export const onlyInvestor = (c: Caller): boolean => c.kind === 'user' && c.roles.length === 1 && c.roles[0] === 'INVESTOR';

export function visibilityOf(c: Caller, config: Pick<SettlementConfig, 'SETTLEMENT_OPERATOR_ORGS'>): Visibility {
  const all = c.kind === 'service' || (config.SETTLEMENT_OPERATOR_ORGS.includes(c.org) && c.roles.some((r) => OVERSIGHT.includes(r)));
  return { all, org: c.org, investorId: !all && onlyInvestor(c) ? (c.investorId ?? '-') : undefined };
}

export function sees(v: Visibility, r: Pick<SettlementRow, 'org' | 'buyer_org' | 'seller_org' | 'buyer_investor_id' | 'seller_investor_id'>): boolean {
  if (v.all) return true;
  if (![r.org, r.buyer_org, r.seller_org].includes(v.org)) return false;
  return !v.investorId || v.investorId === r.buyer_investor_id || v.investorId === r.seller_investor_id;
}

/** The same test on a settlement.status event payload (subscriptions). */
export function seesEvent(v: Visibility, p: { orgs?: string[]; buyerInvestorId?: string | null; sellerInvestorId?: string | null }): boolean {
  if (v.all) return true;
  if (!(p.orgs ?? []).includes(v.org)) return false;
  return !v.investorId || v.investorId === p.buyerInvestorId || v.investorId === p.sellerInvestorId;
}
