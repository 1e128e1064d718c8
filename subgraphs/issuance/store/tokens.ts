import type { Queryable } from '../../kit/db/types.js';
import { pgCode, pgConstraint, PgCode } from '../../kit/db/types.js';
import { insertOnce } from '../../kit/idempotency.js';
import { appError } from '../../kit/errors.js';

export interface TokenRow {
  id: string; issuer_org: string; name: string; symbol: string; decimals: number; exemption: string;
  status: string; total_supply: string; idempotency_key: string; request_hash: string; created_at: Date;
  issuer_reporting_since: Date | null; reg_s: RegSJson | null; listed_on_national_exchange: boolean;
  policy: PolicyJson; paused: boolean; chain: ChainJson | null; deployed_block: string | null; deployed_at: Date | null;
}

/** Stored forms (jsonb): amounts as decimal strings, instants as ISO strings. */
export interface RegSJson { category: string; securityType: string; domesticIssuer: boolean; distributionCompliancePeriodStart: string }
export interface PolicyJson {
  allowedCountries?: string[]; blockedCountries?: string[]; maxBalance?: string; maxSupplyShareBps?: number; minHolding?: string;
  maxHolders?: number; maxUsHolders?: number; apply12gHolderCaps?: boolean; fund3c1?: boolean; qualifyingVentureCapitalFund?: boolean;
  lockupUntil?: string; allowOffshoreResales?: boolean;
}
export interface ChainJson {
  chainId: number; token: string; identityRegistry: string; identityRegistryStorage: string; claimTopicsRegistry: string;
  trustedIssuersRegistry: string; compliance: string; rulesModule?: string;
}

type NewToken = Pick<TokenRow, 'id' | 'issuer_org' | 'name' | 'symbol' | 'decimals' | 'exemption' | 'idempotency_key' | 'request_hash' | 'issuer_reporting_since' | 'reg_s' | 'listed_on_national_exchange' | 'policy'>;

export async function insertToken(q: Queryable, t: NewToken) {
  try {
    return await insertOnce<TokenRow>(
      q,
      {
        sql: `INSERT INTO security_tokens (id, issuer_org, name, symbol, decimals, exemption, idempotency_key, request_hash,
                issuer_reporting_since, reg_s, listed_on_national_exchange, policy)
              VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) ON CONFLICT (issuer_org, idempotency_key) DO NOTHING RETURNING *`,
        params: [t.id, t.issuer_org, t.name, t.symbol, t.decimals, t.exemption, t.idempotency_key, t.request_hash,
          t.issuer_reporting_since, t.reg_s && JSON.stringify(t.reg_s), t.listed_on_national_exchange, JSON.stringify(t.policy)],
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

export async function tokenForUpdate(q: Queryable, id: string): Promise<TokenRow | undefined> {
  const [t] = await q.query<TokenRow>('SELECT * FROM security_tokens WHERE id = $1 FOR UPDATE', [id]);
  return t;
}

export const deployedTokens = (q: Queryable) => q.query<TokenRow>("SELECT * FROM security_tokens WHERE chain IS NOT NULL ORDER BY created_at");

