/**
 * Stable rule codes, in the order the engine reports them: identity first,
 * then the exemption's own rules, the regulatory holder caps, the issuer's
 * policy, and the issuer's controls. Codes never change meaning; a new rule
 * gets a new code. Each names the condition that must hold to pass.
 */
export const RULE_CODES = [
  'KYC_VALID_RECEIVER',
  'KYC_VALID_SENDER',
  'AML_CLEAR_RECEIVER',
  'AML_CLEAR_SENDER',
  'COUNTRY_NOT_SANCTIONED_RECEIVER',
  'COUNTRY_NOT_SANCTIONED_SENDER',
  'REG_D_506C_ACCREDITED_ONLY',
  'REG_D_506B_NON_ACCREDITED_PURCHASERS',
  'RULE_144_HOLDING_PERIOD',
  'REG_CF_RESALE_RESTRICTION',
  'REG_CF_INVESTMENT_LIMIT',
  'REG_A_TIER2_INVESTMENT_LIMIT',
  'REG_S_DISTRIBUTION_COMPLIANCE_PERIOD',
  'HOLDER_CAP_12G_TOTAL',
  'HOLDER_CAP_12G_NON_ACCREDITED',
  'HOLDER_CAP_3C1',
  'COUNTRY_NOT_BLOCKED_RECEIVER',
  'COUNTRY_NOT_BLOCKED_SENDER',
  'COUNTRY_ALLOWED_RECEIVER',
  'MAX_BALANCE_RECEIVER',
  'MAX_SUPPLY_SHARE_RECEIVER',
  'MIN_HOLDING_SENDER',
  'MIN_HOLDING_RECEIVER',
  'POLICY_MAX_HOLDERS',
  'POLICY_MAX_US_HOLDERS',
  'TOKEN_NOT_PAUSED',
  'WALLET_NOT_FROZEN_SENDER',
  'WALLET_NOT_FROZEN_RECEIVER',
  'FREE_BALANCE_SENDER',
  'RECEIVER_NOT_LIQUIDATE_ONLY',
] as const;

export type RuleCode = (typeof RULE_CODES)[number];
