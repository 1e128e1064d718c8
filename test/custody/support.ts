import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Caller, Role } from '../../subgraphs/kit/auth.js';
import { migrate } from '../../subgraphs/kit/db/migrate.js';
import type { Db } from '../../subgraphs/kit/db/types.js';
import { newId } from '../../subgraphs/kit/ids.js';
import { fromRoot } from '../../subgraphs/kit/paths.js';
import { loadConfig } from '../../subgraphs/kit/config.js';
import { openKeyStore, signerSettings } from '../../subgraphs/kit/signer/index.js';
import { walletKeys, type WalletKeys } from '../../subgraphs/custody/keys.js';
import { openCustodyAccount } from '../../subgraphs/custody/accounts.js';
import type { CustodyEnv } from '../../subgraphs/custody/services.js';
import type { EligibilityAnswer, EligibilityQuery, TransferEligibility } from '../../subgraphs/custody/peers.js';
import type { WithdrawalPolicy } from '../../subgraphs/custody/domain/policy.js';
import { openTestDb } from '../support/db.js';
import { until } from '../support/wait.js';

export const KEK = '0x' + '42'.repeat(32);

/** The wallet keys tests open and sign with: sealed under KEK, or in the HSM token when the environment says SIGNER=pkcs11. */
export const KEYS: WalletKeys = walletKeys(KEK, openKeyStore(loadConfig(signerSettings)));

/** A fresh database (PGlite, or PostgreSQL with TEST_DATABASE_URL) with kit and custody migrations applied. */
export async function openCustodyDb(): Promise<{ db: Db; url: string; cleanup(): Promise<void> }> {
  const t = await openTestDb();
  await migrate(t.db, [
    { scope: 'kit', dir: fromRoot('subgraphs', 'kit', 'migrations') },
    { scope: 'custody', dir: fromRoot('subgraphs', 'custody', 'migrations') },
  ]);
  return t;
}

export const user = (org: string, subject: string, roles: Role[], investorId?: string): Caller =>
  ({ kind: 'user', subject, org, roles, investorId, token: 'test' });
export const service = (name: string): Caller => ({ kind: 'service', subject: name, org: 'tokenstack', roles: [], token: 'test' });

/** Ledger tests open accounts without an issuance service: every investor id counts as known. */
export const knowsEveryInvestor = async (id: string) => ({ id });

export async function openAccount(db: Db, org: string, investorId = newId('inv')): Promise<string> {
  const row = await openCustodyAccount(db, KEYS, user(org, `${org}-opener`, ['CUSTODIAN']), {
    idempotencyKey: randomBytes(8).toString('hex'), investorId, kind: 'SEGREGATED',
  }, knowsEveryInvestor);
  return row.id;
}

export const testPolicy = (p: Partial<WithdrawalPolicy> = {}): WithdrawalPolicy => ({
  approvalsRequired: 2, approvers: [], destinationDelaySeconds: 3600, velocityWindowSeconds: 86_400,
  maxPerWithdrawal: 1_000n, maxPerWindow: 2_500n, assetLimits: [], ...p,
});

/** A clock tests move by hand. */
export class TestClock {
  constructor(public t = new Date('2026-06-01T12:00:00Z').getTime()) {}
  now = (): Date => new Date(this.t);
  advance(seconds: number): void { this.t += seconds * 1000; }
}

/** An issuance stand-in: answers what it is told and records what it was asked. */
export class FakeEligibility implements TransferEligibility {
  asked: EligibilityQuery[] = [];
  constructor(public answer: EligibilityAnswer | Error = { eligible: true, reasons: [] }) {}
  async check(q: EligibilityQuery): Promise<EligibilityAnswer> {
    this.asked.push(q);
    if (this.answer instanceof Error) throw this.answer;
    return this.answer;
  }
}

export function testEnv(db: Db, o: { clock?: TestClock; defaults?: WithdrawalPolicy; eligibility?: TransferEligibility } = {}): CustodyEnv {
  const clock = o.clock ?? new TestClock();
  return { db, now: clock.now, defaults: o.defaults ?? testPolicy(), eligibility: o.eligibility ?? new FakeEligibility(), investorExists: knowsEveryInvestor };
}

export async function count(db: Db, sql: string, params: unknown[] = []): Promise<number> {
  const [r] = await db.query<{ n: string }>(sql, params);
  return Number(r.n);
}

/** The account's active wallet address. */
export async function walletOf(db: Db, accountId: string): Promise<string> {
  const [w] = await db.query<{ address: string }>('SELECT address FROM wallets WHERE account_id = $1 AND retired_at IS NULL', [accountId]);
  return w.address;
}

/** Payloads of the outbox events of a topic, oldest first. */
export async function eventsOf<T = Record<string, unknown>>(db: Db, topic: string): Promise<T[]> {
  return (await db.query<{ payload: T }>('SELECT payload FROM outbox WHERE topic = $1 ORDER BY seq', [topic])).map((r) => r.payload);
}

/**
 * PostgreSQL: runs `work` while another session holds the balance rows of `accountId`, and kills (pg_terminate_backend)
 * each session that waits on them, up to `kills` times (a list, then its item run alone), until `work` settles.
 */
export async function killSessionsWaitingOn<T>(url: string, accountId: string, work: () => Promise<T>, kills = 2): Promise<T> {
  const blocker = new pg.Client({ connectionString: url });
  const admin = new pg.Client({ connectionString: url });
  await blocker.connect();
  await admin.connect();
  const waiting = "FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND query LIKE '%balances%'";
  let settled = false;
  try {
    await blocker.query('BEGIN');
    await blocker.query('SELECT 1 FROM balances WHERE account_id = $1 FOR UPDATE', [accountId]);
    const outcome = work().finally(() => { settled = true; });
    for (let n = 0; n < kills;) {
      await until('a session waiting on the held balance, or the answer', async () => settled || (await admin.query(`SELECT 1 ${waiting}`)).rowCount);
      if (settled) break;
      n += (await admin.query(`SELECT pg_terminate_backend(pid) ${waiting}`)).rowCount ?? 0;
    }
    return await outcome;
  } finally {
    await blocker.query('ROLLBACK');
    await blocker.end();
    await admin.end();
  }
}
