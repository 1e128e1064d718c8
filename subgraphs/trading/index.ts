import { Coalescer } from '../kit/coalesce.js';
import type { SubgraphDefinition, SubgraphRuntime } from '../kit/subgraph.js';
import { advisoryLocks, singleProcessLocks } from './store/locks.js';
import { startFeeds } from './feeds.js';
import { createLoaders } from './resolvers/loaders.js';
import { httpPeers, type Peers } from './peers.js';
import { orderIntake } from './orders.js';
import { Releaser } from './releases.js';
import { resolvers } from './resolvers/index.js';
import { venueRulesOf } from './rules.js';
import type { TradingContext, TradingServices } from './services.js';
import { tradingSettings } from './settings.js';
import { SurveillanceMonitor } from './surveillance.js';
import { startSweeper } from './sweep.js';
import { Venue } from './venue.js';
import { tradingMetrics } from './store/metrics.js';
import { tokensWithOpenOrders } from './store/orders.js';
import { entryFactsMany, type EntryFacts, type EntryKey } from './store/venue.js';

// One set of services per running subgraph (tests run several in one process).
const servicesOf = new WeakMap<SubgraphRuntime, TradingServices>();

/** The services of a running trading subgraph (tests reach the venue and its writers through it). */
export const tradingServices = (rt: SubgraphRuntime): TradingServices | undefined => servicesOf.get(rt);

/** Wraps how a running trading subgraph reaches issuance and custody (tests: a peer that is not ready yet, failures). */
export function wrapPeers(rt: SubgraphRuntime, wrap: (p: Peers) => Peers): void {
  const s = servicesOf.get(rt);
  if (!s) throw new Error('trading is not started');
  s.peers = wrap(s.peers);
}

function createServices(rt: SubgraphRuntime<typeof tradingSettings>): TradingServices {
  const config = rt.config;
  const rules = venueRulesOf(config);
  // The clock is read through the services object, so a test can move it.
  const now = () => servicesOf.get(rt)?.now() ?? new Date();
  const peers = httpPeers(rt.peer('issuance'), rt.peer('custody'), config.TRADING_PEER_CACHE_MS,
    { maxBatch: config.TRADING_PEER_BATCH_MAX, maxInFlight: config.TRADING_PEER_BATCH_IN_FLIGHT });
  const releaser = new Releaser(rt.db, () => servicesOf.get(rt)?.peers ?? peers, rt.log);
  const venue = new Venue({
    db: rt.db, rules, now, log: rt.log, batchMax: config.TRADING_BATCH_MAX, pollMs: config.TRADING_BOOK_POLL_MS,
    openLocks: () => (rt.db.kind === 'postgres' ? advisoryLocks(config.DATABASE_URL) : Promise.resolve(singleProcessLocks())),
    afterCommit: (fx) => { if (fx.releases.length) void releaser.kick(); },
  });
  const batching = { maxBatch: config.TRADING_BATCH_MAX, maxInFlight: config.TRADING_PEER_BATCH_IN_FLIGHT };
  const intake = orderIntake(rt.db, batching, config.TRADING_MAX_UNSETTLED);
  const entry = new Coalescer<EntryKey, EntryFacts>((keys) => entryFactsMany(rt.db, keys), batching);
  return { db: rt.db, log: rt.log, config, rules, peers, intake, entry, venue, releaser, outbox: rt.outbox, now: () => new Date() };
}

export const trading: SubgraphDefinition<TradingContext, typeof tradingSettings> = {
  name: 'trading',
  defaultPort: 4002,
  metrics: tradingMetrics,
  settings: tradingSettings,
  resolvers,
  context: (base, rt) => ({ ...base, loaders: createLoaders(base.db), services: servicesOf.get(rt)! }),
  async start(rt) {
    const s = createServices(rt);
    servicesOf.set(rt, s);
    await s.venue.start();
    // Books with resting orders are rebuilt from the database now (in the background), not at their first command.
    void tokensWithOpenOrders(rt.db)
      .then((rows) => Promise.all(rows.map((r) => s.venue.writerFor(r.token_id))))
      .catch((e) => rt.log.warn({ err: (e as Error).message }, 'books not preloaded; each loads at its first command'));
    const stopFeeds = startFeeds(rt, (tokenId) => servicesOf.get(rt)?.peers.forgetToken(tokenId));
    const surveillance = new SurveillanceMonitor(rt.db, rt.outbox, { layeringOrders: s.config.TRADING_LAYERING_ORDERS, layeringWindowMs: s.config.TRADING_LAYERING_WINDOW_MS }, rt.log);
    surveillance.start();
    const stopSweeper = startSweeper(s, s.config.TRADING_BOOK_POLL_MS);
    return async () => {
      await stopSweeper();
      await stopFeeds();
      await surveillance.stop();
      await s.venue.stop();
      await s.releaser.kick().catch(() => undefined);
    };
  },
};
