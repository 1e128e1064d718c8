import { ConfigError, bool, int, optionalHexKey, type Setting } from '../kit/config.js';
import { MAX_BATCH } from '../kit/contracts/calls.js';
import { signerSettings, type SignerConfig } from '../kit/signer/index.js';
import type { WithdrawalPolicy } from './domain/policy.js';

/** A non-negative integer of any size (base units), as a decimal string in the environment. */
const baseUnits = (doc: string, def: bigint): Setting<bigint> => ({
  doc,
  default: def,
  parse(raw, name) {
    if (!/^\d{1,78}$/.test(raw)) throw new ConfigError(name, `must be a non-negative integer in base units, got "${raw}"`);
    return BigInt(raw);
  },
});

/**
 * Custody's settings. The withdrawal policy defaults apply to an account
 * until its organisation or the account itself has an approved policy.
 */
export const custodySettings = {
  CUSTODY_KEK: optionalHexKey('key-encryption key of software-sealed wallet keys, 32 bytes as 0x-hex (keep it in a secrets manager); required with SIGNER=software, with SIGNER=pkcs11 only while software-sealed wallets remain'),
  ...signerSettings,
  CUSTODY_DEFAULT_APPROVALS: int('withdrawal policy default: approvals (m) needed from CUSTODIANs other than the initiator', 2, 1, 50),
  CUSTODY_DEFAULT_DESTINATION_DELAY_SECONDS: int('withdrawal policy default: seconds before a new allow-list destination is usable', 86_400, 0),
  CUSTODY_DEFAULT_VELOCITY_WINDOW_SECONDS: int('withdrawal policy default: rolling window of the velocity limit, seconds', 86_400, 1),
  CUSTODY_DEFAULT_MAX_PER_WITHDRAWAL: baseUnits('withdrawal policy default: largest single withdrawal, base units of the asset', 1_000_000_000_000n),
  CUSTODY_DEFAULT_MAX_PER_WINDOW: baseUnits('withdrawal policy default: most withdrawn per window, base units of the asset', 5_000_000_000_000n),
  CUSTODY_BROADCAST_ENABLED: bool('run the withdrawal broadcaster (signs and sends approved withdrawals on CHAIN_RPC_URL)', false),
  CUSTODY_BROADCAST_INTERVAL_MS: int('how often the broadcaster looks for work when idle', 1_000, 10),
  CUSTODY_BROADCAST_MAX_ATTEMPTS: int('signed transfers tried per withdrawal before it FAILS and its reservation is released', 5, 1, 100),
  CUSTODY_BROADCAST_RETRY_MS: int('wait before a failed transfer is signed again or an unreachable node is retried', 5_000, 0),
  CUSTODY_BROADCAST_REBROADCAST_MS: int('re-send a signed transfer the node does not know after this long', 30_000, 0),
  CUSTODY_CONSENT_LIST_MAX: int('most DvP consent requests custody signs in one internal call (signDvpConsents); a longer list is refused whole (INPUT.LIST_TOO_LONG)', 200, 1, MAX_BATCH),
  CUSTODY_PAYMENT_BATCH_MAX: int('most distribution payments from one paying account and asset sent as one batchTransfer transaction (1: one transfer each); its gas limit is CUSTODY_TRANSFER_GAS_LIMIT per payment', 50, 1, 200),
  CUSTODY_SWEEP_LEASE_MS: int('how long one replica has a wallet sweep to itself while issuance recovers its security tokens (others skip it meanwhile)', 120_000, 1_000),
  CUSTODY_WITHDRAWAL_CONFIRMATIONS: int('blocks on top of a withdrawal transfer before it is COMPLETED', 1, 1, 1000),
  CUSTODY_TRANSFER_GAS_LIMIT: int('gas limit of a withdrawal transfer (fixed, so a failing transfer is mined and seen to revert)', 150_000, 21_000),
  CUSTODY_INDEXER_ENABLED: bool('run the chain indexer (onChain balances, deposits) and the reconciliation job on CHAIN_RPC_URL; nothing else may then credit what arrives on chain', false),
  CUSTODY_CONFIRMATIONS: int('blocks on top of a block before the indexer applies its transfers (deposits are credited only then)', 1, 0, 10_000),
  CUSTODY_INDEXER_POLL_MS: int('how often the chain indexer looks for new blocks', 1_000, 10),
  CUSTODY_INDEXER_BLOCK_RANGE: int('most blocks the indexer asks for in one eth_getLogs', 2_000, 1, 1_000_000),
  CUSTODY_INDEXER_FROM_BLOCK: int('an asset\'s cursor starts after this block (on a long chain: the block before the first asset was deployed)', 0, 0),
  CUSTODY_RECONCILIATION_INTERVAL_MS: int('time between runs of the reconciliation job', 60_000, 100),
  CUSTODY_RECONCILIATION_CONFIRM_RUNS: int('consecutive runs that must see a difference before it is a break (custody.reconciliation.break)', 2, 1, 1000),
  CUSTODY_RECONCILIATION_IN_FLIGHT_SECONDS: int('how long a settlement on chain and not booked yet (its DvP consent signed, its reservations open) counts as in flight rather than a break', 86_400, 1),
};

export interface CustodyConfig extends SignerConfig {
  CUSTODY_KEK?: string;
  CUSTODY_DEFAULT_APPROVALS: number;
  CUSTODY_DEFAULT_DESTINATION_DELAY_SECONDS: number;
  CUSTODY_DEFAULT_VELOCITY_WINDOW_SECONDS: number;
  CUSTODY_DEFAULT_MAX_PER_WITHDRAWAL: bigint;
  CUSTODY_DEFAULT_MAX_PER_WINDOW: bigint;
  CUSTODY_BROADCAST_ENABLED: boolean;
  CUSTODY_BROADCAST_INTERVAL_MS: number;
  CUSTODY_BROADCAST_MAX_ATTEMPTS: number;
  CUSTODY_BROADCAST_RETRY_MS: number;
  CUSTODY_BROADCAST_REBROADCAST_MS: number;
  CUSTODY_CONSENT_LIST_MAX: number;
  CUSTODY_PAYMENT_BATCH_MAX: number;
  CUSTODY_SWEEP_LEASE_MS: number;
  CUSTODY_WITHDRAWAL_CONFIRMATIONS: number;
  CUSTODY_TRANSFER_GAS_LIMIT: number;
  CUSTODY_INDEXER_ENABLED: boolean;
  CUSTODY_CONFIRMATIONS: number;
  CUSTODY_INDEXER_POLL_MS: number;
  CUSTODY_INDEXER_BLOCK_RANGE: number;
  CUSTODY_INDEXER_FROM_BLOCK: number;
  CUSTODY_RECONCILIATION_INTERVAL_MS: number;
  CUSTODY_RECONCILIATION_CONFIRM_RUNS: number;
  CUSTODY_RECONCILIATION_IN_FLIGHT_SECONDS: number;
}

export const defaultPolicyOf = (c: CustodyConfig): WithdrawalPolicy => ({
  approvalsRequired: c.CUSTODY_DEFAULT_APPROVALS,
  approvers: [],
  destinationDelaySeconds: c.CUSTODY_DEFAULT_DESTINATION_DELAY_SECONDS,
  velocityWindowSeconds: c.CUSTODY_DEFAULT_VELOCITY_WINDOW_SECONDS,
  maxPerWithdrawal: c.CUSTODY_DEFAULT_MAX_PER_WITHDRAWAL,
  maxPerWindow: c.CUSTODY_DEFAULT_MAX_PER_WINDOW,
  assetLimits: [],
});
