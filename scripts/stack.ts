import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig } from '../subgraphs/kit/config.js';
import { knownKeyEnv } from '../subgraphs/kit/signer/index.js';
import { startSubgraph, subgraphConfig, type RunningSubgraph, type SubgraphName } from '../subgraphs/kit/subgraph.js';
import { issuance } from '../subgraphs/issuance/index.js';
import { trading } from '../subgraphs/trading/index.js';
import { settlement } from '../subgraphs/settlement/index.js';
import { custody } from '../subgraphs/custody/index.js';
import { startGateway, type RunningGateway } from '../gateway/server.js';
import { gatewaySettings } from '../gateway/settings.js';
import { ensureCashToken } from './cash.js';
import { findFreePort, startAnvil, type AnvilNode } from './chain/anvil.js';

/** The settlement operator of the demo market (its agents and auditors see every settlement). */
export const DEFAULT_OPERATOR_ORGS = ['settle-co'];
/** The venue's operator organisation of the embedded setup (the seed's and the IDE's ATS operator). */
export const DEFAULT_VENUE_OPERATOR_ORGS = ['ats-co'];

export const DEFINITIONS = { issuance, trading, settlement, custody } as const;
export const SUBGRAPH_NAMES = Object.keys(DEFINITIONS) as SubgraphName[];

export interface StackSecrets {
  jwtSecret: string;
  serviceSecret: string;
  custodyKek: string;
  /** The settlement agent's EIP-712 signing key (dev default: generated with the other secrets). */
  attestationKey?: string;
}

export interface ChainKeys {
  /** Issuance: deploys suites, registers identities, mints (the token agent). */
  issuanceAgent: string;
  /** Issuance: signs KYC, accreditation and country claims. */
  claimSigner: string;
  /** Settlement: submits DvP transactions and tops up custody wallets' gas. */
  settlementOperator: string;
  /** The bank of the default setup: deploys the cash token and mints deposits. */
  cashIssuer: string;
}

export interface StackOptions {
  secrets: StackSecrets;
  /** Embedded PGlite folders under dataDir/<subgraph>; without it and without databaseUrls, PGlite in memory. */
  dataDir?: string;
  /** Per-subgraph database URL (e.g. PostgreSQL databases); wins over dataDir. */
  databaseUrls?: Partial<Record<SubgraphName, string>>;
  /** 0 picks a free port (tests). Defaults: gateway 4000, subgraphs 4001..4004. */
  ports?: Partial<Record<SubgraphName | 'gateway', number>>;
  /** 'anvil' starts a local node as a child process; a URL uses that node; 'none' starts nothing. */
  chain?: 'anvil' | 'none' | { rpcUrl: string };
  /** Port of the anvil child (default 8545; 0 picks a free one). */
  anvilPort?: number;
  /** Where anvil keeps its chain between runs (the embedded default: in the data folder). */
  anvilStateFile?: string;
  /** Service keys on the chain; with the anvil child, its funded dev keys are used. */
  chainKeys?: Partial<ChainKeys>;
  /** Deploy the cash token (the DvP cash leg) and register it with custody as CASH when custody has none (default: with a chain and a cash issuer key). */
  cashToken?: boolean;
  /** Organisations whose settlement agents and auditors see every settlement. */
  settlementOperatorOrgs?: string[];
  /** Organisations whose ATS_OPERATOR users operate the venue (TRADING_OPERATOR_ORGS). */
  venueOperatorOrgs?: string[];
  /** More settings for every subgraph (e.g. the venue's tick value). */
  subgraphEnv?: Record<string, string>;
  /** More settings for the gateway (e.g. SUBGRAPH_TIMEOUT_MS). */
  gatewayEnv?: Record<string, string>;
  logLevel?: string;
  nodeEnv?: string;
}

export interface Stack {
  gateway: RunningGateway;
  subgraphs: Record<SubgraphName, RunningSubgraph>;
  anvil?: AnvilNode;
  chainRpcUrl?: string;
  /** The cash token custody knows as CASH, and the key that may mint it (dev setups). */
  cash?: { address: string; minterKey?: string };
  /** The settings each part started with (a bench restarts them as separate processes with these). */
  env: Record<SubgraphName | 'gateway', Record<string, string>>;
  stop(): Promise<void>;
}

/** Settings without the unset ones (a child process's environment takes strings only). */
export const definedOnly = (env: Record<string, string | undefined>): Record<string, string> =>
  Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));

