import { ConfigError, bool, int, list, oneOf, str, type Setting } from '../kit/config.js';
import { MAX_BATCH } from '../kit/contracts/calls.js';
import { optionalKeyRef, signerSettings } from '../kit/signer/index.js';

const address = (doc: string): Setting<string | undefined> => ({
  doc,
  default: undefined,
  parse(raw, name) {
    if (!/^0x[0-9a-fA-F]{40}$/.test(raw)) throw new ConfigError(name, 'must be an address (0x and 40 hex digits)');
    return raw;
  },
});

const wei = (doc: string, def: bigint): Setting<bigint> => ({
  doc,
  default: def,
  parse(raw, name) {
    if (!/^\d{1,78}$/.test(raw)) throw new ConfigError(name, `must be a non-negative integer in wei, got "${raw}"`);
    return BigInt(raw);
  },
});

/** Settlement's settings (README, "Configuration"). */
export const settlementSettings = {
  SETTLEMENT_OPERATOR_KEY: optionalKeyRef('chain key that submits DvP transactions, deploys the DvP contract when none is configured and tops up custody wallets\' gas; without it settlements stop at VERIFIED'),
  SETTLEMENT_ATTESTATION_KEY: optionalKeyRef('the settlement agent\'s key that signs EIP-712 attestations of settled trades; without it attestations are left out'),
  SETTLEMENT_DVP_ADDRESS: address('TokenstackDvP contract to use (the operator key must be one of its operators); absent: deployed on first use and remembered'),
  SETTLEMENT_MODE: oneOf('GROSS settles each trade on its own as soon as it is verified (the trades ready at the same time share one transaction, each settling or failing alone); NETTED settles verified trades of a token together each cycle, cash netted per party', ['GROSS', 'NETTED'] as const, 'GROSS'),
  SETTLEMENT_GROSS_BATCH_MAX: int('gross mode: most trades sent in one DvP transaction (settleMany; each trade settles or fails on its own); trades ready while one is being sent leave together in the next', 32, 1, 64),
  SETTLEMENT_GROSS_GATHER_MS: int('gross mode: how long a DvP transaction with room left waits for more ready trades before it is sent (0: sent at once); a full one (SETTLEMENT_GROSS_BATCH_MAX) leaves without waiting', 5, 0, 1_000),
  SETTLEMENT_GROSS_IN_FLIGHT: int('gross mode: DvP transactions being estimated and sent at once from the operator key (signed with consecutive nonces); trades ready meanwhile gather for the next', 1, 1, 16),
  SETTLEMENT_GROSS_GAS_PER_TRADE: int('gross mode: gas one trade may use inside a shared DvP transaction; a trade that needs more fails (CHAIN_ERROR) and is retried', 1_500_000, 100_000, 15_000_000),
  SETTLEMENT_NETTING_INTERVAL_MS: int('netted mode: time between settlement cycles', 5_000, 50),
  SETTLEMENT_NETTING_MAX_TRADES: int('netted mode: most trades in one batch transaction', 100, 1, 120),
  SETTLEMENT_POLL_MS: int('how often the settlement worker looks for due work when idle', 1_000, 10),
  SETTLEMENT_CONCURRENCY: int('settlements one process works on at once; the peer calls and status changes of concurrent ones travel and commit together, so more means larger batches', 64, 1, 1_000),
  SETTLEMENT_GROUP_COMMIT_MAX: int('most status changes committed together in one database transaction (each in its own savepoint)', 64, 1, 1_000),
  SETTLEMENT_MAX_ATTEMPTS: int('attempts (verification and settlement) before a FAILED settlement is final and its reservations released', 5, 1, 100),
  SETTLEMENT_RETRY_MS: int('first pause before a FAILED settlement is tried again; doubles each attempt', 2_000, 0),
  SETTLEMENT_RETRY_MAX_MS: int('longest pause between attempts', 300_000, 0),
  SETTLEMENT_BOOKING_MAX_ATTEMPTS: int('attempts at finishing a trade the chain has settled (custody\'s booking while custody is unavailable, the attestation, the final commit; paused as SETTLEMENT_RETRY_MS, doubling to SETTLEMENT_RETRY_MAX_MS); after the last, or at once when custody refuses the booking, it stops: the trade stays SETTLING with bookingStopped set until an operator has it tried again (retrySettlementBooking)', 20, 1, 1_000),
  SETTLEMENT_LEASE_MS: int('a worker\'s claim on a settlement or DvP batch, renewed every third of it while the work runs (a batch waiting on its receipt included); a process that dies or pauses longer leaves its work to another after this long, and its later writes are refused', 15_000, 1_000),
  SETTLEMENT_CONSENT_TTL_SECONDS: int('life of the custody wallets\' consents to one DvP transaction (reservations are released only after it)', 600, 30, 86_400),
  SETTLEMENT_CHAIN_TIMEOUT_MS: int('how long a DvP transaction is waited for before the worker comes back to it', 60_000, 1_000),
  SETTLEMENT_GAS_MIN_WEI: wei('a custody wallet with less native currency than this is topped up before it signs an approval', 10_000_000_000_000_000n),
  SETTLEMENT_GAS_TOPUP_WEI: wei('native currency the operator key sends a custody wallet that needs gas', 50_000_000_000_000_000n),
  SETTLEMENT_CASH_DECIMALS: int('decimals of the cash token: an external trade\'s cash amount is price x quantity in its base units', 6, 0, 36),
  SETTLEMENT_CONSENT_LIST_MAX: int('most DvP consents asked of custody in one call (the payers of the batches prepared at once travel together); above custody\'s CUSTODY_CONSENT_LIST_MAX, a list custody refuses for its length goes again in lists of custody\'s size', 200, 1, MAX_BATCH),
  SETTLEMENT_PEER_CACHE_MS: int('how long facts that do not change (an account\'s owner and wallet, a token\'s contracts, an asset\'s contract) are cached; eligibility and reservations never are', 5_000, 0),
  SETTLEMENT_TRADING_VENUE: str('venue name of trading\'s own fills (external trades may not use it)', 'TOKENSTACK-ATS'),
  SETTLEMENT_CONSUME_TRADES: bool('turn every trade.executed of trading into a settlement', true),
  SETTLEMENT_WORKER_ENABLED: bool('run the settlement worker in this process', true),
  ...signerSettings,
  SETTLEMENT_OPERATOR_ORGS: list('organisations whose SETTLEMENT_AGENT, AUDITOR and COMPLIANCE_OFFICER users see every settlement (comma-separated)'),
};

