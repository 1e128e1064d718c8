import { inScope, scopeOf, settlementOperator } from '../kit/access.js';
import type { Caller } from '../kit/auth.js';
import type { SettlementConfig } from './settings.js';
import type { SettlementRow, Visibility } from './store/settlements.js';

/**
 * Who sees which settlement (kit/access.ts decides): services everything;
 * SETTLEMENT_AGENT, AUDITOR and COMPLIANCE_OFFICER users of an operator
 * organisation (SETTLEMENT_OPERATOR_ORGS) everything; any other user the
 * settlements its organisation submitted or is party to; an investor only its own.
 */
export const visibilityOf = (c: Caller, config: Pick<SettlementConfig, 'SETTLEMENT_OPERATOR_ORGS'>): Visibility => scopeOf(c, settlementOperator(config.SETTLEMENT_OPERATOR_ORGS));

export const sees = (v: Visibility, r: Pick<SettlementRow, 'org' | 'buyer_org' | 'seller_org' | 'buyer_investor_id' | 'seller_investor_id'>): boolean =>
  inScope(v, [{ org: r.org }, { org: r.buyer_org, investorId: r.buyer_investor_id }, { org: r.seller_org, investorId: r.seller_investor_id }]);

/** The same test on a settlement.status event payload (subscriptions): the event names the organisations involved. */
export const seesEvent = (v: Visibility, p: { orgs?: string[]; buyerInvestorId?: string | null; sellerInvestorId?: string | null }): boolean =>
  inScope(v, (p.orgs ?? []).flatMap((org) => [{ org, investorId: p.buyerInvestorId }, { org, investorId: p.sellerInvestorId }]));
