import type { Caller } from '../kit/auth.js';
import { requireRole } from '../kit/access.js';
import type { Db } from '../kit/db/types.js';
import { badInput } from '../kit/errors.js';
import { requestHash } from '../kit/idempotency.js';
import { newId } from '../kit/ids.js';
import { appendEvent } from '../kit/outbox.js';
import { checkIdempotencyKey, requireReason, tokenOfIssuer } from './access.js';
import { refuseDuringSplit } from './store/splits.js';
import { audit, insertDocument } from './store/records.js';
import { enqueueChainJob } from './store/chain.js';
import { insertHolderCounts, insertToken, setPolicy, type PolicyJson, type RegSJson } from './store/tokens.js';

export interface PolicyInput {
  allowedCountries?: string[] | null; blockedCountries?: string[] | null; maxBalance?: bigint | null; maxSupplyShareBps?: number | null;
  minHolding?: bigint | null; maxHolders?: number | null; maxUsHolders?: number | null; apply12gHolderCaps?: boolean | null;
  fund3c1?: boolean | null; qualifyingVentureCapitalFund?: boolean | null; lockupUntil?: Date | null;
  allowOffshoreResales?: boolean | null;
}

export interface CreateTokenInput {
  idempotencyKey: string; name: string; symbol: string; decimals: number; exemption: string;
  issuerReportingSince?: Date | null; regS?: { category: string; securityType: string; domesticIssuer: boolean; distributionCompliancePeriodStart: Date } | null;
  listedOnNationalExchange?: boolean | null; transferRules?: PolicyInput | null;
}

/** Validated policy in its stored form; every limit is the issuer's configuration. */
export function policyJson(p: PolicyInput | null | undefined): PolicyJson {
  if (!p) return {};
  const out: PolicyJson = {};
  const int = (v: number | null | undefined, name: string, min: number, max: number) => {
    if (v === null || v === undefined) return undefined;
    if (!Number.isInteger(v) || v < min || v > max) throw badInput('INVALID_TRANSFER_RULES', `${name} must be an integer from ${min} to ${max}`);
    return v;
  };
  const amount = (v: bigint | null | undefined, name: string) => {
    if (v === null || v === undefined) return undefined;
    if (v <= 0n) throw badInput('INVALID_TRANSFER_RULES', `${name} must be positive`);
    return v.toString();
  };
  if (p.allowedCountries) out.allowedCountries = [...new Set(p.allowedCountries)].sort();
  if (p.blockedCountries) out.blockedCountries = [...new Set(p.blockedCountries)].sort();
  if (out.allowedCountries && out.blockedCountries?.some((c) => out.allowedCountries!.includes(c))) {
    throw badInput('INVALID_TRANSFER_RULES', 'a country cannot be both allowed and blocked');
  }
  out.maxBalance = amount(p.maxBalance, 'maxBalance');
  out.minHolding = amount(p.minHolding, 'minHolding');
  out.maxSupplyShareBps = int(p.maxSupplyShareBps, 'maxSupplyShareBps', 1, 10_000);
  out.maxHolders = int(p.maxHolders, 'maxHolders', 1, 10_000_000);
  out.maxUsHolders = int(p.maxUsHolders, 'maxUsHolders', 0, 10_000_000);
  if (p.apply12gHolderCaps !== null && p.apply12gHolderCaps !== undefined) out.apply12gHolderCaps = p.apply12gHolderCaps;
  if (p.fund3c1) out.fund3c1 = true;
  if (p.qualifyingVentureCapitalFund) out.qualifyingVentureCapitalFund = true;
  if (p.lockupUntil) out.lockupUntil = p.lockupUntil.toISOString();
  if (p.allowOffshoreResales) out.allowOffshoreResales = true;
  if (out.maxBalance && out.minHolding && BigInt(out.minHolding) > BigInt(out.maxBalance)) throw badInput('INVALID_TRANSFER_RULES', 'minHolding cannot exceed maxBalance');
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as PolicyJson;
}