export interface SettlementConfig {
  SETTLEMENT_OPERATOR_KEY?: string;
  SETTLEMENT_ATTESTATION_KEY?: string;
  SETTLEMENT_DVP_ADDRESS?: string;
  SETTLEMENT_MODE: 'GROSS' | 'NETTED';
  SETTLEMENT_GROSS_BATCH_MAX: number;
  SETTLEMENT_GROSS_GATHER_MS: number;
  SETTLEMENT_GROSS_IN_FLIGHT: number;
  SETTLEMENT_GROSS_GAS_PER_TRADE: number;
  SETTLEMENT_NETTING_INTERVAL_MS: number;
  SETTLEMENT_NETTING_MAX_TRADES: number;
  SETTLEMENT_POLL_MS: number;
  SETTLEMENT_CONCURRENCY: number;
  SETTLEMENT_GROUP_COMMIT_MAX: number;
  SETTLEMENT_MAX_ATTEMPTS: number;
  SETTLEMENT_RETRY_MS: number;
  SETTLEMENT_RETRY_MAX_MS: number;
  SETTLEMENT_BOOKING_MAX_ATTEMPTS: number;
  SETTLEMENT_LEASE_MS: number;
  SETTLEMENT_CONSENT_TTL_SECONDS: number;
  SETTLEMENT_CHAIN_TIMEOUT_MS: number;
  SETTLEMENT_GAS_MIN_WEI: bigint;
  SETTLEMENT_GAS_TOPUP_WEI: bigint;
  SETTLEMENT_CASH_DECIMALS: number;
  SETTLEMENT_CONSENT_LIST_MAX: number;
  SETTLEMENT_PEER_CACHE_MS: number;
  SETTLEMENT_TRADING_VENUE: string;
  SETTLEMENT_CONSUME_TRADES: boolean;
  SETTLEMENT_WORKER_ENABLED: boolean;
  SETTLEMENT_OPERATOR_ORGS: string[];
  CHAIN_RPC_URL: string;
  TRADING_URL: string;
}
