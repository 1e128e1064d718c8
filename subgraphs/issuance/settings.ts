import { int, json, list } from '../kit/config.js';
import { optionalKeyRef, signerSettings } from '../kit/signer/index.js';
import { complianceConfigFrom, defaultComplianceConfig, type ComplianceConfig, type ComplianceConfigOverrides } from './domain/compliance/index.js';

/** Money and unit figures arrive as decimal strings in JSON (never numbers): keys ending in "Cents" or "Units" become bigint. */
function complianceFromJson(v: unknown): ComplianceConfig {
  const withBigints = JSON.parse(JSON.stringify(v), (k, x) => ((k.endsWith('Cents') || k.endsWith('Units')) && typeof x === 'string' && /^\d+$/.test(x) ? `__big:${x}` : x));
  const revive = (x: unknown): unknown =>
    typeof x === 'string' && x.startsWith('__big:') ? BigInt(x.slice(6))
      : Array.isArray(x) ? x.map(revive)
        : x && typeof x === 'object' ? Object.fromEntries(Object.entries(x).map(([k, y]) => [k, revive(y)])) : x;
  return complianceConfigFrom(revive(withBigints) as ComplianceConfigOverrides);
}

export const issuanceSettings = {
  ISSUANCE_AGENT_KEY: optionalKeyRef('chain key of the issuance agent (deploys suites, registers identities, mints); without it chain operations refuse'),
  CLAIM_SIGNER_KEY: optionalKeyRef('chain key that signs KYC, accreditation and country claims'),
  CHAIN_CONFIRMATIONS: int('blocks behind the head the holdings indexer treats as final', 0, 0, 1000),
  CHAIN_POLL_MS: int('how often the holdings indexer and the chain job runner look for work', 1000, 20),
  SETTLEMENT_OPERATOR_ORGS: list('the settlement operator\'s organisations (comma-separated, as settlement\'s setting): their SETTLEMENT_AGENT, AUDITOR and COMPLIANCE_OFFICER users may ask transferEligibility about any investor'),
  COMPLIANCE_CONFIG: json('overrides of the compliance periods and limits (JSON; see README)', complianceFromJson, defaultComplianceConfig),
  ...signerSettings,
};
