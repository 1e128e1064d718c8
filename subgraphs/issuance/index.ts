import { settingSigner } from '../kit/signer/index.js';
import type { SubgraphDefinition, SubgraphRuntime } from '../kit/subgraph.js';
import { startLoop } from '../kit/loop.js';
import { HoldingsIndexer } from './chain/indexer.js';
import { ChainJobRunner } from './chain/jobs.js';
import { IssuanceChain } from './chain/runtime.js';
import { PaymentRunner, type PaymentSettings } from './distribution-payments.js';
import type { DistributionEnv } from './distributions.js';
import { startFeeds } from './feeds.js';
import { internalCalls } from './internal.js';
import { httpPeers } from './peers.js';
import { fixDueRecordDates } from './record-dates.js';
import { runDueRedemptions } from './redemption-steps.js';
import { resolvers } from './resolvers/index.js';
import { distributionResolvers, mergeResolvers } from './resolvers/distributions.js';
import { createLoaders } from './resolvers/loaders.js';
import { redemptionResolvers } from './resolvers/redemptions.js';
import type { IssuanceContext, IssuanceServices } from './services.js';
import { issuanceSettings } from './settings.js';
import { runDueSplits } from './splits.js';
import { closeDueVotes } from './votes.js';

type IssuanceRuntime = SubgraphRuntime<typeof issuanceSettings>;

// One set of services per running subgraph (tests run several in one process).
const servicesOf = new WeakMap<SubgraphRuntime, IssuanceServices>();

/** The services of a running issuance subgraph (tests move its clock). */
export const issuanceServices = (rt: SubgraphRuntime): IssuanceServices | undefined => servicesOf.get(rt);

function createServices(rt: IssuanceRuntime): IssuanceServices {
  const c = rt.config;
  const config = c.COMPLIANCE_CONFIG;
  const chain = new IssuanceChain(rt.db, c.CHAIN_RPC_URL, settingSigner(c, 'ISSUANCE_AGENT_KEY'), settingSigner(c, 'CLAIM_SIGNER_KEY'), rt.log);
  const pollMs = c.CHAIN_POLL_MS;
  const indexer = new HoldingsIndexer(rt.db, chain, config, { confirmations: c.CHAIN_CONFIRMATIONS, pollMs }, rt.log);
  const jobs = new ChainJobRunner(rt.db, chain, config, pollMs, rt.log);
  // The clock is read through the services object, so a test can move it.
  const now = () => servicesOf.get(rt)?.now() ?? new Date();
  const votes = {
    db: rt.db, now, signer: chain.claimSigner,
    limits: { maxQuestionChars: c.VOTE_MAX_QUESTION_CHARS, maxOptions: c.VOTE_MAX_OPTIONS, maxOptionChars: c.VOTE_MAX_OPTION_CHARS, maxOpenDays: c.VOTE_MAX_OPEN_DAYS },
    // A record date just past may have transfers the indexer has not applied yet: apply them first (without a chain there is nothing to apply).
    syncHoldings: () => (chain.configured ? indexer.syncOnce() : Promise.resolve()),
  };
  const peers = httpPeers(rt);
  const payments = new PaymentRunner(rt.db, paymentSettings(rt), now, rt.log);
  const distributions: DistributionEnv = {
    withholding: c.WITHHOLDING_CONFIG, now, sanctionedCountries: c.COMPLIANCE_CONFIG.sanctionedCountries,
    syncHoldings: votes.syncHoldings,
    custodyAccount: (accountId) => peers.custodyAccount(accountId),
    kickPayments: () => void payments.kick(),
  };
  const splits = {
    db: rt.db, chain, now, syncHoldings: () => indexer.syncOnce(), log: rt.log,
    maxFactor: BigInt(c.SPLIT_MAX_FACTOR), batchSize: c.SPLIT_BATCH_SIZE, cash: distributions,
  };
  const redemptions = {
    db: rt.db, chain, now, syncHoldings: () => indexer.syncOnce(), log: rt.log, withholding: c.WITHHOLDING_CONFIG,
    sanctionedCountries: config.sanctionedCountries, batchSize: c.REDEMPTION_BATCH_SIZE, kickPayments: () => void payments.kick(),
  };
  return {
    config, chain, indexer, jobs, votes, splits, redemptions, outbox: rt.outbox, now: () => new Date(), settlementOperatorOrgs: c.SETTLEMENT_OPERATOR_ORGS,
    payments, distributions,
    kick: () => void jobs.runDue().catch((e) => rt.log.warn({ err: (e as Error).message }, 'chain jobs not run yet; the next pass retries')),
    async afterChainWrite() {
      await indexer.syncOnce();
      await jobs.runDue();
    },
  };
}

