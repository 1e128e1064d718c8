import { signUserToken, type Role } from '../../subgraphs/kit/auth.js';

/** The seeded organisations and the roles a developer tries first (npm start prints the same tokens). */
export const DEV_USERS: { label: string; org: string; roles: Role[] }[] = [
  { label: 'issuer agent (org issuer-co)', org: 'issuer-co', roles: ['ISSUER_AGENT'] },
  { label: 'broker-dealer (org broker-co)', org: 'broker-co', roles: ['BROKER_DEALER'] },
  { label: 'custodian (org custodian-co)', org: 'custodian-co', roles: ['CUSTODIAN'] },
  { label: 'settlement agent (org settle-co)', org: 'settle-co', roles: ['SETTLEMENT_AGENT'] },
  { label: 'ATS operator (org ats-co)', org: 'ats-co', roles: ['ATS_OPERATOR'] },
  { label: 'auditor (org issuer-co)', org: 'issuer-co', roles: ['AUDITOR'] },
];

export interface DevToken { label: string; token: string }

export interface DevTokenSigner { secret: string; issuer: string; audience: string; ttlSeconds: number }

export function signDevToken(s: DevTokenSigner, u: { org: string; roles: Role[] }): Promise<string> {
  return signUserToken(
    { secret: s.secret, issuer: s.issuer, audience: s.audience },
    { subject: `${u.org}-${u.roles[0].toLowerCase()}`, org: u.org, roles: u.roles, ttl: s.ttlSeconds },
  );
}

export const devTokens = (s: DevTokenSigner): Promise<DevToken[]> =>
  Promise.all(DEV_USERS.map(async (u) => ({ label: u.label, token: await signDevToken(s, u) })));
