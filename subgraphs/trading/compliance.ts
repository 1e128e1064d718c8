/**
 * Pre-trade compliance questions to issuance, the owner of the rules, and
 * their answers as refusal reasons (every failing rule, with its regulation
 * and the date it stops blocking).
 *
 * At order entry the counterparty is unknown, so each side is asked about
 * its own part of a secondary trade: the buyer as receiver (no sender), the
 * seller as sender (no receiver: holding periods, lock-ups, frozen tokens).
 * Issuance decides what that party settles and lists the rules that need
 * the counterparty as not evaluated; settlement asks the full question once
 * a fill names both.
 */
import type { EligibilityQuestion, Peers, RuleResult } from './peers.js';
import { reason, type Reason } from './rules.js';

const asReason = (r: RuleResult): Reason =>
  reason(`COMPLIANCE.${r.code}`, r.message, { ...(r.regulation ? { regulation: r.regulation } : {}), ...(r.blockingUntil ? { blockingUntil: new Date(r.blockingUntil).toISOString() } : {}) });

export interface ComplianceAnswer {
  reasons: Reason[];
  /** Rule codes issuance decided (for the audit trail). */
  checked: string[];
  /** Rule codes that need the counterparty: left to settlement's full check. */
  notEvaluated: string[];
}

async function ask(peers: Peers, q: Omit<EligibilityQuestion, 'kind'>): Promise<ComplianceAnswer> {
  const e = await peers.eligibility({ ...q, kind: 'SECONDARY_TRADE' });
  return { reasons: e.results.filter((r) => !r.passed).map(asReason), checked: e.results.map((r) => r.code), notEvaluated: [...(e.notEvaluated ?? [])] };
}

export const buyerMayReceive = (peers: Peers, tokenId: string, investorId: string, quantity: bigint, at: Date): Promise<ComplianceAnswer> =>
  ask(peers, { tokenId, fromInvestorId: null, toInvestorId: investorId, amount: quantity, at });

export const sellerMayDeliver = (peers: Peers, tokenId: string, investorId: string, quantity: bigint, at: Date): Promise<ComplianceAnswer> =>
  ask(peers, { tokenId, fromInvestorId: investorId, toInvestorId: null, amount: quantity, at });
