/**
 * The compliance engine: may this transfer happen at this instant, and
 * why. Every applicable rule is evaluated and reported, passed or failed,
 * so a refusal lists every reason at once and an approval shows what was
 * checked. Rules that do not apply to the token (its exemption and the
 * policy it has set) or to the kind of transfer are listed apart, so the
 * answer never silently omits one.
 *
 * Pure: no I/O, no clock (the instant is an input), no dependence on the
 * number of holders (counts arrive pre-computed).
 */
import { RULE_CODES, type RuleCode } from './codes.js';
import { defaultComplianceConfig, type ComplianceConfig } from './config.js';
import { transferEffects } from './effects.js';
import { RULES } from './rules/index.js';
import type { RuleResult, TransferEvaluation, TransferInput } from './types.js';
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
  const results: RuleResult[] = [];
  const notApplicable: RuleCode[] = [];
  for (const rule of RULES) {
    if (!rule.appliesTo(input)) {
      notApplicable.push(rule.code);
      continue;
    }
    const { passed, message, currentValue, limit, blockingUntil } = rule.check(input, config, effects);
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
  return { allowed: results.every((r) => r.passed), results, notApplicable };
}
