import { createSecretKey, type KeyObject } from 'node:crypto';
import { SignJWT, errors as joseErrors, importSPKI, jwtVerify, type JWTPayload } from 'jose';
import { GraphQLError } from 'graphql';
import { forbidden, unauthenticated } from './errors.js';

export const ROLES = [
  'ISSUER_AGENT', 'INVESTOR', 'BROKER_DEALER', 'ATS_OPERATOR', 'SETTLEMENT_AGENT',
  'CUSTODIAN', 'COMPLIANCE_OFFICER', 'AUDITOR',
] as const;
export type Role = (typeof ROLES)[number];

/** Who is calling, as verified from the bearer token. Every read and write is scoped to `org`. */
export interface Caller {
  kind: 'user' | 'service';
  subject: string;
  org: string;
  roles: Role[];
  /** Set for INVESTOR callers: they see only their own orders and holdings. */
  investorId?: string;
  /** The verified token, forwarded on internal calls made on the caller's behalf. */
  token: string;
}

export interface AuthSettings {
  /** HS256 secret (>= 32 chars); or publicKey for RS256/ES256 tokens from an identity provider. */
  secret?: string;
  publicKey?: string;
  issuer: string;
  audience: string;
  /** HS256 secret for service-to-service credentials (internal feed, internal mutations); absent at the public gateway, which refuses them. */
  serviceSecret?: string;
}

export const SERVICE_AUDIENCE = 'tokenstack-internal';

async function userKey(s: AuthSettings): Promise<KeyObject | CryptoKey | Uint8Array> {
  if (s.publicKey) return importSPKI(s.publicKey, s.publicKey.includes('RSA') ? 'RS256' : 'ES256');
  if (s.secret) return createSecretKey(Buffer.from(s.secret));
  throw new Error('auth: neither a secret nor a public key is configured');
}

/** Reason codes under extensions.reason so that clients can tell a stale token from a forged one. */
function authFailure(e: unknown): GraphQLError {
  if (e instanceof joseErrors.JWTExpired) return withReason(unauthenticated('the bearer token has expired'), 'TOKEN_EXPIRED');
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return withReason(unauthenticated('the bearer token signature is invalid'), 'BAD_SIGNATURE');
  if (e instanceof joseErrors.JWTClaimValidationFailed) return withReason(unauthenticated(`the bearer token claim "${e.claim}" is invalid`), 'BAD_CLAIM');
  if (e instanceof GraphQLError) return e;
  return withReason(unauthenticated('the bearer token is malformed'), 'MALFORMED');
}

function withReason(e: GraphQLError, reason: string): GraphQLError {
  (e.extensions as Record<string, unknown>).reason = reason;
  return e;
}

export type Verifier = (authorization: string | undefined) => Promise<Caller>;

export function bearerToken(authorization: string | undefined): string {
  if (!authorization) throw withReason(unauthenticated('a bearer token is required (Authorization: Bearer <jwt>)'), 'MISSING');
  const m = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
  if (!m) throw withReason(unauthenticated('the Authorization header must be "Bearer <jwt>"'), 'MALFORMED');
  return m[1];
}

/** Verifies user tokens and service tokens; the result says which. */
export function createVerifier(s: AuthSettings): Verifier {
  const keyP = userKey(s);
  const serviceKey = s.serviceSecret ? createSecretKey(Buffer.from(s.serviceSecret)) : undefined;
  // A client sends the same token with every request: the signature of an exact token string is checked once, and
  // its caller reused until the token expires (or a minute passes). Only successes are kept; the map is bounded.
  const verified = new Map<string, { caller: Caller; until: number }>();
  const remember = (token: string, caller: Caller, exp: number | undefined): Caller => {
    if (verified.size >= VERIFIED_TOKENS_MAX) verified.clear();
    verified.set(token, { caller, until: Math.min(Date.now() + 60_000, exp === undefined ? Infinity : exp * 1000) });
    return caller;
  };
  return async (authorization) => {
    const token = bearerToken(authorization);
    const hit = verified.get(token);
    if (hit && hit.until > Date.now()) return hit.caller;
    try {
      const unverified = decodeAudience(token);
      if (unverified === SERVICE_AUDIENCE) {
        if (!serviceKey) throw withReason(unauthenticated('service credentials are not accepted here'), 'BAD_CLAIM');
        const { payload } = await jwtVerify(token, serviceKey, { audience: SERVICE_AUDIENCE, issuer: s.issuer });
        return remember(token, { kind: 'service', subject: String(payload.sub), org: String(payload.org ?? 'tokenstack'), roles: [], token }, payload.exp);
      }
      const { payload } = await jwtVerify(token, await keyP, { audience: s.audience, issuer: s.issuer });
      return remember(token, toCaller(payload, token), payload.exp);
    } catch (e) {
      throw authFailure(e);
    }
  };
}

