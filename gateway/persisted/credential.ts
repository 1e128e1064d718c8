import type { IncomingHttpHeaders } from 'node:http';
import { signUserToken, type AuthSettings, type Caller } from '../../subgraphs/kit/auth.js';
import { appError } from '../../subgraphs/kit/errors.js';
import { hashApiKey, type Partner } from './partners.js';

export interface PartnerAuth {
  caller: Caller;
  partner: Partner;
}

/**
 * A partner authenticates with `x-api-key: <key>`. Subgraphs only accept user
 * bearer tokens, so the gateway signs a short-lived one for the partner's
 * organisation and roles (subject `partner:<name>`) and forwards it like any
 * caller's token: every subgraph scopes the partner exactly as a user of
 * that organisation.
 */
export class PartnerAuthenticator {
  private readonly minted = new Map<string, { token: string; renewAt: number }>();

  constructor(
    private readonly partners: ReadonlyMap<string, Partner>,
    private readonly signing: Pick<AuthSettings, 'secret' | 'issuer' | 'audience'>,
    private readonly ttlSeconds: number,
  ) {}

  /** undefined when the request carries no API key (it then needs a bearer token). */
  async authenticate(headers: IncomingHttpHeaders): Promise<PartnerAuth | undefined> {
    return this.authenticateKey(headers['x-api-key']);
  }

  /** The same for a key from elsewhere (graphql-ws connection_init). */
  async authenticateKey(raw: unknown): Promise<PartnerAuth | undefined> {
    if (raw === undefined || raw === null) return undefined;
    // Looked up by hash: the file holds only hashes, and a map lookup on a hash reveals nothing about a key.
    const partner = this.partners.get(hashApiKey(String(raw).trim()));
    if (!partner) throw appError('UNAUTHENTICATED', 'the API key is not valid', { httpStatus: 401, details: { reason: 'BAD_API_KEY' } });
    const subject = `partner:${partner.name}`;
    return { partner, caller: { kind: 'user', subject, org: partner.org, roles: partner.roles, token: await this.token(partner, subject) } };
  }

  /** One token per partner, renewed at half its life so that a forwarded token never expires mid-request. */
  private async token(p: Partner, subject: string): Promise<string> {
    const hit = this.minted.get(p.name);
    if (hit && hit.renewAt > Date.now()) return hit.token;
    const token = await signUserToken(this.signing, { subject, org: p.org, roles: p.roles, ttl: this.ttlSeconds });
    this.minted.set(p.name, { token, renewAt: Date.now() + (this.ttlSeconds * 1000) / 2 });
    return token;
  }
}
