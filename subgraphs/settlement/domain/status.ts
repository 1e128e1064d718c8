/**
 * The settlement lifecycle as data: statuses, the transitions allowed between
 * them, failure reason codes and the retry schedule. No I/O.
 *
 *   RECEIVED -> VERIFIED -> SETTLING -> SETTLED
 *   RECEIVED | VERIFIED | FAILED -> REJECTED (the rules refuse: final) | CANCELLED (a settlement agent: final)
 *   RECEIVED | VERIFIED | SETTLING | FAILED -> FAILED (reason code; retried with backoff until final)
 *   FAILED -> VERIFIED (the retry verifies again)
 */
export const STATUSES = ['RECEIVED', 'VERIFIED', 'REJECTED', 'SETTLING', 'SETTLED', 'FAILED', 'CANCELLED'] as const;
export type SettlementStatus = (typeof STATUSES)[number];

export const FAILURE_CODES = ['AWAITING_SECURITIES', 'AWAITING_CASH', 'COUNTERPARTY_INELIGIBLE', 'CHAIN_ERROR'] as const;
export type FailureCode = (typeof FAILURE_CODES)[number];

const NEXT: Record<SettlementStatus, readonly SettlementStatus[]> = {
  RECEIVED: ['VERIFIED', 'REJECTED', 'FAILED', 'CANCELLED'],
  VERIFIED: ['SETTLING', 'REJECTED', 'FAILED', 'CANCELLED'],
  SETTLING: ['SETTLED', 'FAILED'],
  FAILED: ['VERIFIED', 'REJECTED', 'FAILED', 'CANCELLED'],
  REJECTED: [],
  SETTLED: [],
  CANCELLED: [],
};

export const canTransition = (from: SettlementStatus, to: SettlementStatus): boolean => NEXT[from].includes(to);

/** Statuses a settlement agent may cancel from: nothing is in flight on chain. */
export const CANCELLABLE: readonly SettlementStatus[] = ['RECEIVED', 'VERIFIED', 'FAILED'];

export const isTerminal = (s: SettlementStatus, final: boolean): boolean => NEXT[s].length === 0 || (s === 'FAILED' && final);

/** Pause before attempt n+1 after n failed ones: base, 2 base, 4 base ... capped. */
export function backoffMs(attempts: number, baseMs: number, maxMs: number): number {
  const exp = Math.min(Math.max(attempts - 1, 0), 30);
  return Math.min(baseMs * 2 ** exp, maxMs);
}

/**
 * What a revert of the DvP transaction means for the parties, from the
 * token's own revert reason (T-REX Token, the cash token, the DvP contract).
 */
export function failureOfRevert(reason: string | undefined): FailureCode {
  const r = reason ?? '';
  if (/CashToken: transfer amount exceeds balance|CashToken: insufficient allowance/i.test(r)) return 'AWAITING_CASH';
  if (/Insufficient Balance|sender balance too low/i.test(r)) return 'AWAITING_SECURITIES';
  if (/Transfer not possible|wallet is frozen|Identity is not verified|Compliance not followed/i.test(r)) return 'COUNTERPARTY_INELIGIBLE';
  return 'CHAIN_ERROR';
}
