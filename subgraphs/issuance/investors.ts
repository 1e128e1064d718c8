import type { Caller } from '../kit/auth.js';
import { requireRole } from '../kit/access.js';
import type { Db, Queryable } from '../kit/db/types.js';
import { appError, badInput } from '../kit/errors.js';
import { requestHash } from '../kit/idempotency.js';
import { newId } from '../kit/ids.js';
import { appendEvent } from '../kit/outbox.js';
import { checkIdempotencyKey, investorOfCaller, requireReason } from './access.js';
import { insertWallet, recountAccreditation, upsertAffiliation, walletOwner } from './store/holdings.js';
import { audit } from './store/records.js';
import { enqueueChainJob } from './store/chain.js';
import { addCustodian, insertInvestor, investorExists, investorRow, setAccreditation, setAmlScreening, setKyc, type InvestorRow } from './store/investors.js';
import { accreditedNow } from './accreditation.js';
import type { ComplianceConfig } from './domain/compliance/index.js';

export interface RegisterInvestorInput {
  idempotencyKey: string; legalName: string; type: string; jurisdiction: string; usPerson: boolean;
  issuerRelation?: string | null; annualIncomeCents?: bigint | null; netWorthCents?: bigint | null;
}

const ONBOARDING_ROLES = ['ISSUER_AGENT', 'COMPLIANCE_OFFICER', 'BROKER_DEALER'] as const;

const nonNegative = (v: bigint | null | undefined, name: string) => {
  if (v === null || v === undefined) return null;
  if (v < 0n) throw badInput('INVALID_AMOUNT', `${name} cannot be negative`);
  return v.toString();
};

export async function registerInvestor(db: Db, caller: Caller, input: RegisterInvestorInput) {
  requireRole(caller, ...ONBOARDING_ROLES);
  checkIdempotencyKey(input.idempotencyKey);
  const legalName = input.legalName.trim();
  if (!legalName || legalName.length > 300) throw badInput('INVALID_LEGAL_NAME', 'legalName must be 1 to 300 characters');
  const hash = requestHash(input);
  return db.tx(async (q) => {
    const { row, created } = await insertInvestor(q, {
      id: newId('inv'), org: caller.org, legal_name: legalName, type: input.type, jurisdiction: input.jurisdiction,
      us_person: input.usPerson, idempotency_key: input.idempotencyKey, request_hash: hash, issuer_relation: input.issuerRelation ?? 'NONE',
      annual_income_cents: nonNegative(input.annualIncomeCents, 'annualIncomeCents'), net_worth_cents: nonNegative(input.netWorthCents, 'netWorthCents'),
    });
    if (created) {
      await audit(q, caller, 'investor.registered', row.id, null, { jurisdiction: row.jurisdiction, usPerson: row.us_person, type: row.type });
      await appendEvent(q, 'investor.registered', row.id, { investorId: row.id, org: row.org, jurisdiction: row.jurisdiction });
    }
    return row;
  });
}

/** One credential change: validated, written, audited, announced, and mirrored on chain by a queued job. */
async function changeCredential(
  db: Db, caller: Caller, investorId: string, reason: string, action: string,
  apply: (q: Queryable, i: InvestorRow) => Promise<Record<string, unknown>>,
): Promise<InvestorRow> {
  const why = requireReason(reason);
  return db.tx(async (q) => {
    const before = await investorOfCaller(q, caller, investorId, [...ONBOARDING_ROLES], true);
    const details = await apply(q, before);
    await audit(q, caller, action, investorId, why, details);
    await enqueueChainJob(q, 'SYNC_CLAIMS', investorId);
    await appendEvent(q, 'investor.credentials_changed', investorId, { investorId, action, ...details });
    return (await investorRow(q, investorId))!;
  });
}

export function recordKyc(db: Db, caller: Caller, a: { investorId: string; status: string; approvedAt?: Date | null; expiresAt?: Date | null; reason: string }) {
  if (a.status === 'APPROVED' && !a.approvedAt) throw badInput('KYC_APPROVAL_DATE_REQUIRED', 'an APPROVED KYC needs approvedAt');
  if (a.approvedAt && a.expiresAt && a.expiresAt <= a.approvedAt) throw badInput('INVALID_EXPIRY', 'expiresAt must be after approvedAt');
  return changeCredential(db, caller, a.investorId, a.reason, 'investor.kyc_recorded', async (q) => {
    await setKyc(q, a.investorId, a.status, a.approvedAt ?? null, a.expiresAt ?? null);
    return { status: a.status, approvedAt: a.approvedAt, expiresAt: a.expiresAt };
  });
}

export function recordAmlScreening(db: Db, caller: Caller, a: { investorId: string; status: string; screenedAt: Date; reason: string }) {
  if (a.screenedAt.getTime() > Date.now() + 60_000) throw badInput('INVALID_SCREENING_DATE', 'screenedAt cannot be in the future');
  return changeCredential(db, caller, a.investorId, a.reason, 'investor.aml_recorded', async (q) => {
    await setAmlScreening(q, a.investorId, a.status, a.screenedAt);
    return { status: a.status, screenedAt: a.screenedAt };
  });
}

