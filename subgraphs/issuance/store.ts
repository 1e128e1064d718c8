import type { Queryable } from '../kit/db/types.js';
import { pgCode, pgConstraint, PgCode } from '../kit/db/types.js';
import { insertOnce } from '../kit/idempotency.js';
import { appError } from '../kit/errors.js';

export interface TokenRow {
  id: string; issuer_org: string; name: string; symbol: string; decimals: number; exemption: string;
  status: string; total_supply: string; idempotency_key: string; request_hash: string; created_at: Date;
}

export interface InvestorRow {
  id: string; org: string; legal_name: string; type: string; jurisdiction: string; us_person: boolean;
  idempotency_key: string; request_hash: string; created_at: Date;
}

export async function insertToken(q: Queryable, t: Omit<TokenRow, 'status' | 'total_supply' | 'created_at'>) {
  try {
    return await insertOnce<TokenRow>(
      q,
      {
        sql: `INSERT INTO security_tokens (id, issuer_org, name, symbol, decimals, exemption, idempotency_key, request_hash)
              VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (issuer_org, idempotency_key) DO NOTHING RETURNING *`,
        params: [t.id, t.issuer_org, t.name, t.symbol, t.decimals, t.exemption, t.idempotency_key, t.request_hash],
      },
      { sql: 'SELECT * FROM security_tokens WHERE issuer_org = $1 AND idempotency_key = $2', params: [t.issuer_org, t.idempotency_key] },
      t.request_hash,
      t.idempotency_key,
    );
  } catch (e) {
    if (pgCode(e) === PgCode.uniqueViolation && pgConstraint(e)?.includes('symbol')) {
      throw appError('ISSUANCE.SYMBOL_TAKEN', `your organisation already has a token with symbol ${t.symbol}`);
    }
    throw e;
  }
}

export const listTokens = (q: Queryable) => q.query<TokenRow>('SELECT * FROM security_tokens ORDER BY created_at, id');

export const tokensByIds = (q: Queryable, ids: readonly string[]) =>
  q.query<TokenRow>('SELECT * FROM security_tokens WHERE id = ANY($1::text[])', [ids]);

export async function insertInvestor(q: Queryable, i: Omit<InvestorRow, 'created_at'>) {
  return insertOnce<InvestorRow>(
    q,
    {
      sql: `INSERT INTO investors (id, org, legal_name, type, jurisdiction, us_person, idempotency_key, request_hash)
            VALUES ($1,$2,$3,$4,$5,$6,$7,$8) ON CONFLICT (org, idempotency_key) DO NOTHING RETURNING *`,
      params: [i.id, i.org, i.legal_name, i.type, i.jurisdiction, i.us_person, i.idempotency_key, i.request_hash],
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
