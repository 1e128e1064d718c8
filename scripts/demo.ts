import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { signUserToken, type Role } from '../subgraphs/kit/auth.js';
import { demoCredentials, DEMO_SUBGRAPH_ENV, seedStack } from './demoMarket.js';
import { generateSecrets, devSecretsPath } from './devSecrets.js';
import { playDemo } from './demo/scenario.js';
import { startStack, type Stack } from './stack.js';

// npm run demo [-- --url http://127.0.0.1:4000/graphql] [--data-dir .data]
// Plays the guided scenario against a running `npm start`; with none running, starts an ephemeral seeded stack first.
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    url: { type: 'string', default: process.env.TOKENSTACK_GATEWAY_URL ?? 'http://127.0.0.1:4000/graphql' },
    'data-dir': { type: 'string', default: process.env.TOKENSTACK_DATA_DIR ?? '.data' },
  },
});

const reachable = await fetch(values.url!.replace(/\/graphql$/, '/healthz'), { signal: AbortSignal.timeout(2_000) }).then(() => true, () => false);
let stack: Stack | undefined;
let url = values.url!;
let jwtSecret = process.env.AUTH_JWT_SECRET;
if (reachable) {
  if (!jwtSecret) {
    const p = devSecretsPath(resolve(values['data-dir']!));
    if (!existsSync(p)) {
      console.error(`a gateway answers at ${url} but no AUTH_JWT_SECRET is set and no dev key is at ${p} (pass --data-dir of that npm start)`);
      process.exit(1);
    }
    jwtSecret = (JSON.parse(readFileSync(p, 'utf8')) as { jwtSecret: string }).jwtSecret;
  }
  console.log(`demo against the running gateway at ${url}\n`);
} else {
  console.log(`no gateway at ${url}: starting an ephemeral seeded stack (about a minute; \`npm start\` keeps one running)`);
  const secrets = generateSecrets();
  jwtSecret = secrets.jwtSecret;
  stack = await startStack({ secrets, chain: 'anvil', anvilPort: 0, ports: { gateway: 0, issuance: 0, trading: 0, settlement: 0, custody: 0 }, subgraphEnv: DEMO_SUBGRAPH_ENV });
  url = stack.gateway.url;
}
const token = (org: string, roles: Role[]) =>
  signUserToken({ secret: jwtSecret!, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject: `demo-${org}`, org, roles, ttl: 3_600 });

let code = 0;
try {
  if (stack) await seedStack(stack, token, (l) => console.log(l));
  await playDemo(url, await demoCredentials(token), (l) => console.log(l));
} catch (e) {
  console.error(`\ndemo stopped: ${(e as Error).message}`);
  code = 1;
} finally {
  await stack?.stop();
}
process.exit(code);