export function recordAccreditation(db: Db, config: ComplianceConfig, caller: Caller, a: { investorId: string; accredited: boolean; method: string; verifiedAt: Date; expiresAt?: Date | null; reason: string }) {
  if (a.verifiedAt.getTime() > Date.now() + 60_000) throw badInput('INVALID_VERIFICATION_DATE', 'verifiedAt cannot be in the future');
  if (a.expiresAt && a.expiresAt <= a.verifiedAt) throw badInput('INVALID_EXPIRY', 'expiresAt must be after verifiedAt');
  return changeCredential(db, caller, a.investorId, a.reason, 'investor.accreditation_recorded', async (q) => {
    await setAccreditation(q, a.investorId, { accredited: a.accredited, method: a.method, verifiedAt: a.verifiedAt, expiresAt: a.expiresAt ?? null });
    // Holder counters count by accreditation in effect: move this investor between buckets where it holds.
    const now = accreditedNow({ accredited: a.accredited, accreditation_verified_at: a.verifiedAt, accreditation_expires_at: a.expiresAt ?? null }, config);
    await recountAccreditation(q, a.investorId, now);
    return { accredited: a.accredited, method: a.method, verifiedAt: a.verifiedAt, expiresAt: a.expiresAt };
  });
}

export async function addInvestorWallet(db: Db, caller: Caller, a: { investorId: string; address: string; reason: string }) {
  const why = requireReason(a.reason);
  return db.tx(async (q) => {
    await investorOfCaller(q, caller, a.investorId, [...ONBOARDING_ROLES, 'CUSTODIAN'], true);
    await attachWallet(q, caller, a.investorId, a.address, why);
    return (await investorRow(q, a.investorId))!;
  });
}

/**
 * Links a wallet to an investor inside the caller's transaction, queues its
 * on-chain registration and announces it. Linking the same wallet again is a
 * no-op; a wallet of another investor is refused.
 */
export async function attachWallet(q: Queryable, caller: Caller, investorId: string, address: string, why: string): Promise<boolean> {
  const owner = await walletOwner(q, address);
  if (owner) {
    if (owner.investor_id === investorId) return false;
    throw appError('ISSUANCE.WALLET_TAKEN', `wallet ${address} already belongs to another investor`);
  }
  await insertWallet(q, address, investorId);
  await audit(q, caller, 'investor.wallet_added', investorId, why, { address });
  await enqueueChainJob(q, 'REGISTER_WALLET', investorId, { address });
  await appendEvent(q, 'investor.wallet_added', investorId, { investorId, address });
  return true;
}

/** Custody as the actor of what its feeds bring (an account's wallet, a payment's outcome). */
export const CUSTODY_SERVICE: Caller = { kind: 'service', subject: 'custody', org: 'tokenstack', roles: [], token: '' };

/** A custody account opened for a known investor brings its wallet; an unknown investor is logged by the caller and skipped. */
export async function walletFromCustody(q: Queryable, e: { investorId: string; walletAddress: string; accountId: string; org?: string }): Promise<void> {
  if (!(await investorExists(q, e.investorId))) return; // custody checks the investor at opening; nothing to link otherwise
  // The custodian organisation is the investor's too (who may ask about its eligibility).
  if (typeof e.org === 'string' && e.org) {
    // With which custodian holds which wallet: a custodian votes the units its wallets hold (votes.ts).
    await addCustodian(q, e.investorId, e.org, e.walletAddress);
  }
  await attachWallet(q, CUSTODY_SERVICE, e.investorId, e.walletAddress, `custody account ${e.accountId} opened`);
}

/**
 * Marks the investor an affiliate of the issuer from `since` until `until`
 * (open: still one), as the issuer's agent or compliance officer records it
 * (17 CFR 230.144(a)(1): controls, is controlled by or is under common
 * control with the issuer). The same start again re-dates that period, so a
 * retry changes nothing. Decisions read the periods by date: an affiliate's
 * sales meet Rule 144's conditions, its buyers start a new holding period.
 */
export async function recordAffiliation(db: Db, caller: Caller, a: { investorId: string; since: Date; until?: Date | null; reason: string }): Promise<InvestorRow> {
  const why = requireReason(a.reason);
  if (a.until && a.until.getTime() <= a.since.getTime()) throw badInput('INVALID_PERIOD', 'until must be after since');
  return db.tx(async (q) => {
    const investor = await investorOfCaller(q, caller, a.investorId, ['ISSUER_AGENT', 'COMPLIANCE_OFFICER'], true);
    const row = await upsertAffiliation(q, { investor_id: investor.id, since: a.since, until: a.until ?? null, reason: why, recorded_by: caller.subject });
    await audit(q, caller, 'investor.affiliation_recorded', investor.id, why, { since: row.since, until: row.until });
    await appendEvent(q, 'investor.credentials_changed', investor.id, { investorId: investor.id, action: 'investor.affiliation_recorded', since: row.since, until: row.until });
    return investor;
  });
}
