import { type Caller, type Role } from '../kit/auth.js';
import { requireRole, canSee } from '../kit/access.js';
import type { Queryable } from '../kit/db/types.js';
import { badInput, forbidden, notFound } from '../kit/errors.js';
import { tokenRow, type TokenRow } from './store/tokens.js';
import { investorRow, type InvestorRow } from './store/investors.js';
import { requireIdempotencyKey } from '../kit/inputs.js';

/** Tokens are public; changing one needs the issuer's organisation and one of the roles. */
export async function tokenOfIssuer(q: Queryable, caller: Caller, tokenId: string, roles: Role[], lock = false): Promise<TokenRow> {
  requireRole(caller, ...roles);
  const t = await tokenRow(q, tokenId, lock);
  if (!t) throw notFound('security token', tokenId);
  if (caller.kind === 'user' && t.issuer_org !== caller.org) throw forbidden(`token ${tokenId} belongs to another organisation`);
  return t;
}

/** Investors are private to the organisation that onboarded them: another organisation gets NOT_FOUND. */
export async function investorOfCaller(q: Queryable, caller: Caller, investorId: string, roles: Role[], lock = false): Promise<InvestorRow> {
  requireRole(caller, ...roles);
  const i = await investorRow(q, investorId, lock);
  if (!i || !canSee(caller, { org: i.org, investorId: i.id })) throw notFound('investor', investorId);
  return i;
}

/** An issuer may act on any investor (holders come from many organisations); the token decides. */
export async function investorById(q: Queryable, investorId: string, lock = false): Promise<InvestorRow> {
  const i = await investorRow(q, investorId, lock);
  if (!i) throw notFound('investor', investorId);
  return i;
}

export function requireReason(reason: string): string {
  const r = reason.trim();
  if (r.length < 3 || r.length > 1000) throw badInput('REASON_REQUIRED', 'a reason of 3 to 1000 characters is required');
  return r;
}

/** kit/inputs.ts: 1 to 128 printable characters, else INPUT.INVALID_IDEMPOTENCY_KEY. */
export function checkIdempotencyKey(key: string): void {
  requireIdempotencyKey(key);
}

const MAX_UINT256 = (1n << 256n) - 1n;

/** A token amount the chain can carry: > 0 and within uint256. */
export function positive(amount: bigint, field = 'amount'): bigint {
  if (amount <= 0n) throw badInput('INVALID_AMOUNT', `${field} must be positive`);
  if (amount > MAX_UINT256) throw badInput('AMOUNT_TOO_LARGE', `${field} exceeds what a token can hold (2^256 - 1)`);
  return amount;
}
