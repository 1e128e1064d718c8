import { Wallet } from 'ethers';
import { createChainClient } from '../kit/chain/client.js';
import type { SubgraphDefinition, SubgraphRuntime } from '../kit/subgraph.js';
import { startBroadcaster } from './broadcaster.js';
import { chainTransferSender } from './chain-sender.js';
import { issuanceEligibility } from './eligibility.js';
import type { CustodyEnv } from './env.js';
import { custodyInternal } from './internal.js';
import { custodyDvpInternal } from './internal-dvp.js';
import { walletKey } from './keys.js';
import { createLoaders } from './loaders.js';
import { resolvers, type CustodyContext } from './resolvers.js';
import { custodySettings, defaultPolicyOf, type CustodyConfig } from './settings.js';

const configOf = (rt: SubgraphRuntime) => rt.config as unknown as CustodyConfig & { CHAIN_RPC_URL: string };

// One env per running subgraph (its clock, defaults and issuance client), shared by every request.
const envs = new WeakMap<SubgraphRuntime, CustodyEnv>();
function envOf(rt: SubgraphRuntime): CustodyEnv {
  let env = envs.get(rt);
  if (!env) {
    env = { db: rt.db, now: () => new Date(), defaults: defaultPolicyOf(configOf(rt)), eligibility: issuanceEligibility(rt.peer('issuance')),
      investorExists: (investorId) => rt.peer('issuance').call<{ id: string } | null>('investor', { investorId }),
    };
    envs.set(rt, env);
  }
  return env;
}

export const custody: SubgraphDefinition<CustodyContext> = {
  name: 'custody',
  defaultPort: 4004,
  settings: custodySettings,
  resolvers,
  context: (base, rt) => ({ ...base, loaders: createLoaders(base.db), kek: configOf(rt).CUSTODY_KEK, env: envOf(rt) }),
  internal: (rt) => ({ ...custodyInternal(rt.db), ...custodyDvpInternal(rt) }),
  async start(rt) {
    const c = configOf(rt);
    if (!c.CUSTODY_BROADCAST_ENABLED) return async () => undefined;
    // The client's signer is a throwaway: each custody wallet signs its own withdrawals.
    const client = await createChainClient({ rpcUrl: c.CHAIN_RPC_URL, privateKey: Wallet.createRandom().privateKey });
    const sender = chainTransferSender({ provider: client.provider, chainId: client.chainId, gasLimit: c.CUSTODY_TRANSFER_GAS_LIMIT, confirmations: c.CUSTODY_WITHDRAWAL_CONFIRMATIONS });
    const stop = startBroadcaster({
      db: rt.db, now: () => new Date(), sender, log: rt.log,
      keyOf: (q, address) => walletKey(q, c.CUSTODY_KEK, address),
      settings: { maxAttempts: c.CUSTODY_BROADCAST_MAX_ATTEMPTS, retryMs: c.CUSTODY_BROADCAST_RETRY_MS, rebroadcastMs: c.CUSTODY_BROADCAST_REBROADCAST_MS, pollMs: c.CUSTODY_BROADCAST_INTERVAL_MS },
    }, c.CUSTODY_BROADCAST_INTERVAL_MS);
    rt.log.info('withdrawal broadcaster started');
    return async () => {
      await stop();
      await client.close();
    };
  },
};
