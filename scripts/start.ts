import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { signUserToken, type Role } from '../subgraphs/kit/auth.js';
import { generateSecrets, loadOrCreateDevSecrets } from './devSecrets.js';
import { DEMO_SUBGRAPH_ENV, seedStack } from './demoMarket.js';
import { startStack } from './stack.js';
import { DEV_USERS } from '../gateway/ide/devUsers.js';

// npm start [-- --ephemeral] [--data-dir DIR]: the whole stack on embedded defaults.
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    ephemeral: { type: 'boolean', default: /^(1|true)$/.test(process.env.TOKENSTACK_EPHEMERAL ?? '') },
    'data-dir': { type: 'string', default: process.env.TOKENSTACK_DATA_DIR ?? '.data' },
    'no-seed': { type: 'boolean', default: false },
  },
});
const dataDir = values.ephemeral ? undefined : resolve(values['data-dir']!);
const secrets = dataDir ? loadOrCreateDevSecrets(dataDir) : generateSecrets();

console.log(`tokenstack: starting anvil, four subgraphs and the gateway (${dataDir ? `data in ${dataDir}` : 'ephemeral, in memory'})`);
const stack = await startStack({
  secrets, dataDir, anvilStateFile: dataDir ? join(dataDir, 'anvil-state.json') : undefined, logLevel: process.env.LOG_LEVEL ?? 'warn',
  subgraphEnv: DEMO_SUBGRAPH_ENV,
}).catch((e: NodeJS.ErrnoException) => {
  const why = e.code === 'EADDRINUSE' ? `a port is already in use (${e.message}); is another tokenstack running?` : e.message;
  console.error(`tokenstack could not start: ${why}`);
  process.exit(1);
});

const devToken = (org: string, roles: Role[]) =>
  signUserToken({ secret: secrets.jwtSecret, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject: `${org}-${roles[0].toLowerCase()}`, org, roles, ttl: 86_400 });

if (!values['no-seed']) {
  console.log('seeding the demo market (idempotent; --no-seed skips it):');
  try {
    await seedStack(stack, devToken, (l) => console.log(l));
  } catch (e) {
    console.error(`  seeding stopped: ${(e as Error).message}`);
  }
}

const lines = [
  '',
  `gateway     ${stack.gateway.url}`,
  `ide         ${stack.gateway.url.replace(/\/graphql$/, '/ide')} (GraphiQL; pick a dev token at the top)`,
  ...Object.values(stack.subgraphs).map((s) => `${s.name.padEnd(11)} ${s.url}`),
  `chain       ${stack.chainRpcUrl} (anvil, chain id 31337)`,
  '',
  'dev bearer tokens (24 h; more with `npm run token -- --role ROLE --org ORG`):',
];
for (const u of DEV_USERS) {
  const t = await devToken(u.org, u.roles);
  lines.push(`  ${u.label}:`, `    ${t}`);
}
lines.push('', `try: curl -s ${stack.gateway.url} -H 'content-type: application/json' -H "authorization: Bearer <token>" -d '{"query":"{ securityTokens { id symbol } }"}'`, 'then, in another terminal: npm run demo   (a trade through the gateway, step by step, to SETTLED on chain)', '', 'Ctrl-C stops everything.');
console.log(lines.join('\n'));

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  console.log(`\n${signal}: stopping`);
  await stack.stop();
  process.exit(0);
};
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
