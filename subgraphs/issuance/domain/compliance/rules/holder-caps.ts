/**
 * Caps on the number of holders. Counts arrive pre-computed; the rule only
 * works out whether this transfer adds a holder (the receiver held none) and
 * whether it removes one (the sender sells everything). A transfer that does
 * not raise a count is never blocked by it, even if the count is already
 * over the cap (after a change of figures, say): refusing it would not bring
 * the token back under.
 *
 * The regulatory caps (12(g), 3(c)(1)) bind every kind of transfer; the
 * issuer's own caps are policy, which a forced transfer overrides.
 *
 * A one-sided question counts the unknown party at its worst (a buyer who
 * holds none and counts towards the cap; a seller who keeps a holding): a
 * cap that passes even so passes whoever it is, otherwise it is left to the
 * full question.
 */
import type { ComplianceConfig } from '../config.js';
import type { TransferEffects } from '../effects.js';
import { formatCount } from '../format.js';
import { isForced, type Rule } from '../rule.js';
import type { RuleCode } from '../codes.js';
import { isAccredited } from '../credentials.js';
import type { PartySnapshot, TransferInput } from '../types.js';

interface CapSpec {
  readonly code: RuleCode;
  readonly regulation: string;
  readonly appliesTo: (input: TransferInput) => boolean;
  /** Who is counted, e.g. "holders of record". */
  readonly noun: string;
  /** The most the count may reach. */
  readonly max: (input: TransferInput, config: ComplianceConfig) => number;
  /** Why that is the most, for the message. */
  readonly why: (input: TransferInput, config: ComplianceConfig) => string;
  readonly before: (input: TransferInput) => number;
  /** Whether a party is counted by this cap. */
  readonly counts: (p: PartySnapshot, input: TransferInput, config: ComplianceConfig) => boolean;
}

/** The count after the transfer; a party the question left out is taken at its worst. */
function countAfter(spec: CapSpec, input: TransferInput, config: ComplianceConfig, effects: TransferEffects): number {
  const { from, to } = input;
  const joins = to === null || (effects.receiverJoins && spec.counts(to, input, config));
  const leaves = from !== null && effects.senderLeaves && spec.counts(from, input, config);
  return spec.before(input) + (joins ? 1 : 0) - (leaves ? 1 : 0);
}

function cap(spec: CapSpec): Rule {
  return {
    code: spec.code,
    regulation: spec.regulation,
    appliesTo: spec.appliesTo,
    check(input, config, effects) {
      const max = spec.max(input, config);
      const before = spec.before(input);
      const after = countAfter(spec, input, config, effects);
      const why = spec.why(input, config);
      const currentValue = formatCount(after);
      const limit = formatCount(max);
      const unknown = input.to === null ? 'receiver' : input.from === null && input.kind !== 'PRIMARY_ISSUANCE' ? 'sender' : null;
      if (after <= max) {
        const atMost = unknown ? `Whoever the ${unknown} is, after the transfer the token would have at most` : 'After the transfer the token would have';
        return { passed: true, message: `${atMost} ${currentValue} ${spec.noun}, within ${why}.`, currentValue, limit };
      }
      if (after <= before) {
        return { passed: true, message: `The token has ${formatCount(before)} ${spec.noun}, over ${why}, but this transfer does not add to them.`, currentValue, limit };
      }
      if (unknown) return undefined;
      return { passed: false, message: `The transfer would bring the token to ${currentValue} ${spec.noun}, over ${why}.`, currentValue, limit };
    },
  };
}

const twelveGApplies = (input: TransferInput): boolean =>
  input.token.policy.apply12gHolderCaps ?? !['REG_CF', 'REG_A_TIER2'].includes(input.token.exemption);

const REG_12G = 'Exchange Act 12(g)(1)(A) (15 U.S.C. 78l(g)(1)(A))';

export const regulatoryHolderCapRules: readonly Rule[] = [
  cap({
    code: 'HOLDER_CAP_12G_TOTAL',
    regulation: REG_12G,
    appliesTo: twelveGApplies,
    noun: 'holders of record',
    max: (_, c) => c.section12g.holdersOfRecordThreshold - 1,
    why: (_, c) => `the limit of ${formatCount(c.section12g.holdersOfRecordThreshold - 1)} that keeps it below the ${formatCount(c.section12g.holdersOfRecordThreshold)} holders of record at which Section 12(g) requires registration`,
    before: (input) => input.holders.total,
    counts: () => true,
  }),
  cap({
    code: 'HOLDER_CAP_12G_NON_ACCREDITED',
    regulation: REG_12G,
    appliesTo: twelveGApplies,
    noun: 'non-accredited holders of record',
    max: (_, c) => c.section12g.nonAccreditedHoldersThreshold - 1,
    why: (_, c) => `the limit of ${formatCount(c.section12g.nonAccreditedHoldersThreshold - 1)} that keeps it below the ${formatCount(c.section12g.nonAccreditedHoldersThreshold)} non-accredited holders of record at which Section 12(g) requires registration`,
    before: (input) => input.holders.nonAccredited,
    counts: (p, input, config) => !isAccredited(p, input.at, config),
  }),
  cap({
    code: 'HOLDER_CAP_3C1',
    regulation: 'Investment Company Act 3(c)(1) (15 U.S.C. 80a-3(c)(1))',
    appliesTo: (input) => !!input.token.policy.fund3c1,
    noun: 'beneficial owners',
    max: (input, c) => fund3c1Max(input, c),
    why: (input, c) => input.token.policy.fund3c1!.qualifyingVentureCapitalFund
      ? `the ${formatCount(fund3c1Max(input, c))} beneficial owners a qualifying venture capital fund may have under Section 3(c)(1)`
      : `the ${formatCount(fund3c1Max(input, c))} beneficial owners a Section 3(c)(1) fund may have`,
    before: (input) => input.holders.total,
    counts: () => true,
  }),
];

export const policyHolderCapRules: readonly Rule[] = [
  cap({
    code: 'POLICY_MAX_HOLDERS',
    regulation: 'issuer policy',
    appliesTo: (input) => input.token.policy.maxHolders !== undefined && !isForced(input),
    noun: 'holders',
    max: (input) => input.token.policy.maxHolders!,
    why: (input) => `the issuer's limit of ${formatCount(input.token.policy.maxHolders!)} holders`,
    before: (input) => input.holders.total,
    counts: () => true,
  }),
  cap({
    code: 'POLICY_MAX_US_HOLDERS',
    regulation: 'issuer policy',
    appliesTo: (input) => input.token.policy.maxUsHolders !== undefined && !isForced(input),
    noun: 'U.S. holders',
    max: (input) => input.token.policy.maxUsHolders!,
    why: (input) => `the issuer's limit of ${formatCount(input.token.policy.maxUsHolders!)} U.S. holders`,
    before: (input) => input.holders.usPersons,
    counts: (p) => p.usPerson,
  }),
];

function fund3c1Max(input: TransferInput, c: ComplianceConfig): number {
  return input.token.policy.fund3c1!.qualifyingVentureCapitalFund
    ? c.section3c1.maxHoldersQualifyingVentureCapitalFund
    : c.section3c1.maxHolders;
}
