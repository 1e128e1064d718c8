import type { ComplianceConfig } from './domain/compliance/index.js';
import type { HoldingsIndexer } from './chain/indexer.js';
import type { ChainJobRunner } from './chain/jobs.js';
import type { IssuanceChain } from './chain/runtime.js';

/** What the issuance subgraph runs beside its resolvers, shared by every request. */
export interface IssuanceServices {
  config: ComplianceConfig;
  /** SETTLEMENT_OPERATOR_ORGS: who may ask about any investor's eligibility. */
  settlementOperatorOrgs: string[];
  chain: IssuanceChain;
  indexer: HoldingsIndexer;
  jobs: ChainJobRunner;
  /** Wakes the chain job runner (after a change queued chain work). */
  kick(): void;
  /** After our own chain write: index it and apply queued jobs before answering, so reads see it. */
  afterChainWrite(): Promise<void>;
}
