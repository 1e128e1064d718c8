import { GraphQLError, type DocumentNode, type GraphQLSchema } from 'graphql';
import type { Caller } from '../../subgraphs/kit/auth.js';
import type { Logger } from '../../subgraphs/kit/log.js';
import { AuthForwardingDataSource } from '../dataSource.js';
import { subgraphUrlsOf } from '../supergraph.js';
import { Feed, freshest } from './feed.js';
import { SubscriptionPlanner } from './planner.js';
import { ClientQueue } from './queue.js';
import { upstreamVariables } from './resume.js';
import type { SharingMode } from './sharing.js';
import { UpstreamPool, type RetryPolicy } from './upstream.js';

export interface HubOptions {
  /** Subgraph GraphQL URLs by name (overrides of the supergraph's); graphql-ws lives on the same URL. */
  urls: Record<string, string>;
  subgraphTimeoutMs: number;
  subgraphRetries: number;
  /** Undelivered events a client may have before it is closed as a slow consumer. */
  queueLimit: number;
  /** Events of one feed whose rest of the plan may run at once. */
  pipeline: number;
  retry: RetryPolicy;
  /** 'callers': subscriptions kit/sharing.ts lists as caller-independent share one upstream and execution across identities; 'identity': never across identities. */
  sharing: SharingMode;
  log: Logger;
}


export interface ClientSubscription {
  document: DocumentNode;
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown>;
  caller: Caller;
  /** Called when the client's queue overflows (the caller closes its socket). */
  onSlow(): void;
}

export const supergraphReloaded = () => new GraphQLError('the supergraph changed: subscribe again (with after = the last cursor to miss nothing)', {
  extensions: { code: 'SUBSCRIPTION.SUPERGRAPH_RELOADED', retryable: true },
});

/** Callers of one identity share upstreams and executions of anything; callers of different identities only what is the same for all. */
const identityOf = (c: Caller) => [c.org, c.subject, [...c.roles].sort().join(','), c.investorId ?? ''].join('|');
/** The view of a caller-independent subscription (never an identity: those always hold '|'). */
const EVERY_CALLER = '*';

/** JSON with sorted keys, so that equal variables give equal keys. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v) ?? 'null';
}

/**
 * Subscriptions through the gateway: plans with the current supergraph, one
 * upstream per distinct subgraph subscription, one execution per distinct
 * client operation, a bounded queue per client. Whatever depends on who asks
 * is distinct per identity; what kit/sharing.ts lists as the same for every
 * caller is shared by every identity.
 */
export class SubscriptionHub {
  private planner?: SubscriptionPlanner;
  private dataSources: Record<string, AuthForwardingDataSource> = {};
  private wsUrls: Record<string, string> = {};
  private readonly pool: UpstreamPool;
  /** Feeds a new client may join (live ones, from now), and every feed running. */
  private readonly feeds = new Map<string, Feed>();
  private readonly live = new Set<Feed>();
  /** The callers of each view's clients (an identity, or every caller): the freshest bearer is forwarded when an upstream (re)connects. */
  private readonly bearers = new Map<string, Map<ClientQueue, Caller>>();

  constructor(private readonly o: HubOptions) {
    this.pool = new UpstreamPool(o.retry, o.log);
  }

  /** The first supergraph, or a new one: then every active subscription ends with SUBSCRIPTION.SUPERGRAPH_RELOADED. */
  load(sdl: string): void {
    if (this.planner?.supergraphSdl === sdl) return;
    let next: SubscriptionPlanner;
    try {
      next = new SubscriptionPlanner(sdl);
    } catch (e) {
      this.o.log.error({ err: (e as Error).message }, 'supergraph rejected for subscriptions; keeping the previous one');
      return;
    }
    const reload = !!this.planner;
    this.planner = next;
    const urls = { ...subgraphUrlsOf(sdl), ...this.o.urls };
    this.dataSources = Object.fromEntries(Object.entries(urls).map(([name, url]) => [name, new AuthForwardingDataSource({ name, url, timeoutMs: this.o.subgraphTimeoutMs, retries: this.o.subgraphRetries, log: this.o.log })]));
    this.wsUrls = Object.fromEntries(Object.entries(urls).map(([name, url]) => [name, url.replace(/^http/, 'ws')]));
    if (!reload) return;
    const reason = supergraphReloaded();
    for (const f of this.live) f.fail(reason);
    this.feeds.clear();
    this.live.clear();
    this.pool.closeAll();
    this.o.log.info('supergraph reloaded: active subscriptions ended');
  }

  /** The public schema subscriptions are validated against. */
  get schema(): GraphQLSchema {
    return this.current().schema;
  }

  subscribe(s: ClientSubscription): ClientQueue {
    const planner = this.current();
    const plan = planner.plan(s.document, s.operationName);
    const view = plan.shared && this.o.sharing === 'callers' ? EVERY_CALLER : identityOf(s.caller);
    const feedKey = stableJson([view, s.operationName ?? null, s.query, s.variables ?? {}]);
    const { variables, after } = upstreamVariables(plan.upstream, s.variables);
    let bearers = this.bearers.get(view);
    if (!bearers) this.bearers.set(view, (bearers = new Map()));
    const viewBearers = bearers;
    let feed = this.feeds.get(feedKey);
    if (!feed || feed.ended) {
      const url = this.wsUrls[plan.serviceName];
      if (!url) throw new GraphQLError(`no URL for subgraph ${plan.serviceName}`, { extensions: { code: 'INTERNAL_SERVER_ERROR' } });
      feed = new Feed({ planner, plan, dataSources: this.dataSources, query: s.query, operationName: s.operationName, variables: s.variables }, this.o.queueLimit, this.o.pipeline, this.o.log);
      // Only streams from now are joined: one asked to start at a cursor replays its own history.
      if (after === null) this.feeds.set(feedKey, feed);
      this.live.add(feed);
      feed.release = this.pool.acquire(stableJson([view, plan.serviceName, plan.upstream.query, variables]), {
        serviceName: plan.serviceName, url, query: plan.upstream.query, variables, rootKey: plan.upstream.rootKey,
        resumable: plan.upstream.resumable, after, token: () => (freshest(viewBearers.values()) ?? s.caller).token,
      }, feed);
    }
    const mine = feed;
    const queue: ClientQueue = new ClientQueue(this.o.queueLimit, s.onSlow, () => {
      viewBearers.delete(queue);
      if (!viewBearers.size && this.bearers.get(view) === viewBearers) this.bearers.delete(view);
      mine.clients.delete(queue);
      if (mine.clients.size) return;
      mine.release?.();
      this.live.delete(mine);
      if (this.feeds.get(feedKey) === mine) this.feeds.delete(feedKey);
    });
    viewBearers.set(queue, s.caller);
    mine.clients.set(queue, s.caller);
    return queue;
  }

  /** What is open now (operations and tests read it). */
  stats(): { upstreams: number; feeds: number; clients: number } {
    let clients = 0;
    for (const f of this.live) clients += f.clients.size;
    return { upstreams: this.pool.size, feeds: this.live.size, clients };
  }

  close(): void {
    this.feeds.clear();
    this.live.clear();
    this.pool.closeAll();
  }

  private current(): SubscriptionPlanner {
    if (!this.planner) throw new GraphQLError('the gateway has no supergraph yet', { extensions: { code: 'SUBSCRIPTION.NOT_READY', retryable: true } });
    return this.planner;
  }
}
