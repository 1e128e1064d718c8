import { int, json, list } from '../kit/config.js';
import { optionalKeyRef, signerSettings } from '../kit/signer/index.js';
import { defaultWithholding, withholdingConfigFrom } from './domain/withholding.js';
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
  VOTE_MAX_QUESTION_CHARS: int('longest question of a vote, in characters (past it: INPUT.QUESTION_TOO_LONG)', 2000, 1, 100_000),
  VOTE_MAX_OPTIONS: int('most options a vote may offer (past it: INPUT.TOO_MANY_OPTIONS)', 20, 2, 1000),
  VOTE_MAX_OPTION_CHARS: int('longest option of a vote, in characters (past it: INPUT.OPTION_TOO_LONG)', 200, 1, 10_000),
  VOTE_MAX_OPEN_DAYS: int('longest a vote may stay open, in days from its opening (past it: VOTE.OPEN_TOO_LONG)', 400, 1, 3660),
  VOTE_CLOSE_POLL_MS: int('how often issuance looks for votes whose closing time has come, to count and sign them', 1000, 20),
  SPLIT_MAX_FACTOR: int('largest numerator or denominator of a split or reverse split (past it: INPUT.RATIO_TOO_LARGE)', 1000, 2, 1_000_000),
  SPLIT_BATCH_SIZE: int('wallets per batchMint or batchBurn transaction when a split moves balances on chain', 100, 1, 1000),
  SPLIT_POLL_MS: int('how often issuance looks for splits whose effective date has come, and moves those in progress on', 1000, 20),
  REDEMPTION_BATCH_SIZE: int('wallets per batchBurn transaction when a redemption burns the holdings', 100, 1, 1000),
  REDEMPTION_POLL_MS: int('how often issuance looks for redemptions whose date has come, and moves those in progress on', 1000, 20),
  WITHHOLDING_CONFIG: json('withholding rates of distributions in basis points: a default table per kind and per-token overrides (JSON; see README, Corporate actions)', withholdingConfigFrom, defaultWithholding),
  DISTRIBUTION_POLL_MS: int('how often due distribution payments are looked for and instructed to custody', 1000, 20),
  DISTRIBUTION_BATCH_SIZE: int('entitlements per payment pass (one transaction; one custody instruction per distribution in it)', 100, 1, 10_000),
  DISTRIBUTION_RETRY_MS: int('how long after a failed payment it is instructed again', 30_000, 0),
  DISTRIBUTION_MAX_ATTEMPTS: int('payment instructions per entitlement before it stays FAILED (then only retryEntitlement instructs it again)', 5, 1, 1000),
  DISTRIBUTION_RECORD_DATE_POLL_MS: int('how often issuance looks for distributions whose record date the holdings indexer has passed, to fix their entitlements', 1000, 20),
  ...signerSettings,
};
