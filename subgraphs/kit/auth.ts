import { createPublicKey, createSecretKey } from 'node:crypto';
import { SignJWT, createRemoteJWKSet, errors as joseErrors, importSPKI, jwtVerify, type JWTPayload, type JWTVerifyGetKey, type ProtectedHeaderParameters } from 'jose';
import { GraphQLError } from 'graphql';
import { appError, unauthenticated } from './errors.js';

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
  /** HS256 secret (>= 32 chars); and/or publicKey or jwksUrl for RS256/ES256 tokens from an identity provider. */
  secret?: string;
  publicKey?: string;
  /** The identity provider's JSON Web Key Set, fetched, cached and refetched when a token names a key it lacks (rotation). */
  jwksUrl?: string;
  jwks?: { cacheMaxAgeMs: number; cooldownMs: number; timeoutMs: number };
  issuer: string;
  audience: string;
  /** Claim names of the organisation, the roles and the investor id in the identity provider's tokens (a dotted path reaches into an object: realm_access.roles). */
  claims?: { org: string; roles: string; investor: string };
  /** Allowed clock difference for exp, nbf and iat. */
  clockSkewSeconds?: number;
  /** Longest lifetime (exp - iat) of a user token accepted. */
  maxLifetimeSeconds?: number;
  /** HS256 secret for service-to-service credentials (internal feed, internal mutations); absent at the public gateway, which refuses them. */
  serviceSecret?: string;
}

export const DEFAULT_CLAIMS = { org: 'org', roles: 'roles', investor: 'inv' } as const;

export const SERVICE_AUDIENCE = 'tokenstack-internal';

/**
 * Each algorithm is bound to the key the configuration gives it: HS256 only
 * with the secret, RS256/ES256 only with the public key or the JWKS. A token
 * cannot pick its own (no "none", no HS256 signed with the public key).
 */
export function userKeys(s: AuthSettings): { algorithms: string[]; key: JWTVerifyGetKey; fromJwks(header: ProtectedHeaderParameters): boolean } {
  if (!s.secret && !s.publicKey && !s.jwksUrl) throw new Error('auth: no secret, public key or JWKS URL is configured');
  const secret = s.secret ? createSecretKey(Buffer.from(s.secret)) : undefined;
  const publicAlg = s.publicKey ? (publicKeyIsRsa(s.publicKey) ? 'RS256' : 'ES256') : undefined;
  const publicKey = s.publicKey ? importSPKI(s.publicKey, publicAlg!) : undefined;
  const jwks = s.jwksUrl ? createRemoteJWKSet(new URL(s.jwksUrl), {
    cacheMaxAge: s.jwks?.cacheMaxAgeMs ?? 600_000, cooldownDuration: s.jwks?.cooldownMs ?? 30_000, timeoutDuration: s.jwks?.timeoutMs ?? 5_000,
  }) : undefined;
  const algorithms = [...(secret ? ['HS256'] : []), ...(publicAlg ? [publicAlg] : []), ...(jwks ? ['RS256', 'ES256'] : [])];
  const key: JWTVerifyGetKey = async (header: ProtectedHeaderParameters, token) => {
    const alg = header.alg;
    if (alg === 'HS256' && secret) return secret;
    // With both a PEM key and a JWKS, a token naming a key id is the JWKS's.
    if (alg === publicAlg && publicKey && !(jwks && header.kid)) return publicKey;
    if ((alg === 'RS256' || alg === 'ES256') && jwks) {
      return jwks(header, token).catch((e: unknown) => {
        throw e instanceof joseErrors.JOSEError ? e : keysUnavailable(); // the provider refused the connection or sent no JSON
      });
    }
    throw withReason(unauthenticated(`the bearer token's algorithm ${String(alg)} is not accepted here (accepted: ${[...new Set(algorithms)].join(', ')})`), 'BAD_ALGORITHM');
  };
  // A key from the JWKS can be retired at any moment; the secret and the PEM key change only with the configuration.
  const fromJwks = (header: ProtectedHeaderParameters): boolean => header.alg !== 'HS256' && !(header.alg === publicAlg && publicKey && !(jwks && header.kid));
  return { algorithms: [...new Set(algorithms)], key, fromJwks };
}

function publicKeyIsRsa(pem: string): boolean {
  try {
    return createPublicKey(pem).asymmetricKeyType === 'rsa';
  } catch {
    return pem.includes('RSA');
  }
}

