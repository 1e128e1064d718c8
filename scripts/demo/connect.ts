import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { signUserToken, type Role } from '../../subgraphs/kit/auth.js';
import { DEMO_SUBGRAPH_ENV, seedStack } from '../demoMarket.js';
import { generateSecrets, devSecretsPath } from '../devSecrets.js';
import { startStack, type Stack } from '../stack.js';

export type DemoToken = (org: string, roles: Role[]) => Promise<string>;

/**
 * A demo's gateway: the running `npm start` (its dev key from --data-dir or AUTH_JWT_SECRET), or, with
 * none running, an ephemeral seeded stack. Arguments: [--url http://127.0.0.1:4000/graphql] [--data-dir .data].
 */
export async function connectDemo(say: (line: string) => void): Promise<{ url: string; token: DemoToken; stop(): Promise<void> }> {
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
      if (!existsSync(p)) throw new Error(`a gateway answers at ${url} but no AUTH_JWT_SECRET is set and no dev key is at ${p} (pass --data-dir of that npm start)`);
      jwtSecret = (JSON.parse(readFileSync(p, 'utf8')) as { jwtSecret: string }).jwtSecret;
    }
    say(`demo against the running gateway at ${url}\n`);
  } else {
    say(`no gateway at ${url}: starting an ephemeral seeded stack (about a minute; \`npm start\` keeps one running)`);
    const secrets = generateSecrets();
    jwtSecret = secrets.jwtSecret;
    stack = await startStack({ secrets, chain: 'anvil', anvilPort: 0, ports: { gateway: 0, issuance: 0, trading: 0, settlement: 0, custody: 0 }, subgraphEnv: DEMO_SUBGRAPH_ENV });
    url = stack.gateway.url;
  }
  const token: DemoToken = (org, roles) =>
    signUserToken({ secret: jwtSecret!, issuer: 'tokenstack', audience: 'tokenstack-api' }, { subject: `demo-${org}`, org, roles, ttl: 3_600 });
  try {
    if (stack) await seedStack(stack, token, say);
  } catch (e) {
    await stack?.stop();
    throw e;
  }
  return { url, token, stop: async () => { await stack?.stop(); } };
}

/** A demo script's whole run: connect, play, stop what it started, exit 0 or 1 with the reason. */
export async function runDemo(play: (url: string, token: DemoToken, say: (line: string) => void) => Promise<unknown>): Promise<never> {
  const say = (l: string) => console.log(l);
  let code = 0;
  let stop = async (): Promise<void> => undefined;
  try {
    const c = await connectDemo(say);
    stop = c.stop;
    await play(c.url, c.token, say);
  } catch (e) {
    console.error(`\ndemo stopped: ${(e as Error).message}`);
    code = 1;
  } finally {
    await stop();
  }
  process.exit(code);
}
