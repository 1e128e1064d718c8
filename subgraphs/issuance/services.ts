import type { ComplianceConfig } from './domain/compliance/index.js';
import type { DistributionEnv } from './distributions.js';
import type { PaymentRunner } from './distribution-payments.js';
import type { HoldingsIndexer } from './chain/indexer.js';
import type { ChainJobRunner } from './chain/jobs.js';
import type { IssuanceChain } from './chain/runtime.js';
import type { OutboxWatcher } from '../kit/outbox.js';
import type { BaseContext_ } from '../kit/subgraph.js';
import type { IssuanceLoaders } from './resolvers/loaders.js';
import type { VoteEnv } from './votes.js';
import type { SplitEnv } from './splits.js';
import type { RedemptionEnv } from './redemption-steps.js';

/** What the issuance subgraph runs beside its resolvers, shared by every request. */
export interface IssuanceServices {
  config: ComplianceConfig;
  /** SETTLEMENT_OPERATOR_ORGS: who may ask about any investor's eligibility. */
  settlementOperatorOrgs: string[];
  chain: IssuanceChain;
  indexer: HoldingsIndexer;
  jobs: ChainJobRunner;
  /** Votes: the database, limits, the service clock and the result signer. */
  votes: VoteEnv;
  /** Splits: the chain, the clock, limits. */
  splits: SplitEnv;
  /** Redemptions at their date: the chain, the clock, withholding, batch size. */
  redemptions: RedemptionEnv;
  outbox: OutboxWatcher;
  /** The service clock: votes open and close by it (tests move it). */
  now(): Date;
  /** Wakes the chain job runner (after a change queued chain work). */
  kick(): void;
  /** After our own chain write: index it and apply queued jobs before answering, so reads see it. */
  afterChainWrite(): Promise<void>;
  /** Withholding rates, the clock and custody's account records, for distributions. */
  distributions: DistributionEnv;
  /** Instructs custody to pay the entitlements due. */
  payments: PaymentRunner;
}

/** What every issuance resolver gets (the resolver files import it from here, not from each other). */
export interface IssuanceContext extends BaseContext_ { loaders: IssuanceLoaders; services: IssuanceServices }
