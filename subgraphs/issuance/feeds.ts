import { FeedConsumer, feedUrlOf } from '../kit/feed.js';
import type { SubgraphRuntime } from '../kit/subgraph.js';
import { applyPaymentResult, type PaymentResult, type PaymentSettings } from './distribution-payments.js';
import { walletFromCustody } from './investors.js';
import { occasionFromSettlement, type SettledOccasion } from './occasions.js';
import type { IssuanceServices } from './services.js';
import type { issuanceSettings } from './settings.js';

/**
 * The events of other subgraphs issuance reads, each exactly once: custody's account.opened (the
 * account's wallet becomes the investor's), settlement's settlement.status (a settled trade that
 * was not a sale: the buyer's lots tack the seller's period) and custody's
 * distribution.payment_result (each payment's outcome). Returns how to stop them.
 */
export function startFeeds(rt: SubgraphRuntime<typeof issuanceSettings>, s: IssuanceServices, payments: PaymentSettings): () => Promise<void> {
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
    handle: (q, e) => applyPaymentResult(q, payments, e.payload as unknown as PaymentResult, s.distributions.now()),
  });
  results.start();
  return async () => {
    await results.stop();
    await occasions.stop();
    await wallets.stop();
  };
}
