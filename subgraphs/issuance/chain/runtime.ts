import { Contract, getAddress } from 'ethers';
import type { Db } from '../../kit/db/types.js';
import { appError } from '../../kit/errors.js';
import type { Logger } from '../../kit/log.js';
import { createChainClient, isChainError, type ChainClient } from '../../kit/chain/client.js';
import { loadArtifact } from '../../kit/chain/artifacts.js';
import type { KitSigner } from '../../kit/signer/index.js';
import { deployRulesModule } from './modules.js';
import { chainSetupRow, insertChainSetup } from '../store/chain.js';
import {
  attachTokenSuite, deployClaimIssuer, deployIdentityAuthority, deployIdentityRegistryStorage, type SuiteAddresses, type TokenSuite,
} from './trex.js';

export interface ChainSetup {
  chainId: number;
  claimIssuer: string;
  identityStorage: string;
  identityAuthority: string;
  rulesModule: string;
}

export interface TokenChainRecord extends SuiteAddresses {
  chainId: number;
  rulesModule?: string;
}

// Serializes the one-time setup across replicas.
const SETUP_LOCK = 72_101_101;

/** Maps chain failures to typed GraphQL errors; a node that is down is retryable. */
export function chainFailure(e: unknown, what: string): Error {
  if (isChainError(e)) {
    return appError(`ISSUANCE.${e.code}`, `${what}: ${e.reason ?? e.message}`, { retryable: e.retryable, details: e.txHash ? { txHash: e.txHash } : undefined });
  }
  return e as Error;
}

/**
 * The issuance service's hands on the chain: one agent key that deploys suites,
 * registers identities and mints, and a separate key that signs claims.
 * Connects lazily, so the subgraph starts (and serves reads) while the node is down.
 */
export class IssuanceChain {
  private clientP?: Promise<ChainClient>;
  private setupP?: Promise<ChainSetup>;

  constructor(
    private readonly db: Db,
    private readonly rpcUrl: string,
    private readonly agent: KitSigner | undefined,
    readonly claimSigner: KitSigner | undefined,
    private readonly log: Logger,
  ) {}

  get configured(): boolean {
    return !!this.agent && !!this.claimSigner;
  }

  client(): Promise<ChainClient> {
    if (!this.agent || !this.claimSigner) {
      throw appError('ISSUANCE.CHAIN_NOT_CONFIGURED', 'this issuance service has no chain keys (ISSUANCE_AGENT_KEY, CLAIM_SIGNER_KEY)');
    }
    this.clientP ??= createChainClient({ rpcUrl: this.rpcUrl, signer: this.agent }).catch((e: unknown) => {
      this.clientP = undefined; // try again on the next call
      throw chainFailure(e, 'chain unavailable');
    });
    return this.clientP;
  }

  /** The issuer-wide contracts, deployed on first use and recorded; verified to exist on the node. */
  setup(): Promise<ChainSetup> {
    this.setupP ??= this.loadOrDeploySetup().catch((e: unknown) => {
      this.setupP = undefined;
      throw chainFailure(e, 'chain setup failed');
    });
    return this.setupP;
  }

  private async loadOrDeploySetup(): Promise<ChainSetup> {
    const client = await this.client();
    const existing = await this.readSetup();
    if (existing) {
      if (existing.chainId !== client.chainId || (await client.provider.getCode(existing.claimIssuer)) === '0x') {
        throw appError('ISSUANCE.CHAIN_MISMATCH', `the recorded contracts are not on chain ${client.chainId} (was the chain reset?)`);
      }
      return existing;
    }
    // Deploy outside a transaction (minutes on a real chain), record under the lock; a racing replica's record wins.
    const claimIssuer = await deployClaimIssuer(client, { signingKey: this.claimSigner });
    const storage = await deployIdentityRegistryStorage(client);
    const authority = await deployIdentityAuthority(client);
    const rules = await deployRulesModule(client);
    const setup: ChainSetup = {
      chainId: client.chainId, claimIssuer: claimIssuer.address, identityStorage: await storage.getAddress(), identityAuthority: authority, rulesModule: rules.address,
    };
    await this.db.tx((q) => insertChainSetup(q, SETUP_LOCK, setup));
    this.log.info(setup, 'issuer chain setup deployed');
    return (await this.readSetup())!;
  }

  private async readSetup(): Promise<ChainSetup | undefined> {
    const r = await chainSetupRow(this.db);
    return r && { chainId: Number(r.chain_id), claimIssuer: r.claim_issuer, identityStorage: r.identity_storage, identityAuthority: r.identity_authority, rulesModule: r.rules_module };
  }

  async suite(rec: TokenChainRecord): Promise<TokenSuite> {
    return attachTokenSuite(await this.client(), rec);
  }

  async identityStorage(): Promise<Contract> {
    const setup = await this.setup();
    return new Contract(setup.identityStorage, loadArtifact('IdentityRegistryStorage', 'trex').abi, (await this.client()).signer);
  }

  claimSignerAddress(): string | undefined {
    return this.claimSigner?.address;
  }

  async close(): Promise<void> {
    const c = await this.clientP?.catch(() => undefined);
    await c?.close();
  }
}

export const checksum = (a: string): string => getAddress(a);
