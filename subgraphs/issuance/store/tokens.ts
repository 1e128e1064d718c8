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

/** One token; `lock` takes its row lock (a change decided on what it reads). */
export async function tokenRow(q: Queryable, id: string, lock = false): Promise<TokenRow | undefined> {
  const [t] = await q.query<TokenRow>(`SELECT * FROM security_tokens WHERE id = $1${lock ? ' FOR UPDATE' : ''}`, [id]);
  return t;
}

/** The tokens on chain: all, one issuer's, or the one named if it is. */
export function deployedTokens(q: Queryable, only: { tokenId?: string; issuerOrg?: string } = {}) {
  const [where, params] = only.tokenId ? [' AND id = $1', [only.tokenId]] : only.issuerOrg ? [' AND issuer_org = $1', [only.issuerOrg]] : ['', []];
  return q.query<TokenRow>(`SELECT * FROM security_tokens WHERE chain IS NOT NULL${where} ORDER BY id`, params);
}

export async function setTokenPaused(q: Queryable, tokenId: string, paused: boolean): Promise<TokenRow> {
  const [row] = await q.query<TokenRow>(
    `UPDATE security_tokens SET paused = $2, status = CASE WHEN $2 THEN 'PAUSED' ELSE 'DEPLOYED' END WHERE id = $1 RETURNING *`,
    [tokenId, paused],
  );
  return row;
}

/** A new token starts with its holder counters at zero. */
export async function insertHolderCounts(q: Queryable, tokenId: string): Promise<void> {
  await q.query('INSERT INTO holder_counts (token_id) VALUES ($1)', [tokenId]);
}

export async function setPolicy(q: Queryable, tokenId: string, policy: PolicyJson): Promise<TokenRow> {
  const [row] = await q.query<TokenRow>('UPDATE security_tokens SET policy = $2::jsonb WHERE id = $1 RETURNING *', [tokenId, JSON.stringify(policy)]);
  return row;
}

/** Supply follows the chain's mints and burns (chain/indexer.ts). */
export async function moveSupply(q: Queryable, tokenId: string, delta: bigint): Promise<void> {
  if (delta > 0n) await q.query('UPDATE security_tokens SET total_supply = total_supply + $2 WHERE id = $1', [tokenId, delta.toString()]);
  else await q.query('UPDATE security_tokens SET total_supply = total_supply - $2 WHERE id = $1', [tokenId, (-delta).toString()]);
}

/** The suite deployed for the token, recorded with the block the indexer starts from. */
export async function setDeployed(q: Queryable, tokenId: string, record: ChainJson, block: number): Promise<TokenRow> {
  const [row] = await q.query<TokenRow>(
    `UPDATE security_tokens SET chain = $2::jsonb, deployed_block = $3, deployed_at = now(), status = 'DEPLOYED' WHERE id = $1 RETURNING *`,
    [tokenId, JSON.stringify(record), block],
  );
  await q.query('INSERT INTO chain_cursors (name, block) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [`token:${tokenId}`, Math.max(0, block - 1)]);
  return row;
}

export async function issuerOrgOf(q: Queryable, tokenId: string): Promise<string | undefined> {
  const [t] = await q.query<{ issuer_org: string }>('SELECT issuer_org FROM security_tokens WHERE id = $1', [tokenId]);
  return t?.issuer_org;
}

/** A redeemed token is paused for good. */
export async function markRedeemed(q: Queryable, tokenId: string): Promise<void> {
  await q.query(`UPDATE security_tokens SET paused = true, status = 'REDEEMED' WHERE id = $1`, [tokenId]);
}

/** What another subgraph may know of a token (issuance's internal `token`). */
export async function tokenFacts(q: Queryable, id: string): Promise<{ id: string; symbol: string; decimals: number; exemption: string; paused: boolean; chain: unknown } | null> {
  const [t] = await q.query<{ id: string; symbol: string; decimals: number; exemption: string; paused: boolean; chain: unknown }>(
    'SELECT id, symbol, decimals, exemption, paused, chain FROM security_tokens WHERE id = $1', [id],
  );
  return t ?? null;
}
