import type { Caller } from '../kit/auth.js';
import type { Queryable } from '../kit/db/types.js';
import { appError, badInput } from '../kit/errors.js';
import { evaluateTransfer, ComplianceInputError, type ComplianceConfig, type TransferEvaluation, type TransferKind } from './domain/compliance/index.js';
import { buildTransferInput, type SnapshotRequest } from './snapshot.js';
import { positive } from './access.js';

export interface EligibilityResult extends TransferEvaluation {
  evaluatedAt: Date;
}

/**
 * Whether a transfer may happen at an instant, with every rule's result.
 * A refusal is an answer, not an error; only a question that cannot be
 * asked (unknown token, zero amount) is an error.
 */
export async function transferEligibility(q: Queryable, config: ComplianceConfig, r: SnapshotRequest): Promise<EligibilityResult> {
  positive(r.amount);
  if (r.kind === 'PRIMARY_ISSUANCE' ? r.fromInvestorId !== null : r.fromInvestorId === null) {
    throw badInput('INVALID_TRANSFER_KIND', 'a primary issuance has no sender; any other transfer needs one');
  }
  if (r.fromInvestorId && r.fromInvestorId === r.toInvestorId && r.kind !== 'PRIMARY_ISSUANCE') {
    throw badInput('SAME_INVESTOR', 'sender and receiver are the same investor');
  }
  const input = await buildTransferInput(q, r);
  try {
    return { ...evaluateTransfer(input, config), evaluatedAt: r.at };
  } catch (e) {
    if (e instanceof ComplianceInputError) throw appError(e.code, e.message, { details: { field: e.field } });
    throw e;
  }
}

export function kindOf(from: string | null | undefined, kind: string | null | undefined): TransferKind {
  return (kind as TransferKind | undefined) ?? (from ? 'SECONDARY_TRADE' : 'PRIMARY_ISSUANCE');
}

/** Anyone authenticated may ask; the answer reveals rule outcomes, not the parties' records. */
export function checkAsker(_caller: Caller): void {
  /* every role may ask: trading and settlement ask on behalf of their users */
}
