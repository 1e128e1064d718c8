import { FeedConsumer, feedUrlOf } from '../kit/feed.js';
import type { SubgraphRuntime } from '../kit/subgraph.js';
import { onSettlementStatus } from './backlog.js';
import { onIssuerEvent } from './oversight.js';
import type { tradingSettings } from './settings.js';

/**
 * The events of other subgraphs trading reads: issuance's token controls
 * (pauses, splits, redemptions: oversight.ts) and settlement's final statuses
 * of the venue's fills (what leaves the settlement backlog: backlog.ts).
 * Each of these events also drops the token's cached facts (`forgetToken`), so
 * that no order is judged on the state before it once the market shows the new one:
 * a split pauses and unpauses the token at issuance without a pause event of its own.
 * Returns how to stop both.
 */
export function startFeeds(rt: SubgraphRuntime<typeof tradingSettings>, forgetToken: (tokenId: string) => void): () => Promise<void> {
  const issuerFeed = new FeedConsumer({
    db: rt.db, source: 'issuance:token-controls', feedUrl: feedUrlOf(rt.config.ISSUANCE_URL),
    token: rt.serviceToken, topics: ['token.paused', 'token.unpaused', 'split.status', 'redemption.status'], log: rt.log, waitMs: 10_000,
    handle: async (q, e) => {
      await onIssuerEvent(q, e);
      forgetToken(String((e.payload as { tokenId?: unknown }).tokenId ?? ''));
    },
  });
  issuerFeed.start();
  const settlementFeed = new FeedConsumer({
    db: rt.db, source: 'settlement:settlement.status', feedUrl: feedUrlOf(rt.config.SETTLEMENT_URL),
    token: rt.serviceToken, topics: ['settlement.status'], handle: onSettlementStatus, log: rt.log, waitMs: 10_000, batch: 500,
  });
  settlementFeed.start();
  return async () => {
    await issuerFeed.stop();
    await settlementFeed.stop();
  };
}
