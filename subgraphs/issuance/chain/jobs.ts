import { getAddress } from 'ethers';
import type { Db } from '../../kit/db/types.js';
import type { Logger } from '../../kit/log.js';
import { PolledWorker } from '../../kit/chain/polling.js';
import { countryNumeric } from '../../kit/countries.js';
import { addClaim, createIdentity, revokeClaim } from './trex.js';
import type { ComplianceConfig } from '../domain/compliance/index.js';
import { controlsOf, reclassifyLapsedAccreditation, walletsOf } from '../store/holdings.js';
import type { ChainJobRow } from '../store/records.js';
import type { TokenRow } from '../store/tokens.js';
import type { InvestorRow } from '../store/investors.js';
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
    const [r] = await this.db.query<{ n: string }>("SELECT count(*) AS n FROM chain_jobs WHERE status = 'PENDING'");
    return Number(r.n);
  }

  protected override passFailed(e: unknown): void {
    this.lastError = (e as Error).message;
    this.log.warn({ err: this.lastError }, 'chain jobs will retry');
  }

  protected async pass(): Promise<void> {
    if (!this.chain.configured) return;
    await this.sweepLapsed();
    for (;;) {
      const [job] = await this.db.query<ChainJobRow>(
        `UPDATE chain_jobs SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $1)
         WHERE id = (SELECT id FROM chain_jobs WHERE status = 'PENDING' AND next_attempt_at <= now() ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
         RETURNING *`,
        [LEASE_SECONDS],
      );
      if (!job || this.stopped) return;
      try {
        await this.apply(job);
        await this.db.query(`UPDATE chain_jobs SET status = 'DONE', done_at = now(), last_error = NULL WHERE id = $1`, [job.id]);
        this.lastError = undefined;
      } catch (e) {
        const wait = Math.min(2 ** Math.min(job.attempts, 8), MAX_BACKOFF_SECONDS);
        this.lastError = (e as Error).message;
        await this.db.query('UPDATE chain_jobs SET next_attempt_at = now() + make_interval(secs => $2), last_error = $3 WHERE id = $1', [job.id, wait, this.lastError.slice(0, 1000)]);
        this.log.warn({ job: job.kind, subject: job.subject_id, err: this.lastError }, 'chain job will retry');
        return; // keep order: a later job may depend on this one
      }
    }
  }

  private async sweepLapsed(): Promise<void> {
    await reclassifyLapsedAccreditation(this.db, this.config.accreditation.validity);
    await this.db.query(
      `INSERT INTO chain_jobs (kind, subject_id)
       SELECT DISTINCT 'SYNC_CLAIMS', c.investor_id FROM claims c
       WHERE c.status = 'ACTIVE' AND c.expires_at <= now()
         AND NOT EXISTS (SELECT 1 FROM chain_jobs j WHERE j.status = 'PENDING' AND j.kind = 'SYNC_CLAIMS' AND j.subject_id = c.investor_id)`,
    );
  }

  private async investor(id: string): Promise<InvestorRow> {
    const [i] = await this.db.query<InvestorRow>('SELECT * FROM investors WHERE id = $1', [id]);
    return i;
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
      await this.db.query('UPDATE investors SET identity_address = $2 WHERE id = $1 AND identity_address IS NULL', [investorId, identity.address]);
      inv = await this.investor(investorId);
    }
    const storage = await this.chain.identityStorage();
    const stored: string = await client.read(storage.storedIdentity(getAddress(address)));
    if (/^0x0{40}$/i.test(stored)) {
      await client.send(storage.addIdentityToStorage(getAddress(address), inv.identity_address!, countryNumeric(inv.jurisdiction)));
    }
    await this.db.query('UPDATE investor_wallets SET registered_on_chain = true WHERE lower(address) = lower($1)', [address]);
    await this.syncClaims(investorId);
  }

  private async syncClaims(investorId: string): Promise<void> {
    const inv = await this.investor(investorId);
    if (!inv.identity_address) return; // no wallet yet: claims go on when the identity exists
    const client = await this.chain.client();
    const setup = await this.chain.setup();
    const desired = desiredClaims(inv, this.config);
    const active = await this.db.query<{ topic: number; data: string }>(`SELECT topic, data FROM claims WHERE investor_id = $1 AND status = 'ACTIVE'`, [investorId]);
    for (const a of active) {
      if (desired.some((d) => d.topic === a.topic && d.data === a.data)) continue;
      await revokeClaim(client, { identity: inv.identity_address, claimIssuer: setup.claimIssuer, topic: a.topic });
      await this.db.query(`UPDATE claims SET status = 'REVOKED', revoked_at = now() WHERE investor_id = $1 AND topic = $2 AND data = $3`, [investorId, a.topic, a.data]);
    }
    for (const d of desired) {
      if (active.some((a) => a.topic === d.topic && a.data === d.data)) continue;
      const [revoked] = await this.db.query(`SELECT 1 FROM claims WHERE investor_id = $1 AND topic = $2 AND data = $3`, [investorId, d.topic, d.data]);
      if (revoked) continue; // the same record was revoked before (it lapsed): it stays revoked until a new record arrives
      await addClaim(client, { identity: inv.identity_address, claimIssuer: setup.claimIssuer, claimIssuerSigningKey: this.chain.claimSigner!, topic: d.topic, data: d.data });
      await this.db.query(
        `INSERT INTO claims (investor_id, topic, data, status, expires_at) VALUES ($1,$2,$3,'ACTIVE',$4)`,
        [investorId, d.topic, d.data, d.expiresAt],
      );
    }
    await this.syncFlags(investorId);
  }

  private async syncFlags(investorId: string, tokenId?: string): Promise<void> {
    const inv = await this.investor(investorId);
    if (!inv.identity_address) return;
    const tokens = await this.db.query<TokenRow>(`SELECT * FROM security_tokens WHERE chain IS NOT NULL ${tokenId ? 'AND id = $1' : ''}`, tokenId ? [tokenId] : []);
    for (const t of tokens) {
      const controls = await controlsOf(this.db, t.id, investorId);
      await syncInvestorFlags(this.chain, await this.chain.suite(t.chain!), inv, controls.liquidate_only, this.config);
    }
  }

  private async syncLocksOf(investorId: string, tokenId: string): Promise<void> {
    const [t] = await this.db.query<TokenRow>('SELECT * FROM security_tokens WHERE id = $1', [tokenId]);
    if (!t?.chain) return;
    const wallet = (await walletsOf(this.db, [investorId])).find((w) => w.status === 'ACTIVE');
    if (!wallet) return;
    await syncLocks(this.db, this.chain, await this.chain.suite(t.chain), t, investorId, wallet.address, this.config);
  }

  private async syncRules(tokenId: string): Promise<void> {
    const [t] = await this.db.query<TokenRow>('SELECT * FROM security_tokens WHERE id = $1', [tokenId]);
    if (!t?.chain) return;
    await applyRulesSettings(this.chain, await this.chain.suite(t.chain), t, this.config);
  }
}
