import type { Queryable } from '../../kit/db/types.js';

/**
 * SQL of issuance's on-chain identity work (chain/): the queue of chain jobs, the claims each
 * investor's identity carries, the identity and wallet registrations, and the one-time setup of
 * the shared contracts.
 */

/** On-chain identity work, queued with the change that needs it. */
export async function enqueueChainJob(q: Queryable, kind: string, subjectId: string, payload: Record<string, unknown> = {}) {
  await enqueueChainJobs(q, [{ kind, subjectId, payload }]);
}

/** Several jobs in one statement, queued in the order given. */
export async function enqueueChainJobs(q: Queryable, jobs: readonly { kind: string; subjectId: string; payload?: Record<string, unknown> }[]) {
  if (!jobs.length) return;
  await q.query(
    `INSERT INTO chain_jobs (kind, subject_id, payload)
     SELECT j.kind, j.subject_id, j.payload FROM unnest($1::text[], $2::text[], $3::jsonb[]) WITH ORDINALITY AS j(kind, subject_id, payload, n) ORDER BY j.n`,
    [jobs.map((j) => j.kind), jobs.map((j) => j.subjectId), jobs.map((j) => JSON.stringify(j.payload ?? {}))],
  );
}

export interface ChainJobRow { id: string; kind: string; subject_id: string; payload: Record<string, unknown>; attempts: number }

export async function pendingJobCount(q: Queryable): Promise<number> {
  const [r] = await q.query<{ n: string }>("SELECT count(*) AS n FROM chain_jobs WHERE status = 'PENDING'");
  return Number(r.n);
}

/** The oldest due job, leased for `leaseSeconds` (SKIP LOCKED: replicas share the queue). */
export async function claimNextJob(q: Queryable, leaseSeconds: number): Promise<ChainJobRow | undefined> {
  const [job] = await q.query<ChainJobRow>(
    `UPDATE chain_jobs SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $1)
     WHERE id = (SELECT id FROM chain_jobs WHERE status = 'PENDING' AND next_attempt_at <= now() ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
     RETURNING *`,
    [leaseSeconds],
  );
  return job;
}

export async function jobDone(q: Queryable, id: string): Promise<void> {
  await q.query(`UPDATE chain_jobs SET status = 'DONE', done_at = now(), last_error = NULL WHERE id = $1`, [id]);
}

export async function jobRetryLater(q: Queryable, id: string, waitSeconds: number, error: string): Promise<void> {
  await q.query('UPDATE chain_jobs SET next_attempt_at = now() + make_interval(secs => $2), last_error = $3 WHERE id = $1', [id, waitSeconds, error]);
}

/** A claims sync for every investor with a claim past its expiry (none queued twice). */
export async function queueExpiredClaimSyncs(q: Queryable): Promise<void> {
  await q.query(
    `INSERT INTO chain_jobs (kind, subject_id)
     SELECT DISTINCT 'SYNC_CLAIMS', c.investor_id FROM claims c
     WHERE c.status = 'ACTIVE' AND c.expires_at <= now()
       AND NOT EXISTS (SELECT 1 FROM chain_jobs j WHERE j.status = 'PENDING' AND j.kind = 'SYNC_CLAIMS' AND j.subject_id = c.investor_id)`,
  );
}

export async function setIdentityAddress(q: Queryable, investorId: string, identity: string): Promise<void> {
  await q.query('UPDATE investors SET identity_address = $2 WHERE id = $1 AND identity_address IS NULL', [investorId, identity]);
}

export async function walletRegisteredOnChain(q: Queryable, address: string): Promise<void> {
  await q.query('UPDATE investor_wallets SET registered_on_chain = true WHERE lower(address) = lower($1)', [address]);
}

export const activeClaims = (q: Queryable, investorId: string) =>
  q.query<{ topic: number; data: string }>(`SELECT topic, data FROM claims WHERE investor_id = $1 AND status = 'ACTIVE'`, [investorId]);

export async function claimRevoked(q: Queryable, investorId: string, topic: number, data: string): Promise<void> {
  await q.query(`UPDATE claims SET status = 'REVOKED', revoked_at = now() WHERE investor_id = $1 AND topic = $2 AND data = $3`, [investorId, topic, data]);
}

/** Whether this claim was ever recorded (a revoked one stays revoked until a new record arrives). */
export async function claimKnown(q: Queryable, investorId: string, topic: number, data: string): Promise<boolean> {
  const [known] = await q.query(`SELECT 1 FROM claims WHERE investor_id = $1 AND topic = $2 AND data = $3`, [investorId, topic, data]);
  return !!known;
}

export async function insertClaim(q: Queryable, investorId: string, topic: number, data: string, expiresAt: Date | null): Promise<void> {
  await q.query(
    `INSERT INTO claims (investor_id, topic, data, status, expires_at) VALUES ($1,$2,$3,'ACTIVE',$4)`,
    [investorId, topic, data, expiresAt],
  );
}

export interface ChainSetupRow { chain_id: string; claim_issuer: string; identity_storage: string; identity_authority: string; rules_module: string }

export async function chainSetupRow(q: Queryable): Promise<ChainSetupRow | undefined> {
  const [r] = await q.query<ChainSetupRow>('SELECT * FROM chain_setup WHERE id = 1');
  return r;
}

/** Records the setup under `lock` (a transaction-scoped advisory lock); a racing replica's record wins. */
export async function insertChainSetup(
  q: Queryable, lock: number, s: { chainId: number; claimIssuer: string; identityStorage: string; identityAuthority: string; rulesModule: string },
): Promise<void> {
  await q.query('SELECT pg_advisory_xact_lock($1)', [lock]);
  await q.query(
    `INSERT INTO chain_setup (id, chain_id, claim_issuer, identity_storage, identity_authority, rules_module) VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING`,
    [s.chainId, s.claimIssuer, s.identityStorage, s.identityAuthority, s.rulesModule],
  );
}
