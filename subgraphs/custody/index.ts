import { Wallet } from 'ethers';
import type { Queryable } from '../kit/db/types.js';
import { openKeyStore } from '../kit/signer/index.js';
import { createChainClient, type ChainClient } from '../kit/chain/client.js';
import type { SubgraphDefinition, SubgraphRuntime } from '../kit/subgraph.js';
import { startBroadcaster } from './broadcaster.js';
import { chainTransferSender, signNativeSweep, tokenBalance } from './chain-sender.js';
import { startFeeds } from './feeds.js';
import { CustodyIndexer } from './indexer.js';
import { internalCalls } from './internal.js';
import { walletKeys, type WalletKeys } from './keys.js';
import { issuancePeer, type IssuancePeer } from './peers.js';
import { startReconciliationJob } from './reconciliation.js';
import { resolvers } from './resolvers/index.js';
import { createLoaders } from './resolvers/loaders.js';
import type { CustodyContext, CustodyEnv } from './services.js';
import { custodyMetrics } from './store/metrics.js';
import { startSweepMover } from './sweep-mover.js';
import { custodySettings, defaultPolicyOf } from './settings.js';

type CustodyRuntime = SubgraphRuntime<typeof custodySettings>;

// One env per running subgraph (its clock, defaults and issuance client), shared by every request.
const envs = new WeakMap<SubgraphRuntime, CustodyEnv>();
const indexers = new WeakMap<SubgraphRuntime, CustodyIndexer>();
const keysOf = new WeakMap<SubgraphRuntime, WalletKeys>();
const issuanceOf = new WeakMap<SubgraphRuntime, IssuancePeer>();
function issuanceFor(rt: CustodyRuntime): IssuancePeer {
  let p = issuanceOf.get(rt);
  if (!p) issuanceOf.set(rt, (p = issuancePeer(rt.peer('issuance'))));
  return p;
}
/** The wallet keys of a running subgraph; a wrong signer setting stops it at start (ConfigError). */
function keysFor(rt: CustodyRuntime): WalletKeys {
  let k = keysOf.get(rt);
  if (!k) keysOf.set(rt, (k = walletKeys(rt.config.CUSTODY_KEK, openKeyStore(rt.config))));
  return k;
}
function envOf(rt: CustodyRuntime): CustodyEnv {
  let env = envs.get(rt);
  if (!env) {
    const issuance = issuanceFor(rt);
    env = { db: rt.db, now: () => new Date(), defaults: defaultPolicyOf(rt.config), eligibility: issuance.eligibility, investorExists: issuance.investorExists };
    envs.set(rt, env);
  }
  return env;
}

export const custody: SubgraphDefinition<CustodyContext, typeof custodySettings> = {
  name: 'custody',
  defaultPort: 4004,
  settings: custodySettings,
  metrics: (rt) => custodyMetrics(rt, () => indexers.get(rt)),
  resolvers,
  context: (base, rt) => ({ ...base, loaders: createLoaders(base.db), keys: keysFor(rt), env: envOf(rt) }),
  internal: (rt) => internalCalls(rt, keysFor(rt)),
  async start(rt) {
    const c = rt.config;
    const keys = keysFor(rt);
    const stops: (() => Promise<void>)[] = [];
    // The client's signer is a throwaway: each custody wallet signs its own withdrawals.
    let clientP: Promise<ChainClient> | undefined;
    const client = () => (clientP ??= createChainClient({ rpcUrl: c.CHAIN_RPC_URL, privateKey: Wallet.createRandom().privateKey }).catch((e: unknown) => {
      clientP = undefined; // the node may come up later: the next pass asks again
      throw e;
    }));
    if (c.CUSTODY_BROADCAST_ENABLED) {
      const chain = await client();
      const sender = chainTransferSender({ provider: chain.provider, chainId: chain.chainId, gasLimit: c.CUSTODY_TRANSFER_GAS_LIMIT, confirmations: c.CUSTODY_WITHDRAWAL_CONFIRMATIONS });
      const deps = {
        db: rt.db, now: () => new Date(), sender, log: rt.log,
        signerOf: (q: Queryable, address: string) => keys.signer(q, address),
        settings: { maxAttempts: c.CUSTODY_BROADCAST_MAX_ATTEMPTS, retryMs: c.CUSTODY_BROADCAST_RETRY_MS, rebroadcastMs: c.CUSTODY_BROADCAST_REBROADCAST_MS, pollMs: c.CUSTODY_BROADCAST_INTERVAL_MS,
          paymentBatchMax: c.CUSTODY_PAYMENT_BATCH_MAX },
      };
      stops.push(startBroadcaster(deps, c.CUSTODY_BROADCAST_INTERVAL_MS));
      stops.push(startSweepMover({
        ...deps, leaseMs: c.CUSTODY_SWEEP_LEASE_MS,
        balanceOf: (token, holder) => tokenBalance(chain.provider, token, holder),
        signNative: (from, to, signer) => signNativeSweep(chain.provider, chain.chainId, from, to, signer),
        recoverTokens: issuanceFor(rt).recoverTokens,
      }, c.CUSTODY_BROADCAST_INTERVAL_MS));
      rt.log.info('withdrawal broadcaster and wallet sweep mover started');
    }
    stops.push(startFeeds(rt, c.ISSUANCE_URL, () => new Date()));
    if (c.CUSTODY_INDEXER_ENABLED) {
      const indexer = new CustodyIndexer(rt.db, async () => (await client()).provider, {
        confirmations: c.CUSTODY_CONFIRMATIONS, pollMs: c.CUSTODY_INDEXER_POLL_MS, maxRange: c.CUSTODY_INDEXER_BLOCK_RANGE, fromBlock: c.CUSTODY_INDEXER_FROM_BLOCK,
      }, rt.log);
      indexers.set(rt, indexer);
      indexer.start();
      stops.push(() => indexer.stop());
      stops.push(startReconciliationJob(rt.db, { intervalMs: c.CUSTODY_RECONCILIATION_INTERVAL_MS, confirmRuns: c.CUSTODY_RECONCILIATION_CONFIRM_RUNS, inFlightMaxMs: c.CUSTODY_RECONCILIATION_IN_FLIGHT_SECONDS * 1000, log: rt.log }));
      rt.log.info('custody chain indexer and reconciliation job started');
    }
    return async () => {
      for (const stop of stops.reverse()) await stop();
      await (await clientP?.catch(() => undefined))?.close();
    };
  },
  async dependencies(rt): Promise<Record<string, string>> {
    const e = indexers.get(rt)?.lastError;
    return e ? { 'chain indexer': e } : {};
  },
};