const VERIFIED_TOKENS_MAX = 10_000;

function decodeAudience(token: string): unknown {
  const parts = token.split('.');
  if (parts.length !== 3) throw withReason(unauthenticated('the bearer token is malformed'), 'MALFORMED');
  try {
    return JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')).aud;
  } catch {
    throw withReason(unauthenticated('the bearer token is malformed'), 'MALFORMED');
  }
}

function toCaller(p: JWTPayload, token: string): Caller {
  const roles = Array.isArray(p.roles) ? p.roles.filter((r): r is Role => ROLES.includes(r as Role)) : [];
  if (typeof p.sub !== 'string' || typeof p.org !== 'string' || !p.org) {
    throw withReason(unauthenticated('the bearer token needs "sub" and "org" claims'), 'BAD_CLAIM');
  }
  if (roles.length === 0) throw withReason(unauthenticated('the bearer token grants no known role'), 'BAD_CLAIM');
  return { kind: 'user', subject: p.sub, org: p.org, roles, investorId: typeof p.inv === 'string' ? p.inv : undefined, token };
}

export interface TokenClaims {
  subject: string;
  org: string;
  roles: Role[];
  investorId?: string;
  /** Seconds. */
  ttl?: number;
}

/** Signs an HS256 user token (dev tokens, tests). Production tokens come from the institution's identity provider. */
export async function signUserToken(s: Pick<AuthSettings, 'secret' | 'issuer' | 'audience'>, c: TokenClaims): Promise<string> {
  if (!s.secret) throw new Error('signing needs AUTH_JWT_SECRET');
  return new SignJWT({ org: c.org, roles: c.roles, ...(c.investorId ? { inv: c.investorId } : {}) })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(c.subject)
    .setIssuer(s.issuer)
    .setAudience(s.audience)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + (c.ttl ?? 3600))
    .sign(createSecretKey(Buffer.from(s.secret)));
}

const serviceTokens = new Map<string, { token: string; until: number }>();

/** A short-lived service credential, cached and renewed well before it expires. */
export async function serviceToken(s: { serviceSecret: string; issuer: string }, service: string): Promise<string> {
  const key = `${service}|${s.issuer}|${s.serviceSecret}`;
  const hit = serviceTokens.get(key);
  if (hit && hit.until > Date.now()) return hit.token;
  const token = await new SignJWT({ org: 'tokenstack', svc: true })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(service)
    .setIssuer(s.issuer)
    .setAudience(SERVICE_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('10m')
    .sign(createSecretKey(Buffer.from(s.serviceSecret)));
  serviceTokens.set(key, { token, until: Date.now() + 5 * 60_000 });
  return token;
}

export function requireRole(caller: Caller, ...roles: Role[]): void {
  if (caller.kind === 'service') return;
  if (!roles.some((r) => caller.roles.includes(r))) throw forbidden(`requires one of the roles ${roles.join(', ')}`);
}

export function requireService(caller: Caller): void {
  if (caller.kind !== 'service') throw forbidden('internal operation: a service credential is required');
}

/** Row-level scoping: services see everything, an organisation its own rows, an investor only rows that are its own. */
export function canSee(caller: Caller, owner: { org: string; investorId?: string | null }): boolean {
  if (caller.kind === 'service') return true;
  if (caller.org !== owner.org) return false;
  if (caller.roles.length === 1 && caller.roles[0] === 'INVESTOR') return !!caller.investorId && caller.investorId === owner.investorId;
  return true;
}
