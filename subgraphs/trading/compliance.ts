/**
 * Pre-trade compliance questions to issuance, the owner of the rules, and
 * their answers as refusal reasons (every failing rule, with its regulation
 * and the date it stops blocking).
 *
 * At order entry the counterparty is unknown, so each side is asked about
 * its own part of a secondary trade:
 * - the buyer as receiver: issuance evaluates the receiver's rules of a
 *   transfer without a sender (kind PRIMARY_ISSUANCE, the only sender-less
 *   question it answers today); the rules that concern an offering rather
 *   than a resale (purchaser counts and investment limits of the offering)
 *   are dropped from that answer;
 * - the seller as sender (holding periods, frozen tokens, free balance):
 *   asked as a SECONDARY_TRADE without a receiver. Until issuance answers
 *   that question, the check is recorded as skipped in the audit trail and
 *   settlement's re-verification (both parties known) is the guard.
 */
import { errorCode } from '../kit/errors.js';
import type { Peers, RuleResult } from './peers.js';
import { reason, type Reason } from './rules.js';

const OFFERING_ONLY = new Set(['REG_D_506B_NON_ACCREDITED_PURCHASERS', 'REG_CF_INVESTMENT_LIMIT', 'REG_A_TIER2_INVESTMENT_LIMIT']);
const SENDER_SIDE = (code: string) => code.endsWith('_SENDER') || code === 'RULE_144_HOLDING_PERIOD' || code === 'REG_CF_RESALE_RESTRICTION' || code === 'TOKEN_NOT_PAUSED';

const asReason = (r: RuleResult): Reason =>
  reason(`COMPLIANCE.${r.code}`, r.message, { ...(r.regulation ? { regulation: r.regulation } : {}), ...(r.blockingUntil ? { blockingUntil: new Date(r.blockingUntil).toISOString() } : {}) });

export interface ComplianceAnswer {
  reasons: Reason[];
  /** Rule codes evaluated (for the audit trail). */
  checked: string[];
  /** Set when the question could not be asked; the order is not refused for it. */
  skipped?: string;
}

export async function buyerMayReceive(peers: Peers, tokenId: string, investorId: string, quantity: bigint, at: Date): Promise<ComplianceAnswer> {
  const e = await peers.eligibility({ tokenId, fromInvestorId: null, toInvestorId: investorId, amount: quantity, kind: 'PRIMARY_ISSUANCE', at });
  const relevant = e.results.filter((r) => !OFFERING_ONLY.has(r.code) && !SENDER_SIDE(r.code));
  return { reasons: relevant.filter((r) => !r.passed).map(asReason), checked: relevant.map((r) => r.code) };
}

export async function sellerMayDeliver(peers: Peers, tokenId: string, investorId: string, quantity: bigint, at: Date): Promise<ComplianceAnswer> {
  try {
    const e = await peers.eligibility({ tokenId, fromInvestorId: investorId, toInvestorId: null, amount: quantity, kind: 'SECONDARY_TRADE', at });
    const relevant = e.results.filter((r) => SENDER_SIDE(r.code));
    return { reasons: relevant.filter((r) => !r.passed).map(asReason), checked: relevant.map((r) => r.code) };
  } catch (err) {
    // Issuance does not take a sender-only question yet (it requires a receiver).
    if (errorCode(err) === 'INPUT.INVALID_ARGUMENT') return { reasons: [], checked: [], skipped: 'issuance does not evaluate a sender without a receiver yet; settlement re-verifies both parties' };
    throw err;
  }
}
