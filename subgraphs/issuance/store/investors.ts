import type { Queryable } from '../../kit/db/types.js';
import { insertOnce } from '../../kit/idempotency.js';

/** SQL of the investors register (investors, and the organisations holding a custody account for one). */

export interface InvestorRow {
  id: string; org: string; legal_name: string; type: string; jurisdiction: string; us_person: boolean;
  idempotency_key: string; request_hash: string; created_at: Date;
  kyc_status: string; kyc_approved_at: Date | null; kyc_expires_at: Date | null;
  aml_status: string; aml_screened_at: Date | null;
  accredited: boolean | null; accreditation_method: string | null; accreditation_verified_at: Date | null; accreditation_expires_at: Date | null;
  issuer_relation: string; annual_income_cents: string | null; net_worth_cents: string | null; identity_address: string | null;
}

type NewInvestor = Pick<InvestorRow, 'id' | 'org' | 'legal_name' | 'type' | 'jurisdiction' | 'us_person' | 'idempotency_key' | 'request_hash' | 'issuer_relation' | 'annual_income_cents' | 'net_worth_cents'>;

export async function insertInvestor(q: Queryable, i: NewInvestor) {
  return insertOnce<InvestorRow>(
    q,
    {
      sql: `INSERT INTO investors (id, org, legal_name, type, jurisdiction, us_person, idempotency_key, request_hash, issuer_relation, annual_income_cents, net_worth_cents)
            VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) ON CONFLICT (org, idempotency_key) DO NOTHING RETURNING *`,
      params: [i.id, i.org, i.legal_name, i.type, i.jurisdiction, i.us_person, i.idempotency_key, i.request_hash, i.issuer_relation, i.annual_income_cents, i.net_worth_cents],
    },
    { sql: 'SELECT * FROM investors WHERE org = $1 AND idempotency_key = $2', params: [i.org, i.idempotency_key] },
    i.request_hash,
    i.idempotency_key,
  );
}

export const investorsOfOrg = (q: Queryable, org: string) =>
  q.query<InvestorRow>('SELECT * FROM investors WHERE org = $1 ORDER BY created_at, id', [org]);

export const investorsByIds = (q: Queryable, ids: readonly string[]) =>
  q.query<InvestorRow>('SELECT * FROM investors WHERE id = ANY($1::text[])', [ids]);

/** One investor; `lock` takes its row lock. */
export async function investorRow(q: Queryable, id: string, lock = false): Promise<InvestorRow | undefined> {
  const [i] = await q.query<InvestorRow>(`SELECT * FROM investors WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
  return i;
}


/** The organisations of each investor: the one that registered it and those holding a custody account for it. */
export const investorOrgs = (q: Queryable, investorIds: readonly string[]) =>
  q.query<{ id: string; org: string }>(
    'SELECT id, org FROM investors WHERE id = ANY($1::text[]) UNION SELECT investor_id, org FROM investor_custodians WHERE investor_id = ANY($1::text[])', [investorIds]);

export async function investorExists(q: Queryable, id: string): Promise<boolean> {
  const [i] = await q.query('SELECT 1 FROM investors WHERE id = $1', [id]);
  return !!i;
}

export async function setKyc(q: Queryable, id: string, status: string, approvedAt: Date | null, expiresAt: Date | null): Promise<void> {
  await q.query('UPDATE investors SET kyc_status = $2, kyc_approved_at = $3, kyc_expires_at = $4 WHERE id = $1', [id, status, approvedAt, expiresAt]);
}

export async function setAmlScreening(q: Queryable, id: string, status: string, screenedAt: Date): Promise<void> {
  await q.query('UPDATE investors SET aml_status = $2, aml_screened_at = $3 WHERE id = $1', [id, status, screenedAt]);
}

export async function setAccreditation(q: Queryable, id: string, a: { accredited: boolean; method: string; verifiedAt: Date; expiresAt: Date | null }): Promise<void> {
  await q.query(
    'UPDATE investors SET accredited = $2, accreditation_method = $3, accreditation_verified_at = $4, accreditation_expires_at = $5 WHERE id = $1',
    [id, a.accredited, a.method, a.verifiedAt, a.expiresAt],
  );
}

/** A custodian organisation of the investor, and which of its wallets that custodian holds (a custodian votes the units they hold). */
export async function addCustodian(q: Queryable, investorId: string, org: string, walletAddress: string): Promise<void> {
  await q.query('INSERT INTO investor_custodians (investor_id, org) VALUES ($1, $2) ON CONFLICT DO NOTHING', [investorId, org]);
  await q.query('INSERT INTO custodian_wallets (address, investor_id, org) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING', [walletAddress, investorId, org]);
}

/** How many of the investors and the token issuance knows (each counts once). */
export async function knownParties(q: Queryable, investorIds: readonly string[], tokenId: string): Promise<number> {
  const [known] = await q.query<{ n: string }>(
    'SELECT (SELECT count(*) FROM investors WHERE id = ANY($1::text[])) + (SELECT count(*) FROM security_tokens WHERE id = $2) AS n',
    [investorIds, tokenId],
  );
  return Number(known.n);
}

/** What another subgraph may know of an investor (issuance's internal `investor`). */
export async function investorFacts(q: Queryable, id: string): Promise<{ id: string; org: string; jurisdiction: string; us_person: boolean } | null> {
  const [i] = await q.query<{ id: string; org: string; jurisdiction: string; us_person: boolean }>('SELECT id, org, jurisdiction, us_person FROM investors WHERE id = $1', [id]);
  return i ?? null;
}
