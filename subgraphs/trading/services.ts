import type { Db } from '../kit/db/types.js';
import type { Logger } from '../kit/log.js';
import type { BaseContext_ } from '../kit/subgraph.js';
import type { OutboxWatcher } from '../kit/outbox.js';
import type { Coalescer } from '../kit/coalesce.js';
import type { Peers } from './peers.js';
import type { Releaser } from './releases.js';
import type { TradingLoaders } from './resolvers/loaders.js';
import type { VenueRules } from './rules.js';
import type { TradingConfig } from './settings.js';
import type { Venue } from './venue.js';
import type { EntryFacts, EntryKey } from './store/venue.js';
import type { NewOrderRow, OrderRow } from './store/orders.js';

/** An order claimed at intake (orders.ts orderIntake), and what the claim gave. */
export interface Intake { row: NewOrderRow; actor: string }
export type Intaken = { row: OrderRow; created: true; facts: EntryFacts } | { row: OrderRow; created: false };

/** What the trading subgraph runs beside its resolvers, shared by every request of one process. */
/** The context of one GraphQL request. */
export interface TradingContext extends BaseContext_ { loaders: TradingLoaders; services: TradingServices }

export interface TradingServices {
  db: Db;
  log: Logger;
  config: TradingConfig;
  rules: VenueRules;
  peers: Peers;
  /** Claims new orders' clientOrderIds, many per transaction. */
  intake: Coalescer<Intake, Intaken>;
  /** Reads the venue's facts (halts, last price, admission) for the orders being checked together, in one statement (a new order has them from its intake). */
  entry: Coalescer<EntryKey, EntryFacts>;
  venue: Venue;
  releaser: Releaser;
  outbox: OutboxWatcher;
  now: () => Date;
}
