import { parseAddress, parseBigInt, parseDateTime } from '../kit/scalars.js';
import { badInput } from '../kit/errors.js';
import { settingSigner } from '../kit/signer/index.js';
import type { SubgraphDefinition, SubgraphRuntime } from '../kit/subgraph.js';
import type { TransferOccasion } from './domain/compliance/index.js';
import { occasionFromSettlement, type SettledOccasion } from './occasions.js';
import { HoldingsIndexer } from './chain/indexer.js';
import { ChainJobRunner } from './chain/jobs.js';
import { IssuanceChain } from './chain/runtime.js';
import { eligibilityMany, kindOf, priceCentsOf, transferEligibility, withdrawalEligibility } from './eligibility.js';
import { serveCalls } from '../kit/contracts/calls.js';
import { recoverSweptWallet } from './swept-wallet.js';
import { addInvestorWallet, walletFromCustody } from './investors.js';
import { FeedConsumer, feedUrlOf } from '../kit/feed.js';
import { createLoaders } from './resolvers/loaders.js';
import { resolvers } from './resolvers/index.js';
import { distributionResolvers, mergeResolvers } from './resolvers/distributions.js';
import { redemptionResolvers } from './resolvers/redemptions.js';
import { runDueRedemptions } from './redemption-steps.js';
import type { DistributionEnv, PayingAccount } from './distributions.js';
import { applyPaymentResult, PaymentRunner, type PaymentResult, type PaymentSettings } from './distribution-payments.js';
import type { IssuanceContext, IssuanceServices } from './services.js';
import { issuanceSettings } from './settings.js';
import { startLoop } from '../kit/loop.js';
import { fixDueRecordDates } from './record-dates.js';
import { closeDueVotes } from './votes.js';
import { runDueSplits } from './splits.js';

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
  const payments = new PaymentRunner(rt.db, paymentSettings(rt), now, rt.log);
  const distributions: DistributionEnv = {
    withholding: c.WITHHOLDING_CONFIG, now, sanctionedCountries: c.COMPLIANCE_CONFIG.sanctionedCountries,
    syncHoldings: votes.syncHoldings,
    custodyAccount: (accountId) => rt.peer('custody').call<PayingAccount | null>('account', { accountId }),
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

const str = (v: unknown, name: string): string => {
  if (typeof v !== 'string' || !v) throw badInput('INVALID_ARGUMENT', `${name} is required`);
  return v;
};

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
    // Custody opens accounts with their own wallets: each becomes the investor's wallet here, exactly once.
    const wallets = new FeedConsumer({
      db: rt.db, source: 'custody:account.opened', feedUrl: feedUrlOf(rt.config.CUSTODY_URL), token: rt.serviceToken,
      topics: ['account.opened'], log: rt.log, waitMs: 20_000,
      handle: (q, e) => walletFromCustody(q, e.payload as { investorId: string; walletAddress: string; accountId: string; org?: string }),
    });
    wallets.start();
    // A settled external trade that was not a sale (a gift, an estate...): the buyer's lots tack the seller's period, exactly once.
    const occasions = new FeedConsumer({
      db: rt.db, source: 'settlement:settlement.status', feedUrl: feedUrlOf(rt.config.SETTLEMENT_URL), token: rt.serviceToken,
      topics: ['settlement.status'], log: rt.log, waitMs: 20_000,
      handle: (q, e) => occasionFromSettlement(q, s.config, e.payload as unknown as SettledOccasion),
    });
    occasions.start();
    // Custody's outcome of each distribution payment, recorded exactly once; then the runner pays what is due.
    const results = new FeedConsumer({
      db: rt.db, source: 'custody:distribution.payment_result', feedUrl: feedUrlOf(rt.config.CUSTODY_URL), token: rt.serviceToken,
      topics: ['distribution.payment_result'], log: rt.log, waitMs: 20_000,
      handle: (q, e) => applyPaymentResult(q, paymentSettings(rt), e.payload as unknown as PaymentResult, s.distributions.now()),
    });
    results.start();
    s.payments.start();
    return async () => {
      await stopRecordDates();
      await stopVotes();
      await stopSplits();
      await stopRedemptions();
      await s.payments.stop();
      await results.stop();
      await occasions.stop();
      await wallets.stop();
      await s.jobs.stop();
      await s.indexer.stop();
      await s.chain.close();
    };
  },
  async dependencies(rt): Promise<Record<string, string>> {
    const s = servicesOf.get(rt);
    return s?.indexer.lastError ? { 'chain indexer': s.indexer.lastError } : {};
  },
  // Decisions other subgraphs need from the owner of the rules, at decision time.
  internal: (rt) => ({
    ...serveCalls('issuance', {
      transferEligibilityMany: async ({ questions }) => ({ answers: await eligibilityMany(rt.db, servicesOf.get(rt)!.config, questions) }),
      async recoverSweptWallet(request, caller) {
        const s = servicesOf.get(rt)!;
        const r = await recoverSweptWallet(rt.db, s.chain, caller, request);
        if (r.moved.length) await s.afterChainWrite();
        else s.kick();
        return r;
      },
    }),
    async transferEligibility(body) {
      const s = servicesOf.get(rt)!;
      if (body.kind === 'WITHDRAWAL') {
        return withdrawalEligibility(rt.db, s.config, {
          tokenId: str(body.tokenId, 'tokenId'), fromInvestorId: str(body.fromInvestorId, 'fromInvestorId'),
          toAddress: parseAddress(str(body.toAddress, 'toAddress')), amount: parseBigInt(str(body.amount, 'amount')), at: new Date(),
        });
      }
      return transferEligibility(rt.db, s.config, {
        tokenId: str(body.tokenId, 'tokenId'),
        // Either party may be absent for a secondary trade (a one-sided question at order entry).
        fromInvestorId: body.fromInvestorId == null ? null : str(body.fromInvestorId, 'fromInvestorId'),
        toInvestorId: body.toInvestorId == null ? null : str(body.toInvestorId, 'toInvestorId'),
        amount: parseBigInt(str(body.amount, 'amount')),
        at: body.at ? parseDateTime(String(body.at)) : new Date(),
        kind: kindOf(body.fromInvestorId as string | null, body.kind as string | null),
        priceCents: priceCentsOf(body.price == null ? null : String(body.price), body.currency == null ? null : String(body.currency)),
        occasion: body.occasion == null ? undefined : (String(body.occasion) as TransferOccasion),
      });
    },
    async registerWallet(body, caller) {
      const s = servicesOf.get(rt)!;
      const r = await addInvestorWallet(rt.db, caller, { investorId: str(body.investorId, 'investorId'), address: parseAddress(str(body.address, 'address')), reason: String(body.reason ?? 'custody wallet opened') });
      s.kick();
      return { investorId: r.id };
    },
    async investor(body) {
      const [i] = await rt.db.query<{ id: string; org: string; jurisdiction: string; us_person: boolean }>('SELECT id, org, jurisdiction, us_person FROM investors WHERE id = $1', [str(body.investorId, 'investorId')]);
      return i ?? null;
    },
    async token(body) {
      const [t] = await rt.db.query<{ id: string; symbol: string; decimals: number; exemption: string; paused: boolean; chain: unknown }>(
        'SELECT id, symbol, decimals, exemption, paused, chain FROM security_tokens WHERE id = $1', [str(body.tokenId, 'tokenId')],
      );
      return t ?? null;
    },
  }),
};
