import { getAddress } from 'ethers';
import type { Db } from '../../kit/db/types.js';
import type { Logger } from '../../kit/log.js';
import { PolledWorker } from '../../kit/chain/polling.js';
import { countryNumeric } from '../../kit/countries.js';
import { addClaim, createIdentity, revokeClaim } from './trex.js';
import type { ComplianceConfig } from '../domain/compliance/index.js';
import { controlsOf, reclassifyLapsedAccreditation, walletsOf } from '../store/holdings.js';
import {
  activeClaims, claimKnown, claimNextJob, claimRevoked, insertClaim, jobDone, jobRetryLater, pendingJobCount, queueExpiredClaimSyncs, setIdentityAddress,
  walletRegisteredOnChain, type ChainJobRow,
} from '../store/chain.js';
import { deployedTokens, tokenRow } from '../store/tokens.js';
import { investorRow } from '../store/investors.js';
import { desiredClaims } from './claims.js';
import { applyRulesSettings, syncInvestorFlags, syncLocks } from './rules.js';
import type { IssuanceChain } from './runtime.js';

// A claimed job is leased for this long; a process that dies mid-job leaves it to be picked up again.
const LEASE_SECONDS = 120;
const MAX_BACKOFF_SECONDS = 300;

/**
 * Applies queued on-chain identity work (wallet registration, claims, module
 * flags and locks, rule settings) in order, with retries and backoff. The
 * database is the record; the chain converges to it. A periodic sweep queues
 * a claims sync for every investor whose KYC, screening or accreditation
 * lapsed, so the claim is revoked when the credential stops counting.
 */
export class ChainJobRunner extends PolledWorker {
  lastError?: string;

  constructor(private readonly db: Db, private readonly chain: IssuanceChain, private readonly config: ComplianceConfig, pollMs: number, private readonly log: Logger) {
    super(pollMs);
  }

  /** Runs every due job; a call during a pass gets the next one (so it sees jobs queued before it). */
  runDue(): Promise<void> {
    return this.runPass();
  }

  /** Jobs not yet done (tests and readiness). */
  async pending(): Promise<number> {
    return pendingJobCount(this.db);
  }

  protected override passFailed(e: unknown): void {
    this.lastError = (e as Error).message;
    this.log.warn({ err: this.lastError }, 'chain jobs will retry');
  }

  protected async pass(): Promise<void> {
    if (!this.chain.configured) return;
    await this.sweepLapsed();
    for (;;) {
      const job = await claimNextJob(this.db, LEASE_SECONDS);
      if (!job || this.stopped) return;
      try {
        await this.apply(job);
        await jobDone(this.db, job.id);
        this.lastError = undefined;
      } catch (e) {
        const wait = Math.min(2 ** Math.min(job.attempts, 8), MAX_BACKOFF_SECONDS);
        this.lastError = (e as Error).message;
        await jobRetryLater(this.db, job.id, wait, this.lastError.slice(0, 1000));
        this.log.warn({ job: job.kind, subject: job.subject_id, err: this.lastError }, 'chain job will retry');
        return; // keep order: a later job may depend on this one
      }
    }
  }

  private async sweepLapsed(): Promise<void> {
    await reclassifyLapsedAccreditation(this.db, this.config.accreditation.validity);
    await queueExpiredClaimSyncs(this.db);
  }

  private async investor(id: string) {
    return (await investorRow(this.db, id))!;
  }

  private async apply(job: ChainJobRow): Promise<void> {
    switch (job.kind) {
      case 'REGISTER_WALLET': return this.registerWallet(job.subject_id, String(job.payload.address));
      case 'SYNC_CLAIMS': return this.syncClaims(job.subject_id);
      case 'SYNC_FLAGS': return this.syncFlags(job.subject_id, job.payload.tokenId as string | undefined);
      case 'SYNC_LOCKS': return this.syncLocksOf(job.subject_id, String(job.payload.tokenId));
      case 'SYNC_RULES': return this.syncRules(job.subject_id);
      default: throw new Error(`unknown chain job ${job.kind}`);
    }
  }

  /** The investor's ONCHAINID (created once), then the wallet stored with it and its country in the shared identity storage. */
  private async registerWallet(investorId: string, address: string): Promise<void> {
    const client = await this.chain.client();
    const setup = await this.chain.setup();
    let inv = await this.investor(investorId);
    if (!inv.identity_address) {
      const identity = await createIdentity(client, address, { implementationAuthority: setup.identityAuthority });
      await setIdentityAddress(this.db, investorId, identity.address);
      inv = await this.investor(investorId);
    }
    const storage = await this.chain.identityStorage();
    const stored: string = await client.read(storage.storedIdentity(getAddress(address)));
    if (/^0x0{40}$/i.test(stored)) {
      await client.send(storage.addIdentityToStorage(getAddress(address), inv.identity_address!, countryNumeric(inv.jurisdiction)));
    }
    await walletRegisteredOnChain(this.db, address);
    await this.syncClaims(investorId);
  }

  private async syncClaims(investorId: string): Promise<void> {
    const inv = await this.investor(investorId);
    if (!inv.identity_address) return; // no wallet yet: claims go on when the identity exists
    const client = await this.chain.client();
    const setup = await this.chain.setup();
    const desired = desiredClaims(inv, this.config);
    const active = await activeClaims(this.db, investorId);
    for (const a of active) {
      if (desired.some((d) => d.topic === a.topic && d.data === a.data)) continue;
      await revokeClaim(client, { identity: inv.identity_address, claimIssuer: setup.claimIssuer, topic: a.topic });
      await claimRevoked(this.db, investorId, a.topic, a.data);
    }
    for (const d of desired) {
      if (active.some((a) => a.topic === d.topic && a.data === d.data)) continue;
      if (await claimKnown(this.db, investorId, d.topic, d.data)) continue; // the same record was revoked before (it lapsed): it stays revoked until a new record arrives
      await addClaim(client, { identity: inv.identity_address, claimIssuer: setup.claimIssuer, claimIssuerSigningKey: this.chain.claimSigner!, topic: d.topic, data: d.data });
      await insertClaim(this.db, investorId, d.topic, d.data, d.expiresAt);
    }
    await this.syncFlags(investorId);
  }

  private async syncFlags(investorId: string, tokenId?: string): Promise<void> {
    const inv = await this.investor(investorId);
    if (!inv.identity_address) return;
    const tokens = await deployedTokens(this.db, { tokenId });
    for (const t of tokens) {
      const controls = await controlsOf(this.db, t.id, investorId);
      await syncInvestorFlags(this.chain, await this.chain.suite(t.chain!), inv, controls.liquidate_only, this.config);
    }
  }

  private async syncLocksOf(investorId: string, tokenId: string): Promise<void> {
    const t = await tokenRow(this.db, tokenId);
    if (!t?.chain) return;
    const wallet = (await walletsOf(this.db, [investorId])).find((w) => w.status === 'ACTIVE');
    if (!wallet) return;
    await syncLocks(this.db, this.chain, await this.chain.suite(t.chain), t, investorId, wallet.address, this.config);
  }

  private async syncRules(tokenId: string): Promise<void> {
    const t = await tokenRow(this.db, tokenId);
    if (!t?.chain) return;
    await applyRulesSettings(this.chain, await this.chain.suite(t.chain), t, this.config);
  }
}