const paymentSettings = (rt: IssuanceRuntime): PaymentSettings => ({
  batchSize: rt.config.DISTRIBUTION_BATCH_SIZE, retryMs: rt.config.DISTRIBUTION_RETRY_MS,
  maxAttempts: rt.config.DISTRIBUTION_MAX_ATTEMPTS, pollMs: rt.config.DISTRIBUTION_POLL_MS,
  sanctionedCountries: rt.config.COMPLIANCE_CONFIG.sanctionedCountries,
});

export const issuance: SubgraphDefinition<IssuanceContext, typeof issuanceSettings> = {
  name: 'issuance',
  defaultPort: 4001,
  settings: issuanceSettings,
  resolvers: mergeResolvers(resolvers, distributionResolvers, redemptionResolvers) as typeof resolvers,
  context: (base, rt) => ({ ...base, loaders: createLoaders(base.db), services: servicesOf.get(rt)! }),
  async start(rt) {
    const s = createServices(rt);
    servicesOf.set(rt, s);
    s.indexer.start();
    s.jobs.start();
    const stopSplits = startLoop(() => (s.chain.configured ? runDueSplits(s.splits) : Promise.resolve()), rt.config.SPLIT_POLL_MS,
      { immediate: false, onError: (e) => rt.log.warn({ err: (e as Error).message }, 'splits will retry') });
    // Distributions announced before their record date: entitlements fixed once the indexer has passed it.
    const stopRecordDates = startLoop(async () => { await fixDueRecordDates(rt.db, s.distributions.withholding, s.distributions.now, s.distributions.kickPayments); },
      rt.config.DISTRIBUTION_RECORD_DATE_POLL_MS, { immediate: false, onError: (e) => rt.log.warn({ err: (e as Error).message }, 'fixing record dates failed; the next pass retries') });
    const stopRedemptions = startLoop(() => (s.chain.configured ? runDueRedemptions(s.redemptions) : Promise.resolve()), rt.config.REDEMPTION_POLL_MS,
      { immediate: false, onError: (e) => rt.log.warn({ err: (e as Error).message }, 'redemptions will retry') });
    const stopVotes = startLoop(async () => { await closeDueVotes(s.votes); }, rt.config.VOTE_CLOSE_POLL_MS,
      { immediate: false, onError: (e) => rt.log.warn({ err: (e as Error).message }, 'closing due votes failed; the next pass retries') });
    const stopFeeds = startFeeds(rt, s, paymentSettings(rt));
    s.payments.start();
    return async () => {
      await stopRecordDates();
      await stopVotes();
      await stopSplits();
      await stopRedemptions();
      await s.payments.stop();
      await stopFeeds();
      await s.jobs.stop();
      await s.indexer.stop();
      await s.chain.close();
    };
  },
  async dependencies(rt): Promise<Record<string, string>> {
    const s = servicesOf.get(rt);
    return s?.indexer.lastError ? { 'chain indexer': s.indexer.lastError } : {};
  },
  internal: (rt) => internalCalls(rt, () => servicesOf.get(rt)!),
};
