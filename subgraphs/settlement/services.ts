import type { GroupCommit } from '../kit/db/group-commit.js';
import type { Db } from '../kit/db/types.js';
import { errorCode } from '../kit/errors.js';
import { isChainError } from '../kit/chain/errors.js';
import type { Logger } from '../kit/log.js';
import type { BaseContext_ } from '../kit/subgraph.js';
import type { OutboxWatcher } from '../kit/outbox.js';
import type { SettlementChain } from './chain.js';
import type { LeaseKeeper } from './leases.js';
import type { SettlementPeers } from './peers.js';
import type { SettlementLoaders } from './resolvers/loaders.js';
import type { SettlementConfig } from './settings.js';

/** What the settlement logic needs, built once per running subgraph (tests build their own). */
export interface SettlementServices {
  db: Db;
  /** Group commit of the worker's short transactions (status changes with their audit entries and events). */
  commit: GroupCommit;
  log: Logger;
  config: SettlementConfig;
  peers: SettlementPeers;
  chain: SettlementChain;
  outbox: OutboxWatcher;
  /** Keeps the leases of the settlements and batches this process is working on. */
  leases: LeaseKeeper;
  now(): Date;
  /** Counts a settled DvP transaction's gas in the metrics (absent: not counted). */
  recordGas?(mode: 'GROSS' | 'NETTED', gasUsed: bigint, effectiveGasPrice: bigint): void;
}

/** The context of one GraphQL request. */
export interface SettlementContext extends BaseContext_ { loaders: SettlementLoaders; services: SettlementServices }

export const SERVICE_ACTOR = 'settlement';

export const message = (e: unknown): string => (e instanceof Error ? e.message : String(e)).slice(0, 1000);

/**
 * A failure of the machinery (a peer or the chain node unreachable, a timeout):
 * nothing was decided, the same step is tried again later and no attempt is used up.
 */
export function isTransient(e: unknown): boolean {
  if (isChainError(e)) return e.code !== 'CHAIN_REVERTED' || e.retryable;
  const code = errorCode(e);
  return code === 'DOWNSTREAM.UNAVAILABLE' || code === 'DOWNSTREAM.FAILED' || code === 'CUSTODY.CHAIN_UNAVAILABLE' || code === 'CUSTODY.WALLET_NEEDS_GAS';
}
