/** The parts of issuance's answers that tests in several files read (a test reads a part only where it expects it). */

/** `securityToken(id) { capTable { holders { investor { id } balance } } }`: null where the caller may not see them. */
export interface CapTableAnswer { securityToken: { capTable: { holders: { investor: { id: string }; balance: string }[] } | null } | null }

/** Each holder's balance by investor id, from a cap table the caller is expected to see. */
export const balances = (a: CapTableAnswer): Record<string, string> =>
  Object.fromEntries(a.securityToken!.capTable!.holders.map((h) => [h.investor.id, h.balance]));

/** `investor(id) { wallets { registeredOnChain } }`. */
export interface WalletsAnswer { investor: { wallets: { registeredOnChain: boolean }[] } | null }

/** A distribution's entitlements by status (the issuer's organisation only). */
export interface EntitlementCounts { pending: number; paid: number; failed: number; held: number; skipped?: number }

/** An entitlement to a distribution's payment (cash in lieu of a split's fractions is one too). */
export interface Entitlement {
  id: string;
  investorId: string;
  units: string;
  gross: string;
  withheld: string;
  net: string;
  rateBps: number;
  withholdingBasis: string;
  jurisdiction: string;
  taxForm: string | null;
  status: string;
  reason: string | null;
  attempts: number;
  txHash: string | null;
  reference: string | null;
  paidTo: string | null;
}
