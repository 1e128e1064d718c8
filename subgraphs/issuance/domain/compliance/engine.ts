/**
 * The compliance engine: may this transfer happen at this instant, and
 * why. Every applicable rule is evaluated and reported, passed or failed,
 * so a refusal lists every reason at once and an approval shows what was
 * checked. Rules that do not apply to the token (its exemption and the
 * policy it has set) or to the kind of transfer are listed apart, so the
 * answer never silently omits one.
 *
 * A one-sided question (a sender or a receiver alone, for a secondary
 * trade whose counterparty is not known yet) decides only what the known
 * party settles; the rules that depend on the other one are listed as not
 * evaluated, and such an answer is never `allowed`.
 *
 * Pure: no I/O, no clock (the instant is an input), no dependence on the
 * number of holders (counts arrive pre-computed).
 */
import { RULE_CODES, type RuleCode } from './codes.js';
import { defaultComplianceConfig, type ComplianceConfig } from './config.js';
import { transferEffects } from './effects.js';
import { RULES } from './rules/index.js';
import type { MissingParty, RequiredFiling, RuleResult, TransferEvaluation, TransferInput } from './types.js';
import { validateTransferInput } from './validate.js';

export { RULE_CODES, type RuleCode };

/** Each rule's code and the regulation it comes from, in reporting order. */
export const RULE_CATALOGUE: readonly { readonly code: RuleCode; readonly regulation: string }[] = Object.freeze(
  RULES.map(({ code, regulation }) => Object.freeze({ code, regulation })),
);

/** Throws ComplianceInputError when the input cannot describe a real transfer. */
export function evaluateTransfer(input: TransferInput, config: ComplianceConfig = defaultComplianceConfig): TransferEvaluation {
  validateTransferInput(input);
  const effects = transferEffects(input, config);
  const missingParty = missingPartyOf(input);
  const results: RuleResult[] = [];
  const notApplicable: RuleCode[] = [];
  const notEvaluated: RuleCode[] = [];
  const requiredFilings: RequiredFiling[] = [];
  for (const rule of RULES) {
    if (!rule.appliesTo(input)) {
      notApplicable.push(rule.code);
      continue;
    }
    const outcome = rule.check(input, config, effects);
    if (!outcome) {
      if (!missingParty) throw new Error(`${rule.code} gave no outcome although both parties are known`);
      notEvaluated.push(rule.code);
      continue;
    }
    const { passed, message, currentValue, limit, blockingUntil, requiredFiling } = outcome;
    if (requiredFiling) requiredFilings.push({ code: rule.code, regulation: rule.regulation, ...requiredFiling });
    results.push({
      code: rule.code,
      passed,
      message,
      regulation: rule.regulation,
      ...(currentValue !== undefined && { currentValue }),
      ...(limit !== undefined && { limit }),
      ...(!passed && blockingUntil && { blockingUntil }),
    });
  }
  return { allowed: notEvaluated.length === 0 && results.every((r) => r.passed), results, notApplicable, missingParty, notEvaluated, requiredFilings };
}

function missingPartyOf(input: TransferInput): MissingParty | null {
  if (input.to === null) return 'RECEIVER';
  return input.from === null && input.kind !== 'PRIMARY_ISSUANCE' ? 'SENDER' : null;
}
