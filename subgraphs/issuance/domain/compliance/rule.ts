/**
 * The shape of a rule. Whether a rule applies depends only on the token
 * (its exemption and the policy it has set) and the kind of transfer, never
 * on the parties: so for a given token and kind the same list of rules is
 * always reported, and a party's facts (accredited, not a U.S. person...)
 * show up as a passed result that says why, not as a missing one.
 */
import type { RuleCode } from './codes.js';
import type { ComplianceConfig } from './config.js';
import type { TransferEffects } from './effects.js';
import type { PartySnapshot, TransferInput } from './types.js';

export interface Outcome {
  readonly passed: boolean;
  readonly message: string;
  readonly currentValue?: string;
  readonly limit?: string;
  /** Only kept on a failed outcome. */
  readonly blockingUntil?: Date;
}

export interface Rule {
  readonly code: RuleCode;
  readonly regulation: string;
  readonly appliesTo: (input: TransferInput) => boolean;
  readonly check: (input: TransferInput, config: ComplianceConfig, effects: TransferEffects) => Outcome;
}

export type Side = 'sender' | 'receiver';

/** The party on one side. Rules for the sender only apply when there is one. */
export function party(input: TransferInput, side: Side): PartySnapshot {
  if (side === 'receiver') return input.to;
  if (!input.from) throw new Error('a sender rule was evaluated on a transfer without a sender');
  return input.from;
}

export const isPrimary = (input: TransferInput): boolean => input.kind === 'PRIMARY_ISSUANCE';
export const isSecondary = (input: TransferInput): boolean => input.kind === 'SECONDARY_TRADE';
export const isForced = (input: TransferInput): boolean => input.kind === 'FORCED_TRANSFER';
/** Secondary and forced transfers: tokens leave an investor, so the law on resales applies. */
export const hasSender = (input: TransferInput): boolean => input.kind !== 'PRIMARY_ISSUANCE';