export async function createSecurityToken(db: Db, caller: Caller, input: CreateTokenInput) {
  requireRole(caller, 'ISSUER_AGENT');
  checkIdempotencyKey(input.idempotencyKey);
  const name = input.name.trim();
  if (!name || name.length > 200) throw badInput('INVALID_NAME', 'name must be 1 to 200 characters');
  if (!/^[A-Z0-9.]{1,11}$/.test(input.symbol)) throw badInput('INVALID_SYMBOL', 'symbol must be 1 to 11 characters of A-Z, 0-9 and "."');
  if (!Number.isInteger(input.decimals) || input.decimals < 0 || input.decimals > 18) throw badInput('INVALID_DECIMALS', 'decimals must be an integer from 0 to 18');
  if (input.exemption === 'REG_S' && !input.regS) throw badInput('REG_S_TERMS_REQUIRED', 'a REG_S token needs regS terms (category, security type, distribution compliance period start)');
  if (input.exemption !== 'REG_S' && input.regS) throw badInput('REG_S_TERMS_UNEXPECTED', 'regS terms only apply to a REG_S token');
  const regS: RegSJson | null = input.regS
    ? { ...input.regS, distributionCompliancePeriodStart: input.regS.distributionCompliancePeriodStart.toISOString() }
    : null;
  const policy = policyJson(input.transferRules);
  const hash = requestHash(input);
  return db.tx(async (q) => {
    const { row, created } = await insertToken(q, {
      id: newId('tok'), issuer_org: caller.org, name, symbol: input.symbol, decimals: input.decimals, exemption: input.exemption,
      idempotency_key: input.idempotencyKey, request_hash: hash, issuer_reporting_since: input.issuerReportingSince ?? null,
      reg_s: regS, listed_on_national_exchange: !!input.listedOnNationalExchange, policy,
    });
    if (created) {
      await insertHolderCounts(q, row.id);
      await audit(q, caller, 'token.created', row.id, null, { symbol: row.symbol, exemption: row.exemption, policy });
      await appendEvent(q, 'token.created', row.id, { tokenId: row.id, symbol: row.symbol, exemption: row.exemption, issuerOrg: row.issuer_org });
    }
    return row;
  });
}

export async function setTransferRules(db: Db, caller: Caller, tokenId: string, rules: PolicyInput, reason: string) {
  const why = requireReason(reason);
  const policy = policyJson(rules);
  return db.tx(async (q) => {
    const before = await tokenOfIssuer(q, caller, tokenId, ['ISSUER_AGENT', 'COMPLIANCE_OFFICER'], true);
    await refuseDuringSplit(q, [tokenId], 'changing the transfer rules'); // the split scales the per-unit limits
    const row = await setPolicy(q, tokenId, policy);
    await audit(q, caller, 'token.rules_set', tokenId, why, { before: before.policy, policy });
    if (before.chain) await enqueueChainJob(q, 'SYNC_RULES', tokenId); // the compliance module gets the same figures
    await appendEvent(q, 'token.rules_changed', tokenId, { tokenId, policy });
    return row;
  });
}

export async function attachDocument(db: Db, caller: Caller, tokenId: string, d: { name: string; uri: string; hash: string }) {
  const name = d.name.trim();
  if (!name || name.length > 200) throw badInput('INVALID_NAME', 'name must be 1 to 200 characters');
  let uri: URL;
  try { uri = new URL(d.uri); } catch { throw badInput('INVALID_URI', 'uri must be an absolute URI'); }
  if (!['https:', 'ipfs:', 'ar:', 'http:'].includes(uri.protocol)) throw badInput('INVALID_URI', 'uri must be https, http, ipfs or ar');
  if (!/^0x[0-9a-fA-F]{64}$/.test(d.hash)) throw badInput('INVALID_HASH', 'hash must be 32 bytes as 0x-hex (keccak256 or sha-256 of the document)');
  return db.tx(async (q) => {
    await tokenOfIssuer(q, caller, tokenId, ['ISSUER_AGENT'], true);
    const doc = await insertDocument(q, { token_id: tokenId, name, uri: d.uri, hash: d.hash.toLowerCase(), attached_by: caller.subject });
    await audit(q, caller, 'token.document_attached', tokenId, null, { name, version: doc.version, hash: doc.hash });
    return doc;
  });
}
