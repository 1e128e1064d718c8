import type { Queryable } from '../kit/db/types.js';
import { FeedConsumer, feedUrlOf } from '../kit/feed.js';
import type { SubgraphRuntime } from '../kit/subgraph.js';
import { payInstruction, type PaymentInstruction } from './distribution-payments.js';
import { registerAssetIn } from './ledger.js';

/**
 * The events of other subgraphs custody reads, both issuance's: the tokens it
 * deploys (each becomes an asset) and its distribution payment instructions
 * (distribution-payments.ts pays them). Returns how to stop both.
 */
export function startFeeds(rt: SubgraphRuntime, issuanceUrl: string, now: () => Date): () => Promise<void> {
  const tokens = followDeployedTokens(rt, issuanceUrl);
  tokens.start();
  const payments = followDistributionPayments(rt, issuanceUrl, now);
  payments.start();
  return async () => {
    await payments.stop();
    await tokens.stop();
  };
}

interface TokenDeployed { tokenId: string; token: string }

/**
 * Every security token issuance deploys becomes a custody asset with its
 * contract, exactly once (the cursor moves with the registration), so the
 * chain indexer follows it from its first mint without anyone registering it.
 */
function followDeployedTokens(rt: SubgraphRuntime, issuanceUrl: string): FeedConsumer {
  return new FeedConsumer({
    db: rt.db, source: 'issuance:token.deployed', feedUrl: feedUrlOf(issuanceUrl), token: rt.serviceToken,
    topics: ['token.deployed'], log: rt.log, waitMs: 20_000,
    handle: async (q: Queryable, e) => {
      const p = e.payload as unknown as TokenDeployed;
      try {
        await registerAssetIn(q, p.tokenId, p.token);
      } catch (err) {
        // Registered by hand at another address: keep the operator's choice, say so, and do not stall the feed.
        if ((err as { extensions?: { code?: string } }).extensions?.code !== 'CUSTODY.ASSET_CONFLICT') throw err;
        rt.log.error({ tokenId: p.tokenId, token: p.token }, 'deployed token is registered at another address; left as it is');
      }
    },
  });
}

/** The consumer of issuance's payment instructions (`distribution.payment`, one per batch). */
function followDistributionPayments(rt: SubgraphRuntime, issuanceUrl: string, now: () => Date): FeedConsumer {
  return new FeedConsumer({
    db: rt.db, source: 'issuance:distribution.payment', feedUrl: feedUrlOf(issuanceUrl), token: rt.serviceToken,
    topics: ['distribution.payment'], log: rt.log, waitMs: 20_000,
    handle: (q, e) => payInstruction(q, e.payload as unknown as PaymentInstruction, now()),
  });
}
