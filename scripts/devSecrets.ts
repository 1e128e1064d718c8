import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { StackSecrets } from './stack.js';

/**
 * Dev-only secrets of the embedded default, generated once and kept in the
 * data folder (mode 600) so that tokens and encrypted wallet keys survive a
 * restart. Production passes AUTH_JWT_SECRET, SERVICE_SECRET and CUSTODY_KEK.
 */
export function generateSecrets(): StackSecrets {
  return {
    jwtSecret: randomBytes(32).toString('base64url'),
    serviceSecret: randomBytes(32).toString('base64url'),
    custodyKek: '0x' + randomBytes(32).toString('hex'),
    attestationKey: '0x' + randomBytes(32).toString('hex'),
  };
}

export const devSecretsPath = (dataDir: string): string => join(dataDir, 'dev-secrets.json');

export function loadOrCreateDevSecrets(dataDir: string): StackSecrets {
  const p = devSecretsPath(dataDir);
  const before = existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as StackSecrets) : undefined;
  // A data folder from an older version lacks newer secrets: add them, keep the rest.
  if (before?.attestationKey) return before;
  mkdirSync(dataDir, { recursive: true });
  const s = { ...generateSecrets(), ...before };
  writeFileSync(p, JSON.stringify(s, null, 2), { mode: 0o600 });
  return s;
}
