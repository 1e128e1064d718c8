import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { ROLES, signUserToken, type Role } from '../subgraphs/kit/auth.js';
import { devSecretsPath } from './devSecrets.js';

// npm run token -- --role INVESTOR --org acme [--investor inv_...] [--subject alice] [--ttl 3600]
// Signs with AUTH_JWT_SECRET, or with the embedded default's dev key in the data folder.
export async function main(argv: string[]): Promise<string> {
  const { values } = parseArgs({
    args: argv,
    options: {
      role: { type: 'string', multiple: true },
      org: { type: 'string' },
      investor: { type: 'string' },
      subject: { type: 'string' },
      ttl: { type: 'string', default: '86400' },
      'data-dir': { type: 'string', default: process.env.TOKENSTACK_DATA_DIR ?? '.data' },
    },
  });
  const roles = (values.role ?? []) as Role[];
  if (!roles.length || roles.some((r) => !ROLES.includes(r))) throw new Error(`--role must be one of ${ROLES.join(', ')}`);
  if (!values.org) throw new Error('--org is required');
  if (!/^\d+$/.test(values.ttl!)) throw new Error('--ttl must be seconds');
  let secret = process.env.AUTH_JWT_SECRET;
  if (!secret) {
    const p = devSecretsPath(resolve(values['data-dir']!));
    if (!existsSync(p)) throw new Error(`AUTH_JWT_SECRET is not set and no dev key is at ${p} (run npm start once)`);
    secret = (JSON.parse(readFileSync(p, 'utf8')) as { jwtSecret: string }).jwtSecret;
  }
  return signUserToken(
    { secret, issuer: process.env.AUTH_ISSUER ?? 'tokenstack', audience: process.env.AUTH_AUDIENCE ?? 'tokenstack-api' },
    { subject: values.subject ?? `${values.org}-${roles[0].toLowerCase()}`, org: values.org, roles, investorId: values.investor, ttl: Number(values.ttl) },
  );
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (t) => console.log(t),
    (e: Error) => { console.error(e.message); process.exit(2); },
  );
}
