/** Every rule, in the order of RULE_CODES (a test holds the two together). */
import type { Rule } from '../rule.js';
import { countryPolicyRules, sanctionRules } from './countries.js';
import { policyHolderCapRules, regulatoryHolderCapRules } from './holder-caps.js';
import { holdingRules } from './holdings.js';
import { identityRules } from './identity.js';
import { investmentLimitRules } from './investment-limits.js';
import { issuerControlRules } from './issuer-controls.js';
import { issuerLockup } from './lockup.js';
import { regCfResaleRestriction } from './reg-cf-resale.js';
import { regDRules } from './reg-d.js';
import { regSDistributionCompliancePeriod } from './reg-s.js';
import { rule144HoldingPeriod } from './rule-144.js';
import { rule144AffiliateRules } from './rule-144-affiliates.js';

export const RULES: readonly Rule[] = [
  ...identityRules,
  ...sanctionRules,
  ...regDRules,
  rule144HoldingPeriod,
  ...rule144AffiliateRules,
  regCfResaleRestriction,
  ...investmentLimitRules,
  regSDistributionCompliancePeriod,
  ...regulatoryHolderCapRules,
  ...countryPolicyRules,
  ...holdingRules,
  ...policyHolderCapRules,
  issuerLockup,
  ...issuerControlRules,
];
