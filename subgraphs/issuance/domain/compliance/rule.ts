/**
 * The shape of a rule. Whether a rule applies depends only on the token
 * (its exemption and the policy it has set) and the kind of transfer, never
 * on the parties: so for a given token and kind the same list of rules is
 * always reported, and a party's facts (accredited, not a U.S. person...)
 * show up as a passed result that says why, not as a missing one.
 *
 * A question may leave one party out (at order entry the counterparty is
 * not known). A rule that needs that party returns undefined, unless the
 * known party settles it whoever the other one is.
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
  /** A filing the transfer requires: the form and a sentence (reported in the evaluation's requiredFilings). */
  readonly requiredFiling?: { readonly form: string; readonly message: string };
}

export interface Rule {
  readonly code: RuleCode;
  readonly regulation: string;
  readonly appliesTo: (input: TransferInput) => boolean;
  /** Undefined only when the question left out a party the outcome depends on. */
  readonly check: (input: TransferInput, config: ComplianceConfig, effects: TransferEffects) => Outcome | undefined;
}

export type Side = 'sender' | 'receiver';

/** The party on one side; null when the question left it out. */
export function party(input: TransferInput, side: Side): PartySnapshot | null {
  return side === 'receiver' ? input.to : input.from;
}

export const isPrimary = (input: TransferInput): boolean => input.kind === 'PRIMARY_ISSUANCE';
export const isSecondary = (input: TransferInput): boolean => input.kind === 'SECONDARY_TRADE';
export const isForced = (input: TransferInput): boolean => input.kind === 'FORCED_TRANSFER';
/** Secondary and forced transfers: tokens leave an investor, so the law on resales applies. */
export const hasSender = (input: TransferInput): boolean => input.kind !== 'PRIMARY_ISSUANCE';