/** The whole system in one process: what `npm start` and the end-to-end tests run. */
export async function startStack(o: StackOptions): Promise<Stack> {
  const chain = o.chain ?? 'anvil';
  const anvil = chain === 'anvil' ? await startAnvil({ port: o.anvilPort ?? 8545, stateFile: o.anvilStateFile }) : undefined;
  const devKeys = anvil ? { issuanceAgent: anvil.privateKeys[0], claimSigner: anvil.privateKeys[1], settlementOperator: anvil.privateKeys[2], cashIssuer: anvil.privateKeys[3] } : {};
  const keys: Partial<ChainKeys> = { ...devKeys, ...o.chainKeys };
  const chainRpcUrl = anvil?.url ?? (typeof chain === 'object' ? chain.rpcUrl : undefined);
  // The service keys as settings: as they are, or (SIGNER=pkcs11) moved into the HSM and named by label.
  const keyEnv = knownKeyEnv({
    ISSUANCE_AGENT_KEY: keys.issuanceAgent, CLAIM_SIGNER_KEY: keys.claimSigner,
    SETTLEMENT_OPERATOR_KEY: keys.settlementOperator, SETTLEMENT_ATTESTATION_KEY: o.secrets.attestationKey,
  });
  const started: RunningSubgraph[] = [];
  // Ports are fixed before start (free ones picked where 0 was asked) so that every subgraph knows its peers' URLs.
  const ports = {} as Record<SubgraphName, number>;
  for (const name of SUBGRAPH_NAMES) {
    const p = o.ports?.[name] ?? DEFINITIONS[name].defaultPort;
    ports[name] = p === 0 ? await findFreePort() : p;
  }
  const base = (name: SubgraphName) => `http://127.0.0.1:${ports[name]}`;
  const envs = {} as Stack['env'];
  try {
    const running = await Promise.all(
      SUBGRAPH_NAMES.map(async (name) => {
        const def = DEFINITIONS[name];
        const env: Record<string, string | undefined> = {
          PORT: String(ports[name]),
          ISSUANCE_URL: base('issuance'),
          TRADING_URL: base('trading'),
          SETTLEMENT_URL: base('settlement'),
          CUSTODY_URL: base('custody'),
          DATABASE_URL: o.databaseUrls?.[name] ?? (o.dataDir ? pathToFileURL(join(o.dataDir, name)).href : 'memory://'),
          CHAIN_RPC_URL: chainRpcUrl,
          AUTH_JWT_SECRET: o.secrets.jwtSecret,
          SERVICE_SECRET: o.secrets.serviceSecret,
          CUSTODY_KEK: o.secrets.custodyKek,
          ...keyEnv,
          SETTLEMENT_OPERATOR_ORGS: (o.settlementOperatorOrgs ?? DEFAULT_OPERATOR_ORGS).join(','),
          TRADING_OPERATOR_ORGS: (o.venueOperatorOrgs ?? DEFAULT_VENUE_OPERATOR_ORGS).join(','),
          // Custody follows the chain wherever there is one; the anvil child mines a block per transaction and never reorganises.
          CUSTODY_INDEXER_ENABLED: chainRpcUrl ? 'true' : undefined,
          CUSTODY_CONFIRMATIONS: anvil ? '0' : undefined,
          LOG_LEVEL: o.logLevel ?? 'warn',
          NODE_ENV: o.nodeEnv,
          ...o.subgraphEnv,
        };
        envs[name] = definedOnly(env);
        const sg = await startSubgraph(def as never, subgraphConfig(def as never, env));
        started.push(sg);
        return [name, sg] as const;
      }),
    );
    const subgraphs = Object.fromEntries(running) as Record<SubgraphName, RunningSubgraph>;
    const cash = chainRpcUrl && (o.cashToken ?? Boolean(keys.cashIssuer))
      ? await ensureCashToken({ custodyUrl: subgraphs.custody.url, serviceSecret: o.secrets.serviceSecret, rpcUrl: chainRpcUrl, issuerKey: keys.cashIssuer })
      : undefined;
    envs.gateway = definedOnly({
      PORT: String(o.ports?.gateway ?? 4000),
      AUTH_JWT_SECRET: o.secrets.jwtSecret,
      ISSUANCE_URL: subgraphs.issuance.url,
      TRADING_URL: subgraphs.trading.url,
      SETTLEMENT_URL: subgraphs.settlement.url,
      CUSTODY_URL: subgraphs.custody.url,
      LOG_LEVEL: o.logLevel ?? 'warn',
      NODE_ENV: o.nodeEnv,
      // The embedded stack signs with dev secrets: its IDE may hand out dev tokens.
      GATEWAY_DEV_TOKENS: o.nodeEnv === 'production' ? undefined : 'true',
      ...o.gatewayEnv,
    });
    const gateway = await startGateway(loadConfig(gatewaySettings, envs.gateway));
    let stopped = false;
    return {
      gateway,
      subgraphs,
      anvil,
      chainRpcUrl,
      cash,
      env: envs,
      async stop() {
        if (stopped) return;
        stopped = true;
        await gateway.stop();
        await Promise.all(started.map((s) => s.stop()));
        await anvil?.stop();
      },
    };
  } catch (e) {
    await Promise.allSettled(started.map((s) => s.stop()));
    await anvil?.stop();
    throw e;
  }
}
