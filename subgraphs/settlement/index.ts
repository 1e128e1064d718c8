import { GroupCommit } from '../kit/db/group-commit.js';
import type { FeedConsumer } from '../kit/feed.js';
import { settingSigner } from '../kit/signer/index.js';
import type { SubgraphDefinition, SubgraphRuntime } from '../kit/subgraph.js';
import { SettlementChain } from './chain.js';
import { startTradeFeed } from './feeds.js';
import { LeaseKeeper } from './leases.js';
import { startNetting } from './netting.js';
import { httpPeers } from './peers.js';
import { resolvers } from './resolvers/index.js';
import { createLoaders } from './resolvers/loaders.js';
import type { SettlementContext, SettlementServices } from './services.js';
import { settlementSettings } from './settings.js';
import { dvpGasRecorder, settlementMetrics } from './store/metrics.js';
import { wakeVerified } from './store/settlements.js';
import { SettlementWorker } from './worker.js';

// One set of services per running subgraph (tests run several in one process).
const servicesOf = new WeakMap<SubgraphRuntime, SettlementServices & { worker: SettlementWorker; consumer?: FeedConsumer }>();

/** The services of a running settlement subgraph (tests reach the worker through it). */
export const settlementServices = (rt: SubgraphRuntime) => servicesOf.get(rt);

function servicesFor(rt: SubgraphRuntime<typeof settlementSettings>) {
  let s = servicesOf.get(rt);
  if (!s) {
    const config = rt.config;
    const chain = new SettlementChain(rt.db, {
      rpcUrl: config.CHAIN_RPC_URL, operator: settingSigner(rt.config, 'SETTLEMENT_OPERATOR_KEY'), attestation: settingSigner(rt.config, 'SETTLEMENT_ATTESTATION_KEY'),
      dvpAddress: config.SETTLEMENT_DVP_ADDRESS, gasMinWei: config.SETTLEMENT_GAS_MIN_WEI, gasTopupWei: config.SETTLEMENT_GAS_TOPUP_WEI,
      timeoutMs: config.SETTLEMENT_CHAIN_TIMEOUT_MS, grossBatchMax: config.SETTLEMENT_GROSS_BATCH_MAX,
      grossGatherMs: config.SETTLEMENT_GROSS_GATHER_MS, grossInFlight: config.SETTLEMENT_GROSS_IN_FLIGHT, gasPerBatch: BigInt(config.SETTLEMENT_GROSS_GAS_PER_TRADE),
    }, rt.log);
    const base: SettlementServices = {
      db: rt.db, commit: new GroupCommit(rt.db, config.SETTLEMENT_GROUP_COMMIT_MAX), log: rt.log, config, chain, outbox: rt.outbox, now: () => new Date(),
      leases: new LeaseKeeper(rt.db, config.SETTLEMENT_LEASE_MS, rt.log),
      peers: httpPeers(rt.peer('issuance'), rt.peer('custody'), config.SETTLEMENT_PEER_CACHE_MS, config.SETTLEMENT_CONSENT_LIST_MAX), recordGas: dvpGasRecorder(rt.metrics),
    };
    s = { ...base, worker: new SettlementWorker(base) };
    servicesOf.set(rt, s);
  }
  return s;
}

export const settlement: SubgraphDefinition<SettlementContext, typeof settlementSettings> = {
  name: 'settlement',
  defaultPort: 4003,
  metrics: settlementMetrics,
  settings: settlementSettings,
  resolvers,
  context: (base, rt) => ({ ...base, loaders: createLoaders(base.db), services: servicesFor(rt) }),
  async start(rt) {
    const s = servicesFor(rt);
    const c = s.config;
    if (s.chain.configured) await wakeVerified(rt.db);
    s.consumer = startTradeFeed(rt, s);
    s.leases.start();
    if (c.SETTLEMENT_WORKER_ENABLED) s.worker.start();
    const stopNetting = c.SETTLEMENT_WORKER_ENABLED ? startNetting(s, c.SETTLEMENT_NETTING_INTERVAL_MS) : async () => undefined;
    rt.log.info({ mode: c.SETTLEMENT_MODE, chain: s.chain.configured, attestations: !!s.chain.attestationSigner }, 'settlement worker started');
    return async () => {
      await stopNetting();
      await s.consumer?.stop();
      await s.worker.stop();
      await s.leases.stop();
      await s.chain.close();
    };
  },
  async dependencies(rt): Promise<Record<string, string>> {
    const s = servicesOf.get(rt);
    return s?.consumer?.lastError ? { 'trading feed': s.consumer.lastError } : {};
  },
};