/** Reason codes under extensions.reason so that clients can tell a stale token from a forged one. */
function authFailure(e: unknown): GraphQLError {
  if (e instanceof joseErrors.JWTExpired) return withReason(unauthenticated('the bearer token has expired'), 'TOKEN_EXPIRED');
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return withReason(unauthenticated('the bearer token signature is invalid'), 'BAD_SIGNATURE');
  if (e instanceof joseErrors.JWTClaimValidationFailed) return withReason(unauthenticated(`the bearer token claim "${e.claim}" is invalid`), 'BAD_CLAIM');
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return withReason(unauthenticated('the bearer token\'s algorithm is not accepted here'), 'BAD_ALGORITHM');
  if (e instanceof joseErrors.JWKSNoMatchingKey) return withReason(unauthenticated('the bearer token names a key the identity provider does not publish'), 'UNKNOWN_KEY');
  if (e instanceof joseErrors.JWKSTimeout || e instanceof joseErrors.JWKSInvalid) return keysUnavailable();
  if (e instanceof GraphQLError) return e;
  return withReason(unauthenticated('the bearer token is malformed'), 'MALFORMED');
}

const keysUnavailable = () =>
  appError('UNAUTHENTICATED', 'the identity provider\'s keys cannot be fetched now; try again', { httpStatus: 503, retryable: true, details: { reason: 'KEYS_UNAVAILABLE' } });

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
  const user = userKeys(s);
  const skew = s.clockSkewSeconds ?? 30;
  const maxLifetime = s.maxLifetimeSeconds ?? 86_400;
  const claims = s.claims ?? DEFAULT_CLAIMS;
  const serviceKey = s.serviceSecret ? createSecretKey(Buffer.from(s.serviceSecret)) : undefined;
  // A client sends the same token with every request: the signature of an exact token string is checked once, and
  // its caller reused until the token expires (with the same clock skew as the check), or a minute passes. Only
  // successes with a configured key (secret, PEM) are kept; the map is bounded.
  const verified = new Map<string, { caller: Caller; until: number }>();
  const remember = (token: string, caller: Caller, exp: number | undefined): Caller => {
    if (verified.size >= VERIFIED_TOKENS_MAX) verified.clear();
    verified.set(token, { caller, until: Math.min(Date.now() + 60_000, exp === undefined ? Infinity : (exp + skew) * 1000) });
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
        const { payload } = await jwtVerify(token, serviceKey, { audience: SERVICE_AUDIENCE, issuer: s.issuer, algorithms: ['HS256'], clockTolerance: skew });
        return remember(token, { kind: 'service', subject: String(payload.sub), org: String(payload.org ?? 'tokenstack'), roles: [], token }, payload.exp);
      }
      const { payload, protectedHeader } = await jwtVerify(token, user.key, { audience: s.audience, issuer: s.issuer, algorithms: user.algorithms, clockTolerance: skew, requiredClaims: ['exp', 'iat'] });
      checkTimes(payload, skew, maxLifetime);
      // The claim names are the identity provider's; tokens signed with our own secret (dev, partners) use ours.
      const caller = toCaller(payload, token, protectedHeader.alg === 'HS256' ? DEFAULT_CLAIMS : claims);
      // Not remembered when the key came from the JWKS: a token of a key the provider has retired must fail at once.
      return user.fromJwks(protectedHeader) ? caller : remember(token, caller, payload.exp);
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

/** A token issued in the future, or one made to live longer than allowed, is refused even with a valid signature. */
function checkTimes(p: JWTPayload, skew: number, maxLifetime: number): void {
  const now = Math.floor(Date.now() / 1000);
  const iat = p.iat!;
  if (iat > now + skew) throw withReason(unauthenticated(`the bearer token was issued in the future (iat beyond the ${skew} s clock skew)`), 'FUTURE_IAT');
  if (p.exp! - iat > maxLifetime) throw withReason(unauthenticated(`the bearer token lives longer than ${maxLifetime} s (exp - iat)`), 'LIFETIME_TOO_LONG');
}

/** A claim by its name, or by a dotted path into nested objects (realm_access.roles) when no claim has the whole name. */
function claimOf(p: JWTPayload, name: string): unknown {
  if (name in p) return p[name];
  return name.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), p);
}

function toCaller(p: JWTPayload, token: string, claims: { org: string; roles: string; investor: string }): Caller {
  const org = claimOf(p, claims.org);
  const rawRoles = claimOf(p, claims.roles);
  // An identity provider may send roles as a list or as one space-separated string (like OAuth scopes).
  const listed = Array.isArray(rawRoles) ? rawRoles : typeof rawRoles === 'string' ? rawRoles.split(/\s+/) : [];
  const roles = listed.filter((r): r is Role => ROLES.includes(r as Role));
  const investor = claimOf(p, claims.investor);
  if (typeof p.sub !== 'string' || typeof org !== 'string' || !org) {
    throw withReason(unauthenticated(`the bearer token needs "sub" and "${claims.org}" claims`), 'BAD_CLAIM');
  }
  if (roles.length === 0) throw withReason(unauthenticated('the bearer token grants no known role'), 'BAD_CLAIM');
  return { kind: 'user', subject: p.sub, org, roles, investorId: typeof investor === 'string' ? investor : undefined, token };
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
