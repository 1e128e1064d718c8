import type { Caller } from '../kit/auth.js';
import type { Queryable } from '../kit/db/types.js';
import type { TokenRow } from './store/tokens.js';
import { investorsByIds, type InvestorRow } from './store/investors.js';
import { lotsAsOf } from './store/holdings.js';

export interface CapTableLot { id: string; amount: bigint; remaining: bigint; acquiredAt: Date; holdingPeriodStart: Date; restricted: boolean; source: string; txHash: string | null }
export interface CapTable {
  asOf: Date; totalSupply: bigint; holderCount: number; nonAccreditedHolderCount: number; usHolderCount: number;
  holders: { investor: InvestorRow; balance: bigint; lots: CapTableLot[] }[];
}

/** The issuer's organisation (agents, auditors, compliance officers) reads a token's holders; others get null. */
export function canReadCapTable(caller: Caller, t: TokenRow): boolean {
  if (caller.kind === 'service') return true;
  if (caller.org !== t.issuer_org) return false;
  return caller.roles.some((r) => r === 'ISSUER_AGENT' || r === 'AUDITOR' || r === 'COMPLIANCE_OFFICER');
}

/**
 * Holders and their lots as of an instant, rebuilt from the lots and what
 * left them: a lot acquired after asOf is left out, and a lot counts with
 * what it held at asOf; a lot a split wrote counts from the split on (it
 * keeps its original acquisition date). Accreditation and US-person status are the
 * investors' records now (credentials are audited, not versioned).
 */
export async function capTable(q: Queryable, t: TokenRow, asOf: Date): Promise<CapTable> {
  const rows = await lotsAsOf(q, t.id, asOf);
  const open = rows.filter((r) => BigInt(r.held) > 0n);
  const investors = await investorsByIds(q, [...new Set(open.map((r) => r.investor_id))]);
  const byId = new Map(investors.map((i) => [i.id, i]));
  const holders = new Map<string, CapTable['holders'][number]>();
  for (const r of open) {
    let h = holders.get(r.investor_id);
    if (!h) holders.set(r.investor_id, (h = { investor: byId.get(r.investor_id)!, balance: 0n, lots: [] }));
    h.balance += BigInt(r.held);
    h.lots.push({ id: r.id, amount: BigInt(r.amount), remaining: BigInt(r.held), acquiredAt: r.acquired_at, holdingPeriodStart: r.holding_period_start, restricted: r.restricted, source: r.source, txHash: r.tx_hash });
  }
  const list = [...holders.values()];
  return {
    asOf,
    totalSupply: list.reduce((s, h) => s + h.balance, 0n),
    holderCount: list.length,
    nonAccreditedHolderCount: list.filter((h) => h.investor.accredited !== true).length,
    usHolderCount: list.filter((h) => h.investor.us_person).length,
    holders: list,
  };
}
